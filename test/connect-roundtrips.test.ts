// What a connect sends to the server, counted on the wire (a loopback proxy recording PostgreSQL Query/Parse
// messages and MySQL COM_QUERY/COM_STMT_PREPARE packets): `plugins: ''` sends nothing; the default plugins detect
// the dialect once per host (a later client of the same host sends no detection statement); on the lookalike Aurora
// clusters (PostgreSQL and MySQL) the defaults still find the Aurora dialect and the topology.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { dialectCache, DialectManager } from '../ts/dialects/dialect-manager.js';
import { auroraPgDialect, globalAuroraPgDialect, multiAzPgDialect, rdsPgDialect } from '../ts/dialects/database/pg.js';
import { auroraMysqlDialect } from '../ts/dialects/database/mysql.js';
import { HostInfo, HostRole } from '../ts/host-info.js';
import { WrapperServices } from '../ts/services.js';
import { LocalCluster } from '../ts/testing/index.js';
import { startStatementCounter, type StatementCounter } from './support/statement-counter.js';
import { topologyMonitors } from '../ts/host-list-providers/cluster-state.js';

const env = process.env;
const pgServer = { host: env.TEST_PG_HOST!, port: Number(env.TEST_PG_PORT) };
const pgCredentials = { user: env.TEST_PG_USER, password: env.TEST_PG_PASSWORD, database: env.TEST_PG_DATABASE };
const myServer = { host: env.TEST_MYSQL_HOST!, port: Number(env.TEST_MYSQL_PORT) };
const myCredentials = {
  user: env.TEST_MYSQL_USER,
  password: env.TEST_MYSQL_PASSWORD,
  database: env.TEST_MYSQL_DATABASE,
};

/** The statements detecting a plain PostgreSQL server sends: every candidate's checks, each statement once. */
const PG_DETECTION = [
  'SELECT 1 FROM pg_catalog.pg_proc LIMIT 1',
  "SELECT (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'rds.extensions'",
  'SELECT multi_az_db_cluster_source_dbi_resource_id FROM rds_tools.multi_az_db_cluster_source_dbi_resource_id()',
  "SELECT (setting LIKE '%rds_tools%') AS rds_tools, (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'rds.extensions'",
];
/** Detecting MariaDB from the mysql guess: the Aurora, global Aurora, Multi-AZ and RDS candidates say no. */
const MYSQL_DETECTION = [
  "SHOW VARIABLES LIKE 'aurora_version'",
  "SELECT 1 AS tmp FROM information_schema.tables WHERE upper(table_schema) = 'INFORMATION_SCHEMA' AND upper(table_name) = 'AURORA_GLOBAL_DB_STATUS'",
  "SELECT count(*) FROM mysql.rds_topology WHERE role IS NULL OR role NOT LIKE 'BLUE\\_GREEN\\_DEPLOYMENT\\_%'",
  "SHOW VARIABLES LIKE 'version_comment'",
];

/** Every statement any PG dialect detection can send (the isDialect checks of all candidates). */
async function pgDetectionStatements(): Promise<Set<string>> {
  const seen = new Set<string>();
  const record = async (sql: string) => {
    seen.add(sql);
    return [[true, false]];
  };
  for (const d of [auroraPgDialect, globalAuroraPgDialect, multiAzPgDialect, rdsPgDialect])
    await d.isDialect(record).catch(() => undefined);
  // The global check counts instances; the first checks answered "yes" above, so every statement was reached.
  return seen;
}

async function withCounter<T>(
  protocol: 'pg' | 'mysql',
  target: { host: string; port: number },
  fn: (c: StatementCounter) => Promise<T>,
): Promise<T> {
  const counter = await startStatementCounter(protocol, target);
  try {
    return await fn(counter);
  } finally {
    await counter.close();
  }
}

// ---- plain servers -----------------------------------------------------------------------------------------------

