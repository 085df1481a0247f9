import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import type { Connection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { AwsMySQLClient } from '../ts/mysql.js';
import { createConnection } from '../ts/mysql-promise.js';
import { AwsMySQLClient as FromEntry } from '../ts/mysql.js';
import net from 'node:net';
import { AwsWrapperError, QueryTimeoutError } from '../ts/errors.js';
import { WrapperServices } from '../ts/services.js';
import { MY as cfg } from './support/test-servers.js';

const services = new WrapperServices();

function client(extra: Record<string, unknown> = {}): Promise<AwsMySQLClient> {
  return AwsMySQLClient.createConnection({ ...cfg, plugins: [], ...extra }, { services });
}

async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new assert.Assertion({
    message: 'expected a rejection',
    expects: 'rejection',
    actual: 'fulfilled',
    operator: 'rejects',
  });
}

let rawConn: Connection;

test.before(async () => {
  rawConn = await mysql.createConnection(cfg);
  await rawConn.query('CREATE TABLE IF NOT EXISTS crud (id INT PRIMARY KEY, name VARCHAR(40), n INT)');
  await rawConn.query('DELETE FROM crud');
});

test.after(async () => {
  await rawConn.end();
  await services.close();
});

test('exports: subpath, createConnection, index', async () => {
  assert.is(FromEntry, AwsMySQLClient);
  const c = await createConnection({ ...cfg, plugins: [] }, { services });
  assert.instance(c, AwsMySQLClient);
  assert.type(c.threadId, 'number');
  await c.end();
  const d = new AwsMySQLClient({ ...cfg, plugins: [] }, { services });
  assert.is(d.threadId, null);
  await d.connect();
  assert.equal((await d.query({ sql: 'SELECT 1', rowsAsArray: true }))[0], [[1]]);
  await d.end();
});

test('CRUD returns the same [rows, fields] as raw mysql2 in every argument form', async () => {
  const c = await client();
  try {
    const [ins] = await c.query<ResultSetHeader>('INSERT INTO crud VALUES (?, ?, ?), (?, ?, ?)', [
      1,
      'one',
      10,
      2,
      'two',
      20,
    ]);
    assert.is(ins.affectedRows, 2);
    const [upd] = await c.execute<ResultSetHeader>('UPDATE crud SET n = n + ? WHERE id = ?', [5, 2]);
    assert.is(upd.affectedRows, 1);

    const forms: [
      (
        | string
        | { sql: string; values?: unknown[]; rowsAsArray?: boolean; nestTables?: boolean | string; timeout?: number }
      ),
      unknown[]?,
    ][] = [
      ['SELECT * FROM crud ORDER BY id'],
      ['SELECT * FROM crud WHERE id = ?', [2]],
      [{ sql: 'SELECT * FROM crud WHERE id = ?', values: [1] }],
      [{ sql: 'SELECT id, name FROM crud ORDER BY id', rowsAsArray: true }],
      [{ sql: 'SELECT * FROM crud ORDER BY id', nestTables: true }],
      [{ sql: 'SELECT * FROM crud ORDER BY id', nestTables: '_' }],
      [{ sql: 'SELECT id FROM crud WHERE id = ?', timeout: 5000 }, [1]],
    ];
    for (const [sql, values] of forms) {
      const [rows, fields] = await c.query(sql as string, values);
      const [rawRows, rawFields] = await rawConn.query(sql as string, values);
      assert.equal(rows, rawRows, JSON.stringify(sql));
      assert.equal(
        fields.map((f) => f.name),
        rawFields.map((f) => f.name),
      );
      const [xrows] = await c.execute(sql as string, values as never);
      const [rawXrows] = await rawConn.execute(sql as string, values as never);
      assert.equal(xrows, rawXrows, `execute ${JSON.stringify(sql)}`);
    }
    const [del] = await c.query<ResultSetHeader>('DELETE FROM crud WHERE id IN (?)', [[1, 2]]);
    assert.is(del.affectedRows, 2);
  } finally {
    await c.end();
  }
});

