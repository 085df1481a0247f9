// The RDS host list provider reading real query results: Aurora PG and Multi-AZ PG metadata emulated in scratch
// databases on the test PostgreSQL, Multi-AZ MySQL's mysql.rds_topology on the test MariaDB; plus fillAliases and
// the static provider's role query.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import type mysql from 'mysql2/promise';
import { HostInfo, HostRole } from '../ts/host-info.js';
import { WrapperServices } from '../ts/services.js';
import {
  auroraPgDialect,
  multiAzMysqlDialect,
  multiAzPgDialect,
  mysqlDialect,
  pgDialect,
} from '../ts/dialects/database/index.js';
import {
  ConnectionStringHostListProvider,
  fillAliases,
  RdsHostListProvider,
  TopologyRowError,
} from '../ts/host-list-providers/index.js';
import {
  createEmulatedDatabase,
  mysqlConnect,
  mysqlQueryRowsDriver,
  pgConnect,
  pgQueryRowsDriver,
} from './support/dialect-fixtures.js';
import { topologyCache } from '../ts/host-list-providers/cluster-state.js';

const D = 'abc123xyz.us-east-1.rds.amazonaws.com';
let dropAurora: () => Promise<void>;
let dropMultiAz: () => Promise<void>;
let my: mysql.Connection;

test.before(async () => {
  dropAurora = await createEmulatedDatabase('hlp_aurora_emul', 'aurora-pg');
  dropMultiAz = await createEmulatedDatabase('hlp_multiaz_emul', 'multi-az-pg');
  my = await mysqlConnect();
});

test.after(async () => {
  await dropAurora();
  await dropMultiAz();
  await my.query('DROP TABLE IF EXISTS mysql.rds_topology');
  await my.end();
});

async function auroraConn(instance: string): Promise<pg.Client> {
  const c = await pgConnect('hlp_aurora_emul');
  await c.query(`SET emul.instance = '${instance}'`);
  return c;
}

async function setAuroraRows(c: pg.Client, values: string): Promise<void> {
  await c.query('DELETE FROM emul.replica_status');
  if (values) await c.query(`INSERT INTO emul.replica_status VALUES ${values}`);
}

function auroraProvider(services: WrapperServices, options = {}) {
  return new RdsHostListProvider<pg.Client>({
    initialHost: new HostInfo({ host: `mydb.cluster-${D}`, port: 5432 }),
    dialect: auroraPgDialect,
    driverDialect: pgQueryRowsDriver,
    options,
    services,
  });
}

test('aurora-pg: refresh reads, parses and caches the topology; identify and role come from the server', async () => {
  const c = await auroraConn('instance-2');
  try {
    await setAuroraRows(
      c,
      `('instance-1', 'MASTER_SESSION_ID', 5, 0, now()), ('instance-2', 's2', 1, 20, now()), ('instance-3', 's3', 1, 30, now())`,
    );
    const services = new WrapperServices();
    const p = auroraProvider(services);
    const hosts = await p.refresh(c);
    assert.equal(
      hosts.map((h) => [h.host, h.port, h.role]),
      [
        [`instance-1.${D}`, 5432, HostRole.WRITER],
        [`instance-2.${D}`, 5432, HostRole.READER],
        [`instance-3.${D}`, 5432, HostRole.READER],
      ],
    );
    assert.is(topologyCache(services).get(`mydb.cluster-${D}`)?.hosts, hosts);
    // Fresh cache: no query (a changed server-side topology is not seen until it is stale or forced).
    await setAuroraRows(c, `('instance-1', 'MASTER_SESSION_ID', 5, 0, now()), ('instance-2', 's2', 1, 20, now())`);
    assert.is(await p.refresh(c), hosts);
    assert.equal(
      (await p.forceRefresh(false, 5000, c)).map((h) => h.hostId),
      ['instance-1', 'instance-2'],
    );

    const me = await p.identifyConnection(c);
    assert.is(me?.hostId, 'instance-2');
    // pg_is_in_recovery() is false on the test server: it is a writer as far as the server can tell.
    assert.is(await p.getHostRole(c), HostRole.WRITER);
  } finally {
    await c.end();
  }
});

