// fastest_response_strategy on the aurora-pg lookalike: native response-time monitors per host feed the
// `fastest_response` reader selection of read_write_splitting; monitors are shared by the clients of one services
// object, follow the topology, and stop when unused and when the services close.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { WrapperServices } from '../ts/services.js';
import { nativeMonitorCount } from '../ts/native/index.js';
import type { FastestResponseStrategyPlugin, ResponseTimeMonitors } from '../ts/plugins/fastest-response-strategy.js';
import { LocalCluster } from '../ts/testing/index.js';
import type pg from 'pg';

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'rw-frt-'));

function client(services: WrapperServices, extra: Record<string, unknown> = {}): AwsPGClient {
  return new AwsPGClient(
    {
      ...cluster.clientConfig('writer'),
      plugins: 'read_write_splitting,fastest_response_strategy',
      readerHostSelectorStrategy: 'fastest_response',
      responseMeasurementIntervalMs: 100,
      ...extra,
    },
    { services },
  );
}

function monitorsOf(c: AwsPGClient): ResponseTimeMonitors {
  return c.core.getPlugin<FastestResponseStrategyPlugin<pg.Client>>('fastest_response_strategy')!.monitors;
}

function dns(name: string): string {
  return `${name}.${cluster.clusterId}.us-east-1.rds.amazonaws.com:${cluster.writer.port}`;
}

/** Resolves once every host in `expect` has a measurement that satisfies its predicate. */
function measured(monitors: ResponseTimeMonitors, expect: Record<string, (ms: number) => boolean>): Promise<void> {
  return new Promise((resolve) => {
    const check = () =>
      Object.entries(expect).every(([name, ok]) => {
        const ms = monitors.responseTime(dns(name));
        return ms !== undefined && ok(ms);
      });
    if (check()) return resolve();
    const off = monitors.onMeasurement(() => {
      if (!check()) return;
      off();
      resolve();
    });
  });
}

async function readerId(c: AwsPGClient): Promise<string> {
  const r = await c.query(
    'SELECT pg_catalog.aurora_db_instance_identifier() AS id, pg_catalog.pg_is_in_recovery() AS ro',
  );
  assert.is(r.rows[0].ro, true);
  return r.rows[0].id as string;
}

test.before(async () => {
  cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 2, dir, database: 'app' });
});

test.after(async () => {
  await cluster?.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
});

test('the fastest reader is chosen, by measurements of shared native monitors', async () => {
  const services = new WrapperServices();
  const before = nativeMonitorCount();
  await cluster.latency('instance-2', 40);
  try {
    const a = client(services);
    await a.connect();
    const monitors = monitorsOf(a);
    // The first switch starts the monitors (hosts known); nothing is measured yet, so any reader will do.
    await a.setReadOnly(true);
    await a.setReadOnly(false);
    assert.is(monitors.size, 3, 'one monitor per instance');
    await measured(monitors, { 'instance-2': (ms) => ms >= 40, 'instance-3': (ms) => ms < 40 });
    const b = client(services);
    await b.connect();
    await b.setReadOnly(true);
    assert.is(await readerId(b), 'instance-3', 'the reader without added latency');
    assert.is(monitors.size, 3, 'the second client shares the monitors');
    assert.is(nativeMonitorCount() - before, 3);

    // Latency moves: a new selection follows the measurements.
    await cluster.heal('instance-2');
    await cluster.latency('instance-3', 40);
    await measured(monitors, { 'instance-2': (ms) => ms < 40, 'instance-3': (ms) => ms >= 40 });
    const c = client(services);
    await c.connect();
    await c.setReadOnly(true);
    assert.is(await readerId(c), 'instance-2');

    await a.end();
    await b.end();
    assert.is(monitors.size, 3, 'still used by a client');
    await c.end();
    assert.is(nativeMonitorCount(), before, 'stopped when no client uses them');
  } finally {
    await cluster.heal();
  }
});

test('a host that leaves the topology loses its monitor; services close stops the rest', async () => {
  const services = new WrapperServices();
  const before = nativeMonitorCount();
  const a = client(services);
  await a.connect();
  await a.setReadOnly(true);
  const monitors = monitorsOf(a);
  assert.is(monitors.size, 3);
  const added = await cluster.addReader();
  await a.core.pluginService.forceRefreshHostList(false, 5000);
  assert.is(monitors.size, 4, `a monitor for ${added}`);
  await cluster.removeReader(added);
  await a.core.pluginService.forceRefreshHostList(false, 5000);
  assert.is(monitors.size, 3, `the monitor of ${added} stopped`);
  await services.close();
  assert.is(nativeMonitorCount(), before, 'services close stops every monitor');
  await a.end();
});

test('fastest_response without the plugin is refused at connect', async () => {
  const c = new AwsPGClient(
    {
      ...cluster.clientConfig('writer'),
      plugins: 'read_write_splitting',
      readerHostSelectorStrategy: 'fastest_response',
    },
    { services: new WrapperServices() },
  );
  const err = await c.connect().then(
    () => undefined,
    (e: Error) => e.message,
  );
  assert.match(String(err), /fastest_response_strategy/);
});

test.run();