test("pg, plugins '': a connect sends no statement (the counter does see the application's own)", async () => {
  await withCounter('pg', pgServer, async (counter) => {
    const services = new WrapperServices();
    for (let i = 0; i < 2; i++) {
      const c = new AwsPGClient(
        { host: counter.host, port: counter.port, ...pgCredentials, plugins: '' },
        { services },
      );
      await c.connect();
      assert.equal(counter.take(), [], `client ${i + 1}: connect`);
      await c.query('SELECT 42');
      await c.end();
      assert.equal(counter.take(), ['SELECT 42'], `client ${i + 1}: only the application's statement`);
    }
    assert.is(dialectCache(services).size, 0, 'nothing detected, nothing cached');
    await services.close();
  });
});

test('pg, default plugins: the first client detects the dialect (each statement once), later clients send nothing', async () => {
  await withCounter('pg', pgServer, async (counter) => {
    const services = new WrapperServices();
    const cfg = { host: counter.host, port: counter.port, ...pgCredentials };
    const first = new AwsPGClient(cfg, { services });
    await first.connect();
    assert.equal(counter.take(), PG_DETECTION);
    assert.is(first.core.pluginService.dialect.code, 'pg');
    assert.ok(first.core.pluginService.isStaticHostListProvider);

    const concurrent = new AwsPGClient(cfg, { services });
    await concurrent.connect();
    assert.equal(counter.take(), [], 'a second client while the first is open');
    await Promise.all([first.end(), concurrent.end()]);
    assert.is(services.referenceCount, 0);

    const later = new AwsPGClient(cfg, { services });
    await later.connect();
    assert.equal(counter.take(), [], 'a client after every other ended (the cache outlives them)');
    assert.is(later.core.pluginService.dialect.code, 'pg');
    await later.end();
    await services.close();
  });
});

