import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { inspect } from 'node:util';
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import Cursor from 'pg-cursor';
import { AwsPGClient } from '../ts/pg.js';
import { AwsPGClient as FromEntry } from '../ts/pg.js';
import { AwsWrapperError, QueryTimeoutError } from '../ts/errors.js';
import { WrapperServices } from '../ts/services.js';

const PG_HOST = process.env.TEST_PG_HOST!;
const PG_PORT = Number(process.env.TEST_PG_PORT);
const config = {
  host: PG_HOST,
  port: PG_PORT,
  user: process.env.TEST_PG_USER,
  password: process.env.TEST_PG_PASSWORD,
  database: process.env.TEST_PG_DATABASE,
};

function client(extra: Record<string, unknown> = {}): AwsPGClient {
  return new AwsPGClient({ ...config, ...extra }, { services: new WrapperServices() });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Waits until the backend `pid` is running a statement (so a cancel or kill lands on it). */
async function untilActive(observer: pg.Client, pid: number): Promise<void> {
  while (
    (await observer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [pid])).rowCount === 0
  );
}

test('exported from the pg subpath and the package index', () => {
  assert.is(FromEntry, AwsPGClient);
});

test('CRUD with text, text+values, QueryConfig, rowMode array; public fields', async () => {
  const c = client();
  await c.connect();
  try {
    assert.is(c.host, PG_HOST);
    assert.is(c.port, PG_PORT);
    assert.is(c.user, config.user);
    assert.is(c.database, config.database);
    assert.is(c.ssl, false);
    const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    assert.is(c.processID, pid);

    await c.query('CREATE TEMP TABLE items (id int PRIMARY KEY, name text)');
    const ins = await c.query('INSERT INTO items VALUES ($1, $2), ($3, $4)', [1, 'one', 2, 'two']);
    assert.is(ins.command, 'INSERT');
    assert.is(ins.rowCount, 2);
    await c.query({ text: 'UPDATE items SET name = $1 WHERE id = $2', values: ['uno', 1] });
    const sel = await c.query<{ id: number; name: string }>('SELECT id, name FROM items ORDER BY id');
    assert.equal(sel.rows, [
      { id: 1, name: 'uno' },
      { id: 2, name: 'two' },
    ]);
    assert.equal(
      sel.fields.map((f) => f.name),
      ['id', 'name'],
    );
    const arr = await c.query({ text: 'SELECT id, name FROM items ORDER BY id', rowMode: 'array' });
    assert.equal(arr.rows, [
      [1, 'uno'],
      [2, 'two'],
    ]);
    const del = await c.query('DELETE FROM items WHERE id = $1', [2]);
    assert.is(del.rowCount, 1);
    const multi = (await c.query('SELECT 1 AS a; SELECT 2 AS b')) as unknown as pg.QueryResult[];
    assert.equal(
      multi.map((r) => r.rows[0]),
      [{ a: 1 }, { b: 2 }],
    );
  } finally {
    await c.end();
  }
});

test('named prepared statements run twice; transactions tracked by getTransactionStatus', async () => {
  const c = client();
  await c.connect();
  try {
    const stmt = { name: 'double-it', text: 'SELECT $1::int * 2 AS v' };
    assert.is((await c.query({ ...stmt, values: [21] })).rows[0].v, 42);
    assert.is((await c.query({ ...stmt, values: [5] })).rows[0].v, 10);
    const prepared = await c.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'double-it'");
    assert.is(prepared.rows[0].n, 1);

    await c.query('CREATE TEMP TABLE tx (v int)');
    assert.is(c.getTransactionStatus(), 'I');
    await c.query('BEGIN');
    assert.is(c.getTransactionStatus(), 'T');
    await c.query('INSERT INTO tx VALUES (1)');
    await c.query('ROLLBACK');
    assert.is((await c.query('SELECT count(*)::int AS n FROM tx')).rows[0].n, 0);
    await c.query('BEGIN');
    await c.query('INSERT INTO tx VALUES (2)');
    await c.query('COMMIT');
    assert.is((await c.query('SELECT count(*)::int AS n FROM tx')).rows[0].n, 1);
    assert.is(c.getTransactionStatus(), 'I');
  } finally {
    await c.end();
  }
});

