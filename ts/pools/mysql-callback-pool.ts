/**
 * AwsMySQLCallbackPool: mysql2's callback `Pool` (`mysql2.createPool(cfg)`) over an AwsMySQLPool, whose connections
 * run the wrapper's plugins. `getConnection(cb)` gives AwsMySQLCallbackPoolConnections (`release()`, `.promise()`),
 * `query(sql, values?, cb)` returns mysql2's Query command (events, `.stream()`), `end(cb)`, the events
 * 'connection' / 'acquire' / 'release' / 'enqueue', and `.promise()` returns the AwsMySQLPool behind it.
 */
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import type { Query, QueryError, QueryOptions } from 'mysql2';
import {
  AwsMySQLCallbackPoolConnection,
  checkExecuteValues,
  createQuery,
  CommandRun,
  invoke,
  sendQuery,
  type CommandOutcome,
  splitArgs,
  type Callback,
  type MySQLCallback,
} from '../clients/mysql-callback.js';
import { EventRelay } from '../clients/inherit-events.js';
import {
  AwsMySQLPool,
  type AwsMySQLPoolConfig,
  type AwsMySQLPoolConnection,
  type AwsMySQLPoolInit,
} from './mysql-pool.js';

/** The events mysql2's promise pool forwards from its callback pool. */
const POOL_EVENTS = ['acquire', 'connection', 'enqueue', 'release'];
export type PoolEvent = 'acquire' | 'connection' | 'enqueue' | 'release';

export class AwsMySQLCallbackPool extends EventEmitter {
  declare private readonly promisePool: AwsMySQLPool;
  declare private readonly eventRelay: EventRelay;

  /** The callback face of an AwsMySQLPool; `createPool(config)` makes one, and `awsMySQLPool.pool` is its own. */
  constructor(pool: AwsMySQLPool) {
    super();
    Object.defineProperty(this, 'promisePool', { value: pool, enumerable: false });
    Object.defineProperty(this, 'eventRelay', { value: new EventRelay(this, pool, POOL_EVENTS), enumerable: false });
  }

  /** @internal The pool's own events, already delivered to its listeners, with this face's connections. */
  relayEvent(event: PoolEvent, c?: AwsMySQLPoolConnection): void {
    this.eventRelay.relay(event, c === undefined ? [] : [this.face(c)]);
  }

  private face(c: AwsMySQLPoolConnection): AwsMySQLCallbackPoolConnection {
    return c.connection;
  }

  /** The promise-API pool (AwsMySQLPool) over the same connections. */
  promise(): AwsMySQLPool {
    return this.promisePool;
  }

