#!/usr/bin/env node
// bench/global-failover: time from the loss of the primary region's writer to the first write acknowledged in the
// new primary region, p50 / max over N runs, on the lookalike global database (two aurora-pg regions, or with
// `--flavour aurora-mysql` two aurora-mysql regions; one reader each), for an unplanned global failover (the writer
// crashes) and a planned switchover (clean shutdown), with
//   - gdb_failover: AwsPGClient / AwsMySQLClient, plugins 'gdb_failover' (home region = the first region, default
//     strict-writer), through the global- writer endpoint;
//   - failover_v2:  the same client, plugins 'failover_v2', through the same endpoint (the global dialect's topology);
//   - plain:        pg.Client / a mysql2 connection reconnecting through the global- endpoint after every error.
// The peer (aws-advanced-nodejs-wrapper, the version in node_modules) has no Global Database support (its 3.0.0 is
// unreleased), so it is not measured.
// Every variant writes in a loop (an INSERT, then the instance id on the same connection), retrying at once after
// any error. A run's
// result is (first commit acknowledged by an instance of the new primary region) − (start of the fault); the
// lookalike's own fence + promotion time of that run is shown beside it (the floor no client can beat). Variants
// take turns run by run; each run moves the primary to the other region.
// Usage: node --import tsx bench/global-failover.mjs [--runs 5] [--scenarios failover,switchover] [--cap-ms 60000]
//        [--flavour aurora-pg|aurora-mysql]
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { LocalGlobalDatabase } from '../ts/testing/index.ts';
import { AwsPGClient } from '../ts/clients/pg-client.ts';
import { AwsMySQLClient } from '../ts/clients/mysql-client.ts';
import { WrapperServices } from '../ts/services.ts';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const RUNS = Number(arg('runs', 5));
const SCENARIOS = arg('scenarios', 'failover,switchover').split(',');
const CAP_MS = Number(arg('cap-ms', 60_000));
const VARIANTS = ['gdb_failover', 'failover_v2', 'plain'];
const REGIONS = /** @type {const} */ (['us-east-1', 'us-west-2']);
const FLAVOUR = /** @type {'aurora-pg' | 'aurora-mysql'} */ (arg('flavour', 'aurora-pg'));
if (FLAVOUR !== 'aurora-pg' && FLAVOUR !== 'aurora-mysql') throw new Error(`--flavour: aurora-pg or aurora-mysql`);
const MYSQL = FLAVOUR === 'aurora-mysql';

const dir = mkdtempSync(path.join(tmpdir(), 'bench-global-'));
chmodSync(dir, 0o755);
const gdb = await LocalGlobalDatabase.start({
  flavour: FLAVOUR,
  dir: path.join(dir, 'gdb'),
  regions: REGIONS,
  readers: 1,
});
const regionOf = (instance) => (/^instance-1\d\d$/.test(instance) ? REGIONS[1] : REGIONS[0]);

if (MYSQL) {
  const setup = await mysql.createConnection(gdb.primary.directConfig('writer'));
  await setup.query('CREATE TABLE bench_gf (id bigint AUTO_INCREMENT PRIMARY KEY, at timestamp(6) DEFAULT now(6))');
  await setup.end();
} else {
  const setup = new pg.Client(gdb.primary.directConfig('writer'));
  await setup.connect();
  await setup.query('CREATE TABLE bench_gf (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())');
  await setup.end();
}
const PG_INSERT =
  'INSERT INTO bench_gf DEFAULT VALUES RETURNING pg_catalog.aurora_db_instance_identifier() AS instance';

/** One write, then the instance that took it (same connection). */
async function mysqlWrite(c) {
  await c.query('INSERT INTO bench_gf () VALUES ()');
  const [rows] = await c.query('SELECT @@aurora_server_id AS instance');
  return rows[0].instance;
}

/** A client that reconnects after every failed write (`end` may run on a broken connection). */
async function reconnecting(connect, write, end) {
  await connect();
  return {
    async write() {
      try {
        return await write();
      } catch (err) {
        end().catch(() => {});
        await connect().catch(() => {});
        throw err;
      }
    },
    end: () => end().catch(() => {}),
  };
}

