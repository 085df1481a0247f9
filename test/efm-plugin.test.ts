// host_monitoring / host_monitoring_v2 against the test servers (healthy hosts): monitored long calls complete, the
// probe connection logs in with the client's settings, a monitor that cannot log in never aborts anything, the
// plugins are in the default list for both drivers, and TLS settings map to the native probe's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { WrapperServices } from '../ts/services.js';
import { releaseResources } from '../ts/native/index.js';
import { hostMonitorRegistry, probeTls, type HostMonitoringPlugin } from '../ts/plugins/host-monitoring-common.js';
import { PG, MY } from './support/test-servers.js';

/** Monitored almost at once, probed every 500 ms, dead after 2 s of silence (room for a debug build's slow SCRAM login on a loaded machine). */
const FAST = { failureDetectionTimeMs: 100, failureDetectionIntervalMs: 500, failureDetectionCount: 4 };

type Client = AwsPGClient | AwsMySQLClient;

async function open(
  engine: 'pg' | 'mysql',
  options: Record<string, unknown>,
  services: WrapperServices,
): Promise<Client> {
  const c =
    engine === 'pg'
      ? new AwsPGClient({ ...PG, ...options }, { services })
      : new AwsMySQLClient({ ...MY, ...options }, { services });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** The two clients' overloads differ, so a call on the union narrows the client first. */
function plugin(c: Client, code: string): HostMonitoringPlugin<unknown> | undefined {
  const p = c instanceof AwsPGClient ? c.core.getPlugin(code) : c.core.getPlugin(code);
  return p as unknown as HostMonitoringPlugin<unknown> | undefined;
}

const run = (c: Client, sql: string): Promise<unknown> => (c instanceof AwsPGClient ? c.query(sql) : c.query(sql));

const sleepSql = (engine: 'pg' | 'mysql', s: number) =>
  engine === 'pg' ? `SELECT pg_sleep(${s}) AS done` : `SELECT SLEEP(${s}) AS done`;

test.after(async () => {
  await releaseResources();
});

for (const engine of ['pg', 'mysql'] as const) {
  test(`${engine}: the default plugins include host_monitoring_v2; efm / efm2 name the two versions`, async () => {
    const services = new WrapperServices();
    const c = await open(engine, {}, services);
    try {
      assert.ok(plugin(c, 'host_monitoring_v2'), 'in the default list');
    } finally {
      await c.end();
    }
    for (const [alias, code] of [
      ['efm', 'host_monitoring'],
      ['efm2', 'host_monitoring_v2'],
    ]) {
      const d = await open(engine, { plugins: alias }, services);
      assert.ok(plugin(d, code), `${alias} -> ${code}`);
      await d.end();
    }
  });

  for (const code of ['host_monitoring_v2', 'host_monitoring']) {
    test(`${engine} ${code}: a monitored long call on a healthy host completes; the probe logs in with the client's settings`, async () => {
      const services = new WrapperServices();
      const c = await open(engine, { plugins: code, ...FAST }, services);
      try {
        const r = await run(c, sleepSql(engine, 3));
        assert.ok(r, 'the call completed');
        const efm = plugin(c, code)!;
        const stats = efm.monitor!.stats()!;
        assert.ok(
          stats.connects >= 1 && stats.probes >= 2,
          `probed over an authenticated connection: ${JSON.stringify(stats)}`,
        );
        assert.is(stats.aborted, 0);
        assert.is(stats.dead, false);
        assert.is(stats.watches, 1);
        assert.is(stats.armed, 0, 'disarmed once the call ended');
        // Short calls after that: still one registration, no more connections opened.
        for (let i = 0; i < 20; i++) await run(c, 'SELECT 1');
        assert.is(efm.monitor!.stats()!.watches, 1);
      } finally {
        await c.end();
        await services.close();
      }
    });
  }

  test(`${engine}: a monitor that cannot log in (wrong monitoring- password) never aborts a call`, async () => {
    const services = new WrapperServices();
    const c = await open(
      engine,
      { plugins: 'host_monitoring_v2', ...FAST, 'monitoring-password': 'not-the-password' },
      services,
    );
    try {
      assert.ok(await run(c, sleepSql(engine, 3)), 'the call completed');
      const stats = plugin(c, 'host_monitoring_v2')!.monitor!.stats()!;
      assert.ok(stats.connects >= 2, `the monitor kept trying: ${JSON.stringify(stats)}`);
      assert.is(stats.probes, 0, 'never logged in');
      assert.is(stats.aborted, 0);
      assert.is(stats.dead, false, 'a host that refuses a login is up');
    } finally {
      await c.end();
      await services.close();
    }
  });

  test(`${engine}: failureDetectionEnabled=false keeps the plugin loaded but monitors nothing`, async () => {
    const services = new WrapperServices();
    const c = await open(engine, { plugins: 'host_monitoring_v2', ...FAST, failureDetectionEnabled: false }, services);
    try {
      await run(c, sleepSql(engine, 0.3));
      assert.is(hostMonitorRegistry(services).size, 0);
    } finally {
      await c.end();
      await services.close();
    }
  });
}

test('seed option names (snake_case) configure the monitor', async () => {
  const services = new WrapperServices();
  const c = await open(
    'pg',
    {
      plugins: 'host_monitoring',
      failure_detection_time_ms: 100,
      failure_detection_interval_ms: 150,
      failure_detection_count: 4,
    },
    services,
  );
  try {
    await run(c, 'SELECT 1');
    const [m] = hostMonitorRegistry(services).list();
    assert.ok(m.key.includes('|100|150|4|'), m.key);
  } finally {
    await c.end();
    await services.close();
  }
});

test('probeTls: driver TLS settings as the native probe sees them', () => {
  assert.equal(probeTls('pg', {}), { ssl: 'disable' });
  assert.equal(probeTls('pg', { ssl: true }), { ssl: 'verify-full' });
  assert.equal(probeTls('pg', { ssl: { rejectUnauthorized: false } }), { ssl: 'require' });
  assert.equal(probeTls('pg', { ssl: { ca: '-----BEGIN CERTIFICATE-----', servername: 'db.example' } }), {
    ssl: 'verify-full',
    ca: '-----BEGIN CERTIFICATE-----',
    serverName: 'db.example',
  });
  assert.equal(probeTls('pg', { connectionString: 'postgres://u@h/db?sslmode=no-verify' }).ssl, 'require');
  assert.equal(probeTls('pg', { connectionString: 'postgres://u@h/db' }), { ssl: 'disable' });
  assert.equal(probeTls('mysql2', { ssl: 'Amazon RDS' }), { ssl: 'verify-full' });
  assert.equal(probeTls('mysql2', { ssl: { ca: [Buffer.from('A'), 'B'] } }), { ssl: 'verify-full', ca: 'A\nB' });
});

test.run();
