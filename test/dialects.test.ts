// Dialect detection and the dialects' SQL against the real test servers (PostgreSQL 17, MariaDB 10.11), plus
// single-node Aurora PG / Multi-AZ PG metadata emulations in scratch databases.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import type mysql from 'mysql2/promise';
import { dialectCache, DialectManager } from '../ts/dialects/dialect-manager.js';
import {
  auroraMysqlDialect,
  auroraPgDialect,
  checkWriter,
  multiAzMysqlDialect,
  multiAzPgDialect,
  mysqlDialect,
  pgDialect,
  rdsPgDialect,
  readOwnHostId,
} from '../ts/dialects/database/index.js';
import { HostInfo, HostRole } from '../ts/host-info.js';
import { WrapperServices } from '../ts/services.js';
import { AwsWrapperError } from '../ts/errors.js';
import { roleFromIsReaderRows } from '../ts/host-list-providers/rds.js';
import {
  createEmulatedDatabase,
  mysqlConnect,
  mysqlQuery,
  mysqlRows,
  pgConnect,
  pgQuery,
} from './support/dialect-fixtures.js';

const pgHost = () => new HostInfo({ host: process.env.TEST_PG_HOST!, port: Number(process.env.TEST_PG_PORT) });
const mysqlHost = () => new HostInfo({ host: process.env.TEST_MYSQL_HOST!, port: Number(process.env.TEST_MYSQL_PORT) });
const AURORA_PG_CLUSTER = new HostInfo({ host: 'db.cluster-abc123xyz.us-east-1.rds.amazonaws.com', port: 5432 });
const AURORA_MYSQL_CLUSTER = new HostInfo({ host: 'db.cluster-abc123xyz.us-east-1.rds.amazonaws.com', port: 3306 });
const RDS_INSTANCE = new HostInfo({ host: 'db-1.abc123xyz.us-east-1.rds.amazonaws.com', port: 5432 });

let pgc: pg.Client;
let my: mysql.Connection;
let dropAurora: () => Promise<void>;
let dropMultiAz: () => Promise<void>;

test.before(async () => {
  pgc = await pgConnect();
  my = await mysqlConnect();
  dropAurora = await createEmulatedDatabase('dialect_aurora_emul', 'aurora-pg');
  dropMultiAz = await createEmulatedDatabase('dialect_multiaz_emul', 'multi-az-pg');
});

test.after(async () => {
  await pgc.end();
  await my.end();
  await dropAurora();
  await dropMultiAz();
});

test('plain PostgreSQL is detected as pg and the result is cached per engine and host:port', async () => {
  const services = new WrapperServices();
  const m = new DialectManager(services, 'pg');
  assert.is(m.getDialect(pgHost()).code, 'pg');
  assert.ok(m.canUpdate);
  const d = await m.refine(pgHost(), pgQuery(pgc));
  assert.is(d.code, 'pg');
  assert.not.ok(m.canUpdate);
  assert.is(dialectCache(services).get(`pg/${pgHost().hostAndPort}`)?.code, 'pg');

  // A second client of the same host starts from the cache: final, no probing.
  const again = new DialectManager(services, 'pg');
  assert.is(again.getDialect(pgHost()).code, 'pg');
  assert.not.ok(again.canUpdate);
  // A MySQL client of the same host:port does not see the PG entry.
  const other = new DialectManager(services, 'mysql2');
  assert.is(other.getDialect(pgHost()).code, 'mysql');
  assert.ok(other.canUpdate);
});

test('MariaDB is detected as mysql (version says MariaDB; version_comment is the distribution)', async () => {
  const comment = await mysqlRows(my, "SHOW VARIABLES LIKE 'version_comment'");
  assert.not.ok(String(comment[0]?.[1]).toLowerCase().includes('mysql'), 'precondition: version_comment lacks "mysql"');
  assert.ok(await mysqlDialect.isDialect(mysqlQuery(my)));
  const m = new DialectManager(new WrapperServices(), 'mysql2');
  assert.is(m.getDialect(mysqlHost()).code, 'mysql');
  assert.is((await m.refine(mysqlHost(), mysqlQuery(my))).code, 'mysql');
});

test('an unknown driver finds pg or mysql by probing; no match is a clear error', async () => {
  const onPg = new DialectManager(new WrapperServices(), 'some-driver');
  assert.is(onPg.getDialect(pgHost()).code, 'unknown');
  assert.is((await onPg.refine(pgHost(), pgQuery(pgc))).code, 'pg');
  const onMy = new DialectManager(new WrapperServices(), 'some-driver');
  onMy.getDialect(mysqlHost());
  assert.is((await onMy.refine(mysqlHost(), mysqlQuery(my))).code, 'mysql');
  const none = new DialectManager(new WrapperServices(), 'some-driver');
  none.getDialect(pgHost());
  try {
    await none.refine(pgHost(), async () => [[]].slice(1));
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, AwsWrapperError);
    assert.match((err as Error).message, /Unable to determine the database dialect of 127\.0\.0\.1:\d+/);
    assert.match((err as Error).message, /wrapperDialect to one of mysql, rds-mysql/);
  }
});

