#!/usr/bin/env node
// bench/blue-green: 8 writers and 4 readers through a Blue/Green switchover of a lookalike `pg` (RDS for
// PostgreSQL) cluster, per variant on its own fresh cluster and deployment:
//   - ours:  AwsPGClient with plugins ['bg'] (defaults otherwise), one client per worker loop;
//   - peer:  aws-advanced-nodejs-wrapper's AwsPGClient with plugins 'bg' (it resolves names through DNS only:
//            the cluster writes an /etc/hosts block, root only; without root the peer is skipped);
//   - plain: pg.Client reconnecting after every error, through the name's current address (the lookalike's
//            live name table: DNS as it is at that moment).
// Reported per variant: the lookalike's IN_PROGRESS window, the longest pause of each client (p50 / max over the
// 12 clients; a pause = time between two successful calls), errors the application saw, acknowledged writes
// missing on the final writer (must be 0), rows that blue accepted and green lacks (must be 0), and the
// connection attempts the clients made to green's addresses while the switchover ran (connected or refused;
// counted at net.Socket#connect, so the wrapper's native status monitors are not in it).
// --timeline prints, per variant, what happened when (ms from the IN_PROGRESS publication): the lookalike's steps
// (its supervisor log), the wrapper's bg log (monitor reads, phase changes, held calls released, new connections)
// and each client's pause (last success before, first success after).
// Usage: node --import tsx bench/blue-green.mjs [--variants ours,peer,plain] [--in-progress-ms 2000] [--steady-ms 1500] [--timeline]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { format } from 'node:util';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { LocalCluster } from '../ts/testing/index.ts';
import { AwsPGClient } from '../ts/pg.ts';
import { setLogger } from '../ts/index.ts';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const isRoot = process.getuid?.() === 0;
const VARIANTS = arg('variants', 'ours,peer,plain')
  .split(',')
  .filter((v) => v !== 'peer' || isRoot);
const IN_PROGRESS_MS = Number(arg('in-progress-ms', 2000));
const STEADY_MS = Number(arg('steady-ms', 1500));
const TIMELINE = process.argv.includes('--timeline');
/** @type {[number, string][]} */
const events = [];
if (TIMELINE) {
  const record = (/** @type {string} */ line, /** @type {unknown[]} */ ...args) =>
    events.push([Date.now(), format(line, ...args)]);
  setLogger({ debug: record, info: record, warn: record, error: record }, { levels: 'bg:debug' });
}
const WRITERS = 8;
const READERS = 4;

/** While set: `host:port` addresses whose connection attempts are counted in `attempts`. */
const greenCount = { addresses: /** @type {Set<string> | undefined} */ (undefined), attempts: 0 };
const socketConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const addresses = greenCount.addresses;
  if (addresses !== undefined) {
    let counted = false;
    const count = (/** @type {string | undefined} */ host, /** @type {number | undefined} */ port) => {
      if (!counted && addresses.has(`${host}:${port}`)) greenCount.attempts++;
      counted = true;
    };
    this.once('connect', () => count(this.remoteAddress, this.remotePort));
    this.once('error', (/** @type {NodeJS.ErrnoException & { address?: string, port?: number }} */ err) =>
      count(err.address, err.port),
    );
  }
  return Reflect.apply(socketConnect, this, args);
};

function liveAddress(cluster, name) {
  const a = cluster.hostAddressMap[name];
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
}

function makeClient(variant, cluster, blueName) {
  if (variant === 'ours') {
    const config = { ...cluster.clientConfig(blueName), plugins: ['bg'] };
    return {
      async open() {
        const c = new AwsPGClient(config);
        c.on('error', () => {});
        await c.connect();
        return c;
      },
    };
  }
  if (variant === 'peer') {
    const { user, password, database } = cluster.credentials;
    const dnsName = cluster.instances.find((i) => i.name === blueName).dnsName;
    const port = cluster.instances.find((i) => i.name === blueName).port;
    return {
      async open() {
        const { AwsPGClient: Peer } = await import('aws-advanced-nodejs-wrapper/pg');
        const c = new Peer({ host: dnsName, port, user, password, database, plugins: 'bg' });
        c.on?.('error', () => {});
        await c.connect();
        return c;
      },
    };
  }
  return {
    async open() {
      const { user, password, database } = cluster.credentials;
      const c = new pg.Client({
        ...liveAddress(cluster, cluster.instances.find((i) => i.name === blueName)?.dnsName ?? blueName),
        user,
        password,
        database,
      });
      c.on('error', () => {});
      await c.connect();
      return c;
    },
  };
}

