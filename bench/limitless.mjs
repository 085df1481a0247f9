#!/usr/bin/env node
// bench/limitless: connect latency and the spread of connections across Aurora Limitless transaction routers, on
// the lookalike's shard group (three routers in front of one PostgreSQL server, loopback), with router loads
// 0 / 0.5 / 0.9 (weights 10 / 5 / 1).
//
// Each cycle opens a connection, runs SELECT 1 and closes it. Raw pg connects to the shard group endpoint (which,
// like its DNS, spreads connections evenly and knows nothing of load); the wrapper with plugins 'limitless' picks a
// router by load (the native router monitor is warm, shared by every client of the services); the wrapper without
// plugins on the endpoint separates the wrapper's own connect cost from the plugin's. Interleaved rounds,
// order alternating; prints p50 / mean connect-cycle latency (ratio to raw pg) and each router's share of the
// connections against the share its weight asks for.
//
// Usage: node scripts/build-ts.mjs && node bench/limitless.mjs [--cycles 300] [--rounds 3]
// (the built package, as applications run it)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { AwsPGClient } from 'aws-advanced-ts-wrapper/pg';
import { WrapperServices, releaseResources } from 'aws-advanced-ts-wrapper';
import { LocalCluster } from 'aws-advanced-ts-wrapper/testing';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const CYCLES = arg('--cycles', 300);
const ROUNDS = arg('--rounds', 3);
const LOADS = { 'router-1': 0, 'router-2': 0.5, 'router-3': 0.9 };

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const weight = (load) => {
  const w = 10 - Math.floor(load * 10);
  return w >= 1 && w <= 10 ? w : 1;
};

async function accepted(cluster) {
  await cluster.status();
  return Object.fromEntries(cluster.routers.map((r) => [r.name, r.accepted]));
}

async function measure(cluster, open) {
  const before = await accepted(cluster);
  const lat = [];
  for (let i = 0; i < CYCLES; i++) {
    const t0 = performance.now();
    const c = await open();
    await c.query('SELECT 1');
    await c.end();
    lat.push(performance.now() - t0);
  }
  const after = await accepted(cluster);
  const spread = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
  return { lat, spread };
}

const dir = mkdtempSync(path.join(tmpdir(), 'bench-limitless-'));
const cluster = await LocalCluster.start({ flavour: 'aurora-pg', routers: 3, dir });
try {
  for (const [name, load] of Object.entries(LOADS)) await cluster.setRouterLoad(name, load);
  const services = new WrapperServices();
  services.acquire();
  const wrapperConfig = {
    ...cluster.clientConfig('shard-group'),
    plugins: 'limitless',
    limitlessMonitorIntervalMs: 1000,
  };
  // Warm the monitor and wait until it has read the loads.
  for (;;) {
    const c = new AwsPGClient(wrapperConfig, { services });
    await c.connect();
    const plugin = /** @type {import('../ts/plugins/limitless.ts').LimitlessPlugin<pg.Client> | undefined} */ (
      c.core.getPlugin('limitless')
    );
    const monitor = plugin?.routerMonitor();
    if (!monitor) throw new Error('no limitless router monitor: is the native addon built?');
    const routers = monitor.routers() ?? [];
    await c.end();
    if (routers.length === 3 && routers.every((r) => r.weight === weight(LOADS[r.host.split('.')[0]]))) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const variants = {
    'pg -> shard group endpoint': async () => {
      const c = new pg.Client(cluster.directConfig('shard-group'));
      await c.connect();
      return c;
    },
    "wrapper plugins '' -> endpoint": async () => {
      const c = new AwsPGClient({ ...wrapperConfig, plugins: '' }, { services });
      await c.connect();
      return c;
    },
    'wrapper limitless': async () => {
      const c = new AwsPGClient(wrapperConfig, { services });
      await c.connect();
      return c;
    },
  };
  const results = Object.fromEntries(
    Object.keys(variants).map((k) => [
      k,
      { lat: /** @type {number[]} */ ([]), spread: /** @type {Record<string, number>} */ ({}) },
    ]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    const names = Object.keys(variants);
    // Rotate the order each round: the variant after another pays for its garbage.
    const k = round % names.length;
    const order = [...names.slice(k), ...names.slice(0, k)];
    for (const name of order) {
      const r = await measure(cluster, variants[name]);
      results[name].lat.push(...r.lat);
      for (const [k, v] of Object.entries(r.spread)) results[name].spread[k] = (results[name].spread[k] ?? 0) + v;
    }
  }
  const base = results['pg -> shard group endpoint'];
  const totalWeight = Object.values(LOADS).reduce((a, l) => a + weight(l), 0);
  console.log(
    `bench/limitless: ${ROUNDS} rounds x ${CYCLES} connect + SELECT 1 + end cycles per variant; router loads ${JSON.stringify(LOADS)}`,
  );
  console.log('variant                           p50 ms   mean ms   p50 ratio   spread router-1/2/3 (share)');
  for (const [name, r] of Object.entries(results)) {
    const n = Object.values(r.spread).reduce((a, b) => a + b, 0);
    const share = Object.keys(LOADS)
      .map((k) => `${(((r.spread[k] ?? 0) / n) * 100).toFixed(1)}%`)
      .join(' / ');
    console.log(
      `${name.padEnd(32)} ${median(r.lat).toFixed(3).padStart(7)} ${mean(r.lat).toFixed(3).padStart(9)} ${(median(r.lat) / median(base.lat)).toFixed(2).padStart(10)}x   ${share}`,
    );
  }
  const wanted = Object.values(LOADS)
    .map((l) => `${((weight(l) / totalWeight) * 100).toFixed(1)}%`)
    .join(' / ');
  console.log(
    `${'weights 10 / 5 / 1 ask for'.padEnd(32)} ${''.padStart(7)} ${''.padStart(9)} ${''.padStart(10)}    ${wanted}`,
  );
  await services.release();
} finally {
  await releaseResources();
  await cluster.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
}
