// limitless on the lookalike's Aurora Limitless shard group (three routers in front of one PostgreSQL server):
// router discovery by the native monitor, connections spread by load, a load change shifting traffic, a router
// killed under load (clients keep working), a hung router, every router down.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { AwsPGPool } from '../ts/pools/pg-pool.js';
import {
  nativeRouterMonitorCount,
  type LimitlessRouterMonitor,
  type RouterPoll,
} from '../ts/plugins/limitless-routers.js';
import { LimitlessRoutersError } from '../ts/errors.js';
import type { LimitlessPlugin } from '../ts/plugins/limitless.js';
import { WrapperServices } from '../ts/services.js';
import { LocalCluster } from '../ts/testing/index.js';
import { main as cli } from '../ts/cli.js';
import type pg from 'pg';

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'limitless-'));

const INTERVAL_MS = 200;

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...cluster.clientConfig('shard-group'),
    plugins: 'limitless',
    limitlessMonitorIntervalMs: INTERVAL_MS,
    connectTimeout: 2000,
    ...extra,
  };
}

function client(services: WrapperServices, extra: Record<string, unknown> = {}): AwsPGClient {
  return new AwsPGClient(config(extra), { services });
}

function monitorOf(c: AwsPGClient): LimitlessRouterMonitor {
  return c.core.getPlugin<LimitlessPlugin<pg.Client>>('limitless')!.routerMonitor()!;
}

function routerName(host: string | undefined): string {
  return (host ?? '?').split('.')[0];
}

/** Resolves with the first router list (current or polled) that satisfies `ok`. */
function routersWhere(m: LimitlessRouterMonitor, ok: (weights: Record<string, number>) => boolean): Promise<void> {
  const weights = (): Record<string, number> | undefined => {
    const r = m.routers();
    return r && Object.fromEntries(r.map((h) => [routerName(h.host), h.weight]));
  };
  return new Promise((resolve) => {
    const w = weights();
    if (w && ok(w)) return resolve();
    const onPoll = (p: RouterPoll): void => {
      if (!p.ok) return;
      const now = weights();
      if (now && ok(now)) {
        m.off('poll', onPoll);
        resolve();
      }
    };
    m.on('poll', onPoll);
  });
}

/** Opens and ends `n` clients one after another; returns how many landed on each router. */
async function spread(
  services: WrapperServices,
  n: number,
  extra: Record<string, unknown> = {},
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const c = client(services, extra);
    await c.connect();
    const name = routerName(c.core.currentHost?.host);
    counts[name] = (counts[name] ?? 0) + 1;
    await c.end();
  }
  return counts;
}

async function setLoads(loads: Record<string, number>): Promise<void> {
  for (const [name, load] of Object.entries(loads)) await cluster.setRouterLoad(name, load);
}

test.before(async () => {
  cluster = await LocalCluster.start({ flavour: 'aurora-pg', routers: 3, dir });
});

test.after(async () => {
  await cluster?.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
});

test.after.each(async () => {
  await cluster.healRouter();
  await setLoads({ 'router-1': 0, 'router-2': 0, 'router-3': 0 });
});

test('discovery: the native monitor reads the routers; clients connect to a router, share one monitor per shard group', async () => {
  const services = new WrapperServices();
  const before = nativeRouterMonitorCount();
  const a = client(services);
  const b = client(services);
  await a.connect();
  await b.connect();
  assert.is(nativeRouterMonitorCount() - before, 1, 'one monitor for both clients');
  const m = monitorOf(a);
  assert.is(monitorOf(b), m);
  assert.equal(
    m.routers()!.map((h) => [h.hostAndPort, h.weight]),
    cluster.routers.map((r) => [`${r.dnsName}:${cluster.shardGroupEndpoint.port}`, 10]),
  );
  for (const c of [a, b]) {
    const host = c.core.currentHost!.host;
    assert.ok(
      cluster.routers.some((r) => r.dnsName === host),
      `connected to ${host}, a router`,
    );
    assert.is((await c.query('SELECT 1 AS x')).rows[0].x, 1);
  }
  await a.end();
  await b.end();
  assert.is(nativeRouterMonitorCount(), before, 'stopped when the services close (last client ended)');
});

