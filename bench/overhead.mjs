#!/usr/bin/env node
// bench/overhead: latency and CPU per query of AwsPGClient / AwsMySQLClient against raw pg / mysql2 on the same
// server in the same run, for `SELECT 1` and a 1 MB statement, printed as ratios; connect latency against a plain
// server and a lookalike Aurora cluster; plus import time.
// Goals (issue 2): ≤ 5 % latency and ≤ 2 µs CPU added per query; 1 MB statement ≤ 1.1× raw CPU; import ≤ 60 ms.
// Goals (issue 16): telemetry off adds nothing (same as before, within noise); the cost with it on is measured.
// Goals (issue 10): connect ≤ 1.2× raw with `plugins: ''`; the default plugins detect the dialect once per host.
// Usage: npm run build && node bench/overhead.mjs [--iterations N] [--connects N] [--sections queries,connect,import]
//        [--baseline DIR]   (DIR: another checkout with dist/ built, e.g. the main branch: its clients get rows too)
//        [--rounds N] [--connect-targets pg,mysql,aurora-pg,aurora-mysql] [--connect-modes alone,beside]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { AwsPGClient, releaseResources } from 'aws-advanced-ts-wrapper/pg';
import { AwsMySQLClient } from 'aws-advanced-ts-wrapper/mysql';
import { LocalCluster } from 'aws-advanced-ts-wrapper/testing';
import { startServers } from '../test/support/servers.mjs';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const N = Number(arg('iterations', 5000));
const CONNECTS = Number(arg('connects', 200));
const SECTIONS = arg('sections', 'queries,connect,import').split(',');
const BASELINE = arg('baseline', undefined);
// Interleaved rounds so drift on a shared 2-core machine hits every variant alike; connect tables also print the
// spread of the per-round ratios (min–max), the honest error bar of a connect figure.
const ROUNDS = Number(arg('rounds', 5));
const CONNECT_TARGETS = arg('connect-targets', 'pg,mysql,aurora-pg,aurora-mysql').split(',');
const CONNECT_MODES = arg('connect-modes', 'alone,beside').split(',');
const BIG = `SELECT 1 AS one /* ${'x'.repeat(1024 * 1024)} */`;

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length / 2)], mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function measure(run, sql, iterations) {
  for (let i = 0; i < Math.min(200, iterations); i++) await run(sql); // warm-up
  const lat = new Array(iterations);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await run(sql);
    lat[i] = performance.now() - t0;
  }
  const cpu = process.cpuUsage(cpu0);
  return { ...stats(lat), cpuUs: (cpu.user + cpu.system) / iterations };
}

async function compare(label, variants, sql, iterations) {
  const acc = Object.fromEntries(variants.map((v) => [v.name, []]));
  for (let r = 0; r < ROUNDS; r++)
    for (const v of variants) acc[v.name].push(await measure(v.run, sql, Math.ceil(iterations / ROUNDS)));
  const avg = (name, k) => acc[name].reduce((a, m) => a + m[k], 0) / ROUNDS;
  const base = variants[0].name;
  console.log(`\n${label}`);
  console.log(
    `  ${'variant'.padEnd(34)} ${'p50 ms'.padStart(9)} ${'mean ms'.padStart(9)} ${'CPU µs/q'.padStart(10)} ${'latency×'.padStart(9)} ${'CPU×'.padStart(7)} ${'+CPU µs'.padStart(8)}`,
  );
  for (const v of variants) {
    const p50 = avg(v.name, 'p50'),
      mean = avg(v.name, 'mean'),
      cpu = avg(v.name, 'cpuUs');
    console.log(
      `  ${v.name.padEnd(34)} ${p50.toFixed(4).padStart(9)} ${mean.toFixed(4).padStart(9)} ${cpu.toFixed(1).padStart(10)} ${(mean / avg(base, 'mean')).toFixed(3).padStart(9)} ${(cpu / avg(base, 'cpuUs')).toFixed(3).padStart(7)} ${(cpu - avg(base, 'cpuUs')).toFixed(1).padStart(8)}`,
    );
  }
}

function importTimeMs(spec, isEsm) {
  const code = isEsm
    ? `const t=performance.now(); await import('${spec}'); console.log(performance.now()-t)`
    : `const t=performance.now(); require('${spec}'); console.log(performance.now()-t)`;
  const runs = [];
  for (let i = 0; i < 7; i++)
    runs.push(
      Number(
        execFileSync(process.execPath, isEsm ? ['--input-type=module', '-e', code] : ['-e', code], {
          encoding: 'utf8',
        }).trim(),
      ),
    );
  return stats(runs).p50;
}

