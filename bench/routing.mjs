#!/usr/bin/env node
// bench/routing: what readerRouting costs per query and how much of a mixed workload it moves to readers, on the
// local aurora-pg lookalike (one writer, one reader, loopback).
//
// Per-query cost: AwsPGPool.query with plugins `read_write_splitting,failover_v2` and readerRouting 'off' is the
// baseline; the same pool with 'explicit' (every statement classified, a plain SELECT stays on the writer) and
// 'selects' (the SELECT is routed: the pooled clients sit on the reader), in interleaved rounds (order alternating), p50 / mean latency
// and client CPU as ratios to the baseline (goal: within noise). A 4 KB SELECT shows the bounded classification.
//
// Read share: 8 concurrent workers, each unit 80 % reads (`SELECT … pg_is_in_recovery()`, which says where it ran)
// and 20 % writes (an INSERT), for several readerRoutingStickMs windows; prints the share of reads that reached the
// reader and the workload's throughput against routing off.
//
// Usage: node scripts/build-ts.mjs && node bench/routing.mjs [--queries 4000] [--mixed 4000]
// (the built package, as applications run it)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { AwsPGPool } from 'aws-advanced-ts-wrapper/pg';
import { WrapperServices, releaseResources } from 'aws-advanced-ts-wrapper';
import { LocalCluster } from 'aws-advanced-ts-wrapper/testing';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const QUERIES = arg('--queries', 4000);
const MIXED = arg('--mixed', 4000);
const ROUNDS = 5;
const CONCURRENCY = 8;

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measureQueries(run, n, concurrency) {
  for (let i = 0; i < 100; i++) await run(); // warm-up
  const lat = [];
  const cpu0 = process.cpuUsage();
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
  const cpu = process.cpuUsage(cpu0);
  return { mean: mean(lat), p50: median(lat), cpuUs: (cpu.user + cpu.system) / n };
}

function routingPool(cluster, readerRouting, readerRoutingStickMs = 0) {
  const config = cluster.clientConfig('writer');
  return new AwsPGPool(
    { ...config, plugins: 'read_write_splitting,failover_v2', readerRouting, readerRoutingStickMs, max: CONCURRENCY },
    { services: new WrapperServices() },
  );
}

async function costBench(cluster) {
  const long = `SELECT 1 AS v /* ${'x'.repeat(4096)} */`;
  /** @type {{ name: string, pool: pg.Pool }[]} */
  const variants = [
    { name: 'pg.Pool.query (writer)', pool: new pg.Pool({ ...cluster.directConfig('writer'), max: CONCURRENCY }) },
    { name: "routing 'off' (baseline)", pool: routingPool(cluster, 'off') },
    { name: "routing 'explicit' (stays on writer)", pool: routingPool(cluster, 'explicit') },
    { name: "routing 'selects' (on the reader)", pool: routingPool(cluster, 'selects') },
  ];
  const results = {};
  for (const [label, sql] of [
    ['SELECT 1', 'SELECT 1'],
    ['4 KB SELECT', long],
  ]) {
    for (const concurrency of [1, CONCURRENCY]) {
      const acc = Object.fromEntries(variants.map((v) => [v.name, /** @type {object[]} */ ([])]));
      for (let r = 0; r < ROUNDS; r++) {
        // The order alternates: whichever variant runs right after another pays for its garbage.
        for (const v of r % 2 ? [...variants].reverse() : variants)
          acc[v.name].push(await measureQueries(() => v.pool.query(sql), Math.ceil(QUERIES / ROUNDS), concurrency));
      }
      const avg = (name, k) => median(acc[name].map((m) => m[k]));
      const base = variants[1].name;
      console.log(
        `\nPer-query cost — ${label}, ${QUERIES} queries per variant, concurrency ${concurrency}, ${ROUNDS} interleaved rounds (ratios to routing 'off')`,
      );
      console.log(
        `  ${'variant'.padEnd(38)} ${'mean ms'.padStart(8)} ${'p50 ms'.padStart(8)} ${'CPU µs/q'.padStart(9)} ${'p50×'.padStart(6)} ${'mean×'.padStart(6)} ${'CPU×'.padStart(6)}`,
      );
      for (const v of variants) {
        const row = {
          mean: avg(v.name, 'mean'),
          p50: avg(v.name, 'p50'),
          cpu: avg(v.name, 'cpuUs'),
          p50x: avg(v.name, 'p50') / avg(base, 'p50'),
          meanx: avg(v.name, 'mean') / avg(base, 'mean'),
          cpux: avg(v.name, 'cpuUs') / avg(base, 'cpuUs'),
        };
        results[`${label}/${concurrency}/${v.name}`] = row;
        console.log(
          `  ${v.name.padEnd(38)} ${row.mean.toFixed(4).padStart(8)} ${row.p50.toFixed(4).padStart(8)} ${row.cpu.toFixed(1).padStart(9)} ${row.p50x.toFixed(3).padStart(6)} ${row.meanx.toFixed(3).padStart(6)} ${row.cpux.toFixed(3).padStart(6)}`,
        );
      }
    }
  }
  // Where the routed pool's reads ran, as a check that the variant measured what it says.
  const { rows } = await variants[3].pool.query('SELECT pg_catalog.pg_is_in_recovery() AS ro');
  console.log(`  (check: 'selects' read ran on a ${rows[0].ro ? 'reader' : 'WRITER'})`);
  for (const v of variants) await v.pool.end();
  return results;
}

