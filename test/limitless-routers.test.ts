// limitless without a shard group: router weights from load, the weighted choice (seeded, so the counts are exact
// properties of the code, not luck), options and their seed aliases, and the errors a user meets first (mysql2,
// a host that is not a shard group endpoint, waiting switched off).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { ConfigurationError } from '../ts/errors.js';
import { HostInfo } from '../ts/host-info.js';
import {
  parseRouterRows,
  pickHighestWeightRouter,
  pickWeightedRouter,
  routerWeight,
} from '../ts/plugins/limitless-routers.js';
import { parseConnectProps } from '../ts/options.js';
import { LimitlessRoutersError } from '../ts/errors.js';
import { WrapperServices } from '../ts/services.js';
import { pgConfig } from './support/dialect-fixtures.js';

/** mulberry32: a small seeded PRNG, so the weighted choice is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('weight is 10 - floor(load x 10), 1 outside 1..10', () => {
  assert.is(routerWeight(0), 10);
  assert.is(routerWeight(0.05), 10);
  assert.is(routerWeight(0.1), 9);
  assert.is(routerWeight(0.55), 5);
  assert.is(routerWeight(0.95), 1);
  assert.is(routerWeight(1), 1);
  assert.is(routerWeight(-3), 1);
  assert.is(routerWeight(Number.NaN), 1);
});

test('router rows become writer hosts on the given port; empty endpoints are skipped, an unreadable load counts as saturated', () => {
  const hosts = parseRouterRows(
    [
      ['r1.example', '0.2'],
      ['', '0'],
      [null, '0'],
      ['r2.example', 'x'],
    ],
    5432,
  );
  assert.equal(
    hosts.map((h) => [h.hostAndPort, h.weight, h.role]),
    [
      ['r1.example:5432', 8, 'writer'],
      ['r2.example:5432', 1, 'writer'],
    ],
  );
});

test('weighted choice honours the weights (seeded: 12000 picks over weights 10, 1, 1)', () => {
  const routers = [
    new HostInfo({ host: 'a', weight: 10 }),
    new HostInfo({ host: 'b', weight: 1 }),
    new HostInfo({ host: 'c', weight: 1 }),
  ];
  const random = seeded(42);
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 12_000; i++) counts[pickWeightedRouter(routers, random)!.host]++;
  // Expected 10000 / 1000 / 1000; a seeded run is exact, the bounds only say what the weights mean.
  assert.ok(Math.abs(counts.a - 10_000) < 300, JSON.stringify(counts));
  assert.ok(Math.abs(counts.b - 1000) < 150, JSON.stringify(counts));
  assert.ok(Math.abs(counts.c - 1000) < 150, JSON.stringify(counts));
  // Edges of [0, 1): the first and the last router.
  assert.is(pickWeightedRouter(routers, () => 0)!.host, 'a');
  assert.is(pickWeightedRouter(routers, () => 0.999999)!.host, 'c');
  assert.is(
    pickWeightedRouter([], () => 0.5),
    undefined,
  );
  assert.is(pickHighestWeightRouter([routers[1], routers[0], routers[2]])!.host, 'a');
});

test('options: defaults, camelCase names, seed aliases (limitless_max_retries_ms is a count), bad values name the key', () => {
  const d = parseConnectProps('pg', { host: 'h' }).options;
  assert.equal(
    [
      d.limitlessMonitorIntervalMs,
      d.limitlessMonitorDisposalTimeMs,
      d.limitlessWaitForRouterInfo,
      d.limitlessGetRouterMaxRetries,
      d.limitlessGetRouterRetryIntervalMs,
      d.limitlessMaxRetries,
    ],
    [7500, 600000, true, 5, 300, 5],
  );
  const o = parseConnectProps('pg', {
    host: 'h',
    limitless_transaction_router_monitor_interval_ms: 1000,
    limitless_max_retries_ms: 3,
    limitless_wait_for_transaction_router_info: 'False',
    limitless_get_transaction_router_max_retries: 2,
  }).options;
  assert.is(o.limitlessMonitorIntervalMs, 1000);
  assert.is(o.limitlessMaxRetries, 3);
  assert.is(o.limitlessWaitForRouterInfo, false, "the string 'False' is false");
  assert.is(o.limitlessGetRouterMaxRetries, 2);
  for (const [key, value] of [
    ['limitlessMaxRetries', -1],
    ['limitlessMonitorIntervalMs', 0],
    ['limitlessGetRouterMaxRetries', 1.5],
  ] as const) {
    try {
      parseConnectProps('pg', { host: 'h', [key]: value });
      assert.unreachable(`${key}=${value} accepted`);
    } catch (err) {
      assert.instance(err, ConfigurationError);
      assert.is((err as ConfigurationError).key, key);
    }
  }
});

test('mysql2 is refused: Limitless is Aurora PostgreSQL only', () => {
  try {
    new AwsMySQLClient({ host: 'h', user: 'u', plugins: 'limitless' }, { services: new WrapperServices() });
    assert.unreachable('accepted');
  } catch (err) {
    assert.instance(err, ConfigurationError);
    assert.match((err as Error).message, 'Aurora PostgreSQL only');
  }
});

test('a host that is not a shard group: connect fails after the configured polls, naming the router function and the way out', async () => {
  const services = new WrapperServices();
  const c = new AwsPGClient(
    { ...pgConfig(), plugins: 'limitless', limitlessGetRouterMaxRetries: 1, limitlessGetRouterRetryIntervalMs: 10 },
    { services },
  );
  const err = await c.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, LimitlessRoutersError);
  const e = err as LimitlessRoutersError;
  assert.is(e.code, 'WRAPPER_LIMITLESS_NO_ROUTERS');
  assert.match(e.message, 'after 2 poll(s)');
  assert.match(e.message, 'aurora_limitless_router_endpoints');
  assert.match(e.message, 'limitlessWaitForRouterInfo: false');
  assert.not.match(e.message, String(pgConfig().password));
  await c.end().catch(() => {});
  await services.close();
});

test('limitlessWaitForRouterInfo: false connects to the given host while no router is known', async () => {
  const services = new WrapperServices();
  const c = new AwsPGClient({ ...pgConfig(), plugins: 'limitless', limitlessWaitForRouterInfo: false }, { services });
  await c.connect();
  assert.is((await c.query('SELECT 1 AS x')).rows[0].x, 1);
  assert.is(c.core.currentHost?.host, pgConfig().host);
  await c.end();
  await services.close();
});

test.run();