test('prepare: execute, re-execute, close', async () => {
  const c = await client();
  try {
    const stmt = await c.prepare('SELECT ? + ? AS s');
    assert.equal((await stmt.execute([1, 2]))[0], [{ s: 3 }]);
    assert.equal((await stmt.execute([10, 20]))[0], [{ s: 30 }]);
    assert.type(stmt.statement, 'object');
    await stmt.close();
    const opts = await c.prepare({ sql: 'SELECT ? AS v', rowsAsArray: true });
    const rawStmt = await rawConn.prepare({ sql: 'SELECT ? AS v', rowsAsArray: true });
    assert.equal((await opts.execute(['x']))[0], (await rawStmt.execute(['x']))[0]);
    await opts.close();
    await rawStmt.close();
  } finally {
    await c.end();
  }
});

test('transactions: rollback discards, commit keeps, in-transaction state is tracked', async () => {
  const c = await client();
  const inTx = () => c.core.driverDialect.isInTransaction(c.core.connection);
  try {
    await c.beginTransaction();
    assert.is(inTx(), true);
    await c.query('INSERT INTO crud VALUES (10, ?, 0)', ['rolled back']);
    await c.rollback();
    assert.is(inTx(), false);
    await c.beginTransaction();
    await c.execute('INSERT INTO crud VALUES (11, ?, 0)', ['committed']);
    await c.commit();
    assert.is(inTx(), false);
    const [rows] = await rawConn.query<RowDataPacket[]>('SELECT id FROM crud WHERE id IN (10, 11)');
    assert.equal(
      rows.map((r) => r.id),
      [11],
    );
    await c.query('START TRANSACTION');
    assert.is(inTx(), true, 'SQL-level BEGIN is seen through the OK packet status');
    await c.query('COMMIT');
    assert.is(inTx(), false);
  } finally {
    await c.query('DELETE FROM crud WHERE id IN (10, 11)');
    await c.end();
  }
});

function errorShape(e: Error & Record<string, unknown>) {
  return {
    ctor: e.constructor,
    name: e.name,
    message: e.message,
    code: e.code,
    errno: e.errno,
    sqlState: e.sqlState,
    sqlMessage: e.sqlMessage,
    fatal: e.fatal,
  };
}

test('driver errors reach the user unchanged (class, code, errno, sqlState, sqlMessage)', async () => {
  const c = await client();
  try {
    await rawConn.query('INSERT INTO crud VALUES (20, "dup", 0)');
    const cases: [string, unknown[]?][] = [
      ['INSERT INTO crud VALUES (20, "dup", 0)'],
      ['SELEKT 1'],
      ['SELECT * FROM no_such_table'],
      ['SELECT ?', []],
    ];
    for (const [sql, values] of cases) {
      const mine = await rejection(c.query(sql, values));
      const theirs = await rejection(rawConn.query(sql, values));
      assert.equal(errorShape(mine), errorShape(theirs), sql);
      const mineX = await rejection(c.execute(sql, values as never));
      const theirsX = await rejection(rawConn.execute(sql, values as never));
      assert.equal(errorShape(mineX), errorShape(theirsX), `execute ${sql}`);
    }
    const dup = await rejection(c.query('INSERT INTO crud VALUES (20, "dup", 0)'));
    assert.is(dup.code, 'ER_DUP_ENTRY');
    assert.is(dup.errno, 1062);
    assert.is(dup.sqlState, '23000');
    const badPrepare = await rejection(c.prepare('SELEKT ?'));
    assert.is(badPrepare.errno, 1064);
    assert.equal((await c.query({ sql: 'SELECT 1', rowsAsArray: true }))[0], [[1]], 'still usable');
  } finally {
    await c.query('DELETE FROM crud WHERE id = 20');
    await c.end();
  }
});

test('socketTimeout cancels a slow statement with KILL QUERY; the connection stays usable', async () => {
  const c = await client({ socketTimeout: 300 });
  try {
    const started = Date.now();
    const err = await rejection(c.query('SELECT SLEEP(10)'));
    assert.instance(err, QueryTimeoutError);
    assert.is((err.cause as { errno?: number }).errno, 1317);
    assert.ok(Date.now() - started < 5000);
    assert.equal((await c.query({ sql: 'SELECT 5', rowsAsArray: true }))[0], [[5]]);
    assert.equal((await c.query({ sql: 'SELECT SLEEP(0.01) AS s' }))[0], [{ s: 0 }], 'fast statements are untouched');
  } finally {
    await c.end();
  }
});