test('an Aurora cluster name on a plain server falls back to pg / mysql (not left on aurora)', async () => {
  const services = new WrapperServices();
  const mp = new DialectManager(services, 'pg');
  assert.is(mp.getDialect(AURORA_PG_CLUSTER).code, 'aurora-pg');
  assert.is((await mp.refine(AURORA_PG_CLUSTER, pgQuery(pgc))).code, 'pg');
  assert.is(dialectCache(services).get(`pg/${AURORA_PG_CLUSTER.hostAndPort}`)?.code, 'pg');

  const rp = new DialectManager(services, 'pg');
  assert.is(rp.getDialect(RDS_INSTANCE).code, 'rds-pg');
  assert.is((await rp.refine(RDS_INSTANCE, pgQuery(pgc))).code, 'pg');

  const mm = new DialectManager(services, 'mysql2');
  assert.is(mm.getDialect(AURORA_MYSQL_CLUSTER).code, 'aurora-mysql');
  assert.is((await mm.refine(AURORA_MYSQL_CLUSTER, mysqlQuery(my))).code, 'mysql');
});

test('Aurora PG metadata is detected as aurora-pg from a pg guess and verified from a cluster-name guess', async () => {
  const c = await pgConnect('dialect_aurora_emul');
  try {
    await c.query("SET emul.instance = 'instance-1'");
    await c.query(`INSERT INTO emul.replica_status VALUES
      ('instance-1', 'MASTER_SESSION_ID', 2.5, 0, now()), ('instance-2', 'b1', 1.0, 12, now())`);
    const host = new HostInfo({ host: '127.0.0.1', port: 1 });
    assert.is((await new DialectManager(new WrapperServices(), 'pg').refine(host, pgQuery(c))).code, 'aurora-pg');
    const m = new DialectManager(new WrapperServices(), 'pg');
    m.getDialect(AURORA_PG_CLUSTER);
    assert.is((await m.refine(AURORA_PG_CLUSTER, pgQuery(c))).code, 'aurora-pg');
    assert.not.ok(await rdsPgDialect.isDialect(pgQuery(c)), 'aurora_stat_utils excludes rds-pg');
  } finally {
    await c.end();
  }
});

test('a probe the server does not answer in time never downgrades a guess and is not cached', async () => {
  const c = await pgConnect('dialect_aurora_emul');
  try {
    await c.query("SET emul.slow = 'on'");
    await c.query("SET statement_timeout = '200ms'");
    const services = new WrapperServices();
    const m = new DialectManager(services, 'pg');
    m.getDialect(AURORA_PG_CLUSTER);
    assert.is((await m.refine(AURORA_PG_CLUSTER, pgQuery(c))).code, 'aurora-pg');
    assert.is(dialectCache(services).size, 0);
  } finally {
    await c.end();
  }
});

test('Multi-AZ PG metadata is detected as multi-az-pg, from a pg guess and from a cluster-name guess', async () => {
  const c = await pgConnect('dialect_multiaz_emul');
  try {
    await c.query(
      `INSERT INTO emul.topology VALUES ('db-AAA', 'node-a.abc123xyz.us-east-1.rds.amazonaws.com', 5432, true)`,
    );
    assert.is((await new DialectManager(new WrapperServices(), 'pg').refine(pgHost(), pgQuery(c))).code, 'multi-az-pg');
    const m = new DialectManager(new WrapperServices(), 'pg');
    m.getDialect(AURORA_PG_CLUSTER);
    assert.is((await m.refine(AURORA_PG_CLUSTER, pgQuery(c))).code, 'multi-az-pg');
  } finally {
    await c.end();
  }
});

test('pg host-id, is-reader and alias queries run verbatim on PostgreSQL', async () => {
  const q = pgQuery(pgc);
  const hostId = await q(pgDialect.hostIdQuery);
  assert.equal(hostId, [['127.0.0.1', `127.0.0.1:${process.env.TEST_PG_PORT}`]]);
  assert.is(roleFromIsReaderRows(await q(pgDialect.isReaderQuery), 'pg'), HostRole.WRITER);
  assert.equal(await q(pgDialect.aliasQuery!), [[`127.0.0.1:${process.env.TEST_PG_PORT}`]]);
  const version = await q(pgDialect.serverVersionQuery);
  assert.match(String(version[0]?.[1]), /^PostgreSQL 17/);
});

