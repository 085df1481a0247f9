// Drop-in for mysql2: every scenario runs against raw mysql2 and against our module (callback API and promise API),
// with the default plugins and with plugins: '', and asserts the same observable result: callbacks' arguments,
// events and their order, errors (code, errno, sqlState, message, fatal), what reached the server. The call
// sequences are the ones Knex, Sequelize, TypeORM and Kysely make when given a mysql2 driver module.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { promisify, inspect } from 'node:util';
import mysql2 from 'mysql2';
import mysql2p from 'mysql2/promise';
import * as ours from '../ts/mysql.js';
import * as oursPromise from '../ts/mysql-promise.js';
import { WrapperServices } from '../ts/services.js';
import { MY as cfg } from './support/test-servers.js';

type Cb = (err: Err | null, result?: unknown, fields?: unknown) => void;
type Err = Error & { code?: string; errno?: number; sqlState?: string; sqlMessage?: string; fatal?: boolean };

/** The part of mysql2's callback Connection / PoolConnection the scenarios use. */
interface CbConnection extends EventEmitter {
  connect(cb: (err: Err | null) => void): void;
  query(sql: unknown, cb: Cb): EventEmitter;
  query(
    sql: unknown,
    values?: unknown,
    cb?: Cb,
  ): EventEmitter & { stream(o?: object): NodeJS.ReadableStream & AsyncIterable<unknown> };
  execute(sql: unknown, cb: Cb): EventEmitter;
  execute(sql: unknown, values?: unknown, cb?: Cb): EventEmitter;
  beginTransaction(cb: Cb): void;
  commit(cb: Cb): void;
  ping(cb: (err: Err | null) => void): void;
  prepare(sql: string, cb: (err: Err | null, s?: never) => void): EventEmitter;
  unprepare(sql: string): unknown;
  reset(cb: (err: Err | null) => void): void;
  end(cb?: (err?: Err) => void): void;
  destroy(): void;
  release(): void;
  escape(v: unknown): string;
  escapeId(v: string): string;
  format(sql: string, v: unknown): string;
  threadId: number | null;
  state: string;
  _closing: boolean;
  _fatalError: unknown;
  _protocolError: unknown;
  stream: { destroyed: boolean };
  promise(): { query(sql: string): Promise<[unknown, unknown]> };
}

interface CbPool extends EventEmitter {
  getConnection(cb: (err: Err | null, c?: CbConnection) => void): void;
  releaseConnection(c: CbConnection): void;
  query(sql: unknown, cb: Cb): EventEmitter;
  query(sql: unknown, values?: unknown, cb?: Cb): EventEmitter;
  execute(sql: unknown, cb: Cb): void;
  execute(sql: unknown, values?: unknown, cb?: Cb): void;
  end(cb?: (err?: Err) => void): void;
  escape(v: unknown): string;
  format(sql: string, v: unknown): string;
  promise(): PromisePool;
}

interface PromiseConn {
  query(sql: unknown, values?: unknown): Promise<[unknown, unknown]>;
  execute(sql: unknown, values?: unknown): Promise<[unknown, unknown]>;
  reset(): Promise<void>;
  release(): void;
  end(): Promise<void>;
  threadId: number | null;
  [Symbol.asyncDispose](): Promise<void>;
}