test('weights honoured: connections follow the load (the shard group endpoint alone spreads evenly)', async () => {
  const services = new WrapperServices();
  services.acquire();
  try {
    await setLoads({ 'router-1': 0, 'router-2': 0.95, 'router-3': 0.95 });
    const probe = client(services);
    await probe.connect();
    await routersWhere(monitorOf(probe), (w) => w['router-1'] === 10 && w['router-2'] === 1 && w['router-3'] === 1);
    await probe.end();
    // Weights 10 / 1 / 1: router-1 expects 83 % of 100 connections; fewer than 65 has a chance below 1e-6.
    const counts = await spread(services, 100);
    assert.ok((counts['router-1'] ?? 0) >= 65, `router-1 got ${JSON.stringify(counts)}`);

    // A load change shifts the traffic: now router-3 is the idle one.
    await setLoads({ 'router-1': 0.95, 'router-3': 0 });
    const probe2 = client(services);
    await probe2.connect();
    await routersWhere(monitorOf(probe2), (w) => w['router-1'] === 1 && w['router-3'] === 10);
    await probe2.end();
    const after = await spread(services, 100);
    assert.ok((after['router-3'] ?? 0) >= 65, `router-3 got ${JSON.stringify(after)}`);

    // The shard group endpoint without the plugin: round robin, blind to load.
    await cluster.status();
    const acceptedBefore = cluster.routers.map((r) => r.accepted);
    for (let i = 0; i < 30; i++) {
      const c = new AwsPGClient({ ...config(), plugins: '' }, { services });
      await c.connect();
      await c.end();
    }
    await cluster.status();
    const got = cluster.routers.map((r, i) => r.accepted - acceptedBefore[i]);
    assert.equal(got, [10, 10, 10], `the endpoint spread ${JSON.stringify(got)}`);
  } finally {
    await services.release();
  }
});

test('a router killed under load: pooled workers keep working, new connections avoid it', async () => {
  const services = new WrapperServices();
  const pool = new AwsPGPool({ ...config(), max: 6 }, { services });
  pool.on('error', () => {});
  let stop = false;
  let ok = 0;
  let failed = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  /** Resolves once `n` queries succeeded in all. */
  const succeeded = (n: number): Promise<void> =>
    ok >= n ? Promise.resolve() : new Promise((resolve) => (waiter = { n, resolve }));
  const worker = async (): Promise<void> => {
    while (!stop) {
      try {
        await pool.query('SELECT pg_catalog.pg_sleep(0.005)');
        ok++;
        if (waiter !== undefined && ok >= waiter.n) {
          waiter.resolve();
          waiter = undefined;
        }
      } catch {
        failed++;
      }
    }
  };
  const workers = Array.from({ length: 6 }, worker);
  try {
    await succeeded(50);
    await cluster.killRouter('router-2');
    const atKill = { ok, failed };
    // Each worker's query on router-2 fails once at most; then the pool opens new clients on the other routers.
    await succeeded(atKill.ok + 200);
    assert.ok(failed - atKill.failed <= 6, `${failed - atKill.failed} queries failed after the kill`);
    const failedAfterSettle = failed;
    await succeeded(atKill.ok + 400);
    assert.is(failed, failedAfterSettle, 'no failure once the killed router is out of the pool');
    const counts = await spread(services, 20);
    assert.is(counts['router-2'], undefined, `new connections avoid the dead router: ${JSON.stringify(counts)}`);
  } finally {
    stop = true;
    await Promise.all(workers);
    await pool.end();
  }
});

