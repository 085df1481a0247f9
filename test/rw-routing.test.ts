// readerRouting on the aurora-pg and aurora-mysql lookalikes: what ORMs send (pool.query, checked-out clients,
// read-only transactions) reaches a reader without setReadOnly; writes, locking reads, side effects and the
// read-your-writes window stay on the writer; 'off' classifies nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { AwsPGClient, AwsPGPool } from '../ts/pg.js';
import { AwsMySQLPool } from '../ts/mysql.js';
import { ConfigurationError } from '../ts/errors.js';
import { WrapperServices } from '../ts/services.js';
import { LocalCluster } from '../ts/testing/index.js';

let pgCluster: LocalCluster;
let myCluster: LocalCluster;
const pgDir = mkdtempSync(path.join(tmpdir(), 'rw-routing-pg-'));
const myDir = mkdtempSync(path.join(tmpdir(), 'rw-routing-my-'));
const pools: Array<{ end(): Promise<void> }> = [];

function pgPool(readerRouting: string, readerRoutingStickMs = 0, extra: Record<string, unknown> = {}): AwsPGPool {
  const p = new AwsPGPool(
    {
      ...pgCluster.clientConfig('writer'),
      plugins: 'read_write_splitting',
      readerRouting,
      readerRoutingStickMs,
      max: 2,
      ...extra,
    },
    { services: new WrapperServices() },
  );
  pools.push(p);
  return p;
}

/** Whether `sql` (which must return a boolean column `ro`) ran on a reader. */
async function pgOnReader(q: { query: AwsPGPool['query'] }, sql: string): Promise<boolean> {
  const r = await q.query(sql);
  return (r.rows[0] as { ro: boolean }).ro;
}

const RO = 'pg_catalog.pg_is_in_recovery() AS ro';

test.before(async () => {
  [pgCluster, myCluster] = await Promise.all([
    LocalCluster.start({ flavour: 'aurora-pg', readers: 1, dir: pgDir, database: 'app' }),
    LocalCluster.start({ flavour: 'aurora-mysql', readers: 1, dir: myDir }),
  ]);
  const p = pgPool('off');
  await p.query('CREATE TABLE IF NOT EXISTS t (id serial PRIMARY KEY, v int)');
  await p.query('CREATE SEQUENCE IF NOT EXISTS s');
  await p.query('INSERT INTO t (v) VALUES (1)');
});

test.after(async () => {
  await Promise.allSettled(pools.map((p) => p.end()));
  await Promise.allSettled([pgCluster?.stop({ keepLogs: false }), myCluster?.stop({ keepLogs: false })]);
  for (const d of [pgDir, myDir]) rmSync(d, { recursive: true, force: true });
});

test('pg, off: nothing is routed and statements are not classified', async () => {
  const p = pgPool('off');
  assert.is(await pgOnReader(p, `SELECT ${RO}`), false);
  assert.is(await pgOnReader(p, `/* aws:reader */ SELECT ${RO}`), false);
  const c = await p.connect();
  try {
    assert.is((c as unknown as { router: unknown }).router, undefined, 'no router: no per-statement work');
    await c.query('BEGIN READ ONLY');
    assert.is(await pgOnReader(c, `SELECT ${RO}`), false);
    await c.query('COMMIT');
  } finally {
    c.release();
  }
});