test('ping, changeUser, threadId, config, state', async () => {
  await rawConn.query("DROP USER IF EXISTS 'other_user'@'%'");
  await rawConn.query("CREATE USER 'other_user'@'%' IDENTIFIED BY 'other-pass'");
  await rawConn.query(`GRANT SELECT ON ${cfg.database}.* TO 'other_user'@'%'`);
  const c = await client();
  try {
    await c.ping();
    assert.is(c.state, 'authenticated');
    assert.is(c.config.user, cfg.user);
    const [[row]] = await c.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
    assert.is(row.id, c.threadId);
    await c.changeUser({ user: 'other_user', password: 'other-pass' });
    const [[who]] = await c.query<RowDataPacket[]>('SELECT CURRENT_USER() AS u');
    assert.is(who.u, 'other_user@%');
    const denied = await rejection(c.changeUser({ user: 'other_user', password: 'wrong' }));
    assert.is(denied.errno, 1045);
  } finally {
    await c.end();
    await rawConn.query("DROP USER IF EXISTS 'other_user'@'%'");
  }
});

test('escape, escapeId and format are synchronous and match mysql2, before and after connecting', async () => {
  const c = new AwsMySQLClient({ ...cfg, plugins: [] }, { services });
  const check = () => {
    assert.is(c.escape("it's"), mysql.escape("it's"));
    assert.is(c.escape(null), 'NULL');
    assert.is(c.escapeId('a.b'), mysql.escapeId('a.b'));
    assert.is(c.format('SELECT ?, ??', ['x', 'col']), mysql.format('SELECT ?, ??', ['x', 'col']));
    assert.is(
      c.format('SELECT ?', [new Date(Date.UTC(2020, 0, 2, 3, 4, 5))]),
      rawConn.format('SELECT ?', [new Date(Date.UTC(2020, 0, 2, 3, 4, 5))]),
    );
  };
  check();
  await c.connect();
  check();
  await c.end();
});

test('setReadOnly / isReadOnly / getCurrentHost / setAutoCommit / setCatalog / setTransactionIsolation', async () => {
  const c = await client();
  try {
    assert.is(c.isReadOnly(), false);
    await c.setReadOnly(true);
    assert.is(c.isReadOnly(), true);
    assert.equal((await c.query({ sql: 'SELECT @@tx_read_only', rowsAsArray: true }))[0], [[1]]);
    await c.setReadOnly(false);
    assert.equal((await c.query({ sql: 'SELECT @@tx_read_only', rowsAsArray: true }))[0], [[0]]);
    await c.setAutoCommit(false);
    await c.setTransactionIsolation('READ COMMITTED');
    await c.setCatalog('mysql');
    assert.equal((await c.query({ sql: 'SELECT @@autocommit, @@tx_isolation, DATABASE()', rowsAsArray: true }))[0], [
      [0, 'READ-COMMITTED', 'mysql'],
    ]);
    const host = c.getCurrentHost();
    assert.is(host?.host, cfg.host);
    assert.is(host?.port, cfg.port);
    const bad = await rejection(c.setReadOnly('yes' as never));
    assert.match(bad.message, /setReadOnly expects a boolean/);
  } finally {
    await c.end();
  }
});

test("a killed connection's 'error' reaches client listeners; without listeners nothing crashes", async () => {
  const listened = await client();
  const unlistened = await client();
  try {
    const gotError = new Promise<Error & Record<string, unknown>>((resolve) => listened.once('error', resolve));
    const gotEnd = new Promise<void>((resolve) => listened.once('end', resolve));
    await rawConn.query(`KILL ${listened.threadId}`);
    await rawConn.query(`KILL ${unlistened.threadId}`);
    const err = await gotError;
    await gotEnd;
    assert.is(listened.core.driverDialect.classifyError(err), 'network');
    const next = await rejection(unlistened.query('SELECT 1'));
    assert.is(unlistened.core.driverDialect.classifyError(next), 'network');
  } finally {
    await listened.end();
    await unlistened.end();
  }
});