/** The clients of another checkout (--baseline), for before/after rows in the same run. */
const baseline =
  BASELINE === undefined
    ? undefined
    : {
        ...(await import(path.resolve(BASELINE, 'dist/esm/pg.js'))),
        AwsMySQLClient: (await import(path.resolve(BASELINE, 'dist/esm/mysql.js'))).AwsMySQLClient,
      };

async function loadPeer() {
  try {
    return {
      pg: (await import('aws-advanced-nodejs-wrapper/pg')).AwsPGClient,
      mysql: (await import('aws-advanced-nodejs-wrapper/mysql')).AwsMySQLClient,
    };
  } catch (err) {
    console.log(`  (aws-advanced-nodejs-wrapper not available: ${err.message})`);
    return undefined;
  }
}

// ---- connect latency ---------------------------------------------------------------------------------------------

/**
 * Connect latency: each sample is construct + connect() of a new client, ended before the next (end() is not
 * timed). Variants take turns, one connect each, in rounds. With `beside`, one client of each wrapper variant stays connected
 * meanwhile, as in an application with a pool (the wrappers' shared state stays alive); without it every client is
 * alone, as in a script or a test suite that connects and ends. Ratios are to the first variant (the raw driver):
 * over all samples, and per round (p50 of the variant's round / p50 of the raw driver's same round) as min–max, the
 * spread to read a figure against. CPU is this process's (user + system) per connect, end() included.
 */
async function compareConnect(label, variants, n, { beside = false } = {}) {
  const held = [];
  if (beside) for (const v of variants.slice(1)) held.push(await v.open());
  for (const v of variants) for (let i = 0; i < 5; i++) await v.close(await v.open()); // warm-up
  const rounds = Object.fromEntries(variants.map((v) => [v.name, []]));
  const cpuUs = Object.fromEntries(variants.map((v) => [v.name, 0]));
  const perRound = Math.ceil(n / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    const samples = Object.fromEntries(variants.map((v) => [v.name, []]));
    // Variants take turns connect by connect: a burst of load from elsewhere hits each of them alike.
    for (let i = 0; i < perRound; i++) {
      for (const v of variants) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const c = await v.open();
        samples[v.name].push(performance.now() - t0);
        await v.close(c);
        const cpu = process.cpuUsage(cpu0);
        cpuUs[v.name] += (cpu.user + cpu.system) / (perRound * ROUNDS);
      }
    }
    for (const v of variants) rounds[v.name].push(samples[v.name]);
  }
  await Promise.all(held.map((c) => c.end()));
  const base = variants[0].name;
  const all = (name) => stats(rounds[name].flat());
  const roundRatios = (name) => rounds[name].map((s, r) => stats(s).p50 / stats(rounds[base][r]).p50);
  console.log(`\n${label}`);
  console.log(
    `  ${'variant'.padEnd(48)} ${'p50 ms'.padStart(8)} ${'mean ms'.padStart(8)} ${'p50×'.padStart(6)} ${'mean×'.padStart(6)} ${'p50× per round'.padStart(15)} ${'CPU µs'.padStart(7)}`,
  );
  for (const v of variants) {
    const s = all(v.name);
    const rr = roundRatios(v.name);
    const spread = `${Math.min(...rr).toFixed(2)}–${Math.max(...rr).toFixed(2)}`;
    console.log(
      `  ${v.name.padEnd(48)} ${s.p50.toFixed(3).padStart(8)} ${s.mean.toFixed(3).padStart(8)} ${(s.p50 / all(base).p50).toFixed(2).padStart(6)} ${(s.mean / all(base).mean).toFixed(2).padStart(6)} ${spread.padStart(15)} ${cpuUs[v.name].toFixed(0).padStart(7)}`,
    );
  }
}

/** A variant of one wrapper client class: `cfg` plus the plugins setting. */
function wrapperVariant(name, Client, cfg, plugins) {
  const config = plugins === undefined ? cfg : { ...cfg, plugins };
  return {
    name: `${name} ${plugins === undefined ? 'default plugins' : `plugins=${JSON.stringify(plugins)}`}`,
    async open() {
      const c = new Client(config);
      c.on?.('error', () => {});
      await c.connect();
      return c;
    },
    close: (c) => c.end(),
  };
}

function pgVariants(rawCfg, ourCfg, peer) {
  const vs = [
    {
      name: 'pg.Client (raw)',
      open: async () => {
        const c = new pg.Client(rawCfg);
        await c.connect();
        return c;
      },
      close: (c) => c.end(),
    },
  ];
  for (const plugins of ['', undefined]) {
    vs.push(wrapperVariant('AwsPGClient', AwsPGClient, ourCfg, plugins));
    if (baseline) vs.push(wrapperVariant('baseline AwsPGClient', baseline.AwsPGClient, ourCfg, plugins));
    if (peer) vs.push(wrapperVariant('aws-advanced-nodejs-wrapper', peer.pg, rawCfg, plugins));
  }
  return vs;
}