test('callbacks: connect(cb), query(text, cb), query(text, values, cb), query(config with callback), end(cb)', async () => {
  const c = client();
  await new Promise<void>((resolve, reject) =>
    c.connect((err, self) => (err ? reject(err) : (assert.is(self, c), resolve()))),
  );
  const viaCallback = <T>(run: (cb: (err: Error | null, res?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => run((err, res) => (err ? reject(err) : resolve(res as T))));
  const r1 = await viaCallback<pg.QueryResult>((cb) => c.query('SELECT 1 AS x', cb));
  assert.is(r1.rows[0].x, 1);
  const r2 = await viaCallback<pg.QueryResult>((cb) => c.query('SELECT $1::text AS x', ['hi'], cb));
  assert.is(r2.rows[0].x, 'hi');
  const r3 = await viaCallback<pg.QueryResult>(
    (cb) => void c.query({ text: 'SELECT 3 AS x', callback: cb } as pg.QueryConfig),
  );
  assert.is(r3.rows[0].x, 3);
  const bad = await rejection(viaCallback((cb) => c.query('SELEC 1', cb)));
  assert.instance(bad, pg.DatabaseError);
  assert.is(
    c.query('SELECT 1', () => undefined),
    undefined,
    'callback form returns nothing, like pg',
  );
  await new Promise<void>((resolve, reject) => c.end((err) => (err ? reject(err) : resolve())));
});

test('queries issued before connect() wait for it, in order; after end() they fail as in pg; no reuse', async () => {
  const c = client();
  const early = c.query('SELECT 1 AS x');
  const early2 = c.query('SELECT 2 AS x');
  await c.connect();
  assert.is((await early).rows[0].x, 1);
  assert.is((await early2).rows[0].x, 2);
  const again = await rejection(c.connect());
  assert.match(again.message, /already been connected/);
  await c.end();
  await c.end(); // idempotent, like pg
  const late = await rejection(c.query('SELECT 1'));
  assert.is(late.message, 'Client was closed and is not queryable');
});

test('unawaited queries reach the server in call order', async () => {
  const c = client();
  await c.connect();
  try {
    await c.query('CREATE TEMP TABLE seq (n int)');
    const all = [];
    for (let i = 0; i < 20; i++) all.push(c.query('INSERT INTO seq VALUES ($1)', [i]));
    await Promise.all(all);
    const rows = (await c.query('SELECT n FROM seq ORDER BY ctid')).rows.map((r) => r.n);
    assert.equal(rows, [...Array(20).keys()]);
  } finally {
    await c.end();
  }
});

test("pg's pipeline mode still pipelines through the wrapper", async () => {
  const c = client({ pipeline: true });
  await c.connect();
  try {
    const results = await Promise.all([1, 2, 3, 4].map((i) => c.query('SELECT $1::int AS v', [i])));
    assert.equal(
      results.map((r) => r.rows[0].v),
      [1, 2, 3, 4],
    );
  } finally {
    await c.end();
  }
});

test('pg-query-stream and pg-cursor work through the wrapper (Submittable returned synchronously)', async () => {
  const c = client();
  await c.connect();
  try {
    const stream = new QueryStream('SELECT g AS n FROM generate_series(1, 250) g', [], { batchSize: 40 });
    const returned = c.query(stream);
    assert.is(returned, stream);
    let sum = 0;
    let count = 0;
    for await (const row of returned) {
      sum += (row as { n: number }).n;
      count++;
    }
    assert.is(count, 250);
    assert.is(sum, (250 * 251) / 2);

    const cursor = c.query(new Cursor('SELECT g AS n FROM generate_series(1, 10) g'));
    assert.equal(
      (await cursor.read(3)).map((r: { n: number }) => r.n),
      [1, 2, 3],
    );
    assert.equal(
      (await cursor.read(3)).map((r: { n: number }) => r.n),
      [4, 5, 6],
    );
    await cursor.close();
    assert.is((await c.query('SELECT 7 AS x')).rows[0].x, 7, 'the connection is free after the cursor closed');

    // A stream's SQL error reaches the stream, unchanged.
    const broken = c.query(new QueryStream('SELECT * FROM no_such_table_for_stream'));
    const err = await new Promise<Error>((resolve) => broken.on('error', resolve).resume());
    assert.instance(err, pg.DatabaseError);
    assert.is((err as pg.DatabaseError).code, '42P01');
    assert.is((await c.query('SELECT 8 AS x')).rows[0].x, 8);

    // pg.Query as a Submittable with a callback.
    // pg takes (submittable, callback) too; @types/pg (and so our overloads, which follow it) does not declare it.
    const queryWithCallback = c.query.bind(c) as unknown as (
      q: pg.Query,
      cb: (e: Error | null, r?: unknown) => void,
    ) => void;
    const res = await new Promise<pg.QueryResult>((resolve, reject) =>
      queryWithCallback(new pg.Query('SELECT 9 AS x'), (e, r) => (e ? reject(e) : resolve(r as pg.QueryResult))),
    );
    assert.is(res.rows[0].x, 9);
  } finally {
    await c.end();
  }
});

test('a stream submitted on a closed client gets the error itself', async () => {
  const c = client();
  await c.connect();
  await c.end();
  const stream = c.query(new QueryStream('SELECT 1'));
  const err = await new Promise<Error>((resolve) => stream.on('error', resolve).resume());
  assert.is(err.message, 'Client was closed and is not queryable');
});

test('LISTEN/NOTIFY notification and RAISE NOTICE notice events are forwarded', async () => {
  const listener = client();
  const notifier = client();
  await listener.connect();
  await notifier.connect();
  try {
    await listener.query('LISTEN wrapper_channel');
    const got = new Promise<pg.Notification>((resolve) => listener.once('notification', resolve));
    await notifier.query("SELECT pg_notify('wrapper_channel', 'payload-1')");
    const n = await got;
    assert.is(n.channel, 'wrapper_channel');
    assert.is(n.payload, 'payload-1');
    assert.is(n.processId, notifier.processID);

    const notice = new Promise<{ message?: string; severity?: string }>((resolve) => listener.once('notice', resolve));
    await listener.query("DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$");
    const msg = await notice;
    assert.is(msg.message, 'hello from plpgsql');
    assert.is(msg.severity, 'NOTICE');
  } finally {
    await listener.end();
    await notifier.end();
  }
});

test("'end' is forwarded when the client ends", async () => {
  const c = client();
  await c.connect();
  const ended = new Promise<void>((resolve) => c.once('end', resolve));
  await c.end();
  await ended;
});

test('driver errors are identical to a raw pg.Client doing the same thing', async () => {
  const raw = new pg.Client(config);
  const c = client();
  await raw.connect();
  await c.connect();
  try {
    for (const sql of ['SELECT * FROM no_such_table', 'SELECT 1/0', "SELECT 'x'::int", 'SELEC 1']) {
      const expected = await rejection(raw.query(sql));
      const actual = await rejection(c.query(sql));
      assert.instance(actual, pg.DatabaseError, sql);
      assert.is(Object.getPrototypeOf(actual), Object.getPrototypeOf(expected));
      const fields = (e: Error) => {
        const o: Record<string, unknown> = {};
        for (const k of Object.keys(e).sort()) o[k] = (e as unknown as Record<string, unknown>)[k];
        return { ...o, message: e.message, name: e.name };
      };
      // `line`/`file`/`routine` come from the server and are the same; pid-independent fields only.
      assert.equal(fields(actual), fields(expected), sql);
    }
    const params = await rejection(c.query('SELECT $1::int', ['not-a-number']));
    assert.is((params as pg.DatabaseError).code, '22P02');
  } finally {
    await raw.end();
    await c.end();
  }
});

test('socketTimeout cancels pg_sleep(10) promptly; the connection still works after', async () => {
  const c = client({ socketTimeout: 300 });
  await c.connect();
  try {
    const pid = c.processID;
    const started = Date.now();
    const err = await rejection(c.query('SELECT pg_sleep(10)'));
    assert.instance(err, QueryTimeoutError);
    assert.is((err.cause as pg.DatabaseError).code, '57014');
    assert.ok(Date.now() - started < 5000);
    assert.is((await c.query('SELECT 1 AS x')).rows[0].x, 1);
    assert.is(c.processID, pid, 'same physical connection');
    // Callback form is bounded too.
    const cbErr = await new Promise<Error | null>((resolve) => c.query('SELECT pg_sleep(10)', (e) => resolve(e)));
    assert.instance(cbErr, QueryTimeoutError);
  } finally {
    await c.end();
  }
});

test('backend killed during a statement: 57P01 reaches the caller; no crash without an error listener', async () => {
  const observer = new pg.Client(config);
  await observer.connect();
  const c = client();
  await c.connect();
  try {
    const pid = c.processID!;
    const running = rejection(c.query('SELECT pg_sleep(30)'));
    await untilActive(observer, pid);
    await observer.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await running;
    assert.instance(err, pg.DatabaseError);
    assert.is((err as pg.DatabaseError).code, '57P01');
  } finally {
    await observer.end();
    await c.end();
  }
});

test('abort from outside during pg_sleep(30) rejects promptly with the given error, no crash', async () => {
  const c = client();
  await c.connect();
  const given = Object.assign(new Error('aborted by the test'), { code: 'TEST_ABORT' });
  const pending = rejection(c.query('SELECT pg_sleep(30)'));
  setTimeout(() => c.core.driverDialect.abort(c.core.connection, given), 200);
  const started = Date.now();
  assert.is(await pending, given);
  assert.ok(Date.now() - started < 5000);
  await c.end();
});

test("'error' events are forwarded to a listener", async () => {
  const observer = new pg.Client(config);
  await observer.connect();
  const c = client();
  await c.connect();
  try {
    const errors: Error[] = [];
    const first = new Promise<void>((resolve) =>
      c.on('error', (e: Error) => {
        errors.push(e);
        resolve();
      }),
    );
    await observer.query('SELECT pg_terminate_backend($1)', [c.processID]);
    await first;
    assert.ok(errors.length >= 1);
  } finally {
    await observer.end();
    await c.end();
  }
});

test('escapeLiteral / escapeIdentifier are synchronous and match pg', async () => {
  const c = client();
  const lit = c.escapeLiteral("it's a \\ test");
  assert.type(lit, 'string');
  assert.is(lit, pg.escapeLiteral("it's a \\ test"));
  assert.is(c.escapeIdentifier('Weird "name"'), '"Weird ""name"""');
  await c.connect();
  try {
    assert.is((await c.query(`SELECT ${lit} AS v`)).rows[0].v, "it's a \\ test");
  } finally {
    await c.end();
  }
});

test('setTypeParser applies to the physical connection', async () => {
  const c = client();
  c.setTypeParser(20, (v: string) => BigInt(v));
  await c.connect();
  try {
    assert.is((await c.query('SELECT 9007199254740993::int8 AS v')).rows[0].v, 9007199254740993n);
  } finally {
    await c.end();
  }
});

test('setReadOnly / isReadOnly / getCurrentHost; hostAddressMap keeps the logical host name', async () => {
  const c = client({
    host: 'writer.example.invalid',
    hostAddressMap: { 'writer.example.invalid': `${PG_HOST}:${PG_PORT}` },
  });
  await c.connect();
  try {
    assert.is(c.getCurrentHost()?.host, 'writer.example.invalid');
    assert.is(c.host, 'writer.example.invalid');
    assert.is(c.isReadOnly(), false);
    await c.setReadOnly(true);
    assert.is(c.isReadOnly(), true);
    const err = await rejection(c.query('CREATE TEMP TABLE ro_t (x int)'));
    assert.is((err as pg.DatabaseError).code, '25006');
    await c.setReadOnly(false);
    assert.is(c.isReadOnly(), false);
    await c.query('CREATE TEMP TABLE ro_t (x int)');
  } finally {
    await c.end();
  }
});

test('after a connection switch: events follow the new connection, session state is re-applied', async () => {
  const notifier = client();
  await notifier.connect();
  const c = client();
  await c.connect();
  try {
    await c.setTransactionIsolation('SERIALIZABLE');
    const oldConn = c.targetClient!;
    const oldPid = c.processID;
    const host = c.getCurrentHost()!;
    const newConn = await c.core.driverDialect.connect(host, c.core.props.driver, c.core.props.options);
    await c.core.pluginService.setCurrentConnection(newConn, host);
    assert.is(c.targetClient, newConn);
    assert.is.not(c.processID, oldPid);
    assert.is(oldConn.listenerCount('notification'), 0, 'forwarding removed from the old connection');
    assert.is(
      (await c.query('SHOW default_transaction_isolation')).rows[0].default_transaction_isolation,
      'serializable',
    );
    // LISTEN lives on the physical connection: re-issued after the switch, notifications arrive through the client.
    await c.query('LISTEN after_switch');
    const got = new Promise<pg.Notification>((resolve) => c.once('notification', resolve));
    await notifier.query("NOTIFY after_switch, 'p'");
    assert.is((await got).payload, 'p');
  } finally {
    await c.end();
    await notifier.end();
  }
});

test('hostAddressMap + socketTimeout: a host that stops answering gives a network-class error', async () => {
  // A proxy that can freeze: traffic stops both ways and new connections (the cancel request) get no answer.
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const proxy = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    if (frozen) return;
    const up = net.connect(PG_PORT, PG_HOST);
    sockets.add(up);
    up.on('error', () => s.destroy());
    s.pipe(up);
    up.pipe(s);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as net.AddressInfo).port;
  const c = client({
    host: 'instance-1.cluster-xyz.us-east-1.rds.invalid',
    port: 5432,
    hostAddressMap: { 'instance-1.cluster-xyz.us-east-1.rds.invalid:5432': `127.0.0.1:${proxyPort}` },
    socketTimeout: 300,
    connectTimeout: 400,
  });
  await c.connect();
  try {
    assert.is((await c.query('SELECT 7 AS v')).rows[0].v, 7);
    frozen = true;
    for (const s of sockets) {
      s.unpipe();
      s.pause();
    }
    const started = Date.now();
    const err = await rejection(c.query('SELECT 1'));
    assert.instance(err, AwsWrapperError);
    assert.is((err as AwsWrapperError).code, '08S01');
    assert.is(c.core.driverDialect.classifyError(err), 'network');
    assert.ok(Date.now() - started < 4000);
  } finally {
    await c.end();
    for (const s of sockets) s.destroy();
    proxy.close();
  }
});

test('the password does not show in util.inspect of the client, before or after connect', async () => {
  const c = client();
  assert.not.ok(inspect(c, { depth: 8 }).includes(config.password!));
  await c.connect();
  try {
    assert.not.ok(inspect(c, { depth: 8 }).includes(config.password!));
  } finally {
    await c.end();
  }
});

test('connection string config', async () => {
  const url = `postgres://${encodeURIComponent(config.user!)}:${encodeURIComponent(config.password!)}@${PG_HOST}:${PG_PORT}/${config.database}`;
  const c = new AwsPGClient(url, { services: new WrapperServices() });
  assert.is(c.port, PG_PORT);
  await c.connect();
  try {
    assert.is((await c.query('SELECT current_database() AS db')).rows[0].db, config.database);
  } finally {
    await c.end();
  }
});

test.run();
