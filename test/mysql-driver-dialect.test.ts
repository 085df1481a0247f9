import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import mysql from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { Mysql2DriverDialect, classifyMysqlError, coreOf } from '../ts/dialects/driver/mysql2.js';
import { HostInfo } from '../ts/host-info.js';
import { AwsWrapperError, FailoverSuccessError, QueryTimeoutError } from '../ts/errors.js';

const HOST = process.env.TEST_MYSQL_HOST!;
const PORT = Number(process.env.TEST_MYSQL_PORT);
const cfg = {
  user: process.env.TEST_MYSQL_USER!,
  password: process.env.TEST_MYSQL_PASSWORD!,
  database: process.env.TEST_MYSQL_DATABASE!,
};
const host = new HostInfo({ host: HOST, port: PORT });
const dialect = new Mysql2DriverDialect();

function raw(extra: Record<string, unknown> = {}): Promise<Connection> {
  return mysql.createConnection({ host: HOST, port: PORT, ...cfg, ...extra });
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

/** Resolves once the server runs a statement on connection `threadId` (polls its process list). */
async function statementRunning(threadId: number, timeoutMs = 10_000): Promise<void> {
  const admin = await raw();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [rows] = await admin.query(
        'SELECT COUNT(*) AS n FROM information_schema.processlist WHERE id = ? AND info IS NOT NULL',
        [threadId],
      );
      if (Number((rows as { n: number }[])[0].n) > 0) return;
      if (Date.now() > deadline)
        throw new Error(`no statement running on connection ${threadId} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await admin.end();
  }
}

/** A TCP proxy in front of MariaDB that can freeze: traffic stops both ways and new connections get no answer. */
async function startProxy(): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    if (frozen) return;
    const upstream = net.connect(PORT, HOST);
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    freeze() {
      frozen = true;
      for (const s of sockets) {
        s.unpipe();
        s.pause();
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('connect applies hostAddressMap and queryRows returns arrays', async () => {
  const conn = await dialect.connect(new HostInfo({ host: 'instance-1.example.com', port: 3306 }), cfg, {
    hostAddressMap: { 'instance-1.example.com:3306': `${HOST}:${PORT}` },
  });
  try {
    assert.equal(await dialect.queryRows(conn, 'SELECT 1 AS a, DATABASE() AS b', 1000), [[1, cfg.database]]);
    assert.is(dialect.isClosed(conn), false);
    assert.ok(dialect.socket(conn) instanceof net.Socket);
  } finally {
    await dialect.end(conn, 1000);
  }
  assert.is(dialect.isClosed(conn), true);
});

test('isInTransaction follows the server status flags', async () => {
  const conn = await dialect.connect(host, cfg);
  try {
    assert.is(dialect.isInTransaction(conn), false);
    dialect.trackResult(conn, (await conn.query('BEGIN'))[0]);
    assert.is(dialect.isInTransaction(conn), true);
    dialect.trackResult(conn, (await conn.query('SELECT 1'))[0]);
    assert.is(dialect.isInTransaction(conn), true);
    dialect.trackResult(conn, (await conn.query('COMMIT'))[0]);
    assert.is(dialect.isInTransaction(conn), false);
    await dialect.applySessionState(conn, { autoCommit: false });
    assert.is(dialect.isInTransaction(conn), false);
    dialect.trackResult(conn, (await conn.query('SELECT 1'))[0]);
    assert.is(dialect.isInTransaction(conn), true, 'autocommit=0: a statement opens a transaction');
    dialect.trackResult(conn, (await conn.query('ROLLBACK'))[0]);
    assert.is(dialect.isInTransaction(conn), false);
  } finally {
    await dialect.end(conn, 1000);
  }
});

test('applySessionState sets autocommit, read-only, isolation level and catalog', async () => {
  const conn = await dialect.connect(host, cfg);
  try {
    await dialect.applySessionState(conn, {
      autoCommit: false,
      readOnly: true,
      isolationLevel: 'READ COMMITTED',
      catalog: 'mysql',
    });
    assert.equal(
      await dialect.queryRows(conn, 'SELECT @@autocommit, @@tx_read_only, @@tx_isolation, DATABASE()', 1000),
      [[0, 1, 'READ-COMMITTED', 'mysql']],
    );
    await dialect.applySessionState(conn, {
      autoCommit: true,
      readOnly: false,
      isolationLevel: 'SERIALIZABLE',
      catalog: cfg.database,
    });
    assert.equal(
      await dialect.queryRows(conn, 'SELECT @@autocommit, @@tx_read_only, @@tx_isolation, DATABASE()', 1000),
      [[1, 0, 'SERIALIZABLE', cfg.database]],
    );
    const bad = await rejection(dialect.applySessionState(conn, { isolationLevel: 'CHAOS' as never }));
    assert.match(bad.message, /isolationLevel must be one of/);
  } finally {
    await dialect.end(conn, 1000);
  }
});

test('queryRows past its bound is cancelled with KILL QUERY and the connection stays usable', async () => {
  const conn = await dialect.connect(host, cfg);
  try {
    const started = Date.now();
    const err = await rejection(dialect.queryRows(conn, 'SELECT SLEEP(10)', 300));
    assert.instance(err, QueryTimeoutError);
    assert.is(err.code, 'HYT00');
    assert.is((err.cause as { errno?: number }).errno, 1317);
    assert.ok(Date.now() - started < 5000, 'cancelled well before SLEEP(10) ends');
    assert.is(classifyMysqlError(err), undefined, 'a slow but answering host is not a network failure');
    assert.equal(await dialect.queryRows(conn, 'SELECT 2', 1000), [[2]]);
  } finally {
    await dialect.end(conn, 1000);
  }
});

test('cancel() interrupts the running statement with 1317', async () => {
  const conn = await dialect.connect(host, cfg);
  try {
    const pending = rejection(conn.query('SELECT SLEEP(10)'));
    await statementRunning(coreOf(conn).threadId!); // a KILL QUERY before it starts would cancel nothing
    await dialect.cancel(conn);
    const err = await pending;
    assert.is(err.errno, 1317);
    assert.equal((await conn.query({ sql: 'SELECT 3', rowsAsArray: true }))[0], [[3]]);
  } finally {
    await dialect.end(conn, 1000);
  }
});

test('abort during SLEEP(30) rejects at once with the given error, without crashing', async () => {
  const conn = await dialect.connect(host, cfg);
  const pending = rejection(conn.query('SELECT SLEEP(30)'));
  await statementRunning(coreOf(conn).threadId!);
  const given = new FailoverSuccessError();
  const started = Date.now();
  dialect.abort(conn, given);
  const err = await pending;
  assert.is(err, given);
  assert.ok(Date.now() - started < 5000, 'long before SLEEP(30) ends');
  assert.is(dialect.isClosed(conn), true);
  await dialect.end(conn, 500);
});

test('abort of an idle connection does not crash the process', async () => {
  const conn = await dialect.connect(host, cfg);
  const given = new Error('monitor says the host is dead');
  dialect.abort(conn, given);
  await new Promise((r) => setImmediate(r));
  assert.is(dialect.isClosed(conn), true);
  assert.is(dialect.lastError(conn), given);
  const next = await rejection(conn.query('SELECT 1'));
  assert.is(classifyMysqlError(next), 'network');
});

test('connectTimeout against a black-hole listener fails within the bound', async () => {
  const held: net.Socket[] = [];
  const blackHole = net.createServer((s) => held.push(s));
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const port = (blackHole.address() as net.AddressInfo).port;
  try {
    const started = Date.now();
    const err = await rejection(
      dialect.connect(new HostInfo({ host: '127.0.0.1', port }), cfg, { connectTimeout: 300 }),
    );
    assert.is(err.code, 'ETIMEDOUT');
    assert.ok(Date.now() - started < 3000);
    assert.is(classifyMysqlError(err), 'network');
  } finally {
    for (const s of held) s.destroy();
    blackHole.close();
  }
});

function keepaliveTimer(localPort: number): string {
  return execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${localPort} )`], { encoding: 'utf8' });
}

