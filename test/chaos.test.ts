// Chaos run, CI-sized: 8 clients write concurrently (autocommit inserts and explicit transactions) on the aurora-pg
// lookalike while random faults hit the cluster for CHAOS_MS (default 40 s): the writer killed then replaced, the
// writer black-holed then replaced, clean and crash failovers, a reader killed. Asserts:
//  1. no acknowledged write is lost (every acked row is on the final writer);
//  2. no unhandled rejection and no uncaught exception (an 'error' event without a listener) in the process;
//  3. every call returned or failed within socketTimeout + failoverTimeoutMs + a margin (a bound, not a speed goal);
//  4. every failed call got one of the failover errors, and writes went on after the last fault.
// The faults come from a seeded generator: CHAOS_SEED=<n> replays a run (the seed is printed).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FailoverError,
  FailoverFailedError,
  FailoverSuccessError,
  TransactionResolutionUnknownError,
} from '../ts/errors.js';
import type { AwsPGClient } from '../ts/clients/pg-client.js';
import { Lab } from './support/failover-lab.js';

const CHAOS_MS = Number(process.env.CHAOS_MS ?? 40_000);
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
const WRITERS = 8;
const SOCKET_TIMEOUT_MS = 2000;
const FAILOVER_TIMEOUT_MS = 15_000;
const CALL_BOUND_MS = SOCKET_TIMEOUT_MS + FAILOVER_TIMEOUT_MS + 5000;
const INSERT = 'INSERT INTO chaos (writer, seq) VALUES ($1, $2)';

const FAULTS = ['kill-writer', 'blackhole-writer', 'failover-fast', 'failover-crash', 'kill-reader'] as const;
type Fault = (typeof FAULTS)[number];

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Called after every acknowledged write (the waits below re-check their condition there). */
const onAck = new Set<() => void>();

/** Resolves once `done()` holds, checked now and after each acknowledged write; or after `timeoutMs` (a bound). */
function whenAcked(done: () => boolean, timeoutMs: number): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      onAck.delete(check);
      resolve();
    };
    const check = (): void => {
      if (done()) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    onAck.add(check);
  });
}

interface Stats {
  acked: number[];
  failoverErrors: number;
  other: unknown[];
  maxCallMs: number;
  lastAckAt: number;
}

async function writerLoop(client: AwsPGClient, id: number, stop: { done: boolean }, stats: Stats): Promise<void> {
  let seq = 0;
  while (!stop.done) {
    seq++;
    const inTx = seq % 2 === 0;
    const started = Date.now();
    try {
      if (inTx) {
        await client.query('BEGIN');
        await client.query(INSERT, [id, seq]);
        await client.query('COMMIT');
      } else {
        await client.query(INSERT, [id, seq]);
      }
      stats.acked.push(seq);
      stats.lastAckAt = Date.now();
      for (const check of onAck) check();
    } catch (err) {
      if (
        err instanceof FailoverSuccessError ||
        err instanceof TransactionResolutionUnknownError ||
        err instanceof FailoverFailedError
      ) {
        stats.failoverErrors++;
      } else {
        stats.other.push(err);
      }
      if (!(err instanceof FailoverError) && inTx) await client.query('ROLLBACK').catch(() => {});
      // A failover that found no writer yet: try again shortly rather than spin.
      if (err instanceof FailoverFailedError) await sleep(100);
    } finally {
      stats.maxCallMs = Math.max(stats.maxCallMs, Date.now() - started);
    }
  }
}