function mysqlVariants(rawCfg, ourCfg, peer) {
  const vs = [{ name: 'mysql2/promise (raw)', open: () => mysql.createConnection(rawCfg), close: (c) => c.end() }];
  for (const plugins of ['', undefined]) {
    vs.push(wrapperVariant('AwsMySQLClient', AwsMySQLClient, ourCfg, plugins));
    if (baseline) vs.push(wrapperVariant('baseline AwsMySQLClient', baseline.AwsMySQLClient, ourCfg, plugins));
    // The peer keys its dialect cache by host name alone: its MySQL clients use another name for the same server.
    if (peer)
      vs.push(wrapperVariant('aws-advanced-nodejs-wrapper', peer.mysql, { ...rawCfg, host: 'localhost' }, plugins));
  }
  return vs;
}

/**
 * The floor of what the default plugins do through a writer endpoint beside a connected client: the raw driver
 * connects to the writer instance the topology names and checks its role (initial_connection's statement, which the
 * Python wrapper sends too).
 */
function roleCheckFloor(flavour, writerCfg) {
  const name = ' → instance + role check';
  if (flavour === 'aurora-pg')
    return {
      name: `pg.Client (raw)${name}`,
      open: async () => {
        const c = new pg.Client(writerCfg);
        await c.connect();
        await c.query('SELECT pg_catalog.pg_is_in_recovery()');
        return c;
      },
      close: (c) => c.end(),
    };
  return {
    name: `mysql2/promise (raw)${name}`,
    open: async () => {
      const c = await mysql.createConnection(writerCfg);
      await c.query('SELECT @@innodb_read_only');
      return c;
    },
    close: (c) => c.end(),
  };
}