test('aurora-pg: a stale cache is re-read; topologyRefreshMs 0 always re-reads', async () => {
  const c = await auroraConn('instance-1');
  try {
    await setAuroraRows(c, `('instance-1', 'MASTER_SESSION_ID', 5, 0, now())`);
    const p = auroraProvider(new WrapperServices(), { topologyRefreshMs: 0 });
    assert.is((await p.refresh(c)).length, 1);
    await setAuroraRows(c, `('instance-1', 'MASTER_SESSION_ID', 5, 0, now()), ('instance-9', 's9', 1, 20, now())`);
    assert.is((await p.refresh(c)).length, 2);
  } finally {
    await c.end();
  }
});

test('aurora-pg: bad rows and writer-less topologies keep the previous topology', async () => {
  const c = await auroraConn('instance-1');
  try {
    await setAuroraRows(c, `('instance-1', 'MASTER_SESSION_ID', 5, 0, now()), ('instance-2', 's2', 1, 20, now())`);
    const services = new WrapperServices();
    const p = auroraProvider(services, { topologyRefreshMs: 0 });
    const good = await p.refresh(c);
    await setAuroraRows(c, `('instance-1', 'MASTER_SESSION_ID', 5, 0, now()), ('', 's2', 1, 20, now())`);
    try {
      await p.forceRefresh(false, 5000, c);
      assert.unreachable();
    } catch (err) {
      assert.instance(err, TopologyRowError);
      assert.match(
        (err as Error).message,
        /Bad row 2 from the aurora-pg topology query of cluster mydb\.cluster-.*instance id \(column 1\) is empty/,
      );
    }
    assert.is(p.cachedTopology(), good);
    await setAuroraRows(c, `('instance-2', 's2', 1, 20, now())`);
    assert.is(await p.refresh(c), good, 'no writer: previous topology');
  } finally {
    await c.end();
  }
});

test('aurora-pg: forceRefresh(verifyWriter) confirms the writer on the writer, and times out without one', async () => {
  const c = await auroraConn('instance-1');
  try {
    await setAuroraRows(c, `('instance-1', 'MASTER_SESSION_ID', 5, 0, now()), ('instance-2', 's2', 1, 20, now())`);
    const p = auroraProvider(new WrapperServices(), { clusterTopologyHighRefreshRateMs: 20 });
    assert.equal(
      (await p.forceRefresh(true, 5000, c)).map((h) => h.hostId),
      ['instance-1', 'instance-2'],
    );
    // A reader's view also confirms the writer it lists (aurora readers see the writer's MASTER_SESSION_ID row).
    await c.query("SET emul.instance = 'instance-2'");
    assert.is((await p.forceRefresh(true, 5000, c))[0].hostId, 'instance-1');
    await setAuroraRows(c, `('instance-2', 's2', 1, 20, now())`);
    const started = Date.now();
    try {
      await p.forceRefresh(true, 150, c);
      assert.unreachable();
    } catch (err) {
      assert.match(
        (err as Error).message,
        /Topology of cluster mydb\.cluster-.* did not show a confirmed writer within 150 ms/,
      );
    }
    assert.ok(Date.now() - started >= 150);
    assert.is((await p.forceRefresh(false, 0))[0].hostId, 'instance-1', 'no connection, no verification: the cache');
    try {
      await p.forceRefresh(true, 100);
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /no connection to read the topology on/);
    }
  } finally {
    await c.end();
  }
});

test('multi-az-pg: roles come from the writer id, identify matches by resource id', async () => {
  const c = await pgConnect('hlp_multiaz_emul');
  try {
    await c.query(`INSERT INTO emul.topology VALUES
      ('db-AAA', 'node-a.${D}', 5432, false), ('db-BBB', 'node-b.${D}', 5433, true), ('db-CCC', 'node-c.${D}', 5432, false)`);
    await c.query("SET emul.resource_id = 'db-CCC'");
    const p = new RdsHostListProvider<pg.Client>({
      initialHost: new HostInfo({ host: `mydb.cluster-${D}`, port: 5432 }),
      dialect: multiAzPgDialect,
      driverDialect: pgQueryRowsDriver,
      options: {},
      services: new WrapperServices(),
    });
    const hosts = await p.refresh(c);
    assert.equal(
      hosts.map((h) => [h.host, h.port, h.role, h.hostId]),
      [
        [`node-b.${D}`, 5433, HostRole.WRITER, 'db-BBB'],
        [`node-a.${D}`, 5432, HostRole.READER, 'db-AAA'],
        [`node-c.${D}`, 5432, HostRole.READER, 'db-CCC'],
      ],
    );
    assert.is((await p.identifyConnection(c))?.host, `node-c.${D}`);
    // From a reader, the reader's view of the writer confirms it.
    assert.is((await p.forceRefresh(true, 5000, c))[0].hostId, 'db-BBB');
  } finally {
    await c.end();
  }
});

