#!/usr/bin/env node
// bench/overhead: latency and CPU per query of AwsPGClient / AwsMySQLClient against raw pg / mysql2 on the same
// server in the same run, for `SELECT 1` and a 1 MB statement, printed as ratios; plus import time.
// Goals (issue 2): ≤ 5 % latency and ≤ 2 µs CPU added per query; 1 MB statement ≤ 1.1× raw CPU; import ≤ 60 ms.
// Usage: npm run build && node bench/overhead.mjs [--iterations N]
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { AwsPGClient, releaseResources } from 'aws-advanced-ts-wrapper/pg';
import { AwsMySQLClient } from 'aws-advanced-ts-wrapper/mysql';
import { startServers } from '../test/support/servers.mjs';

const argIdx = process.argv.indexOf('--iterations');
const N = argIdx > 0 ? Number(process.argv[argIdx + 1]) : 5000;
const ROUNDS = 5; // interleaved rounds so drift on a shared 2-core machine hits every variant alike
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
  for (let r = 0; r < ROUNDS; r++) for (const v of variants) acc[v.name].push(await measure(v.run, sql, Math.ceil(iterations / ROUNDS)));
  const avg = (name, k) => acc[name].reduce((a, m) => a + m[k], 0) / ROUNDS;
  const base = variants[0].name;
  console.log(`\n${label}`);
  console.log(`  ${'variant'.padEnd(34)} ${'p50 ms'.padStart(9)} ${'mean ms'.padStart(9)} ${'CPU µs/q'.padStart(10)} ${'latency×'.padStart(9)} ${'CPU×'.padStart(7)} ${'+CPU µs'.padStart(8)}`);
  for (const v of variants) {
    const p50 = avg(v.name, 'p50'), mean = avg(v.name, 'mean'), cpu = avg(v.name, 'cpuUs');
    console.log(`  ${v.name.padEnd(34)} ${p50.toFixed(4).padStart(9)} ${mean.toFixed(4).padStart(9)} ${cpu.toFixed(1).padStart(10)} ${(mean / avg(base, 'mean')).toFixed(3).padStart(9)} ${(cpu / avg(base, 'cpuUs')).toFixed(3).padStart(7)} ${(cpu - avg(base, 'cpuUs')).toFixed(1).padStart(8)}`);
  }
}

function importTimeMs(spec, isEsm) {
  const code = isEsm
    ? `const t=performance.now(); await import('${spec}'); console.log(performance.now()-t)`
    : `const t=performance.now(); require('${spec}'); console.log(performance.now()-t)`;
  const runs = [];
  for (let i = 0; i < 7; i++) runs.push(Number(execFileSync(process.execPath, isEsm ? ['--input-type=module', '-e', code] : ['-e', code], { encoding: 'utf8' }).trim()));
  return stats(runs).p50;
}

const servers = await startServers();
try {
  const e = servers.env;
  const pgCfg = { host: e.TEST_PG_HOST, port: Number(e.TEST_PG_PORT), user: e.TEST_PG_USER, password: e.TEST_PG_PASSWORD, database: e.TEST_PG_DATABASE };
  const myCfg = { host: e.TEST_MYSQL_HOST, port: Number(e.TEST_MYSQL_PORT), user: e.TEST_MYSQL_USER, password: e.TEST_MYSQL_PASSWORD, database: e.TEST_MYSQL_DATABASE };

  console.log(`bench/overhead — ${N} queries per variant in ${ROUNDS} interleaved rounds, node ${process.version}`);
  const rawPg = new pg.Client(pgCfg); await rawPg.connect();
  const awsPgBare = new AwsPGClient({ ...pgCfg, plugins: '' }); await awsPgBare.connect();
  const awsPgDefault = new AwsPGClient(pgCfg); await awsPgDefault.connect();
  const pgVariants = [
    { name: 'pg.Client (raw)', run: (q) => rawPg.query(q) },
    { name: 'AwsPGClient plugins=""', run: (q) => awsPgBare.query(q) },
    { name: 'AwsPGClient default plugins', run: (q) => awsPgDefault.query(q) },
  ];
  await compare('PostgreSQL — SELECT 1', pgVariants, 'SELECT 1', N);
  await compare('PostgreSQL — 1 MB statement', pgVariants, BIG, Math.max(50, Math.floor(N / 25)));
  await Promise.all([rawPg.end(), awsPgBare.end(), awsPgDefault.end()]);

  const rawMy = await mysql.createConnection(myCfg);
  const awsMyBare = new AwsMySQLClient({ ...myCfg, plugins: '' }); await awsMyBare.connect();
  const awsMyDefault = new AwsMySQLClient(myCfg); await awsMyDefault.connect();
  const myVariants = [
    { name: 'mysql2/promise (raw)', run: (q) => rawMy.query(q) },
    { name: 'AwsMySQLClient plugins=""', run: (q) => awsMyBare.query(q) },
    { name: 'AwsMySQLClient default plugins', run: (q) => awsMyDefault.query(q) },
  ];
  await compare('MySQL (MariaDB) — SELECT 1', myVariants, 'SELECT 1', N);
  await compare('MySQL (MariaDB) — 1 MB statement', myVariants, BIG, Math.max(50, Math.floor(N / 25)));
  await Promise.all([rawMy.end(), awsMyBare.end(), awsMyDefault.end()]);

  console.log('\nImport time (fresh process, p50 of 7)');
  const base = importTimeMs('pg', false);
  console.log(`  require('pg')                              ${base.toFixed(1)} ms`);
  console.log(`  require('aws-advanced-ts-wrapper')         ${importTimeMs('aws-advanced-ts-wrapper', false).toFixed(1)} ms`);
  console.log(`  import('aws-advanced-ts-wrapper')          ${importTimeMs('aws-advanced-ts-wrapper', true).toFixed(1)} ms`);
  console.log(`  import('aws-advanced-ts-wrapper/pg')       ${importTimeMs('aws-advanced-ts-wrapper/pg', true).toFixed(1)} ms`);
} finally {
  await releaseResources();
  servers.stop();
}