test('pg, explicit: hinted statements and read-only transactions on a reader, plain SELECTs on the writer', async () => {
  const p = pgPool('explicit');
  assert.is(await pgOnReader(p, `/* aws:reader */ SELECT ${RO}`), true, 'hinted');
  assert.is(await pgOnReader(p, `SELECT ${RO}`), false, 'plain SELECT not routed in explicit mode');
  const c = await p.connect();
  try {
    for (const begin of ['BEGIN READ ONLY', 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY']) {
      await c.query(begin);
      const a = await c.query(`SELECT ${RO}, pg_catalog.pg_backend_pid() AS pid`);
      const b = await c.query(`SELECT ${RO}, pg_catalog.pg_backend_pid() AS pid, count(*)::int AS n FROM t`);
      assert.is(a.rows[0].ro, true, `${begin}: on a reader`);
      assert.is(b.rows[0].pid, a.rows[0].pid, 'the whole transaction on one reader connection');
      await c.query('COMMIT');
    }
    // A read-write transaction after it goes back to the writer.
    await c.query('BEGIN');
    assert.is(await pgOnReader(c, `SELECT ${RO}`), false);
    await c.query('UPDATE t SET v = v + 1 WHERE id = 1');
    await c.query('COMMIT');
    assert.is(await pgOnReader(c, `SELECT ${RO}`), false);
  } finally {
    c.release();
  }
});

test('pg, selects: plain SELECTs on a reader; writes, locks, side effects and writable CTEs on the writer', async () => {
  const p = pgPool('selects');
  assert.is(await pgOnReader(p, `SELECT ${RO}`), true, 'plain SELECT');
  assert.is(await pgOnReader(p, `SELECT ${RO} FROM t WHERE id = 1 FOR UPDATE`), false, 'FOR UPDATE');
  assert.is(await pgOnReader(p, `SELECT ${RO} FROM t WHERE id = 1 FOR SHARE`), false, 'FOR SHARE');
  assert.is(await pgOnReader(p, `SELECT nextval('s') AS n, ${RO}`), false, 'nextval');
  assert.is(await pgOnReader(p, `SELECT pg_advisory_lock(7), pg_advisory_unlock(7), ${RO}`), false, 'advisory lock');
  assert.is(
    await pgOnReader(p, `WITH n AS (INSERT INTO t (v) VALUES (2) RETURNING id) SELECT ${RO} FROM n`),
    false,
    'writable CTE',
  );
  assert.is(await pgOnReader(p, `UPDATE t SET v = v WHERE id = 1 RETURNING ${RO}`), false, 'UPDATE');
  const c = await p.connect();
  try {
    await c.query('BEGIN');
    assert.is(await pgOnReader(c, `SELECT ${RO}`), false, 'a SELECT inside a read-write transaction');
    await c.query('COMMIT');
    assert.is(await pgOnReader(c, `SELECT ${RO}`), true, 'back on a reader after it');
    // setReadOnly(false) by the user: the user decides, routing stays out.
    await c.setReadOnly(true);
    assert.is(await pgOnReader(c, `SELECT ${RO}`), true);
    await c.setReadOnly(false);
  } finally {
    c.release();
  }
});

test('pg: after a write, reads stay on the writer for readerRoutingStickMs, on every client of the pool only', async () => {
  const p = pgPool('selects', 60_000);
  const other = pgPool('selects', 60_000);
  assert.is(await pgOnReader(p, `SELECT ${RO}`), true, 'no write yet');
  await p.query('INSERT INTO t (v) VALUES (3)');
  assert.is(await pgOnReader(p, `SELECT ${RO}`), false, 'read-your-writes window');
  assert.is(await pgOnReader(p, `/* aws:reader */ SELECT ${RO}`), false, 'hinted too');
  const c = await p.connect();
  try {
    assert.is(await pgOnReader(c, `SELECT ${RO}`), false, 'another client of the same pool');
  } finally {
    c.release();
  }
  assert.is(await pgOnReader(other, `SELECT ${RO}`), true, 'another pool is not affected');
});

test("pg: the window is the pool's: a write on one checked-out client keeps a read on another on the writer (ORMs take a client per statement)", async () => {
  const p = pgPool('selects', 60_000);
  const writer = await p.connect();
  const reader = await p.connect();
  try {
    assert.is(await pgOnReader(reader, `SELECT ${RO}`), true, 'no write yet');
    await writer.query('INSERT INTO t (v) VALUES (4)');
    assert.is(await pgOnReader(reader, `SELECT ${RO}`), false, 'the other client saw the write through the window');
  } finally {
    writer.release();
    reader.release();
  }
});

test('readerRouting without a splitting plugin or with a wrong value fails naming the option', async () => {
  const config = { ...pgCluster.clientConfig('writer'), plugins: 'failover', readerRouting: 'selects' };
  assert.throws(
    () => new AwsPGClient(config, { services: new WrapperServices() }),
    (e: unknown) =>
      e instanceof ConfigurationError && /readerRouting.*read_write_splitting or srw/.test((e as Error).message),
  );
  // AwsPGPool creates its clients on demand: the first query reports it.
  const p = new AwsPGPool(config, { services: new WrapperServices() });
  pools.push(p);
  try {
    await p.query('SELECT 1');
    assert.unreachable('routing without a splitting plugin');
  } catch (err) {
    assert.instance(err, ConfigurationError);
  }
  try {
    new AwsPGPool({ ...pgCluster.clientConfig('writer'), plugins: 'read_write_splitting', readerRouting: 'all' });
    assert.unreachable('accepted readerRouting: all');
  } catch (err) {
    assert.instance(err, ConfigurationError);
    assert.match((err as Error).message, /readerRouting/);
  }
});

// ---- MySQL ------------------------------------------------------------------------------------------------------

function myPool(readerRouting: string, readerRoutingStickMs = 0): AwsMySQLPool {
  const p = new AwsMySQLPool(
    {
      ...myCluster.clientConfig('writer'),
      plugins: 'read_write_splitting',
      readerRouting,
      readerRoutingStickMs,
      connectionLimit: 2,
    },
    { services: new WrapperServices() },
  );
  pools.push(p);
  return p;
}

const MY_RO = '@@global.innodb_read_only AS ro';

async function myOnReader(q: { query: AwsMySQLPool['query'] }, sql: string): Promise<boolean> {
  const [rows] = await q.query<RowDataPacket[]>(sql);
  return Number(rows[0].ro) === 1;
}

test('mysql: hinted, read-only transactions, SELECTs by mode; writes, locks, LAST_INSERT_ID and the window on the writer', async () => {
  const off = myPool('off');
  await off.query('CREATE TABLE IF NOT EXISTS m (id int AUTO_INCREMENT PRIMARY KEY, v int)');
  await off.query('INSERT INTO m (v) VALUES (1)');
  assert.is(await myOnReader(off, `/* aws:reader */ SELECT ${MY_RO}`), false, 'off');

  const explicit = myPool('explicit');
  assert.is(await myOnReader(explicit, `/* aws:reader */ SELECT ${MY_RO}`), true, 'hinted');
  assert.is(await myOnReader(explicit, `SELECT ${MY_RO}`), false, 'plain SELECT in explicit mode');
  const c = await explicit.getConnection();
  try {
    await c.query('START TRANSACTION READ ONLY');
    const [a] = await c.query<RowDataPacket[]>(`SELECT ${MY_RO}, CONNECTION_ID() AS conn`);
    const [b] = await c.query<RowDataPacket[]>(`SELECT ${MY_RO}, CONNECTION_ID() AS conn FROM m LIMIT 1`);
    assert.is(Number(a[0].ro), 1, 'read-only transaction on a reader');
    assert.is(b[0].conn, a[0].conn, 'on one connection');
    await c.query('COMMIT');
    // Kysely's MysqlDialect: SET TRANSACTION … READ ONLY, then begin.
    await c.query('set transaction read only');
    await c.query('begin');
    const [k] = await c.query<RowDataPacket[]>(`SELECT ${MY_RO}, CONNECTION_ID() AS conn`);
    assert.is(Number(k[0].ro), 1, 'SET TRANSACTION READ ONLY + begin on a reader');
    await c.query('commit');
    await c.beginTransaction();
    assert.is(await myOnReader(c, `SELECT ${MY_RO}`), false, 'beginTransaction() on the writer');
    await c.commit();
  } finally {
    c.release();
  }

  const selects = myPool('selects');
  assert.is(await myOnReader(selects, `SELECT ${MY_RO}`), true, 'plain SELECT');
  assert.is(await myOnReader(selects, `SELECT ${MY_RO} FROM m WHERE id = 1 FOR UPDATE`), false, 'FOR UPDATE');
  assert.is(
    await myOnReader(selects, `SELECT ${MY_RO} FROM m WHERE id = 1 LOCK IN SHARE MODE`),
    false,
    'LOCK IN SHARE MODE',
  );
  assert.is(await myOnReader(selects, `SELECT LAST_INSERT_ID() AS i, ${MY_RO}`), false, 'LAST_INSERT_ID');
  assert.is(
    await myOnReader(selects, `SELECT GET_LOCK('k', 1) AS l, RELEASE_LOCK('k') AS r, ${MY_RO}`),
    false,
    'GET_LOCK',
  );

  const sticky = myPool('selects', 60_000);
  assert.is(await myOnReader(sticky, `SELECT ${MY_RO}`), true, 'no write yet');
  await sticky.query('UPDATE m SET v = v + 1 WHERE id = 1');
  assert.is(await myOnReader(sticky, `SELECT ${MY_RO}`), false, 'read-your-writes window');
});

test('mysql callback API: routed as well', async () => {
  const p = myPool('selects');
  const cb = p.pool;
  const ro = await new Promise<number>((resolve, reject) => {
    cb.query(`SELECT ${MY_RO}`, (err: Error | null, rows: RowDataPacket[]) =>
      err ? reject(err) : resolve(Number(rows[0].ro)),
    );
  });
  assert.is(ro, 1);
});

test.run();