async function connects(pgCfg, myCfg) {
  const peer = await loadPeer();
  if (CONNECT_TARGETS.includes('pg') && CONNECT_MODES.includes('alone'))
    await compareConnect(
      'Connect — PostgreSQL, plain server, each client alone',
      pgVariants(pgCfg, pgCfg, peer),
      CONNECTS,
    );
  if (CONNECT_TARGETS.includes('mysql') && CONNECT_MODES.includes('alone'))
    await compareConnect(
      'Connect — MySQL (MariaDB), plain server, each client alone',
      mysqlVariants(myCfg, myCfg, peer),
      CONNECTS,
    );
  // Lookalike clusters: the raw driver connects to the writer endpoint's address; the wrappers to its RDS name
  // (hostAddressMap). The peer needs /etc/hosts entries for the names and is left out here.
  for (const flavour of /** @type {const} */ (['aurora-pg', 'aurora-mysql'])) {
    if (!CONNECT_TARGETS.includes(flavour)) continue;
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-connect-'));
    const cluster = await LocalCluster.start({ flavour, readers: 1, dir });
    try {
      const raw = cluster.directConfig('writer');
      const ours = cluster.clientConfig('writer');
      const [first, ...rest] = flavour === 'aurora-pg' ? pgVariants(raw, ours) : mysqlVariants(raw, ours);
      const variants = [first, roleCheckFloor(flavour, cluster.directConfig(cluster.writer.name)), ...rest];
      const label = `Connect — lookalike ${flavour} cluster (1 writer, 1 reader), writer endpoint`;
      if (CONNECT_MODES.includes('alone')) await compareConnect(`${label}, each client alone`, variants, CONNECTS);
      if (CONNECT_MODES.includes('beside'))
        await compareConnect(`${label}, beside a connected client`, variants, CONNECTS, { beside: true });
    } finally {
      await cluster.stop({ keepLogs: false });
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const servers = await startServers();
try {
  const e = servers.env;
  const pgCfg = {
    host: e.TEST_PG_HOST,
    port: Number(e.TEST_PG_PORT),
    user: e.TEST_PG_USER,
    password: e.TEST_PG_PASSWORD,
    database: e.TEST_PG_DATABASE,
  };
  const myCfg = {
    host: e.TEST_MYSQL_HOST,
    port: Number(e.TEST_MYSQL_PORT),
    user: e.TEST_MYSQL_USER,
    password: e.TEST_MYSQL_PASSWORD,
    database: e.TEST_MYSQL_DATABASE,
  };

  console.log(
    `bench/overhead — ${N} queries / ${CONNECTS} connects per variant in ${ROUNDS} interleaved rounds, node ${process.version}`,
  );
  if (SECTIONS.includes('queries')) await queries(pgCfg, myCfg);
  if (SECTIONS.includes('connect')) await connects(pgCfg, myCfg);
  if (SECTIONS.includes('import')) imports();
} finally {
  await releaseResources();
  await baseline?.releaseResources();
  servers.stop();
}
// The Node peer's monitors and caches keep the event loop alive (it has no per-client release): exit explicitly.
setTimeout(() => process.exit(), 100);

async function queries(pgCfg, myCfg) {
  const rawPg = new pg.Client(pgCfg);
  await rawPg.connect();
  const awsPgBare = new AwsPGClient({ ...pgCfg, plugins: '' });
  await awsPgBare.connect();
  const awsPgDefault = new AwsPGClient(pgCfg);
  await awsPgDefault.connect();
  // Telemetry on: an OpenTelemetry SDK registered (spans batched to an exporter that drops them, metrics kept in
  // memory) and every call traced (telemetrySubmitToplevel), the most a call pays. The rows above have it off.
  const sdk = await registerOtelSdk();
  const awsPgTelemetry = new AwsPGClient({ ...pgCfg, enableTelemetry: true, telemetrySubmitToplevel: true });
  await awsPgTelemetry.connect();
  const pgVariants = [
    { name: 'pg.Client (raw)', run: (q) => rawPg.query(q) },
    { name: 'AwsPGClient plugins=""', run: (q) => awsPgBare.query(q) },
    { name: 'AwsPGClient default plugins', run: (q) => awsPgDefault.query(q) },
    { name: 'AwsPGClient default, telemetry on', run: (q) => awsPgTelemetry.query(q) },
  ];
  if (baseline !== undefined) {
    const before = new baseline.AwsPGClient(pgCfg);
    await before.connect();
    pgVariants.push({
      name: 'baseline AwsPGClient default plugins',
      run: (q) => before.query(q),
      end: () => before.end(),
    });
  }
  await compare('PostgreSQL — SELECT 1', pgVariants, 'SELECT 1', N);
  await compare('PostgreSQL — 1 MB statement', pgVariants, BIG, Math.max(50, Math.floor(N / 25)));
  await Promise.all([
    rawPg.end(),
    awsPgBare.end(),
    awsPgDefault.end(),
    awsPgTelemetry.end(),
    ...pgVariants.map((v) => v.end?.()),
  ]);
  await sdk.shutdown();

  const rawMy = await mysql.createConnection(myCfg);
  const awsMyBare = new AwsMySQLClient({ ...myCfg, plugins: '' });
  await awsMyBare.connect();
  const awsMyDefault = new AwsMySQLClient(myCfg);
  await awsMyDefault.connect();
  const myVariants = [
    { name: 'mysql2/promise (raw)', run: (q) => rawMy.query(q) },
    { name: 'AwsMySQLClient plugins=""', run: (q) => awsMyBare.query(q) },
    { name: 'AwsMySQLClient default plugins', run: (q) => awsMyDefault.query(q) },
  ];
  await compare('MySQL (MariaDB) — SELECT 1', myVariants, 'SELECT 1', N);
  await compare('MySQL (MariaDB) — 1 MB statement', myVariants, BIG, Math.max(50, Math.floor(N / 25)));
  await Promise.all([rawMy.end(), awsMyBare.end(), awsMyDefault.end()]);
}

/** A global OpenTelemetry SDK as an application registers it; spans go to an exporter that drops them. */
async function registerOtelSdk() {
  const api = await import('@opentelemetry/api');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } =
    await import('@opentelemetry/sdk-metrics');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const drop = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(drop)] });
  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
        exportIntervalMillis: 3_600_000,
      }),
    ],
  });
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.trace.setGlobalTracerProvider(tracerProvider);
  api.metrics.setGlobalMeterProvider(meterProvider);
  return {
    shutdown: async () => {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      api.trace.disable();
      api.metrics.disable();
      api.context.disable();
    },
  };
}

function imports() {
  console.log('\nImport time (fresh process, p50 of 7)');
  const base = importTimeMs('pg', false);
  console.log(`  require('pg')                              ${base.toFixed(1)} ms`);
  console.log(
    `  require('aws-advanced-ts-wrapper')         ${importTimeMs('aws-advanced-ts-wrapper', false).toFixed(1)} ms`,
  );
  console.log(
    `  import('aws-advanced-ts-wrapper')          ${importTimeMs('aws-advanced-ts-wrapper', true).toFixed(1)} ms`,
  );
  console.log(
    `  import('aws-advanced-ts-wrapper/pg')       ${importTimeMs('aws-advanced-ts-wrapper/pg', true).toFixed(1)} ms`,
  );
}