async function openVariant(variant) {
  if (variant === 'plain') {
    const [host, port] = gdb.hostAddressMap[gdb.globalEndpoint].split(':');
    const target = { ...gdb.primary.credentials, host, port: Number(port) };
    if (MYSQL) {
      let c;
      return reconnecting(
        async () => {
          c = await mysql.createConnection({ ...target, connectTimeout: 2000 });
          c.on('error', () => {});
        },
        () => mysqlWrite(c),
        async () => c?.end(),
      );
    }
    let c;
    return reconnecting(
      async () => {
        c = new pg.Client({ ...target, connectionTimeoutMillis: 2000 });
        c.on('error', () => {});
        await c.connect();
      },
      async () => (await c.query(PG_INSERT)).rows[0].instance,
      async () => c?.end(),
    );
  }
  const services = new WrapperServices();
  const config = {
    ...gdb.clientConfig('global'),
    plugins: variant,
    failoverHomeRegion: REGIONS[0],
    failoverTimeoutMs: CAP_MS,
  };
  const end = async (c) => {
    await c.end().catch(() => {});
    await services.close();
  };
  if (MYSQL) {
    const c = new AwsMySQLClient(config, { services });
    c.on('error', () => {});
    await c.connect();
    return { write: () => mysqlWrite(c), end: () => end(c) };
  }
  const c = new AwsPGClient(config, { services });
  c.on('error', () => {});
  await c.connect();
  return { write: async () => (await c.query(PG_INSERT)).rows[0].instance, end: () => end(c) };
}

/** Writes in a loop until an instance of `region` acknowledges a commit; resolves to that moment (epoch ms). */
async function firstWriteIn(client, region, stop) {
  while (!stop.stopped) {
    try {
      const instance = await client.write();
      if (regionOf(instance) === region) return Date.now();
    } catch {
      // retry at once: failover errors, connection errors and read-only errors alike
    }
  }
  return undefined;
}

const results = {};
for (const scenario of SCENARIOS) {
  for (const v of VARIANTS) results[`${scenario}/${v}`] = [];
  for (let run = 0; run < RUNS; run++) {
    for (const variant of VARIANTS) {
      const client = await openVariant(variant);
      const target = gdb.secondary.region;
      const stop = { stopped: false };
      const cap = setTimeout(() => (stop.stopped = true), CAP_MS);
      // Writing before the fault: the loop is inside a commit on the old writer when it is lost.
      const written = firstWriteIn(client, target, stop);
      const t0 = Date.now();
      const moved = await (scenario === 'failover' ? gdb.failover() : gdb.switchover());
      const at = await written;
      clearTimeout(cap);
      stop.stopped = true;
      await client.end();
      const ms = at === undefined ? undefined : at - t0;
      results[`${scenario}/${variant}`].push({ ms, floor: moved.fenceMs + moved.promoteMs });
      console.log(
        `${scenario} run ${run + 1} ${variant}: ${ms === undefined ? `> ${CAP_MS}` : `${ms} ms`} (lookalike fence + promote + publish ${moved.fenceMs + moved.promoteMs} ms, rebuild ${moved.rebuildMs} ms)`,
      );
    }
  }
}

function pct(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
console.log(
  `\n${FLAVOUR}: fault -> first write in the new primary region (ms); floor = the lookalike's fence + promotion + publication of the global view and endpoint`,
);
console.log('| scenario | variant | p50 | max | floor p50 | recovered |');
console.log('|---|---|---|---|---|---|');
for (const [key, rows] of Object.entries(results)) {
  const ok = rows.filter((r) => r.ms !== undefined).map((r) => r.ms);
  const [scenario, variant] = key.split('/');
  console.log(
    `| ${scenario} | ${variant} | ${ok.length ? pct(ok, 50) : '-'} | ${ok.length ? Math.max(...ok) : '-'} | ${pct(
      rows.map((r) => r.floor),
      50,
    )} | ${ok.length}/${rows.length} |`,
  );
}
await gdb.stop({ keepLogs: false });
rmSync(dir, { recursive: true, force: true });
process.exit(0);
