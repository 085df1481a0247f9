#!/usr/bin/env node
// bench/rw-splitting: read/write splitting switch overhead and AwsPGPool.query against pg.Pool.query, on the local
// aurora-pg lookalike (one writer, two readers, loopback).
//
// Switch overhead follows the Python wrapper's method: RUNS times, a new client does
// setReadOnly(true) then setReadOnly(false), with plugins `read_write_splitting,connect_time,execute_time` against
// the baseline `connect_time,execute_time`; the time spent opening connections (connect_time) and in the driver
// call (execute_time) is subtracted, so what is left is the wrapper's own work. Python: +11.94 ms to a reader,
// +0.95 ms back; with the internal pool +3.34 ms / +0.55 ms. Goal here: ≤ 1 ms with pools.
//
// Pools: sequential and concurrent `SELECT 1` through AwsPGPool.query and pg.Pool.query on the same endpoint, in
// interleaved rounds; latency and client CPU per query, as ratios (goal ≤ 1.1×; the Node peer measured 5.7×).
//
// Usage: npm run build:ts && node bench/rw-splitting.mjs [--runs 100] [--queries 4000]
// (the built package, as applications run it; through tsx the transpiled helpers add CPU to every call)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { AwsPGClient, AwsPGPool } from 'aws-advanced-ts-wrapper/pg';
import { WrapperServices, releaseResources } from 'aws-advanced-ts-wrapper';
import { LocalCluster } from 'aws-advanced-ts-wrapper/testing';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const RUNS = arg('--runs', 100);
const QUERIES = arg('--queries', 4000);
const ROUNDS = 5;

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One run: a new client switches to a reader and back; wall time minus connect and driver time, per switch. */
async function switchRun(config, plugins, services, extra = {}) {
  const c = new AwsPGClient({ ...config, plugins, ...extra }, { services });
  await c.connect();
  const ct = /** @type {import('../ts/plugins/connect-time.ts').ConnectTimePlugin<unknown>} */ (
    c.core.getPlugin('connect_time')
  );
  const et = /** @type {import('../ts/plugins/execute-time.ts').ExecuteTimePlugin<unknown>} */ (
    c.core.getPlugin('execute_time')
  );
  const measure = async (readOnly) => {
    ct.reset();
    et.reset();
    const t0 = performance.now();
    await c.setReadOnly(readOnly);
    const wall = performance.now() - t0;
    return { wall, own: wall - ct.totalMs - et.totalMs };
  };
  const toReader = await measure(true);
  const toWriter = await measure(false);
  const toCachedReader = await measure(true);
  const backAgain = await measure(false);
  const onReader = c.getCurrentHost()?.role;
  await c.end();
  return { toReader, toWriter, toCachedReader, backAgain, onReader };
}

async function switchSeries(label, config, plugins, extra) {
  // As in an application, other clients keep the shared state (topology cache, internal pools) alive between runs.
  const services = new WrapperServices();
  const keeper = new AwsPGClient({ ...config, plugins, ...extra }, { services });
  await keeper.connect();
  const rows = [];
  for (let i = 0; i < RUNS; i++) rows.push(await switchRun(config, plugins, services, extra));
  await keeper.end();
  const pick = (k, f) => rows.map((r) => r[k][f]);
  // Medians: the machine is shared, and a mean follows the worst stalls.
  return {
    label,
    toReader: median(pick('toReader', 'own')),
    toWriter: median(pick('toWriter', 'own')),
    toCachedReader: median(pick('toCachedReader', 'own')),
    backAgain: median(pick('backAgain', 'own')),
    toReaderWall: median(pick('toReader', 'wall')),
  };
}