/** The mixed workload through one pool: returns reads on readers / reads, and units per second. */
async function mixedRun(pool, n) {
  let reads = 0;
  let onReader = 0;
  let next = 0;
  const worker = async (w) => {
    while (next < n) {
      const i = next++;
      if (i % 5 === 4) {
        await pool.query('INSERT INTO bench_rows (worker, v) VALUES ($1, $2)', [w, i]);
      } else {
        const { rows } = await pool.query(
          'SELECT pg_catalog.pg_is_in_recovery() AS ro, count(*) AS n FROM bench_rows WHERE worker = $1',
          [w],
        );
        reads++;
        if (rows[0].ro) onReader++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  return { share: onReader / reads, qps: (n / (performance.now() - t0)) * 1000 };
}

async function mixedBench(cluster) {
  const setup = routingPool(cluster, 'off');
  await setup.query('CREATE TABLE IF NOT EXISTS bench_rows (id serial PRIMARY KEY, worker int, v int)');
  await setup.end();
  const variants = [
    { name: "routing 'off'", mode: 'off', stick: 0 },
    { name: "'selects', stick 0 ms", mode: 'selects', stick: 0 },
    { name: "'selects', stick 5 ms", mode: 'selects', stick: 5 },
    { name: "'selects', stick 50 ms", mode: 'selects', stick: 50 },
    { name: "'selects', stick 1000 ms (default)", mode: 'selects', stick: 1000 },
  ];
  console.log(
    `\nMixed workload — ${MIXED} statements per variant, 80 % SELECT / 20 % INSERT, ${CONCURRENCY} workers on one pool (max ${CONCURRENCY})`,
  );
  console.log(
    `  ${'variant'.padEnd(36)} ${'reads on reader'.padStart(16)} ${'stmts/s'.padStart(8)} ${'vs off'.padStart(7)}`,
  );
  const results = {};
  let baseQps;
  for (const v of variants) {
    const pool = routingPool(cluster, v.mode, v.stick);
    await mixedRun(pool, 200); // warm-up: connections, reader discovery
    const r = await mixedRun(pool, MIXED);
    await pool.end();
    baseQps ??= r.qps;
    results[v.name] = r;
    console.log(
      `  ${v.name.padEnd(36)} ${`${(r.share * 100).toFixed(1)} %`.padStart(16)} ${r.qps.toFixed(0).padStart(8)} ${`${(r.qps / baseQps).toFixed(2)}×`.padStart(7)}`,
    );
  }
  return results;
}

const dir = mkdtempSync(path.join(tmpdir(), 'bench-routing-'));
const cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 1, dir, database: 'bench' });
try {
  console.log(`bench/routing — aurora-pg lookalike up in ${cluster.upMs} ms, node ${process.version}`);
  await costBench(cluster);
  await mixedBench(cluster);
} finally {
  await releaseResources();
  await cluster.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
}