test('abort from outside during SLEEP(30) rejects the pending query with the given error', async () => {
  const c = await client();
  const [[{ id }]] = await c.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
  const pending = rejection(c.query('SELECT SLEEP(30)'));
  // Aborted while the server runs it (polled from another connection).
  const observer = await mysql.createConnection(cfg);
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [rows] = await observer.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM information_schema.processlist WHERE id = ? AND info IS NOT NULL',
        [id],
      );
      if (Number(rows[0].n) > 0) break;
      assert.ok(Date.now() < deadline, 'SLEEP(30) started within 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await observer.end();
  }
  const given = new Error('aborted by monitor');
  const started = Date.now();
  c.core.driverDialect.abort(c.core.connection, given);
  assert.is(await pending, given);
  assert.ok(Date.now() - started < 5000, 'long before SLEEP(30) ends');
  await c.end();
});

test('hostAddressMap + socketTimeout through the client: a host that stops answering gives a network-class error', async () => {
  // A proxy that can freeze: traffic stops both ways and new connections get no answer.
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const proxy = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    if (frozen) return;
    const up = net.connect(cfg.port, cfg.host);
    sockets.add(up);
    up.on('error', () => s.destroy());
    s.pipe(up);
    up.pipe(s);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as net.AddressInfo).port;
  const c = await client({
    host: 'instance-1.cluster-xyz.us-east-1.rds.invalid',
    port: 3306,
    hostAddressMap: { 'instance-1.cluster-xyz.us-east-1.rds.invalid:3306': `127.0.0.1:${proxyPort}` },
    socketTimeout: 300,
    connectTimeout: 400,
  });
  try {
    assert.equal((await c.query({ sql: 'SELECT 7', rowsAsArray: true }))[0], [[7]]);
    assert.is(c.getCurrentHost()?.host, 'instance-1.cluster-xyz.us-east-1.rds.invalid');
    frozen = true;
    for (const s of sockets) {
      s.unpipe();
      s.pause();
    }
    const err = await rejection(c.query('SELECT 1'));
    assert.instance(err, AwsWrapperError);
    assert.is(err.code, '08S01');
    assert.is(c.core.driverDialect.classifyError(err), 'network');
    assert.is(c.state, 'error');
  } finally {
    await c.end();
    for (const s of sockets) s.destroy();
    proxy.close();
  }
});

test('after a connection switch: events follow the new connection and prepared statements re-prepare', async () => {
  const c = await client();
  try {
    await c.setTransactionIsolation('SERIALIZABLE');
    const stmt = await c.prepare('SELECT ? AS v, CONNECTION_ID() AS id');
    const oldThread = c.threadId;
    const oldConn = c.targetConnection!;
    const newConn = await c.core.driverDialect.connect(c.getCurrentHost()!, cfg);
    await c.core.pluginService.setCurrentConnection(newConn, c.getCurrentHost()!);
    assert.is(c.targetConnection, newConn);
    assert.is.not(c.threadId, oldThread);
    assert.equal((await stmt.execute(['a']))[0], [{ v: 'a', id: c.threadId }]);
    assert.equal((await c.query({ sql: 'SELECT @@tx_isolation', rowsAsArray: true }))[0], [['SERIALIZABLE']]);
    assert.is(oldConn.listenerCount('error'), 0, 'forwarding removed from the old connection');
    const gotError = new Promise<unknown>((resolve) => c.once('error', resolve));
    await rawConn.query(`KILL ${c.threadId}`);
    assert.is(c.core.driverDialect.classifyError(await gotError), 'network');
  } finally {
    await c.end();
  }
});

test('query before connect rejects (no throw), destroy() closes', async () => {
  const c = new AwsMySQLClient({ ...cfg, plugins: [] }, { services });
  const p = c.query('SELECT 1');
  assert.instance(p, Promise);
  await rejection(p);
  await c.connect();
  c.destroy();
  assert.is(c.state, 'disconnected');
  const after = await rejection(c.query('SELECT 1'));
  assert.ok(after instanceof Error);
});

test.run();