async function switchBench(cluster) {
  const config = cluster.clientConfig('writer');
  console.log(
    `\nRead/write splitting switch overhead — ${RUNS} runs, median wrapper time (connect and driver time subtracted), ms`,
  );
  const base = await switchSeries('baseline connect_time,execute_time', config, 'connect_time,execute_time', {});
  const rw = await switchSeries('read_write_splitting', config, 'read_write_splitting,connect_time,execute_time', {});
  const pooled = await switchSeries(
    'read_write_splitting + internal pool',
    config,
    'read_write_splitting,connect_time,execute_time',
    { internalConnectionPool: true },
  );
  const fmt = (x) => x.toFixed(3).padStart(8);
  // Per run: a new client switches to a reader (its first switch: opens or takes a reader, identifies the initial
  // connection once) and back, then once more each way (the reader cached, or taken from the pool again).
  console.log(
    `  ${'variant'.padEnd(40)} ${'to reader'.padStart(9)} ${'back'.padStart(9)} ${'again→r'.padStart(9)} ${'back'.padStart(9)}   (to reader, wall)`,
  );
  for (const s of [base, rw, pooled]) {
    console.log(
      `  ${s.label.padEnd(40)} ${fmt(s.toReader)}  ${fmt(s.toWriter)}  ${fmt(s.toCachedReader)}  ${fmt(s.backAgain)}   (${s.toReaderWall.toFixed(3)})`,
    );
  }
  const over = (s, k) => s[k] - base[k];
  console.log('  overhead over the baseline (Python: +11.94 / +0.95; pooled +3.34 / +0.55):');
  const line = (s) =>
    `to reader +${over(s, 'toReader').toFixed(3)} ms, back +${over(s, 'toWriter').toFixed(3)} ms; again +${over(s, 'toCachedReader').toFixed(3)} / +${over(s, 'backAgain').toFixed(3)} ms`;
  console.log(`    read_write_splitting:        ${line(rw)}`);
  console.log(`    + internal pool:             ${line(pooled)}`);
  return { base, rw, pooled };
}

async function measureQueries(run, n, concurrency) {
  for (let i = 0; i < 200; i++) await run(); // warm-up
  const lat = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (concurrency === 1) {
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      await run();
      lat.push(performance.now() - s);
    }
  } else {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        next++;
        const s = performance.now();
        await run();
        lat.push(performance.now() - s);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { mean: mean(lat), p50: median(lat), cpuUs: (cpu.user + cpu.system) / n, throughput: (n / wall) * 1000 };
}

async function poolBench(cluster) {
  const direct = cluster.directConfig('writer');
  const config = cluster.clientConfig('writer');
  /** @type {{ name: string, pool: pg.Pool }[]} */
  const variants = [
    { name: 'pg.Pool.query', pool: new pg.Pool({ ...direct, max: 8 }) },
    {
      name: 'AwsPGPool.query plugins=""',
      pool: new AwsPGPool({ ...config, plugins: '', max: 8 }, { services: new WrapperServices() }),
    },
    {
      name: 'AwsPGPool.query default plugins',
      pool: new AwsPGPool({ ...config, max: 8 }, { services: new WrapperServices() }),
    },
    {
      name: 'AwsPGPool.query rw splitting',
      pool: new AwsPGPool(
        { ...config, plugins: 'read_write_splitting,failover_v2', max: 8 },
        { services: new WrapperServices() },
      ),
    },
  ];
  for (const concurrency of [1, 8]) {
    const acc = Object.fromEntries(variants.map((v) => [v.name, /** @type {object[]} */ ([])]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of variants)
        acc[v.name].push(
          await measureQueries(() => v.pool.query('SELECT 1'), Math.ceil(QUERIES / ROUNDS), concurrency),
        );
    }
    // Median of the rounds: robust against a round hit by other work on a shared machine.
    const avg = (name, k) => median(acc[name].map((m) => m[k]));
    const base = variants[0].name;
    console.log(
      `\nPool query — SELECT 1 on the writer endpoint, ${QUERIES} queries per variant, concurrency ${concurrency}, ${ROUNDS} interleaved rounds`,
    );
    console.log(
      `  ${'variant'.padEnd(34)} ${'mean ms'.padStart(8)} ${'p50 ms'.padStart(8)} ${'CPU µs/q'.padStart(9)} ${'q/s'.padStart(8)} ${'p50×'.padStart(6)} ${'mean×'.padStart(6)} ${'CPU×'.padStart(6)}`,
    );
    for (const v of variants) {
      const m = avg(v.name, 'mean');
      const cpu = avg(v.name, 'cpuUs');
      console.log(
        `  ${v.name.padEnd(34)} ${m.toFixed(4).padStart(8)} ${avg(v.name, 'p50').toFixed(4).padStart(8)} ${cpu.toFixed(1).padStart(9)} ${avg(v.name, 'throughput').toFixed(0).padStart(8)} ${(avg(v.name, 'p50') / avg(base, 'p50')).toFixed(3).padStart(6)} ${(m / avg(base, 'mean')).toFixed(3).padStart(6)} ${(cpu / avg(base, 'cpuUs')).toFixed(3).padStart(6)}`,
      );
    }
  }
  for (const v of variants) await v.pool.end();
}

const dir = mkdtempSync(path.join(tmpdir(), 'bench-rw-'));
const cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 2, dir, database: 'bench' });
try {
  console.log(`bench/rw-splitting — aurora-pg lookalike up in ${cluster.upMs} ms, node ${process.version}`);
  await switchBench(cluster);
  await poolBench(cluster);
} finally {
  await releaseResources();
  await cluster.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
}