async function worker(kind, factory, ids, state) {
  const stats = {
    kind,
    maxPauseMs: 0,
    pauseFrom: 0,
    pauseTo: 0,
    errors: 0,
    acked: /** @type {number[]} */ ([]),
    kinds: new Set(),
  };
  let client;
  let lastOk = Date.now();
  while (!state.stop) {
    try {
      client ??= await factory.open();
      if (kind === 'writer') {
        const id = ids.next++;
        await client.query('INSERT INTO bench (id) VALUES ($1)', [id]);
        stats.acked.push(id);
      } else {
        await client.query('SELECT count(*) FROM bench');
      }
      const now = Date.now();
      if (now - lastOk > stats.maxPauseMs) {
        stats.maxPauseMs = now - lastOk;
        stats.pauseFrom = lastOk;
        stats.pauseTo = now;
      }
      lastOk = now;
    } catch (err) {
      stats.errors++;
      if (TIMELINE)
        events.push([Date.now(), `${kind} error: ${err.code ?? err.name}: ${String(err.message).slice(0, 60)}`]);
      stats.kinds.add(`${err.code ?? err.name}: ${String(err.message).slice(0, 80)}`);
      await client?.end().catch(() => {});
      client = undefined;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await client?.end().catch(() => {});
  return stats;
}

async function runVariant(variant) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-bg-'));
  const cluster = await LocalCluster.start({ flavour: 'pg', database: 'app', dir, etcHosts: isRoot });
  try {
    const setup = new pg.Client(cluster.directConfig(cluster.writer.name));
    await setup.connect();
    await setup.query('CREATE TABLE bench (id bigint PRIMARY KEY)');
    await setup.end();
    const bg = await cluster.blueGreen();
    const blueName = cluster.writer.name;
    const oldBlueName = () => bg.blue[0].name;
    const factory = makeClient(variant, cluster, blueName);
    const state = { stop: false };
    const ids = { next: 1 };
    const loops = [
      ...Array.from({ length: WRITERS }, () => worker('writer', factory, ids, state)),
      ...Array.from({ length: READERS }, () => worker('reader', factory, ids, state)),
    ];
    await new Promise((r) => setTimeout(r, STEADY_MS));
    greenCount.attempts = 0;
    greenCount.addresses = new Set(
      [...bg.green, bg.greenWriterEndpoint, bg.greenReaderEndpoint].map((g) => `${g.host}:${g.port}`),
    );
    const result = await bg.switchover({ phaseMs: { initiated: 500, inProgress: IN_PROGRESS_MS, post: 500 } });
    greenCount.addresses = undefined;
    await new Promise((r) => setTimeout(r, STEADY_MS));
    state.stop = true;
    const stats = await Promise.all(loops);
    const green = new pg.Client(cluster.directConfig(cluster.writer.name));
    await green.connect();
    const onGreen = new Set((await green.query('SELECT id FROM bench')).rows.map((r) => Number(r.id)));
    await green.end();
    const blue = new pg.Client(cluster.directConfig(oldBlueName()));
    await blue.connect();
    const onBlue = (await blue.query('SELECT id FROM bench')).rows.map((r) => Number(r.id));
    await blue.end();
    const acked = stats.flatMap((s) => s.acked);
    const pauses = stats.map((s) => s.maxPauseMs).sort((a, b) => a - b);
    const inProgress = result.phases.find((p) => p.status === 'SWITCHOVER_IN_PROGRESS')?.ms ?? NaN;
    if (TIMELINE) printTimeline(variant, dir, result, stats);
    return {
      variant,
      inProgressMs: Math.round(inProgress),
      pauseP50Ms: Math.round(pauses[Math.floor(pauses.length / 2)]),
      pauseMaxMs: Math.round(pauses[pauses.length - 1]),
      greenConnects: greenCount.attempts,
      errors: stats.reduce((n, s) => n + s.errors, 0),
      writes: acked.length,
      lost: acked.filter((id) => !onGreen.has(id)).length,
      blueOnly: onBlue.filter((id) => !onGreen.has(id)).length,
      errorKinds: [...new Set(stats.flatMap((s) => [...s.kinds]))].join(' | '),
    };
  } finally {
    await cluster.stop({ keepLogs: false });
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTimeline(variant, dir, result, stats) {
  const t0 = result.phases.find((p) => p.status === 'SWITCHOVER_IN_PROGRESS').at;
  const lines = [...events.splice(0)];
  for (const p of result.phases) lines.push([p.at, `lookalike: step ${p.status} returned (phase held ${p.ms} ms)`]);
  for (const l of readFileSync(path.join(dir, 'logs', 'supervisor.log'), 'utf8').split('\n')) {
    const m = /^(\S+) (blue-green .*)$/.exec(l);
    if (m) lines.push([Date.parse(m[1]), `supervisor: ${m[2].slice(0, 110)}`]);
  }
  stats.forEach((s, n) => {
    lines.push([s.pauseFrom, `client ${n} (${s.kind}): last success before its longest pause`]);
    lines.push([s.pauseTo, `client ${n} (${s.kind}): first success after it (${s.maxPauseMs} ms)`]);
  });
  lines.sort((a, b) => a[0] - b[0]);
  console.log(`--- timeline ${variant} (ms from the end of the IN_PROGRESS step) ---`);
  const end = result.phases[result.phases.length - 1].at;
  for (const [t, what] of lines)
    if (t >= t0 - 1000 && t <= end + 500) console.log(`${String(t - t0).padStart(6)}  ${what}`);
}

const rows = [];
for (const v of VARIANTS) rows.push(await runVariant(v));
console.table(rows);
process.exit(0);
