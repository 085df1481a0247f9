import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import pg from 'pg';
import { HostInfo } from '../ts/host-info.js';
import { AwsWrapperError, QueryTimeoutError, UnsupportedOperationError } from '../ts/errors.js';
import { PgDriverDialect, classifyPgError } from '../ts/dialects/driver/pg.js';

const PG_HOST = process.env.TEST_PG_HOST!;
const PG_PORT = Number(process.env.TEST_PG_PORT);
const driverConfig = {
  user: process.env.TEST_PG_USER,
  password: process.env.TEST_PG_PASSWORD,
  database: process.env.TEST_PG_DATABASE,
};
const pgHost = new HostInfo({ host: PG_HOST, port: PG_PORT });

function rawClient(): pg.Client {
  return new pg.Client({ ...driverConfig, host: PG_HOST, port: PG_PORT });
}

/** Resolves with the rejection of `p` (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Forwards to the real server until hang(): then accepts connections but moves no byte (a black-holed host). */
class HangableProxy {
  private readonly server = net.createServer((client) => this.accept(client));
  private readonly sockets = new Set<net.Socket>();
  private hung = false;
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    this.sockets.add(client);
    client.on('error', () => undefined);
    client.on('close', () => this.sockets.delete(client));
    if (this.hung) return;
    const upstream = net.connect(PG_PORT, PG_HOST);
    this.sockets.add(upstream);
    upstream.on('error', () => undefined);
    upstream.on('close', () => this.sockets.delete(upstream));
    client.on('data', (d) => {
      if (!this.hung) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!this.hung) client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  hang(): void {
    this.hung = true;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---- pure configuration --------------------------------------------------------------------------------------

test('clientConfig: host/port from HostInfo, connectionString folded in, timeouts and keepalive mapped', () => {
  const d = new PgDriverDialect();
  const c = d.clientConfig(
    new HostInfo({ host: 'db.example', port: 6543 }),
    { connectionString: 'postgres://u:pw@ignored:1/dbx?application_name=app', ssl: false },
    {
      connectTimeout: 1500,
      tcpKeepaliveTime: 7000,
      hostAddressMap: { 'db.example:6543': '127.0.0.1:7777' },
    },
  ) as Record<string, unknown>;
  assert.is(c.host, '127.0.0.1');
  assert.is(c.port, 7777);
  assert.is(c.user, 'u');
  assert.is(c.database, 'dbx');
  assert.is(c.application_name, 'app');
  assert.is(c.connectionString, undefined);
  assert.is(c.connectionTimeoutMillis, 1500);
  assert.is(c.keepAlive, true);
  assert.is(c.keepAliveInitialDelayMillis, 7000);

  // The user's own pg keys win; no port on the HostInfo keeps the configured one.
  const own = d.clientConfig(
    new HostInfo({ host: 'h' }),
    { port: 6000, connectionTimeoutMillis: 100, keepAlive: false },
    { connectTimeout: 5000, tcpKeepalive: true },
  ) as Record<string, unknown>;
  assert.is(own.port, 6000);
  assert.is(own.connectionTimeoutMillis, 100);
  assert.is(own.keepAlive, false);
});

// ---- connections on the real server ---------------------------------------------------------------------------

test('connect through hostAddressMap, queryRows returns arrays, socket is the live one', async () => {
  const d = new PgDriverDialect();
  const conn = await d.connect(new HostInfo({ host: 'instance-1.example.invalid', port: 5432 }), driverConfig, {
    hostAddressMap: { 'instance-1.example.invalid': `${PG_HOST}:${PG_PORT}` },
  });
  try {
    assert.equal(await d.queryRows(conn, "SELECT 1, 'two'", 2000), [[1, 'two']]);
    assert.is(d.socket(conn)?.remotePort, PG_PORT);
    assert.is(d.isClosed(conn), false);
  } finally {
    await d.end(conn, 2000);
  }
  assert.is(d.isClosed(conn), true);
});

test('isInTransaction follows ReadyForQuery: BEGIN, failed statement, ROLLBACK', async () => {
  const d = new PgDriverDialect();
  const conn = await d.connect(pgHost, driverConfig);
  try {
    assert.is(d.isInTransaction(conn), false);
    await conn.query('BEGIN');
    assert.is(d.isInTransaction(conn), true);
    await rejection(conn.query('SELECT 1/0'));
    assert.is(d.isInTransaction(conn), true, 'a failed transaction is still open');
    await conn.query('ROLLBACK');
    assert.is(d.isInTransaction(conn), false);
  } finally {
    await d.end(conn, 2000);
  }
});

test('a timed-out statement is cancelled (QueryTimeoutError, cause 57014) and the connection stays usable', async () => {
  const d = new PgDriverDialect();
  const conn = await d.connect(pgHost, driverConfig);
  try {
    const started = Date.now();
    const err = await rejection(d.queryRows(conn, 'SELECT pg_sleep(10)', 300));
    assert.instance(err, QueryTimeoutError);
    assert.instance(err.cause, pg.DatabaseError);
    assert.is((err.cause as pg.DatabaseError).code, '57014');
    assert.ok(Date.now() - started < 5000, 'cancelled long before pg_sleep(10) ends');
    assert.is(d.classifyError(err), undefined, 'a slow host that answers is not a network failure');
    assert.is(d.isClosed(conn), false);
    assert.equal(await d.queryRows(conn, 'SELECT 42', 2000), [[42]]);
  } finally {
    await d.end(conn, 2000);
  }
});

test('cancel() stops the running statement with 57014 and keeps the connection', async () => {
  const d = new PgDriverDialect();
  const conn = await d.connect(pgHost, driverConfig);
  try {
    const running = rejection(conn.query('SELECT pg_sleep(10)'));
    // The cancel must arrive while the statement runs: wait until the server reports it active.
    const observer = rawClient();
    await observer.connect();
    const pid = (conn as unknown as { processID: number }).processID;
    while (
      (await observer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [pid])).rowCount === 0
    );
    await observer.end();
    await d.cancel(conn);
    const err = await running;
    assert.instance(err, pg.DatabaseError);
    assert.is((err as pg.DatabaseError).code, '57014');
    assert.equal(await d.queryRows(conn, 'SELECT 1', 2000), [[1]]);
  } finally {
    await d.end(conn, 2000);
  }
});

test('dead host: cancel unanswered → connection aborted with a network-class error', async () => {
  const proxy = new HangableProxy();
  await proxy.start();
  const d = new PgDriverDialect();
  const conn = await d.connect(new HostInfo({ host: '127.0.0.1', port: proxy.port }), driverConfig, {
    connectTimeout: 400,
  });
  try {
    assert.equal(await d.queryRows(conn, 'SELECT 1', 2000), [[1]]);
    proxy.hang();
    const started = Date.now();
    const err = await rejection(d.queryRows(conn, 'SELECT 1', 300));
    assert.instance(err, AwsWrapperError);
    assert.not.instance(err, QueryTimeoutError);
    assert.is((err as AwsWrapperError).code, '08S01');
    assert.is(d.classifyError(err), 'network');
    assert.ok(Date.now() - started < 4000, 'aborted within the bounds (timeout + cancel bound)');
    assert.is(d.isClosed(conn), true);
  } finally {
    await d.end(conn, 500);
    await proxy.stop();
  }
});

test('end() on a black-holed connection returns within its bound', async () => {
  const proxy = new HangableProxy();
  await proxy.start();
  const d = new PgDriverDialect();
  const conn = await d.connect(new HostInfo({ host: '127.0.0.1', port: proxy.port }), driverConfig);
  proxy.hang();
  const started = Date.now();
  await d.end(conn, 300);
  assert.ok(Date.now() - started < 3000);
  assert.is(d.isClosed(conn), true);
  assert.is(d.socket(conn)?.destroyed, true);
  await proxy.stop();
});

test('abort from outside during pg_sleep(30) rejects promptly with the given error, no crash', async () => {
  const d = new PgDriverDialect();
  const conn = await d.connect(pgHost, driverConfig);
  const reason = Object.assign(new Error('host is down (test)'), { code: 'TEST_ABORT' });
  const running = rejection(conn.query('SELECT pg_sleep(30)'));
  setTimeout(() => d.abort(conn, reason), 200);
  const started = Date.now();
  const err = await running;
  assert.is(err, reason, 'the pending query rejects with the abort error itself');
  assert.ok(Date.now() - started < 5000);
  assert.is(d.isClosed(conn), true);
  // pg emits two 'error' events after the abort; the dialect's listener keeps them from crashing the process.
  await new Promise((resolve) => conn.once('end', resolve));
  const after = await rejection(d.query(conn, 'SELECT 1', undefined, 0));
  assert.is(d.classifyError(after), 'network', "pg's code-less 'not queryable' error on a dead connection");
  await d.end(conn, 500);
});

test('pg_terminate_backend during a statement: 57P01 is network; idle termination does not crash', async () => {
  const d = new PgDriverDialect();
  const killer = rawClient();
  await killer.connect();
  try {
    const conn = await d.connect(pgHost, driverConfig);
    const pid = (conn as unknown as { processID: number }).processID;
    const running = rejection(conn.query('SELECT pg_sleep(30)'));
    while (
      (await killer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [pid])).rowCount === 0
    );
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await running;
    assert.instance(err, pg.DatabaseError);
    assert.is((err as pg.DatabaseError).code, '57P01');
    assert.is(d.classifyError(err), 'network');

    // Idle connection killed: pg emits 'error' with no query to reject; the permanent listener absorbs it.
    const idle = await d.connect(pgHost, driverConfig);
    const ended = new Promise((resolve) => idle.once('end', resolve));
    await killer.query('SELECT pg_terminate_backend($1)', [(idle as unknown as { processID: number }).processID]);
    await ended;
    assert.is(d.isClosed(idle), true);
    const next = await rejection(d.query(idle, 'SELECT 1', undefined, 0));
    assert.is(d.classifyError(next), 'network');
  } finally {
    await killer.end();
  }
});

test('connectTimeout against a black-hole listener fails within the bound, classified network', async () => {
  const held: net.Socket[] = [];
  const blackHole = net.createServer((s) => held.push(s));
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const port = (blackHole.address() as net.AddressInfo).port;
  const d = new PgDriverDialect();
  const started = Date.now();
  const err = await rejection(
    d.connect(new HostInfo({ host: '127.0.0.1', port }), driverConfig, { connectTimeout: 300 }),
  );
  assert.ok(Date.now() - started < 3000, `failed after ${Date.now() - started} ms`);
  assert.is(d.classifyError(err), 'network');
  for (const s of held) s.destroy();
  await new Promise((resolve) => blackHole.close(resolve));
});

test('login and refused errors are classified by SQLSTATE and errno', async () => {
  const d = new PgDriverDialect();
  const login = await rejection(d.connect(pgHost, { ...driverConfig, password: 'wrong-password' }));
  assert.instance(login, pg.DatabaseError);
  assert.is(d.classifyError(login), 'login');

  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const refused = await rejection(d.connect(new HostInfo({ host: '127.0.0.1', port }), driverConfig));
  assert.is((refused as { code?: string }).code, 'ECONNREFUSED');
  assert.is(d.classifyError(refused), 'network');
});

test('keepalive options are applied to the driver socket', async () => {
  const d = new PgDriverDialect();
  const withKa = await d.connect(pgHost, driverConfig, { tcpKeepalive: true, tcpKeepaliveTime: 7000 });
  const without = await d.connect(pgHost, driverConfig, { tcpKeepalive: false });
  try {
    const timerOf = (conn: pg.Client) => {
      const port = d.socket(conn)!.localPort;
      return execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
    };
    assert.match(timerOf(withKa), /timer:\(keepalive,[0-9.]+(ms|sec)/);
    assert.not.match(timerOf(without), /keepalive/);
  } finally {
    await d.end(withKa, 2000);
    await d.end(without, 2000);
  }
});

test('applySessionState: read-only, isolation level, search_path; autocommit off and catalog unsupported', async () => {
  const d = new PgDriverDialect();
  const conn = await d.connect(pgHost, driverConfig);
  try {
    await d.applySessionState(conn, { readOnly: true, isolationLevel: 'SERIALIZABLE', schema: 'Some Schema' });
    assert.equal(await d.queryRows(conn, 'SHOW transaction_read_only', 2000), [['on']]);
    assert.equal(await d.queryRows(conn, 'SHOW default_transaction_isolation', 2000), [['serializable']]);
    assert.equal(await d.queryRows(conn, 'SHOW search_path', 2000), [['"Some Schema"']]);
    const ro = await rejection(conn.query('CREATE TEMP TABLE t_ro (x int)'));
    assert.is((ro as pg.DatabaseError).code, '25006');
    assert.is(d.classifyError(ro), 'read-only');
    await d.applySessionState(conn, { readOnly: false, autoCommit: true });
    assert.equal(await d.queryRows(conn, 'SHOW transaction_read_only', 2000), [['off']]);
    assert.instance(await rejection(d.applySessionState(conn, { autoCommit: false })), UnsupportedOperationError);
    assert.instance(await rejection(d.applySessionState(conn, { catalog: 'other' })), UnsupportedOperationError);
  } finally {
    await d.end(conn, 2000);
  }
});

test('classification table: SQLSTATE classes and exact codes, errno codes, wrapper errors', () => {
  const dbError = (code: string) =>
    Object.assign(new pg.DatabaseError('server error', 0, 'error'), { code, severity: 'ERROR' });
  const expect: Array<[string, string | undefined]> = [
    ['08000', 'network'],
    ['08001', 'network'],
    ['08006', 'network'],
    ['08P01', 'network'],
    ['53300', 'network'],
    ['53100', 'network'],
    ['57P01', 'network'],
    ['57P02', 'network'],
    ['57P03', 'network'],
    ['58030', 'network'],
    ['F0000', 'network'],
    ['XX000', 'network'],
    ['XX001', 'network'],
    ['28000', 'login'],
    ['28P01', 'login'],
    ['25006', 'read-only'],
    ['57014', undefined],
    ['57P04', undefined],
    ['23505', undefined],
    ['42P01', undefined],
    ['40001', undefined],
    ['25P02', undefined],
  ];
  for (const [code, kind] of expect) assert.is(classifyPgError(dbError(code)), kind, code);

  const errno = (code: string) => Object.assign(new Error('socket'), { code });
  for (const code of [
    'ECONNRESET',
    'ECONNREFUSED',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ENOTFOUND',
    'ECONNABORTED',
  ]) {
    assert.is(classifyPgError(errno(code)), 'network', code);
  }
  assert.is(classifyPgError(errno('EACCES')), undefined);
  assert.is(classifyPgError(new AggregateError([errno('ECONNREFUSED'), errno('ECONNREFUSED')])), 'network');
  assert.is(classifyPgError(new Error('Connection terminated unexpectedly')), undefined, 'never by message text');
  assert.is(classifyPgError(new QueryTimeoutError('slow', { cause: dbError('57014') })), undefined);
  assert.is(classifyPgError(new AwsWrapperError('aborted', { code: '08S01' })), 'network');
  assert.is(classifyPgError(new AwsWrapperError('wrapped', { cause: errno('ECONNRESET') })), 'network');
  assert.is(classifyPgError('not an error'), undefined);
});

test.run();