test(`chaos for ${CHAOS_MS} ms under ${WRITERS} writers: no acked write lost, no unhandled rejection, every call bounded`, async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => void unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  const lab = await Lab.start('aurora-pg');
  const rand = random(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const injected: string[] = [];
  try {
    await lab.direct('writer', (q) => q('CREATE TABLE chaos (writer int, seq int, PRIMARY KEY (writer, seq))'));
    const services = lab.newServices();
    const clients: AwsPGClient[] = [];
    for (let i = 0; i < WRITERS; i++) {
      const db = await lab.client(
        'writer',
        { failoverTimeoutMs: FAILOVER_TIMEOUT_MS, socketTimeout: SOCKET_TIMEOUT_MS, connectTimeout: SOCKET_TIMEOUT_MS },
        services,
      );
      clients.push(db.raw as AwsPGClient);
    }
    const stop = { done: false };
    const stats: Stats[] = clients.map(() => ({ acked: [], failoverErrors: 0, other: [], maxCallMs: 0, lastAckAt: 0 }));
    const loops = clients.map((c, i) => writerLoop(c, i, stop, stats[i]));
    const ackedNow = (): number => stats.reduce((a, s) => a + s.acked.length, 0);
    /** Waits (bounded) until the writers committed `n` more rows: faults hit a cluster that is doing work. */
    const progress = (n: number, timeoutMs: number): Promise<void> => {
      const target = ackedNow() + n;
      return whenAcked(() => ackedNow() >= target, timeoutMs);
    };

    console.log(`chaos seed ${SEED} (CHAOS_SEED=${SEED} replays it)`);
    const endAt = Date.now() + CHAOS_MS;
    // At least three faults however long a loaded machine takes over each.
    while (Date.now() < endAt || injected.length < 3) {
      await progress(WRITERS, 10_000);
      const fault: Fault = pick(FAULTS);
      const writer = lab.cluster.writer.name;
      const t0 = Date.now();
      if (fault === 'kill-writer' || fault === 'blackhole-writer') {
        if (fault === 'kill-writer') await lab.cluster.kill(writer);
        else await lab.cluster.hang(writer);
        await sleep(Math.floor(rand() * 3000));
        const r = await lab.cluster.failover({ mode: 'immediate' });
        await lab.cluster.heal(writer);
        await lab.cluster.rejoin(r.oldWriter);
      } else if (fault === 'failover-fast' || fault === 'failover-crash') {
        const r = await lab.cluster.failover({ mode: fault === 'failover-fast' ? 'fast' : 'immediate' });
        await lab.cluster.rejoin(r.oldWriter);
      } else {
        const reader = pick(lab.cluster.readers).name;
        await lab.cluster.kill(reader);
        await sleep(Math.floor(rand() * 2000));
        await lab.cluster.rejoin(reader);
      }
      injected.push(`${fault} (${Date.now() - t0} ms)`);
    }
    const lastFaultAt = Date.now();
    // Every writer commits again (one may still be inside its failover while the others commit many rows).
    await whenAcked(() => stats.every((s) => s.lastAckAt > lastFaultAt), CALL_BOUND_MS + FAILOVER_TIMEOUT_MS);
    stop.done = true;
    await Promise.all(loops);

    const rows = await lab.direct('writer', (q) => q('SELECT writer, seq FROM chaos'));
    const present = new Set(rows.map((r) => `${String(r.writer)}:${String(r.seq)}`));
    let lost = 0;
    stats.forEach((s, w) => {
      for (const seq of s.acked) if (!present.has(`${w}:${seq}`)) lost++;
    });
    const acked = ackedNow();
    const other = stats.flatMap((s) => s.other);
    const maxCallMs = Math.max(...stats.map((s) => s.maxCallMs));
    const writersAfter = stats.filter((s) => s.lastAckAt > lastFaultAt).length;
    console.log(
      `chaos: faults ${injected.length} [${injected.join(', ')}]; acked ${acked}, rows ${rows.length}, lost ${lost}, ` +
        `failover errors ${stats.reduce((a, s) => a + s.failoverErrors, 0)}, other errors ${other.length}, ` +
        `unhandled ${unhandled.length}, longest call ${maxCallMs} ms, writers committing after the last fault ${writersAfter}/${WRITERS}`,
    );
    assert.ok(injected.length >= 3, `only ${injected.length} faults injected`);
    assert.is(lost, 0, 'acknowledged writes lost');
    assert.equal(unhandled.map(String), [], 'unhandled rejections or uncaught exceptions');
    assert.equal(other.map(String), [], 'errors other than the failover errors');
    assert.ok(maxCallMs <= CALL_BOUND_MS, `a call took ${maxCallMs} ms (bound ${CALL_BOUND_MS} ms)`);
    assert.is(writersAfter, WRITERS, 'every writer committed after the last fault');
  } finally {
    await lab.stop();
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
  }
});

test.run();