test('pg, host_monitoring_v2 on a plain host: nothing at connect; detected on first need, never inside a transaction', async () => {
  await withCounter('pg', pgServer, async (counter) => {
    const services = new WrapperServices();
    const c = new AwsPGClient(
      { host: counter.host, port: counter.port, ...pgCredentials, plugins: 'host_monitoring_v2' },
      { services },
    );
    await c.connect();
    assert.equal(counter.take(), []);
    const s = c.core.pluginService;
    // Inside the application's transaction no probe is sent (a failing one would abort the transaction).
    await c.query('BEGIN');
    assert.is(await s.getHostRole(c.core.connection), HostRole.WRITER);
    assert.equal((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the transaction is intact');
    await c.query('COMMIT');
    assert.equal(counter.take(), ['BEGIN', 'SELECT pg_catalog.pg_is_in_recovery()', 'SELECT 1 AS one', 'COMMIT']);
    // Asked for something dialect-specific outside a transaction, the client detects then (once) and answers.
    assert.is(await s.getHostRole(c.core.connection), HostRole.WRITER);
    assert.equal(counter.take(), [...PG_DETECTION, 'SELECT pg_catalog.pg_is_in_recovery()']);
    assert.is(await s.getHostRole(c.core.connection), HostRole.WRITER);
    assert.equal(counter.take(), ['SELECT pg_catalog.pg_is_in_recovery()']);
    await c.end();
    await services.close();
  });
});

test("mysql2, plugins '': a connect sends no statement", async () => {
  await withCounter('mysql', myServer, async (counter) => {
    const services = new WrapperServices();
    for (let i = 0; i < 2; i++) {
      const c = new AwsMySQLClient(
        { host: counter.host, port: counter.port, ...myCredentials, plugins: '' },
        { services },
      );
      await c.connect();
      assert.equal(counter.take(), [], `client ${i + 1}: connect`);
      await c.query('SELECT 42');
      await c.end();
      assert.equal(counter.take(), ['SELECT 42'], `client ${i + 1}: only the application's statement`);
    }
    await services.close();
  });
});

test('mysql2, default plugins: the first client detects the dialect, later clients send nothing', async () => {
  await withCounter('mysql', myServer, async (counter) => {
    const services = new WrapperServices();
    const cfg = { host: counter.host, port: counter.port, ...myCredentials };
    const first = new AwsMySQLClient(cfg, { services });
    await first.connect();
    assert.equal(counter.take(), MYSQL_DETECTION);
    assert.is(first.core.pluginService.dialect.code, 'mysql');
    await first.end();
    const later = new AwsMySQLClient(cfg, { services });
    await later.connect();
    assert.equal(counter.take(), []);
    assert.is(later.core.pluginService.dialect.code, 'mysql');
    await later.end();
    await services.close();
  });
});

test('a cached Aurora dialect for a name that now leads to plain PostgreSQL is forgotten and detected again', async () => {
  await withCounter('pg', pgServer, async (counter) => {
    const services = new WrapperServices();
    const host = 'db.cluster-abc123abc123.us-east-1.rds.amazonaws.com';
    const hostAddressMap = { [host]: `${counter.host}:${counter.port}` };
    const key = new DialectManager(services, 'pg', { hostAddressMap }).cacheKey(new HostInfo({ host, port: 5432 }));
    assert.is(key, `pg/${host}:5432@${counter.host}:${counter.port}`, 'the key names the server the name leads to');
    dialectCache(services).set(key, { code: 'aurora-pg', at: Date.now() });

    const c = new AwsPGClient({ host, port: 5432, ...pgCredentials, hostAddressMap }, { services });
    await c.connect();
    const s = c.core.pluginService;
    assert.is(s.dialect.code, 'pg');
    assert.ok(s.isStaticHostListProvider, 'no topology for a plain server');
    assert.is(dialectCache(services).get(key)?.code, 'pg', 'the cache holds the detected dialect');
    assert.equal((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    await c.end();
    counter.take();

    const next = new AwsPGClient({ host, port: 5432, ...pgCredentials, hostAddressMap }, { services });
    await next.connect();
    assert.equal(counter.take(), [], 'the corrected entry is used');
    await next.end();
    await services.close();
  });
});

// ---- the lookalike Aurora cluster --------------------------------------------------------------------------------

test('lookalike aurora-pg, default plugins: Aurora dialect and topology found; a later client detects nothing', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'roundtrips-aurora-'));
  const cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 1, dir });
  const counters: StatementCounter[] = [];
  const services = new WrapperServices();
  try {
    // Every name of the cluster leads through a counting proxy to the address it stands for.
    const hostAddressMap: Record<string, string> = {};
    for (const [name, address] of Object.entries(cluster.hostAddressMap)) {
      const [h, p] = address.split(':');
      const counter = await startStatementCounter('pg', { host: h, port: Number(p) });
      counters.push(counter);
      hostAddressMap[name] = `${counter.host}:${counter.port}`;
    }
    const take = () => counters.flatMap((c) => c.take());
    const opened = () => counters.reduce((n, c) => n + c.connections, 0);
    const detection = await pgDetectionStatements();
    const cfg = { ...cluster.clientConfig('writer'), hostAddressMap };

    const bare = new AwsPGClient({ ...cfg, plugins: '' }, { services });
    await bare.connect();
    assert.equal(take(), [], "plugins '' sends nothing, even to a cluster endpoint");
    assert.is(topologyMonitors(services).size, 0, "plugins '' starts no topology monitor");
    await bare.end();

    const first = new AwsPGClient(cfg, { services });
    await first.connect();
    const s = first.core.pluginService;
    assert.is(s.dialect.code, 'aurora-pg');
    assert.not.ok(s.isStaticHostListProvider);
    assert.equal(
      s.allHosts.map((h) => [h.hostId, h.role]),
      [
        [cluster.writer.name, HostRole.WRITER],
        [cluster.readers[0].name, HostRole.READER],
      ],
    );
    assert.is(
      s.currentHostInfo?.hostId,
      cluster.writer.name,
      'initial_connection moved to the verified writer instance',
    );
    const sent = take();
    assert.ok(
      sent.some((sql) => detection.has(sql)),
      `the first client detects: ${sent.join(' | ')}`,
    );

    const before = opened();
    const second = new AwsPGClient(cfg, { services });
    await second.connect();
    const again = take();
    assert.is(opened() - before, 1, 'one connection: straight to the writer instance the topology names');
    assert.equal(
      again.filter((sql) => detection.has(sql)),
      [],
      `no detection statement: ${again.join(' | ')}`,
    );
    assert.is(second.core.pluginService.dialect.code, 'aurora-pg');
    assert.is(second.core.pluginService.currentHostInfo?.hostId, cluster.writer.name);
    // What the defaults still send for a cluster endpoint: initial_connection verifies the instance's role.
    assert.equal(again, [auroraPgDialect.isReaderQuery]);
    await Promise.all([first.end(), second.end()]);
  } finally {
    await services.close();
    for (const c of counters) await c.close();
    await cluster.stop({ keepLogs: false });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lookalike aurora-mysql, default plugins: Aurora dialect and topology found; a later client detects nothing', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'roundtrips-aurora-mysql-'));
  const cluster = await LocalCluster.start({ flavour: 'aurora-mysql', readers: 1, dir });
  const counters: StatementCounter[] = [];
  const services = new WrapperServices();
  try {
    const hostAddressMap: Record<string, string> = {};
    for (const [name, address] of Object.entries(cluster.hostAddressMap)) {
      const [h, p] = address.split(':');
      const counter = await startStatementCounter('mysql', { host: h, port: Number(p) });
      counters.push(counter);
      hostAddressMap[name] = `${counter.host}:${counter.port}`;
    }
    const take = () => counters.flatMap((c) => c.take());
    const opened = () => counters.reduce((n, c) => n + c.connections, 0);
    const detection = new Set(
      MYSQL_DETECTION.concat(
        "SELECT 1 AS tmp FROM information_schema.tables WHERE upper(table_schema) = 'INFORMATION_SCHEMA' AND upper(table_name) = 'AURORA_GLOBAL_DB_INSTANCE_STATUS'",
        'SELECT count(1) FROM information_schema.aurora_global_db_status',
        "SHOW VARIABLES LIKE 'version'",
        "SHOW VARIABLES LIKE 'report_host'",
      ),
    );
    const cfg = { ...cluster.clientConfig('writer'), hostAddressMap };

    const bare = new AwsMySQLClient({ ...cfg, plugins: '' }, { services });
    await bare.connect();
    assert.equal(take(), [], "plugins '' sends nothing, even to a cluster endpoint");
    assert.is(topologyMonitors(services).size, 0, "plugins '' starts no topology monitor");
    await bare.end();

    const first = new AwsMySQLClient(cfg, { services });
    await first.connect();
    const s = first.core.pluginService;
    assert.is(s.dialect.code, 'aurora-mysql');
    assert.equal(
      s.allHosts.map((h) => [h.hostId, h.role]),
      [
        [cluster.writer.name, HostRole.WRITER],
        [cluster.readers[0].name, HostRole.READER],
      ],
    );
    const sent = take();
    assert.ok(
      sent.some((sql) => detection.has(sql)),
      `the first client detects: ${sent.join(' | ')}`,
    );

    const before = opened();
    const second = new AwsMySQLClient(cfg, { services });
    await second.connect();
    const again = take();
    assert.is(opened() - before, 1, 'one connection: straight to the writer instance the topology names');
    assert.equal(
      again.filter((sql) => detection.has(sql)),
      [],
      `no detection statement: ${again.join(' | ')}`,
    );
    assert.is(second.core.pluginService.dialect.code, 'aurora-mysql');
    assert.is(second.core.pluginService.currentHostInfo?.hostId, cluster.writer.name);
    // As on PostgreSQL, the only statement: initial_connection verifies the instance's role (no topology read, no
    // session-state query, no SET).
    assert.equal(again, [auroraMysqlDialect.isReaderQuery]);
    await Promise.all([first.end(), second.end()]);
  } finally {
    await services.close();
    for (const c of counters) await c.close();
    await cluster.stop({ keepLogs: false });
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