interface PromisePool extends EventEmitter {
  query(sql: unknown, values?: unknown): Promise<[unknown, unknown]>;
  getConnection(): Promise<PromiseConn>;
  releaseConnection(c: PromiseConn): void;
  end(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A driver module as an ORM sees it: mysql2's, or ours with a plugin setting. */
interface Driver {
  name: string;
  createConnection(config: object): CbConnection;
  createPool(config: object): CbPool;
  createPromisePool(config: object): PromisePool;
  createPromiseConnection(config: object): Promise<PromiseConn>;
  createPoolCluster(config: object): CbCluster;
}

interface CbCluster extends EventEmitter {
  add(id: string, config: object): void;
  getConnection(
    pattern: string,
    selector: string | ((err: Err | null, c?: CbConnection) => void),
    cb?: (err: Err | null, c?: CbConnection) => void,
  ): void;
  of(
    pattern: string,
    selector?: string,
  ): {
    query(sql: string, values: unknown, cb: Cb): void;
    getConnection(cb: (err: Err | null, c?: CbConnection) => void): void;
  };
  end(cb: (err?: Err) => void): void;
}

const services = new WrapperServices();
const raw: Driver = {
  name: 'mysql2',
  createConnection: (c) => mysql2.createConnection(c) as unknown as CbConnection,
  createPool: (c) => mysql2.createPool(c) as unknown as CbPool,
  createPromisePool: (c) => mysql2p.createPool(c),
  createPromiseConnection: (c) => mysql2p.createConnection(c) as unknown as Promise<PromiseConn>,
  createPoolCluster: (c) => mysql2.createPoolCluster(c) as unknown as CbCluster,
};
function wrapper(plugins: string | undefined): Driver {
  const extra = plugins === undefined ? {} : { plugins };
  return {
    name: `ours (plugins: ${plugins === undefined ? 'default' : `'${plugins}'`})`,
    createConnection: (c) => ours.createConnection({ ...c, ...extra }, { services }) as unknown as CbConnection,
    createPool: (c) => ours.createPool({ ...c, ...extra }, { services }) as unknown as CbPool,
    createPromisePool: (c) => oursPromise.createPool({ ...c, ...extra }, { services }),
    createPromiseConnection: (c) =>
      oursPromise.createConnection({ ...c, ...extra }, { services }) as unknown as Promise<PromiseConn>,
    createPoolCluster: (c) => {
      const cluster = ours.createPoolCluster(c, { services });
      const add = cluster.add.bind(cluster);
      cluster.add = (id, config) => add(id, { ...(config as object), ...extra });
      return cluster as unknown as CbCluster;
    },
  };
}
const WRAPPERS = [wrapper(undefined), wrapper('')];

/** The fields of a mysql2 error that callers read. */
function errorShape(err: unknown): Record<string, unknown> {
  const e = err as Err | null;
  if (e === null || e === undefined) return { none: true };
  return {
    message: e.message,
    code: e.code,
    errno: e.errno,
    sqlState: e.sqlState,
    sqlMessage: e.sqlMessage,
    fatal: e.fatal,
  };
}

function plain(rows: unknown): unknown {
  return Array.isArray(rows)
    ? rows.map((r) => (r !== null && typeof r === 'object' && !Array.isArray(r) ? { ...r } : r))
    : rows;
}

function header(r: unknown): Record<string, unknown> {
  const h = r as Record<string, unknown>;
  return {
    affectedRows: h.affectedRows,
    insertId: h.insertId,
    warningStatus: h.warningStatus,
    constructor: h.constructor?.name,
  };
}

/** Runs `scenario` with raw mysql2 and with each wrapper setting; all results must equal raw's. */
async function same(scenario: (d: Driver) => Promise<unknown>): Promise<void> {
  const expected = await scenario(raw);
  for (const d of WRAPPERS) {
    const actual = await scenario(d);
    if (
      process.env.DROPIN_DEBUG &&
      (process.env.DROPIN_DEBUG === 'all' || JSON.stringify(actual) !== JSON.stringify(expected))
    )
      console.log(d.name, JSON.stringify(actual), '\n   raw', JSON.stringify(expected));
    assert.equal(actual, expected, d.name);
  }
}

const cbp = <T>(fn: (cb: (err: Err | null, r?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, r) => (err ? reject(err) : resolve(r as T))));

/** How many of these server threads are still connected once the server has processed their close (up to 5 s). */
async function serverThreads(ids: readonly (number | null)[]): Promise<number> {
  const admin = await mysql2p.createConnection(cfg);
  const deadline = Date.now() + 5000;
  let open = 0;
  do {
    const [rows] = await admin.query<mysql2p.RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST');
    const live = new Set(rows.map((r) => Number(r.ID)));
    open = ids.filter((id) => id !== null && live.has(id)).length;
  } while (open > 0 && Date.now() < deadline);
  await admin.end();
  return open;
}

test.before(async () => {
  const c = await mysql2p.createConnection(cfg);
  await c.query('CREATE TABLE IF NOT EXISTS dropin (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40))');
  await c.end();
});

test.after(async () => {
  await services.close();
});

test('connection: commands before the handshake, callbacks, results, errors, end(cb), a command after end', async () => {
  await same(async (d) => {
    const conn = d.createConnection(cfg);
    const seen: unknown[] = [conn.state === 'protocol_handshake' || conn.state];
    const events: string[] = [];
    conn.on('connect', () => events.push('connect'));
    conn.on('end', () => events.push('end'));
    const [rows, fields] = await new Promise<[unknown, unknown]>((resolve, reject) =>
      conn.query('SELECT ? AS a, ? AS b', [1, 'x'], (err, r, f) => (err ? reject(err) : resolve([r, f]))),
    );
    seen.push(
      plain(rows),
      (fields as { name: string }[]).map((f) => f.name),
      typeof conn.threadId,
      conn.state,
    );
    seen.push(await cbp<unknown>((cb) => conn.connect((err) => cb(err, 'connected'))));
    const err = await new Promise<Err | null>((resolve) =>
      conn.query('SELECT * FROM no_such_table', (e) => resolve(e)),
    );
    seen.push(errorShape(err));
    const [ins] = await new Promise<[unknown]>((resolve, reject) =>
      conn.execute('INSERT INTO dropin (name) VALUES (?)', ['e'], (e, r) => (e ? reject(e) : resolve([r]))),
    );
    seen.push(header(ins).affectedRows, header(ins).constructor);
    seen.push(
      errorShape(await new Promise((resolve) => conn.execute('SELECT nope FROM dropin', [], (e) => resolve(e)))),
    );
    seen.push(await cbp<string>((cb) => conn.ping((e) => cb(e, 'pong'))));
    const stmt = await cbp<{ execute(p: unknown[], cb: Cb): void; close(): void; columns: unknown[] }>((cb) =>
      conn.prepare('SELECT ? AS p', cb),
    );
    seen.push(plain(await cbp((cb) => stmt.execute([9], cb))), stmt.columns.length);
    stmt.close();
    seen.push(conn.escape("a'b"), conn.escapeId('t.c'), conn.format('SELECT ?', ['z']));
    seen.push(await cbp<string>((cb) => conn.end((e) => cb(e ?? null, 'ended'))));
    const after = await new Promise<Err | null>((resolve) => conn.query('SELECT 1', (e) => resolve(e)));
    seen.push(errorShape(after), conn._closing);
    await new Promise((r) => setImmediate(r));
    seen.push(events);
    return seen;
  });
});

test("connection: prepare() and a statement's execute() return the command (events and their order), unprepare() the statement", async () => {
  await same(async (d) => {
    const conn = d.createConnection(cfg);
    const order: string[] = [];
    const track = (name: string, cmd: EventEmitter): Promise<void> => {
      for (const e of ['fields', 'result', 'error']) cmd.on(e, () => order.push(`${name}:${e}`));
      return new Promise((resolve) => cmd.once('end', () => resolve(void order.push(`${name}:end`))));
    };
    type Stmt = { execute(p: unknown[], cb?: Cb): EventEmitter; close(): void };
    let stmt: Stmt | undefined;
    await track(
      'prepare',
      conn.prepare('SELECT ? AS p', (err, s) => (order.push(`prepare:cb ${err}`), (stmt = s as unknown as Stmt))),
    );
    await track(
      'execute',
      stmt!.execute([5], (err, rows) => order.push(`execute:cb ${err} ${JSON.stringify(plain(rows))}`)),
    );
    await track('execute-events', stmt!.execute([6]));
    await track(
      'bad',
      conn.prepare('SELEC nope', (err) => order.push(`bad:cb ${err?.code}`)),
    );
    order.push(typeof conn.unprepare('SELECT ? AS p'), typeof conn.unprepare('SELECT 42'));
    await cbp((cb) => conn.end((e) => cb(e ?? null)));
    assert.ok(
      ['prepare:end', 'execute:end', 'execute-events:result', 'bad:end', 'object', 'undefined'].every((e) =>
        order.includes(e),
      ),
      `${d.name}: ${JSON.stringify(order)}`,
    );
    return order;
  });
});

test("pool: the Connection members mysql2's typings give a pool (not its runtime) fail naming what to use instead", async () => {
  const raw = mysql2p.createPool({ ...cfg, connectionLimit: 1 }) as unknown as Record<string, unknown>;
  const pool = oursPromise.createPool({ ...cfg, connectionLimit: 1 }, { services: new WrapperServices() });
  try {
    // mysql2's pool: no such members (TypeError "… is not a function" when called); ours: the same undefined getters.
    assert.equal([raw.threadId, raw.state, typeof raw.ping], [undefined, undefined, 'undefined']);
    assert.equal([pool.threadId, pool.state], [undefined, undefined]);
    for (const call of [
      () => pool.ping(),
      () => pool.beginTransaction(),
      () => pool.prepare('SELECT 1'),
      () => pool.connect(),
    ]) {
      const err = await call().then(
        () => undefined,
        (e: Error) => e,
      );
      assert.instance(err, TypeError, String(err));
      assert.match(
        err!.message,
        /^pool\.\w+\(\) is not supported \(as in mysql2\): it belongs to a connection; take a connection with pool\.getConnection\(\)/,
      );
    }
    assert.throws(() => pool.destroy(), /pool\.destroy\(\) is not supported .*pool\.end\(\)/);
    assert.throws(() => pool.unprepare('SELECT 1'), /pool\.unprepare\(\)/);
    assert.equal(plain((await pool.query('SELECT 1 AS still'))[0]), [{ still: 1 }], 'the pool still works');
  } finally {
    await pool.end();
    await (raw as unknown as mysql2p.Pool).end();
  }
});

test('connection: execute() checks bind values synchronously, as mysql2', async () => {
  await same(async (d) => {
    const conn = d.createConnection(cfg);
    let thrown: unknown;
    try {
      conn.execute('SELECT ?', [undefined], () => undefined);
    } catch (err) {
      thrown = (err as Error).message;
    }
    await cbp((cb) => conn.end((e) => cb(e ?? null)));
    return thrown;
  });
});

test('connection: event mode (fields/result/end, error then end) and stream() with for await (Kysely, TypeORM)', async () => {
  await same(async (d) => {
    const conn = d.createConnection(cfg);
    const events: unknown[] = [];
    await new Promise<void>((resolve) => {
      const q = conn.query('SELECT 1 AS n UNION SELECT 2');
      q.on('fields', (f: { name: string }[] | undefined) => events.push(['fields', f?.map((x) => x.name)]));
      q.on('result', (row: unknown, index: number) => events.push(['result', plain([row]), index]));
      q.on('end', () => {
        events.push('end');
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      const q = conn.query('SELECT * FROM no_such_table');
      q.on('error', (err: unknown) => events.push(['error', errorShape(err)]));
      q.on('end', () => {
        events.push('end');
        resolve();
      });
    });
    const rows: unknown[] = [];
    for await (const row of conn.query('SELECT ? AS v UNION SELECT ?', [7, 8]).stream({ objectMode: true }))
      rows.push(plain([row]));
    events.push(rows);
    const streamErr = await (async () => {
      try {
        for await (const row of conn.query('SELECT * FROM no_such_table').stream()) events.push(row);
      } catch (err) {
        return errorShape(err);
      }
      return undefined;
    })();
    events.push(streamErr);
    await cbp((cb) => conn.end((e) => cb(e ?? null)));
    return events;
  });
});

test('connection: a failed connect reaches connect(cb), the error listener and waiting commands (Knex, Sequelize)', async () => {
  await same(async (d) => {
    const bad = { ...cfg, password: 'wrong-password' };
    // Knex: on('error') then connect(cb).
    const a = d.createConnection(bad);
    const knexSeen: unknown[] = [];
    a.on('error', (err) => knexSeen.push(['error event', (err as Err).code]));
    const connectErr = await new Promise<Err | null>((resolve) => a.connect((err) => resolve(err)));
    knexSeen.push(errorShape(connectErr), a.state);
    // Sequelize: on('error', handler) and once('connect', handler).
    const b = d.createConnection(bad);
    const seqErr = await new Promise<unknown>((resolve, reject) => {
      b.on('error', resolve);
      b.once('connect', () => reject(new Error('connected')));
    });
    // A command issued before the handshake gets the error in its callback, and the connection emits nothing.
    const c = d.createConnection(bad);
    let connEvents = 0;
    c.on('error', () => connEvents++);
    const queued = await new Promise<Err | null>((resolve) => c.query('SELECT 1', (err) => resolve(err)));
    await new Promise((r) => setImmediate(r));
    return [knexSeen, (seqErr as Err).code, errorShape(queued).code, connEvents];
  });
});

test('Knex call sequence: createConnection, connect(cb), query(options, bindings, cb), stream().pipe, validate, end', async () => {
  await same(async (d) => {
    const seen: unknown[] = [];
    const connection = await new Promise<CbConnection>((resolve, reject) => {
      const c = d.createConnection(cfg);
      c.on('error', () => undefined);
      c.connect((err) => (err ? reject(err) : resolve(c)));
    });
    const valid = (c: CbConnection) =>
      Boolean(c && !c._fatalError && !c._protocolError && !c._closing && !c.stream.destroyed);
    seen.push(valid(connection), connection.state === 'connected' || connection.state === 'authenticated');
    const response = await new Promise<[unknown, unknown]>((resolve, reject) =>
      connection.query({ sql: 'SELECT ? AS k', typeCast: true }, [42], (err, rows, fields) =>
        err ? reject(err) : resolve([rows, fields]),
      ),
    );
    seen.push(plain(response[0]));
    await new Promise((resolve, reject) =>
      connection.query({ sql: 'START TRANSACTION;' }, undefined, (e) => (e ? reject(e) : resolve(undefined))),
    );
    await new Promise((resolve, reject) =>
      connection.query({ sql: 'INSERT INTO dropin (name) VALUES (?)' }, ['knex'], (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
    await new Promise((resolve, reject) =>
      connection.query({ sql: 'ROLLBACK' }, undefined, (e) => (e ? reject(e) : resolve(undefined))),
    );
    const piped: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const sink = new Writable({
        objectMode: true,
        write(row, _enc, next) {
          piped.push({ ...row });
          next();
        },
      });
      sink.on('finish', resolve);
      const qs = connection.query({ sql: 'SELECT ? AS s UNION SELECT ?' }, [1, 2]).stream({ highWaterMark: 1 });
      qs.on('error', reject);
      qs.pipe(sink);
    });
    seen.push(piped);
    await promisify((cb: (e?: Error) => void) => connection.end(cb))();
    connection.removeAllListeners();
    seen.push(valid(connection));
    return seen;
  });
});

test('Sequelize call sequence: connect event, query(sql, cb), execute(sql, params, cb).setMaxListeners, validate, end', async () => {
  await same(async (d) => {
    const connection = await new Promise<CbConnection>((resolve, reject) => {
      const c = d.createConnection({ ...cfg, flags: '-FOUND_ROWS', bigNumberStrings: false, supportBigNumbers: true });
      const errorHandler = (e: unknown) => {
        c.removeListener('connect', connectHandler);
        reject(e);
      };
      const connectHandler = () => {
        c.removeListener('error', errorHandler);
        resolve(c);
      };
      c.on('error', errorHandler);
      c.once('connect', connectHandler);
    });
    connection.on('error', () => undefined);
    await promisify((cb: Cb) => connection.query("SET time_zone = '+00:00'", cb))();
    const rows = await new Promise((resolve, reject) =>
      connection.query({ sql: 'SELECT @@session.time_zone AS tz' }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    const executed = await new Promise((resolve, reject) => {
      const q = connection.execute('SELECT ? AS p', [5], (e, r) => (e ? reject(e) : resolve(r)));
      q.setMaxListeners(100);
    });
    const valid = Boolean(
      connection &&
      !connection._fatalError &&
      !connection._protocolError &&
      !connection._closing &&
      !connection.stream.destroyed,
    );
    await promisify((cb: (e?: Error) => void) => connection.end(cb))();
    return [plain(rows), plain(executed), valid, connection._closing];
  });
});

test('pool: events and their order, getConnection/release, query/execute callbacks, releaseConnection, release twice', async () => {
  await same(async (d) => {
    const pool = d.createPool({ ...cfg, connectionLimit: 2 });
    const events: string[] = [];
    for (const e of ['connection', 'acquire', 'release', 'enqueue']) pool.on(e, () => events.push(e));
    const conn = await cbp<CbConnection>((cb) => pool.getConnection(cb));
    const [rows] = await new Promise<[unknown]>((resolve, reject) =>
      conn.query('SELECT 1 AS one', (e, r) => (e ? reject(e) : resolve([r]))),
    );
    events.push(`rows ${JSON.stringify(plain(rows))}`);
    conn.release();
    conn.release();
    const q = await new Promise<unknown>((resolve, reject) =>
      pool.query('SELECT ? AS q', [2], (e, r) => (e ? reject(e) : resolve(r))),
    );
    events.push(`q ${JSON.stringify(plain(q))}`);
    const ex = await new Promise<unknown>((resolve, reject) =>
      pool.execute('SELECT ? AS x', [3], (e, r) => (e ? reject(e) : resolve(r))),
    );
    events.push(`x ${JSON.stringify(plain(ex))}`);
    const err = await new Promise<unknown>((resolve) => pool.query('SELECT * FROM no_such_table', (e) => resolve(e)));
    events.push(`err ${(err as Err).code}`);
    const again = await cbp<CbConnection>((cb) => pool.getConnection(cb));
    events.push(`same connection ${again.threadId === conn.threadId}`);
    pool.releaseConnection(again);
    events.push(pool.escape("'"), pool.format('?', ['v']));
    await cbp((cb) => pool.end((e) => cb(e ?? null)));
    events.push(`after end: ${await new Promise((resolve) => pool.getConnection((e) => resolve(e?.message)))}`);
    return events;
  });
});

test('pool: connectionLimit with waitForConnections false, queueLimit, enqueue, end() fails the waiters', async () => {
  await same(async (d) => {
    const seen: unknown[] = [];
    const p1 = d.createPool({ ...cfg, connectionLimit: 1, waitForConnections: false });
    const held = await cbp<CbConnection>((cb) => p1.getConnection(cb));
    seen.push(await new Promise((resolve) => p1.getConnection((e) => resolve(errorShape(e)))));
    seen.push(await new Promise((resolve) => p1.query('SELECT 1', (e) => resolve(e?.message))));
    held.release();
    await cbp((cb) => p1.end((e) => cb(e ?? null)));
    const p2 = d.createPool({ ...cfg, connectionLimit: 1, queueLimit: 1 });
    let enqueued = 0;
    p2.on('enqueue', () => enqueued++);
    const h2 = await cbp<CbConnection>((cb) => p2.getConnection(cb));
    const waiter = new Promise((resolve) => p2.getConnection((e) => resolve(e?.message ?? 'got one')));
    seen.push(await new Promise((resolve) => p2.getConnection((e) => resolve(e?.message))));
    seen.push(enqueued);
    await cbp((cb) => p2.end((e) => cb(e ?? null)));
    seen.push(await waiter);
    h2.release();
    // connectionLimit 0: no limit.
    const p3 = d.createPool({ ...cfg, connectionLimit: 0 });
    const unlimited = await Promise.all(
      Array.from({ length: 12 }, () => cbp<CbConnection>((cb) => p3.getConnection(cb))),
    );
    seen.push(new Set(unlimited.map((c) => c.threadId)).size);
    for (const c of unlimited) c.release();
    await cbp((cb) => p3.end((e) => cb(e ?? null)));
    return seen;
  });
});

test('pool end(): closes connections still checked out (no hang), their release() does nothing afterwards', async () => {
  await same(async (d) => {
    const seen: unknown[] = [];
    const pool = d.createPool({ ...cfg, connectionLimit: 3 });
    const a = await cbp<CbConnection>((cb) => pool.getConnection(cb));
    const b = await cbp<CbConnection>((cb) => pool.getConnection(cb));
    b.release();
    const ids = [a.threadId, b.threadId];
    await cbp((cb) => pool.end((e) => cb(e ?? null)));
    seen.push(await serverThreads(ids));
    a.release();
    seen.push(await new Promise((resolve) => a.query('SELECT 1', (e) => resolve(e?.message))));
    // The promise pool: end() resolves with a connection still checked out.
    const pp = d.createPromisePool({ ...cfg, connectionLimit: 2 });
    const c = await pp.getConnection();
    const id = c.threadId;
    await pp.end();
    seen.push(await serverThreads([id]));
    c.release();
    seen.push(
      await pp.getConnection().then(
        () => 'got one',
        (e: Error) => e.message,
      ),
    );
    return seen;
  });
});

test('promise pool: releaseConnection, asyncDispose, resetOnRelease, conn.reset()', async () => {
  await same(async (d) => {
    const seen: unknown[] = [];
    for (const resetOnRelease of [false, true]) {
      const pool = d.createPromisePool({ ...cfg, connectionLimit: 1, resetOnRelease });
      const c = await pool.getConnection();
      await c.query('SET @v = 7');
      pool.releaseConnection(c);
      const again = await pool.getConnection();
      seen.push(plain((await again.query('SELECT @v AS v'))[0]));
      await again.query('SET @w = 1');
      await again.reset();
      seen.push(plain((await again.query('SELECT @w AS w'))[0]));
      await again[Symbol.asyncDispose]();
      seen.push(plain((await pool.query('SELECT 1 AS released'))[0]));
      await pool[Symbol.asyncDispose]();
      seen.push(
        await pool.query('SELECT 1').then(
          () => 'ran',
          (e: Error) => e.message,
        ),
      );
    }
    const conn = d.createConnection(cfg);
    await cbp((cb) => conn.query('SET @z = 1', cb));
    await cbp((cb) => conn.reset((e) => cb(e)));
    seen.push(plain(await cbp((cb) => conn.query('SELECT @z AS z', cb))));
    await cbp((cb) => conn.end((e) => cb(e ?? null)));
    return seen;
  });
});

test('promise pool .pool, promise connection .connection, callback pool .promise(): one pool, two faces (Knex, Drizzle)', async () => {
  await same(async (d) => {
    const promisePool = d.createPromisePool({ ...cfg, connectionLimit: 1 }) as PromisePool & { pool: CbPool };
    const callbackPool = promisePool.pool;
    const seen: unknown[] = [typeof callbackPool.promise().getConnection];
    const conn = await cbp<CbConnection>((cb) => callbackPool.getConnection(cb));
    seen.push(plain(await cbp((cb) => conn.query('SELECT 1 AS one', cb))));
    conn.release();
    seen.push(plain((await promisePool.query('SELECT 2 AS two'))[0]));
    // Drizzle's iterator: the callback connection inside a promise connection, streamed.
    const promiseConn = (await promisePool.getConnection()) as PromiseConn & { connection: CbConnection };
    const streamed: unknown[] = [];
    for await (const row of promiseConn.connection.query('SELECT 3 AS a UNION SELECT 4').stream())
      streamed.push({ ...(row as object) });
    seen.push(streamed, promiseConn.connection.threadId === promiseConn.threadId);
    promiseConn.release();
    await cbp((cb) => callbackPool.end((e) => cb(e ?? null)));
    return seen;
  });
});

test("events on the callback face reach the promise object's listeners (mysql2's inheritEvents), real ones once", async () => {
  const EVENTS = ['error', 'drain', 'connect', 'enqueue', 'end'];
  await same(async (d) => {
    const conn = (await d.createPromiseConnection(cfg)) as PromiseConn & EventEmitter & { connection: CbConnection };
    const face = conn.connection;
    // mysql2's createConnection leaves a once('error') on it (the hand-emitted 'error' below takes it).
    const base = EVENTS.map((e) => face.listenerCount(e));
    const added = (): number[] => EVENTS.map((e, i) => face.listenerCount(e) - base[i]);
    const got: unknown[] = [];
    for (const e of EVENTS)
      conn.once(e, function (this: unknown) {
        got.push([e, this === conn]);
      });
    const listening = added();
    face.emit('error', new Error('by hand'));
    for (const e of EVENTS.slice(1)) face.emit(e);
    const afterwards = added();
    // A real 'end' reaches each face once.
    const ends: string[] = [];
    conn.on('end', () => ends.push('promise'));
    const ended = new Promise((resolve) => face.on('end', () => resolve(ends.push('callback'))));
    await conn.end();
    await ended;
    await new Promise((r) => setImmediate(r));
    return { base, listening, got, afterwards, ends };
  });
  await same(async (d) => {
    const promisePool = d.createPromisePool({ ...cfg, connectionLimit: 1 }) as PromisePool & { pool: CbPool };
    const face = promisePool.pool;
    const POOL = ['acquire', 'connection', 'enqueue', 'release'];
    const counts = (): number[] => POOL.map((e) => face.listenerCount(e));
    const before = counts();
    const got: unknown[] = [];
    for (const e of POOL)
      promisePool.once(e, function (this: unknown) {
        got.push([e, this === promisePool]);
      });
    const listening = counts();
    for (const e of POOL) face.emit(e);
    const afterwards = counts();
    // Real events: each face's listeners get each one once.
    const seen: string[] = [];
    for (const e of ['acquire', 'connection', 'release']) {
      promisePool.on(e, () => seen.push(`promise ${e}`));
      face.on(e, () => seen.push(`callback ${e}`));
    }
    await promisePool.query('SELECT 1');
    await promisePool.end();
    return { before, listening, got, afterwards, seen: seen.sort() };
  });
});

test('callback arguments, a connection the server kills, destroy() of a pooled connection, end() twice', async () => {
  await same(async (d) => {
    const out: unknown[] = [];
    const c = d.createConnection(cfg);
    await new Promise((r) =>
      c.beginTransaction((...a: unknown[]) =>
        r(out.push(['begin', a.length, a[0], (a[1] as object).constructor.name])),
      ),
    );
    await new Promise((r) =>
      c.commit((...a: unknown[]) => r(out.push(['commit', a.length, a[0], (a[1] as object).constructor.name]))),
    );
    await new Promise((r) => c.ping((...a: unknown[]) => r(out.push(['ping', a.length]))));
    await new Promise((r) => c.reset((...a: unknown[]) => r(out.push(['reset', a]))));
    const admin = await mysql2p.createConnection(cfg);
    const lost = new Promise((r) => c.once('error', (e) => r(errorShape(e))));
    const ended = new Promise((r) => c.once('end', () => r('end')));
    await admin.query(`KILL ${c.threadId}`);
    await admin.end();
    out.push(['lost', await lost, await ended, c.state]);
    out.push(['after', await new Promise((r) => c.query('SELECT 1', (e) => r(errorShape(e))))]);
    const pool = d.createPool({ ...cfg, connectionLimit: 1 });
    const events: string[] = [];
    for (const e of ['connection', 'acquire', 'release']) pool.on(e, () => events.push(e));
    const first = await cbp<CbConnection>((cb) => pool.getConnection(cb));
    first.destroy();
    const second = await cbp<CbConnection>((cb) => pool.getConnection(cb));
    out.push(['destroyed', second.threadId !== first.threadId]);
    second.release();
    out.push(events);
    await new Promise((r) => pool.end((e) => r(out.push(['end 1', errorShape(e)]))));
    await new Promise((r) => pool.end((e) => r(out.push(['end 2', errorShape(e)]))));
    const pp = d.createPromisePool(cfg);
    await pp.end();
    out.push([
      'empty pool, end 2',
      await pp.end().then(
        () => 'ok',
        (e) => errorShape(e),
      ),
    ]);
    return out;
  });
});

test('TypeORM call sequence: createPool, getConnection(cb)+release, query(payload, cb), query().stream(), end(cb)', async () => {
  await same(async (d) => {
    const pool = await new Promise<CbPool>((ok, fail) => {
      const p = d.createPool({ ...cfg, connectionLimit: 4 });
      p.getConnection((err, connection) => {
        if (err) return p.end(() => fail(err));
        connection!.release();
        ok(p);
      });
    });
    const conn = await cbp<CbConnection>((cb) => pool.getConnection(cb));
    const raw = await new Promise((resolve, reject) =>
      conn.query({ sql: 'SELECT ? AS t', values: ['typeorm'], timeout: 5000 }, (err, r) =>
        err ? reject(err) : resolve(r),
      ),
    );
    const streamed: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = conn.query('SELECT ? AS a UNION SELECT ?', [1, 2]).stream();
      stream.on('data', (row: object) => streamed.push({ ...row }));
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
    conn.release();
    await cbp((cb) => pool.end((e) => cb(e ?? null)));
    return [plain(raw), streamed];
  });
});

test('TypeORM replication: createPoolCluster, add, getConnection(pattern, selector, cb), of().query, remove, end(cb)', async () => {
  await same(async (d) => {
    const cluster = d.createPoolCluster({ canRetry: true, removeNodeErrorCount: 1 });
    const events: unknown[] = [];
    for (const e of ['remove', 'offline', 'online', 'warn'])
      cluster.on(e, (x: unknown) => events.push([e, typeof x === 'string' ? x : (x as Err).code]));
    cluster.add('MASTER', { ...cfg, connectionLimit: 2 });
    cluster.add('SLAVE1', { ...cfg, connectionLimit: 2 });
    cluster.add('SLAVE2', { ...cfg, port: 1, connectionLimit: 2 });
    const master = await cbp<CbConnection>((cb) => cluster.getConnection('MASTER', cb));
    events.push(
      plain(await cbp((cb) => master.query('SELECT 1 AS m', cb))),
      (master as unknown as { _clusterId: string })._clusterId,
    );
    master.release();
    const slaves: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await cbp<CbConnection>((cb) => cluster.getConnection('SLAVE*', 'ORDER', cb));
      slaves.push((s as unknown as { _clusterId: string })._clusterId);
      s.release();
    }
    events.push(slaves);
    events.push(plain(await cbp((cb) => cluster.of('MASTER').query('SELECT ? AS q', [2], cb))));
    events.push(await new Promise((resolve) => cluster.getConnection('NOPE', (e) => resolve(errorShape(e).code))));
    const bad = await new Promise((resolve) => cluster.of('SLAVE2').getConnection((e: Err | null) => resolve(e?.code)));
    events.push(bad);
    await cbp((cb) => cluster.end((e) => cb(e ?? null)));
    return events;
  });
});

test('Kysely call sequence: pool.getConnection(cb), query(sql, params, cb) for rows and OK packets, stream, release, end(cb)', async () => {
  await same(async (d) => {
    const pool = d.createPool({ ...cfg, connectionLimit: 2 });
    const raw = await cbp<CbConnection>((cb) => pool.getConnection(cb));
    const run = (sql: string, params: unknown[]) =>
      new Promise((resolve, reject) => raw.query(sql, params, (err, result) => (err ? reject(err) : resolve(result))));
    await run('begin', []);
    const ok = header(await run('insert into dropin (name) values (?)', ['kysely']));
    await run('rollback', []);
    const rows = plain(await run('select ? as k', ['v']));
    const streamed: unknown[] = [];
    for await (const row of raw.query('select ? as s union select ?', [1, 2]).stream({ objectMode: true }))
      streamed.push({ ...(row as object) });
    raw.release();
    await new Promise<void>((resolve, reject) => pool.end((err) => (err ? reject(err) : resolve())));
    return [ok.affectedRows, ok.constructor, typeof (ok.insertId as number), rows, streamed];
  });
});

test("promise API: the caller's function is in err.stack (mysql2's trace), also through the plugins", async () => {
  await same(async (d) => {
    const conn = await d.createPromiseConnection(cfg);
    async function callerOfConnectionQuery(): Promise<void> {
      await conn.query('SELECT * FROM no_such_table');
    }
    const e1 = await callerOfConnectionQuery().then(
      () => undefined,
      (e: Error) => e,
    );
    await conn.end();
    const pool = d.createPromisePool({ ...cfg, connectionLimit: 1 });
    async function callerOfPoolExecute(): Promise<void> {
      await pool.query('SELECT * FROM no_such_table');
    }
    const e2 = await callerOfPoolExecute().then(
      () => undefined,
      (e: Error) => e,
    );
    await pool.end();
    return [
      e1?.stack?.includes('callerOfConnectionQuery'),
      (e1 as Err).code,
      e2?.stack?.includes('callerOfPoolExecute'),
      (e2 as Err).code,
    ];
  });
});

test('util.inspect, console.log and JSON.stringify never show the password', async () => {
  const secret = 'wrapper-test-pw';
  assert.is(cfg.password, secret);
  for (const d of WRAPPERS) {
    const conn = d.createConnection(cfg);
    await cbp((cb) => conn.connect((e) => cb(e)));
    const pool = d.createPool({ ...cfg, connectionLimit: 1 });
    const pooled = await cbp<CbConnection>((cb) => pool.getConnection(cb));
    const promisePool = d.createPromisePool(cfg);
    const promiseConn = await d.createPromiseConnection({
      ...cfg,
      password: undefined,
      uri: `mysql://${cfg.user}:${secret}@${cfg.host}:${cfg.port}/${cfg.database}`,
    });
    const objects: unknown[] = [
      conn,
      conn.promise(),
      pool,
      pool.promise(),
      pooled,
      pooled.promise(),
      promisePool,
      promiseConn,
    ];
    for (const o of objects) {
      for (const shown of [
        inspect(o, { depth: 8, showHidden: false }),
        JSON.stringify(o),
        inspect({ wrapped: o }, { depth: 8 }),
      ]) {
        assert.not.ok(shown.includes(secret), `${d.name}: ${shown.slice(0, 200)}`);
      }
    }
    pooled.release();
    await cbp((cb) => pool.end((e) => cb(e ?? null)));
    await cbp((cb) => conn.end((e) => cb(e ?? null)));
    await promisePool.end();
    await promiseConn.end();
  }
});

test('module exports mirror mysql2 and mysql2/promise', () => {
  for (const key of [
    'createConnection',
    'connect',
    'createPool',
    'createPoolCluster',
    'escape',
    'escapeId',
    'format',
    'raw',
    'Types',
    'Charsets',
    'createConnectionPromise',
    'createPoolPromise',
  ]) {
    assert.ok(key in ours, `mysql: ${key}`);
    assert.is(
      typeof (ours as Record<string, unknown>)[key],
      typeof (mysql2 as unknown as Record<string, unknown>)[key],
      key,
    );
  }
  for (const key of ['createConnection', 'createPool', 'escape', 'escapeId', 'format', 'raw', 'Types']) {
    assert.is(
      typeof (oursPromise as Record<string, unknown>)[key],
      typeof (mysql2p as unknown as Record<string, unknown>)[key],
      `mysql/promise: ${key}`,
    );
  }
  assert.equal(ours.Types, mysql2.Types);
  // `import mysql from '…/mysql'` and `import mysql from '…/mysql/promise'`, as with mysql2.
  assert.is(ours.default.createPool, ours.createPool);
  assert.is(ours.default.createConnection, ours.createConnection);
  assert.is(ours.default.escape, mysql2.escape);
  assert.is(oursPromise.default.createPool, oursPromise.createPool);
  assert.is(oursPromise.default.createConnection, oursPromise.createConnection);
  assert.is(ours.format('SELECT ?', [1]), mysql2.format('SELECT ?', [1]));
  // mysql2's createConnectionPromise / createPoolPromise are mysql2/promise's own functions (its suite checks this).
  // (mysql2's typings do not declare it.)
  assert.is(
    (mysql2 as typeof mysql2 & { createConnectionPromise: unknown }).createConnectionPromise,
    mysql2p.createConnection,
  );
  assert.is(ours.createConnectionPromise, oursPromise.createConnection);
  assert.is(ours.default.createConnectionPromise, oursPromise.createConnection);
  assert.is(ours.createPoolPromise, oursPromise.createPool);
});

test('promise objects expose `Promise`, the class their methods return (mysql2/promise)', async () => {
  // `Promise` is optional here because mysql2's typings do not declare it; the assertion below checks it is there.
  const objects: Array<[string, { Promise?: PromiseConstructor; end(): Promise<void> }, () => Promise<unknown>]> = [];
  const rawPool = mysql2p.createPool(cfg);
  // A config typed as mysql2's (an interface: no index signature) is accepted as it is, as mysql2 accepts it.
  const typed: mysql2.PoolOptions = cfg;
  const ourPool = new oursPromise.AwsMySQLPool(typed, { services: new WrapperServices() });
  const rawConn = await mysql2p.createConnection(cfg);
  const ourConn = await oursPromise.createConnection(typed, { services: new WrapperServices() });
  objects.push(['pool', rawPool, () => rawPool.query('SELECT 1')], ['pool', ourPool, () => ourPool.query('SELECT 1')]);
  objects.push(
    ['connection', rawConn, () => rawConn.query('SELECT 1')],
    ['connection', ourConn, () => ourConn.query('SELECT 1')],
  );
  for (const [what, o, run] of objects) {
    assert.is(o.Promise, Promise, what);
    const p = run();
    assert.ok(p instanceof o.Promise!, what);
    await p;
    const ending = o.end();
    assert.ok(ending instanceof o.Promise!, what);
    await ending;
  }
});

test.run();