test('a hung router: the attempt times out (connectTimeout), the next router serves, later connections skip it', async () => {
  const services = new WrapperServices();
  services.acquire();
  try {
    // router-1 is the only idle one, so the weighted choice picks it first nearly every time.
    await setLoads({ 'router-2': 0.95, 'router-3': 0.95 });
    const probe = client(services, { limitlessMonitorIntervalMs: 5000 });
    await probe.connect();
    const m = monitorOf(probe);
    await routersWhere(m, (w) => w['router-2'] === 1 && w['router-3'] === 1);
    await probe.end();
    await cluster.hangRouter('router-1');
    // connectTimeout 2 s: a healthy router answers far sooner even on a loaded machine (a shorter bound could time
    // out a healthy router there and count it as a second slow attempt).
    const slow: number[] = [];
    for (let i = 0; i < 10; i++) {
      const c = client(services, { limitlessMonitorIntervalMs: 5000, connectTimeout: 2000 });
      const t0 = Date.now();
      await c.connect();
      const ms = Date.now() - t0;
      if (ms >= 1900) slow.push(ms);
      assert.is.not(routerName(c.core.currentHost?.host), 'router-1');
      assert.is((await c.query('SELECT 1 AS x')).rows[0].x, 1);
      await c.end();
    }
    // Ten weighted picks never choosing router-1 (weight 10 of 12) has a chance of 2e-8: it was tried, once.
    assert.is(
      slow.length,
      1,
      `only the first connection that picked router-1 pays the timeout: ${JSON.stringify(slow)}`,
    );
    const hung = m.routers()!.find((h) => routerName(h.host) === 'router-1')!;
    assert.not.ok(m.isAvailable(hung), 'router-1 is skipped by every client of the shard group');
  } finally {
    await services.release();
  }
});

test('CLI: cluster router load / kill / heal, status shows the shard group; bad input is a usage error', async () => {
  const out: string[] = [];
  const run = (...args: string[]): Promise<number> =>
    cli(
      ['cluster', ...args, '--dir', dir],
      (s) => out.push(s),
      (s) => out.push(s),
    );
  assert.is(await run('router', 'load', 'router-2', '0.5'), 0);
  assert.is(await run('router', 'kill', 'router-3'), 0);
  out.length = 0;
  assert.is(await run('status', '--json'), 0);
  const shown = JSON.parse(out.join('\n')) as {
    state: { shardGroup: { dnsName: string; routers: { name: string; load: number; fault: string }[] } };
    hostAddressMap: Record<string, string>;
  };
  assert.equal(
    shown.state.shardGroup.routers.map((r) => [r.name, r.load, r.fault]),
    [
      ['router-1', 0, 'none'],
      ['router-2', 0.5, 'none'],
      ['router-3', 0, 'kill'],
    ],
  );
  assert.ok(shown.hostAddressMap[shown.state.shardGroup.dnsName], 'the shard group name is in the hostAddressMap');
  assert.is(await run('router', 'heal'), 0);
  out.length = 0;
  assert.is(await run('router', 'load', 'router-2', '2'), 2);
  assert.match(out.join('\n'), 'router load must be a number from 0 to 1');
  out.length = 0;
  assert.is(await run('router', 'kill', 'router-9'), 1);
  assert.match(out.join('\n'), "no router 'router-9'");
});

test('every router down: a clear error after the retries, naming the routers tried; the cause is the driver error', async () => {
  const services = new WrapperServices();
  services.acquire();
  try {
    const probe = client(services);
    await probe.connect();
    await probe.end();
    for (const r of cluster.routers) await cluster.killRouter(r.name);
    const c = client(services, { limitlessMaxRetries: 1 });
    const err = await c.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, LimitlessRoutersError);
    const e = err as LimitlessRoutersError;
    assert.is(e.code, 'WRAPPER_LIMITLESS_MAX_RETRIES');
    assert.match(e.message, 'after 2 attempt(s)');
    assert.match(e.message, /router-\d\..*, router-\d\./);
    assert.ok(e.cause instanceof Error);
    await c.end().catch(() => {});
  } finally {
    await services.release();
  }
});

test.run();
