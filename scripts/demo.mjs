#!/usr/bin/env node
// The main job: starts a local aurora-pg lookalike cluster, runs a write workload through AwsPGClient (default
// plugins), fails the writer over — first a clean failover, then a black-holed writer replaced a few seconds
// later — and prints a timeline of what the application saw, how long writes stopped, and how many acknowledged
// writes were lost. Usage: npm run build && node scripts/demo.mjs
import { performance } from 'node:perf_hooks';
import { AwsPGClient } from 'aws-advanced-ts-wrapper/pg';
import { releaseResources } from 'aws-advanced-ts-wrapper';
import { LocalCluster } from 'aws-advanced-ts-wrapper/testing';

const WRITERS = 4;
const SETTLE_MS = 2000;
const t0 = performance.now();
const now = () => performance.now() - t0;
const fmt = (ms) => `${(ms / 1000).toFixed(3).padStart(7)} s`;
const timeline = [];
const log = (msg) => {
  timeline.push({ at: now(), msg });
  console.log(`${fmt(now())}  ${msg}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function describeError(err) {
  const e = /** @type {{name?: string, code?: string, message?: string}} */ (err);
  return `${e.name ?? 'Error'}${e.code ? ` [${e.code}]` : ''}: ${String(e.message).split('\n')[0].slice(0, 70)}`;
}

/** One application writer: inserts rows with increasing ids through its own client; reconnects when its client is gone. */
class Writer {
  constructor(id, config) {
    this.id = id;
    this.config = config;
    this.acked = [];
    this.errors = [];
    this.next = id * 1_000_000;
    this.running = true;
  }

  firstAckAfter(t) {
    return this.acked.find((a) => a.at > t)?.at;
  }

  async connect() {
    for (;;) {
      const client = new AwsPGClient(this.config);
      client.on('error', () => {}); // a lost idle connection is reported through the next query
      client.on('failover', (e) =>
        log(
          `writer ${this.id}: failover event ${e.from?.hostId ?? e.from?.host ?? '?'} → ${e.to?.hostId ?? e.to?.host ?? '?'} in ${Math.round(e.durationMs ?? 0)} ms`,
        ),
      );
      try {
        await client.connect();
        return client;
      } catch (err) {
        this.errors.push({ at: now(), err });
        await client.end().catch(() => {});
        if (!this.running) return undefined;
        await sleep(100);
      }
    }
  }

  async run() {
    let client = await this.connect();
    while (this.running && client) {
      const id = this.next;
      try {
        // ON CONFLICT: a write whose outcome was unknown (error on commit) may have landed; retrying is safe.
        await client.query('INSERT INTO demo_writes (id, writer) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [
          id,
          this.id,
        ]);
        this.acked.push({ id, at: now() });
        this.next++;
      } catch (err) {
        const at = now();
        this.errors.push({ at, err });
        log(`writer ${this.id}: ${describeError(err)}`);
        const name = /** @type {{name?: string}} */ (err).name;
        if (name === 'FailoverSuccessError' || name === 'TransactionResolutionUnknownError') continue; // same client, new writer
        await client.end().catch(() => {});
        client = await this.connect(); // without the failover plugin: reconnect through the cluster endpoint
        if (client) log(`writer ${this.id}: reconnected after ${Math.round(now() - at)} ms`);
      }
    }
    await client?.end().catch(() => {});
  }
}

async function act(cluster, title, fault) {
  console.log(`\n=== ${title} ===`);
  const config = { ...cluster.clientConfig('writer'), application_name: 'demo' };
  const writers = Array.from(
    { length: WRITERS },
    (_, i) => new Writer(i + 1 + (title.startsWith('Act 2') ? WRITERS : 0), config),
  );
  const done = writers.map((w) => w.run());
  await sleep(SETTLE_MS);
  const before = writers.reduce((n, w) => n + w.acked.length, 0);
  log(`${WRITERS} writers running through ${cluster.writerEndpoint.dnsName}: ${before} acknowledged writes so far`);
  const lossAt = now();
  const failover = await fault();
  // Writes have resumed once every writer has an acknowledgement after the promotion returned.
  const promotedAt = now();
  while (writers.some((w) => w.firstAckAfter(promotedAt) === undefined)) await sleep(20);
  // The pause each writer saw: the longest gap between two of its acknowledged writes since the fault began.
  const pauses = writers.map((w) => {
    let gap = 0;
    let prev = w.acked.filter((a) => a.at <= lossAt).at(-1)?.at ?? lossAt;
    for (const a of w.acked) if (a.at > lossAt) [gap, prev] = [Math.max(gap, a.at - prev), a.at];
    return gap;
  });
  log(
    `every writer is writing again; writes paused ${Math.round(Math.min(...pauses))}–${Math.round(Math.max(...pauses))} ms per writer (the lookalike's own fence + promotion: ${failover.totalMs} ms)`,
  );
  await sleep(1000);
  for (const w of writers) w.running = false;
  await Promise.all(done);

  // Count acknowledged writes missing from the new writer.
  const check = new AwsPGClient({ ...cluster.clientConfig('writer'), plugins: '' });
  await check.connect();
  const ids = writers.flatMap((w) => w.acked.map((a) => a.id));
  const { rows } = await check.query('SELECT count(*)::int AS n FROM demo_writes WHERE id = ANY($1::bigint[])', [ids]);
  await check.end();
  const lost = ids.length - rows[0].n;
  const errorsSeen = writers.reduce((n, w) => n + w.errors.length, 0);
  return { acked: ids.length, lost, errorsSeen, failover };
}

async function main() {
  console.log('aws-advanced-ts-wrapper demo: a local Aurora PostgreSQL lookalike, a write workload, two failovers\n');
  log('starting a 3-instance aurora-pg lookalike cluster (1 writer, 2 synchronous readers)…');
  const cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 2 });
  try {
    log(
      `cluster up in ${((cluster.upMs ?? now()) / 1000).toFixed(1)} s: writer ${cluster.writer.name}, readers ${cluster.readers.map((r) => r.name).join(', ')}`,
    );
    const setup = new AwsPGClient({ ...cluster.clientConfig('writer'), plugins: '' });
    await setup.connect();
    await setup.query(
      'CREATE TABLE demo_writes (id bigint PRIMARY KEY, writer int NOT NULL, at timestamptz NOT NULL DEFAULT now())',
    );
    await setup.end();

    const act1 = await act(cluster, 'Act 1: the writer fails over (clean shutdown, reader promoted)', async () => {
      log(`failing over: stopping writer ${cluster.writer.name}`);
      const r = await cluster.failover({ mode: 'fast' });
      log(`lookalike promoted ${r.newWriter} in ${r.totalMs} ms (fence ${r.fenceMs} ms, promote ${r.promoteMs} ms)`);
      return r;
    });

    const act2 = await act(
      cluster,
      'Act 2: the writer becomes a black hole; a reader is promoted 3 s later',
      async () => {
        const victim = cluster.writer.name;
        log(`black-holing writer ${victim}: packets are swallowed, nothing is refused`);
        await cluster.hang(victim);
        await sleep(3000);
        const r = await cluster.failover({ mode: 'immediate' });
        log(`lookalike promoted ${r.newWriter} (the hung ${victim} is fenced)`);
        return r;
      },
    );

    console.log('\n=== Summary ===');
    for (const [name, a] of [
      ['Act 1 (clean failover)', act1],
      ['Act 2 (black hole)', act2],
    ]) {
      console.log(
        `${name}: ${a.acked} acknowledged writes, ${a.lost} lost, ${a.errorsSeen} errors seen by the application`,
      );
    }
    const lost = act1.lost + act2.lost;
    console.log(lost === 0 ? 'No acknowledged write was lost.' : `${lost} acknowledged writes were LOST.`);
    process.exitCode = lost === 0 ? 0 : 1;
  } finally {
    // Logs stay in the cluster's directory for a post-mortem only when something went wrong.
    const keepLogs = process.exitCode !== 0;
    await cluster.stop({ keepLogs });
    if (keepLogs) console.log(`instance logs kept in ${cluster.dir}/logs`);
    await releaseResources();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