test('TCP keepalive options reach the socket', async () => {
  const on = await dialect.connect(host, cfg, { tcpKeepalive: true, tcpKeepaliveTime: 60000 });
  const off = await dialect.connect(host, cfg, { tcpKeepalive: false });
  try {
    const onLine = keepaliveTimer(dialect.socket(on)!.localPort!);
    // ss prints the time left before the first probe, e.g. `timer:(keepalive,59sec,0)`.
    const m = /timer:\(keepalive,(\d+)sec/.exec(onLine);
    assert.ok(m, `keepalive timer on the socket: ${onLine}`);
    const secs = Number(m[1]);
    assert.ok(secs > 50 && secs <= 60, `keepalive idle ~60 s, got ${secs}`);
    assert.not.match(keepaliveTimer(dialect.socket(off)!.localPort!), /keepalive/);
  } finally {
    await dialect.end(on, 1000);
    await dialect.end(off, 1000);
  }
});

test('end() never waits on a dead host beyond its bound', async () => {
  const proxy = await startProxy();
  try {
    const conn = await dialect.connect(new HostInfo({ host: '127.0.0.1', port: proxy.port }), cfg);
    proxy.freeze();
    const started = Date.now();
    await dialect.end(conn, 300);
    assert.ok(Date.now() - started < 2000);
    assert.is(dialect.isClosed(conn), true);
  } finally {
    await proxy.close();
  }
});

test('socketTimeout on a host that stopped answering aborts with a network-class error', async () => {
  const proxy = await startProxy();
  try {
    const conn = await dialect.connect(new HostInfo({ host: '127.0.0.1', port: proxy.port }), cfg, {
      connectTimeout: 400,
    });
    proxy.freeze();
    const started = Date.now();
    const err = await rejection(dialect.runBounded(conn, () => conn.query('SELECT 1'), 300));
    assert.instance(err, AwsWrapperError);
    assert.is(err.code, '08S01');
    assert.is(classifyMysqlError(err), 'network');
    assert.ok(Date.now() - started < 3000);
    assert.is(dialect.isClosed(conn), true);
  } finally {
    await proxy.close();
  }
});

test('classification: killed connection is network (idle and during a statement)', async () => {
  const admin = await raw();
  const idle = await dialect.connect(host, cfg);
  const busy = await dialect.connect(host, cfg);
  try {
    await admin.query(`KILL ${coreOf(idle).threadId}`);
    const idleErr = await rejection(idle.query('SELECT 1'));
    assert.is(classifyMysqlError(idleErr), 'network', `idle: ${String(idleErr.code)}`);

    const pending = rejection(busy.query('SELECT SLEEP(10)'));
    await statementRunning(coreOf(busy).threadId!);
    await admin.query(`KILL ${coreOf(busy).threadId}`);
    const busyErr = await pending;
    assert.is(classifyMysqlError(busyErr), 'network', `busy: ${String(busyErr.code)}`);
  } finally {
    await admin.end();
    await dialect.end(idle, 500);
    await dialect.end(busy, 500);
  }
});

test('classification: login, read-only, refused, ordinary SQL errors', async () => {
  const denied = await rejection(dialect.connect(host, { ...cfg, password: 'wrong-password' }));
  assert.is(denied.errno, 1045);
  assert.is(classifyMysqlError(denied), 'login');
  assert.not.match(denied.message, 'wrong-password');

  const closedPort = net.createServer();
  await new Promise<void>((resolve) => closedPort.listen(0, '127.0.0.1', resolve));
  const port = (closedPort.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closedPort.close(() => resolve()));
  const refused = await rejection(dialect.connect(new HostInfo({ host: '127.0.0.1', port }), cfg));
  assert.is(refused.code, 'ECONNREFUSED');
  assert.is(classifyMysqlError(refused), 'network');

  const conn = await dialect.connect(host, cfg);
  try {
    const syntax = await rejection(conn.query('SELEKT 1'));
    assert.is(classifyMysqlError(syntax), undefined);
    await conn.query('CREATE TABLE IF NOT EXISTS dialect_ro (id INT PRIMARY KEY)');
    await dialect.applySessionState(conn, { readOnly: true });
    const inRoTx = await rejection(conn.query('INSERT INTO dialect_ro VALUES (1)'));
    assert.is(inRoTx.errno, 1792);
    assert.is(classifyMysqlError(inRoTx), 'read-only');
  } finally {
    await dialect.end(conn, 1000);
  }
  assert.is(classifyMysqlError(new QueryTimeoutError('slow')), undefined);
  assert.is(classifyMysqlError(new FailoverSuccessError()), undefined);
  assert.is(classifyMysqlError(undefined), undefined);
});

test('classification: 1290 under SET GLOBAL read_only=1 is read-only', async () => {
  const admin = await raw({ multipleStatements: true });
  await admin.query(
    "CREATE TABLE IF NOT EXISTS ro_target (id INT PRIMARY KEY); DROP USER IF EXISTS 'ro_probe'@'%'; CREATE USER 'ro_probe'@'%' IDENTIFIED BY 'ro-pass';" +
      `GRANT SELECT, INSERT ON ${cfg.database}.* TO 'ro_probe'@'%'`,
  );
  const limited = await dialect.connect(host, { ...cfg, user: 'ro_probe', password: 'ro-pass' });
  try {
    await admin.query('SET GLOBAL read_only=1');
    const err = await rejection(limited.query('INSERT INTO ro_target VALUES (1)'));
    assert.is(err.errno, 1290);
    assert.is(classifyMysqlError(err), 'read-only');
  } finally {
    await admin.query('SET GLOBAL read_only=0');
    await dialect.end(limited, 1000);
    await admin.query("DROP USER IF EXISTS 'ro_probe'@'%'");
    await admin.end();
  }
});

test.run();