  /** mysql2's pool config: the pool settings and `connectionConfig` (its password not enumerable). */
  get config(): Record<string, unknown> {
    const shown = this.promisePool.config;
    const connectionConfig: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(shown)) connectionConfig[k] = v;
    Object.defineProperty(connectionConfig, 'password', { value: shown.password, enumerable: false });
    return {
      connectionConfig,
      waitForConnections: shown.waitForConnections !== false,
      connectionLimit: shown.connectionLimit ?? 10,
      maxIdle: shown.maxIdle ?? shown.connectionLimit ?? 10,
      idleTimeout: shown.idleTimeout ?? 60000,
      queueLimit: shown.queueLimit ?? 0,
      resetOnRelease: Boolean(shown.resetOnRelease),
    };
  }

  /** Whether end() was called (mysql2's `pool._closed`). */
  get _closed(): boolean {
    return this.promisePool.closed;
  }

  /** As mysql2: `cb(null, connection)`, or `cb(err)` (typed as mysql2 types it: the connection is there when err is null). */
  getConnection(cb: (err: QueryError | null, connection: AwsMySQLCallbackPoolConnection) => void): void {
    this.promisePool.getConnection().then(
      (c) => invoke(() => cb(null, this.face(c))),
      (err: QueryError) => invoke(() => (cb as (err: QueryError) => void)(err)),
    );
  }

  /** The same as `connection.release()`. */
  releaseConnection(connection: AwsMySQLCallbackPoolConnection): void {
    connection.release();
  }

  /** A statement on a connection of the pool; returns mysql2's Query command (events, `.stream()`). */
  query<R = unknown>(sql: string | QueryOptions, cb?: MySQLCallback<R>): Query;
  query<R = unknown>(sql: string | QueryOptions, values: unknown, cb?: MySQLCallback<R>): Query;
  query(sql: string | QueryOptions, values?: unknown, cb?: unknown): Query {
    const a = splitArgs(values, cb);
    const cmd = createQuery(sql, a.values, a.cb, this.promisePool.config);
    const run = new CommandRun(cmd, a.cb);
    this.runCommand(run, cmd, a.cb, (c) => run.send(c, 'Client.query', [sql, a.values], sendQuery(cmd)));
    return cmd;
  }

  /**
   * A prepared statement on a connection of the pool. Returns undefined, as mysql2's pool.execute does (its typings
   * say `Query`, as here, so that this pool is a mysql2 `Pool` to the type checker): listen through the callback.
   */
  execute<R = unknown>(sql: string | QueryOptions, cb?: MySQLCallback<R>): Query;
  execute<R = unknown>(sql: string | QueryOptions, values: unknown, cb?: MySQLCallback<R>): Query;
  execute(sql: string | QueryOptions, values?: unknown, cb?: unknown): Query {
    this.executeOnConnection(sql, values, cb);
    return undefined as unknown as Query;
  }

  private executeOnConnection(sql: string | QueryOptions, values?: unknown, cb?: unknown): void {
    const a = splitArgs(values, cb);
    const handle = new EventEmitter();
    try {
      checkExecuteValues(typeof sql === 'object' && a.values === undefined ? sql.values : a.values);
    } catch (err) {
      // mysql2's pool hands the driver's synchronous error to the callback.
      if (a.cb) invoke(() => a.cb!(err as QueryError));
      return;
    }
    const run = new CommandRun(handle, a.cb);
    this.runCommand(run, handle, a.cb, (c) =>
      run.send(c, 'Client.execute', [sql, a.values], (core, done) => core.execute(sql, a.values, done)),
    );
  }

  /** Runs a command on a connection of the pool; the caller hears of it once the connection is back (or destroyed). */
  private runCommand(
    run: CommandRun,
    handle: EventEmitter,
    cb: Callback | undefined,
    send: (c: AwsMySQLPoolConnection) => Promise<CommandOutcome>,
  ): void {
    let reached = false;
    this.promisePool
      .run(async (c) => {
        reached = true;
        const outcome = await send(c);
        // A failed statement goes through the pool's error path (destroy after a fatal error, failover eviction).
        if (outcome.err !== undefined) throw outcome.err;
        return outcome;
      })
      .then(
        (outcome) => run.deliver(outcome),
        (err: QueryError) => {
          if (reached) run.deliver({ err });
          else if (cb) invoke(() => cb(err));
          else if (handle.listenerCount('error') > 0) handle.emit('error', err);
          else invoke(() => handle.emit('error', err));
        },
      );
  }

  /** Closes every connection (checked-out ones too); `cb(err)` when one failed to close. */
  end(cb?: (err: QueryError | null) => void): void;
  /** The same, typed as Knex's `connectionPool` expects a mysql2 pool's `end` (Knex's typings refuse mysql2's own). */
  end(cb?: (err?: Error) => void): void;
  end(cb?: (err: QueryError) => void): void {
    this.promisePool.end().then(
      // mysql2 calls back with no argument on success (its typings say `null`).
      () => cb && invoke(() => (cb as () => void)()),
      (err: QueryError) =>
        invoke(() => {
          if (!cb) throw err;
          cb(err);
        }),
    );
  }

  [Symbol.dispose](): void {
    if (!this._closed) this.end();
  }

  /**
   * mysql2's typings declare `unprepare` on a pool, its pool has none (prepared statements belong to a connection):
   * declared so that this pool is a mysql2 `Pool` to the type checker (Drizzle's `drizzle(pool)` asks for one), and
   * failing as clearly as it can.
   */
  unprepare(sql: string): never {
    void sql;
    throw new TypeError(
      'pool.unprepare() is not supported (as in mysql2): prepared statements belong to a connection, call unprepare() on one from pool.getConnection()',
    );
  }

  escape(value: unknown): string {
    return this.promisePool.escape(value);
  }

  escapeId(value: string | string[]): string {
    return this.promisePool.escapeId(value);
  }

  format(sql: string, values?: unknown): string {
    return this.promisePool.format(sql, values);
  }

  [inspect.custom](): string {
    return `AwsMySQLCallbackPool ${inspect(this.promisePool.toJSON())}`;
  }

  toJSON(): Record<string, unknown> {
    return this.promisePool.toJSON();
  }
}

/** mysql2's `createPool(config)` (callback API); `.promise()` gives the AwsMySQLPool. */
export function createPool(config: AwsMySQLPoolConfig | string, init?: AwsMySQLPoolInit): AwsMySQLCallbackPool {
  return new AwsMySQLPool(config, init).pool;
}