test('mysql host-id, is-reader and alias queries run verbatim on MariaDB', async () => {
  const q = mysqlQuery(my);
  const [row] = await q(mysqlDialect.hostIdQuery);
  assert.is(row.length, 2);
  assert.is(row[1], `${row[0]}:${process.env.TEST_MYSQL_PORT}`);
  assert.is(roleFromIsReaderRows(await q(mysqlDialect.isReaderQuery), 'mysql'), HostRole.WRITER);
  assert.equal(await q(mysqlDialect.aliasQuery!), [[row[1]]]);
  // aurora-mysql's is-reader variable exists on MariaDB too.
  assert.is(roleFromIsReaderRows(await q(auroraMysqlDialect.isReaderQuery), 'aurora-mysql'), HostRole.WRITER);
});

test('aurora-pg topology, writer-id and host-id queries run verbatim on Aurora metadata', async () => {
  const c = await pgConnect('dialect_aurora_emul');
  try {
    await c.query("SET emul.instance = 'instance-2'");
    await c.query('DELETE FROM emul.replica_status');
    await c.query(`INSERT INTO emul.replica_status VALUES
      ('instance-1', 'MASTER_SESSION_ID', 2.5, NULL, now()), ('instance-2', 'b1', 1.0, 12, now()),
      ('instance-3', 'c1', 1.0, 5, now() - interval '10 minutes')`);
    const q = pgQuery(c);
    const rows = await q(auroraPgDialect.topology!.topologyQuery);
    assert.equal(
      rows.map((r) => [r[0], r[1], r[3]]),
      [
        ['instance-1', true, 0],
        ['instance-2', false, 12],
      ],
      'stale reader filtered, lag coalesced',
    );
    assert.ok(rows[0][4] instanceof Date);
    assert.equal(await readOwnHostId(auroraPgDialect, q), 'instance-2');
    const onReader = await checkWriter(auroraPgDialect.topology!, q);
    assert.equal(onReader, { isWriter: false, writerId: undefined, ownId: undefined });
    await c.query("SET emul.instance = 'instance-1'");
    assert.equal(await checkWriter(auroraPgDialect.topology!, q), {
      isWriter: true,
      writerId: 'instance-1',
      ownId: 'instance-1',
    });
  } finally {
    await c.end();
  }
});

test('multi-az-pg: true writer semantics (writer id from any node compared with the own resource id)', async () => {
  const c = await pgConnect('dialect_multiaz_emul');
  try {
    await c.query('DELETE FROM emul.topology');
    await c.query(`INSERT INTO emul.topology VALUES
      ('db-AAA', 'node-a.abc123xyz.us-east-1.rds.amazonaws.com', 5432, true),
      ('db-BBB', 'node-b.abc123xyz.us-east-1.rds.amazonaws.com', 5433, false)`);
    const q = pgQuery(c);
    await c.query("SET emul.resource_id = 'db-BBB'");
    assert.equal(await checkWriter(multiAzPgDialect.topology!, q), {
      isWriter: false,
      writerId: 'db-AAA',
      ownId: 'db-BBB',
    });
    assert.equal(await q(multiAzPgDialect.hostIdQuery), [['db-BBB', 'node-b']]);
    assert.is(await readOwnHostId(multiAzPgDialect, q), 'db-BBB');
    await c.query("SET emul.resource_id = 'db-AAA'");
    assert.equal(await checkWriter(multiAzPgDialect.topology!, q), {
      isWriter: true,
      writerId: 'db-AAA',
      ownId: 'db-AAA',
    });
    assert.equal((await q(multiAzPgDialect.topology!.topologyQuery)).length, 2);
  } finally {
    await c.end();
  }
});

test('multi-az-mysql: SHOW REPLICA STATUS without a row means this node is the writer (own id = @@server_id)', async () => {
  const q = mysqlQuery(my);
  const serverId = String((await q('SELECT @@server_id'))[0][0]);
  assert.equal(await checkWriter(multiAzMysqlDialect.topology!, q), {
    isWriter: true,
    writerId: serverId,
    ownId: serverId,
  });
  // The replica-status columns are read by name: MariaDB calls the writer id Master_Server_Id.
  const status = (await q('SHOW REPLICA STATUS')) as unknown as { columns: string[] };
  assert.ok(status.columns.includes('Master_Server_Id'));
  // Without column names (a driver that does not report them) the positional fallback is right on MariaDB too.
  assert.is(status.columns.indexOf('Master_Server_Id'), multiAzMysqlDialect.topology!.writerIdColumnIndex);
});

test('multi-az-pg classifies 28000 as a network error, other codes as the driver did', () => {
  assert.is(multiAzPgDialect.classifyError!({ code: '28000' }, 'login'), 'network');
  assert.is(multiAzPgDialect.classifyError!({ code: '28P01' }, 'login'), 'login');
  assert.is(multiAzPgDialect.classifyError!(new Error('x'), undefined), undefined);
  assert.is(pgDialect.classifyError, undefined);
});

test.run();