test('multi-az-mysql: topology from mysql.rds_topology, writer = the node without replica status', async () => {
  await my.query('DROP TABLE IF EXISTS mysql.rds_topology');
  await my.query('CREATE TABLE mysql.rds_topology (id BIGINT PRIMARY KEY, endpoint VARCHAR(255), port INT)');
  const [[{ sid }]] = (await my.query('SELECT @@server_id AS sid')) as unknown as [[{ sid: number }]];
  await my.query('INSERT INTO mysql.rds_topology VALUES (?, ?, 3306), (?, ?, 3306)', [
    sid,
    `node-w.${D}`,
    sid + 1,
    `node-r.${D}`,
  ]);
  const p = new RdsHostListProvider<mysql.Connection>({
    initialHost: new HostInfo({ host: `mydb.cluster-${D}` }),
    dialect: multiAzMysqlDialect,
    driverDialect: mysqlQueryRowsDriver,
    options: {},
    services: new WrapperServices(),
  });
  const hosts = await p.refresh(my);
  assert.equal(
    hosts.map((h) => [h.host, h.port, h.role, h.hostId]),
    [
      [`node-w.${D}`, 3306, HostRole.WRITER, String(sid)],
      [`node-r.${D}`, 3306, HostRole.READER, String(sid + 1)],
    ],
  );
  assert.is((await p.identifyConnection(my))?.host, `node-w.${D}`);
  assert.is(await p.getHostRole(my), HostRole.WRITER);
  assert.is((await p.forceRefresh(true, 5000, my))[0].host, `node-w.${D}`);
});

test('fillAliases: host:port, the alias query rows, and the identified topology host', async () => {
  const c = await auroraConn('instance-2');
  try {
    await setAuroraRows(c, `('instance-1', 'MASTER_SESSION_ID', 5, 0, now()), ('instance-2', 's2', 1, 20, now())`);
    const p = auroraProvider(new WrapperServices());
    const host = new HostInfo({ host: `mydb.cluster-${D}`, port: 5432 });
    await fillAliases(c, host, {
      dialect: auroraPgDialect,
      driverDialect: pgQueryRowsDriver,
      hostListProvider: p,
      auxiliaryQueryTimeoutMs: 5000,
    });
    assert.equal(
      [...host.aliases].sort(),
      [`127.0.0.1:${process.env.TEST_PG_PORT}`, 'instance-2', `instance-2.${D}:5432`, `mydb.cluster-${D}:5432`].sort(),
    );
    // Already filled: nothing runs again.
    await fillAliases(c, host, {
      dialect: auroraPgDialect,
      driverDialect: {
        queryRows: async () => {
          throw new Error('must not run');
        },
      },
      hostListProvider: p,
      auxiliaryQueryTimeoutMs: 5000,
    });
  } finally {
    await c.end();
  }
});

test('fillAliases on MariaDB and static providers: alias query only', async () => {
  const host = new HostInfo({ host: process.env.TEST_MYSQL_HOST!, port: Number(process.env.TEST_MYSQL_PORT) });
  const p = new ConnectionStringHostListProvider<mysql.Connection>({
    initialHost: host,
    dialect: mysqlDialect,
    driverDialect: mysqlQueryRowsDriver,
  });
  await fillAliases(my, host, {
    dialect: mysqlDialect,
    driverDialect: mysqlQueryRowsDriver,
    hostListProvider: p,
    auxiliaryQueryTimeoutMs: 5000,
  });
  const [[hostname]] = (await my.query({ sql: 'SELECT @@hostname', rowsAsArray: true })) as unknown as [[string]];
  assert.equal([...host.aliases].sort(), [host.hostAndPort, `${hostname}:${process.env.TEST_MYSQL_PORT}`].sort());
  assert.is(await p.getHostRole(my), HostRole.WRITER);
  const pgc = await pgConnect();
  try {
    const sp = new ConnectionStringHostListProvider<pg.Client>({
      initialHost: new HostInfo({ host: '127.0.0.1' }),
      dialect: pgDialect,
      driverDialect: pgQueryRowsDriver,
    });
    assert.is(await sp.getHostRole(pgc), HostRole.WRITER);
  } finally {
    await pgc.end();
  }
});

test.run();
