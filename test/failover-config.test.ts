// Failover configuration and behaviour outside a cluster (real PostgreSQL / MariaDB test servers, no lookalike):
// modes in both spellings and their defaults by endpoint type, seed aliases in seconds, the default plugin list of
// both drivers, the topology probes' documented 5 s connect / query bounds, and errors on a single instance passing
// through untouched (no topology: nothing to fail over to).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { ConfigurationError, FailoverError } from '../ts/errors.js';
import { HostInfo } from '../ts/host-info.js';
import { WrapperServices } from '../ts/services.js';
import { FailoverMode, failoverModeFrom } from '../ts/plugins/failover-common.js';
import type { FailoverV2Plugin } from '../ts/plugins/failover-v2.js';

const PG = {
  host: process.env.TEST_PG_HOST!,
  port: Number(process.env.TEST_PG_PORT),
  user: process.env.TEST_PG_USER,
  password: process.env.TEST_PG_PASSWORD,
  database: process.env.TEST_PG_DATABASE,
};
const MYSQL = {
  host: process.env.TEST_MYSQL_HOST!,
  port: Number(process.env.TEST_MYSQL_PORT),
  user: process.env.TEST_MYSQL_USER,
  password: process.env.TEST_MYSQL_PASSWORD,
  database: process.env.TEST_MYSQL_DATABASE,
};
const CLUSTER = 'db.cluster-abc123xyz456.us-east-1.rds.amazonaws.com';
const READER = 'db.cluster-ro-abc123xyz456.us-east-1.rds.amazonaws.com';
const INSTANCE = 'db-1.abc123xyz456.us-east-1.rds.amazonaws.com';

test('failover modes: both spellings, defaults from the endpoint type, bad values named', () => {
  assert.is(failoverModeFrom('strict-reader', undefined), FailoverMode.STRICT_READER);
  assert.is(failoverModeFrom('STRICT_WRITER', undefined), FailoverMode.STRICT_WRITER);
  assert.is(failoverModeFrom('reader-or-writer', undefined), FailoverMode.READER_OR_WRITER);
  assert.is(failoverModeFrom(undefined, new HostInfo({ host: READER })), FailoverMode.READER_OR_WRITER);
  assert.is(failoverModeFrom(undefined, new HostInfo({ host: CLUSTER })), FailoverMode.STRICT_WRITER);
  assert.is(failoverModeFrom(undefined, new HostInfo({ host: INSTANCE })), FailoverMode.STRICT_WRITER);
  const err = (() => {
    try {
      new AwsPGClient({ host: CLUSTER, failoverMode: 'writer_only' }, { services: new WrapperServices() });
    } catch (e) {
      return e as ConfigurationError;
    }
    return undefined;
  })();
  assert.instance(err, ConfigurationError);
  assert.is(err!.key, 'failoverMode');
  const client = new AwsPGClient(
    { host: READER, failover_mode: 'strict-writer', failover_timeout_sec: 2 },
    { services: new WrapperServices() },
  );
  const plugin = client.core.getPlugin<FailoverV2Plugin<pg.Client>>('failover_v2')!;
  assert.is(plugin.mode, FailoverMode.STRICT_WRITER);
  assert.is(plugin.failoverTimeoutMs, 2000, 'seed seconds converted');
  const dflt = new AwsPGClient({ host: READER }, { services: new WrapperServices() }).core.getPlugin<
    FailoverV2Plugin<pg.Client>
  >('failover_v2')!;
  assert.is(dflt.mode, FailoverMode.READER_OR_WRITER);
});

test('default plugins are the same for pg and mysql2 and include initial_connection, aurora_connection_tracker, failover_v2', () => {
  const pgCodes = new AwsPGClient({ host: CLUSTER }, { services: new WrapperServices() }).core.plugins.map(
    (p) => p.code,
  );
  const myCodes = new AwsMySQLClient({ host: CLUSTER }, { services: new WrapperServices() }).core.plugins.map(
    (p) => p.code,
  );
  assert.equal(pgCodes, myCodes);
  for (const code of ['initial_connection', 'aurora_connection_tracker', 'failover_v2'])
    assert.ok(pgCodes.includes(code), code);
  assert.ok(pgCodes.indexOf('initial_connection') < pgCodes.indexOf('aurora_connection_tracker'));
  assert.ok(pgCodes.indexOf('aurora_connection_tracker') < pgCodes.indexOf('failover_v2'));
  const v1 = new AwsPGClient(
    { host: CLUSTER, plugins: 'failover' },
    { services: new WrapperServices() },
  ).core.plugins.map((p) => p.code);
  assert.equal(v1, ['failover']);
});

test('topology probe connections get the documented 5 s connect and query bounds unless overridden', () => {
  const probeProps = (client: AwsPGClient) =>
    (
      client.core.pluginService as unknown as {
        topologyProbeProps: { options: { connectTimeout?: number; socketTimeout?: number } };
      }
    ).topologyProbeProps;
  const dflt = probeProps(new AwsPGClient({ host: CLUSTER }, { services: new WrapperServices() }));
  assert.is(dflt.options.connectTimeout, 5000);
  assert.is(dflt.options.socketTimeout, 5000);
  const custom = probeProps(
    new AwsPGClient(
      { host: CLUSTER, connectTimeout: 30_000, 'topology-monitoring-connectTimeout': 1500 },
      { services: new WrapperServices() },
    ),
  );
  assert.is(custom.options.connectTimeout, 1500);
  assert.is(custom.options.socketTimeout, 5000);
});

test('single PostgreSQL instance (no topology): a lost connection is the driver error, not a failover error', async () => {
  const client = new AwsPGClient({ ...PG }, { services: new WrapperServices() });
  client.on('error', () => {});
  await client.connect();
  const admin = new pg.Client(PG);
  await admin.connect();
  try {
    const pid = client.processID;
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await client.query('SELECT 1').then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    assert.ok(err !== undefined);
    assert.not.instance(err, FailoverError);
  } finally {
    await admin.end();
    await client.end();
  }
});

test('single MariaDB instance (no topology): a killed connection is the driver error, not a failover error', async () => {
  const client = await AwsMySQLClient.createConnection({ ...MYSQL }, { services: new WrapperServices() });
  client.on('error', () => {});
  const admin = await AwsMySQLClient.createConnection({ ...MYSQL, plugins: '' }, { services: new WrapperServices() });
  try {
    await admin.query(`KILL ${Number(client.threadId)}`);
    const err = await client.query('SELECT 1').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    assert.ok(err !== undefined);
    assert.not.instance(err, FailoverError);
  } finally {
    await admin.end();
    await client.end().catch(() => {});
  }
});

test.run();
