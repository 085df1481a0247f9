// Reliability run: ≥ 20 consecutive writer failovers (clean stops and crashes, alternating) on the aurora-pg
// lookalike while 8 clients write concurrently (autocommit inserts and explicit transactions). Asserts:
//  1. no acknowledged commit is lost (every acked row is on the final writer);
//  2. no write executed on a demoted instance: each row records the instance and the WAL timeline it was written on,
//     and that instance must be the writer of that timeline (each promotion starts a new timeline);
//  3. every failed call got one of the three failover errors (nothing else);
//  4. no call took longer than failoverTimeoutMs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  FailoverError,
  FailoverFailedError,
  FailoverSuccessError,
  TransactionResolutionUnknownError,
} from '../ts/errors.js';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { Lab } from './support/failover-lab.js';

const FAILOVERS = Number(process.env.RELIABILITY_FAILOVERS ?? 20);
const WRITERS = 8;
const FAILOVER_TIMEOUT_MS = 20_000;
const INSERT =
  "INSERT INTO rel (writer, seq, instance, timeline) VALUES ($1, $2, pg_catalog.aurora_db_instance_identifier(), ('x' || substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int)";

/** Acknowledged commits of all writers; `reached(n, ms)` resolves once there are n (or after ms, as a bound). */
const acks = {
  total: 0,
  waiters: [] as { n: number; resolve: () => void }[],
  add(): void {
    this.total++;
    const due = this.waiters.filter((w) => this.total >= w.n);
    this.waiters = this.waiters.filter((w) => this.total < w.n);
    for (const w of due) w.resolve();
  },
  reached(n: number, ms: number): Promise<void> {
    if (this.total >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
    });
  },
};

interface Stats {
  acked: number[];
  success: number;
  unknown: number;
  failed: number;
  unexpected: unknown[];
  maxCallMs: number;
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
      acks.add();
    } catch (err) {
      if (err instanceof TransactionResolutionUnknownError) stats.unknown++;
      else if (err instanceof FailoverSuccessError) stats.success++;
      else if (err instanceof FailoverFailedError) stats.failed++;
      else stats.unexpected.push(err);
      // A failed call inside BEGIN … COMMIT: the new connection has no transaction; nothing to roll back.
      if (!(err instanceof FailoverError) && inTx) await client.query('ROLLBACK').catch(() => {});
    } finally {
      stats.maxCallMs = Math.max(stats.maxCallMs, Date.now() - started);
    }
  }
}

test(`${FAILOVERS} consecutive failovers under ${WRITERS} concurrent writers: no acked commit lost, no write on a demoted instance, only failover errors, no call beyond failoverTimeoutMs`, async () => {
  const lab = await Lab.start('aurora-pg');
  try {
    await lab.direct('writer', (q) =>
      q('CREATE TABLE rel (writer int, seq int, instance text, timeline int, PRIMARY KEY (writer, seq))'),
    );
    const timelineOf = async (): Promise<number> =>
      Number(
        (
          await lab.direct('writer', (q) =>
            q(
              "SELECT ('x' || substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int AS t",
            ),
          )
        )[0].t,
      );
    const writerByTimeline = new Map<number, string>([[await timelineOf(), lab.cluster.writer.name]]);

    const services = lab.newServices();
    const clients: AwsPGClient[] = [];
    for (let i = 0; i < WRITERS; i++) {
      const db = await lab.client('writer', { failoverTimeoutMs: FAILOVER_TIMEOUT_MS }, services);
      clients.push(db.raw as AwsPGClient);
    }
    const stop = { done: false };
    const stats: Stats[] = clients.map(() => ({
      acked: [],
      success: 0,
      unknown: 0,
      failed: 0,
      unexpected: [],
      maxCallMs: 0,
    }));
    const loops = clients.map((c, i) => writerLoop(c, i, stop, stats[i]));

    const promoteMs: number[] = [];
    for (let n = 0; n < FAILOVERS; n++) {
      // Let the writers commit on the current writer before the next failure.
      await acks.reached(acks.total + 2 * WRITERS, 10_000);
      const r = await lab.cluster.failover({ mode: n % 2 === 0 ? 'fast' : 'immediate' });
      promoteMs.push(r.promoteMs);
      writerByTimeline.set(await timelineOf(), r.newWriter);
      await lab.cluster.rejoin(r.oldWriter);
    }
    await acks.reached(acks.total + WRITERS, 5000);
    stop.done = true;
    await Promise.all(loops);

    const rows = await lab.direct('writer', (q) => q('SELECT writer, seq, instance, timeline FROM rel'));
    const present = new Set(rows.map((r) => `${String(r.writer)}:${String(r.seq)}`));
    let lost = 0;
    stats.forEach((s, w) => {
      for (const seq of s.acked) if (!present.has(`${w}:${seq}`)) lost++;
    });
    const demoted = rows.filter((r) => writerByTimeline.get(Number(r.timeline)) !== r.instance);
    const onDemoted = demoted.length;
    const total = (k: 'success' | 'unknown' | 'failed') => stats.reduce((a, s) => a + s[k], 0);
    const acked = stats.reduce((a, s) => a + s.acked.length, 0);
    const unexpected = stats.flatMap((s) => s.unexpected);
    const maxCallMs = Math.max(...stats.map((s) => s.maxCallMs));
    console.log(
      `failovers ${FAILOVERS}, timelines ${writerByTimeline.size}, acked commits ${acked}, rows ${rows.length}, lost ${lost}, ` +
        `written on a demoted instance ${onDemoted}, FailoverSuccessError ${total('success')}, TransactionResolutionUnknownError ${total('unknown')}, ` +
        `FailoverFailedError ${total('failed')}, other errors ${unexpected.length}, longest call ${maxCallMs} ms, ` +
        `lookalike promotion ${Math.min(...promoteMs)}–${Math.max(...promoteMs)} ms`,
    );
    assert.is(writerByTimeline.size, FAILOVERS + 1, 'each failover promoted a new timeline');
    assert.is(lost, 0, 'acknowledged commits lost');
    assert.is(
      onDemoted,
      0,
      `writes executed on a demoted instance: ${JSON.stringify(demoted.slice(0, 5))}, writers by timeline ${JSON.stringify([...writerByTimeline])}`,
    );
    assert.equal(unexpected.map(String), [], 'errors other than the three failover errors');
    assert.ok(total('success') + total('unknown') > 0, 'failovers interrupted calls');
    assert.ok(maxCallMs < FAILOVER_TIMEOUT_MS, `a call took ${maxCallMs} ms`);
  } finally {
    await lab.stop();
  }
});

test.run();
