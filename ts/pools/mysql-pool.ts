/**
 * AwsMySQLPool: a drop-in for a mysql2/promise Pool (`mysql.createPool(cfg)`, or `createPool(cfg).promise()` in
 * mysql2's callback API) whose connections are AwsMySQLClients (plugins apply: failover, read/write splitting…).
 * Same config (mysql2's connection and pool keys plus wrapper options), same API: `query`, `execute`,
 * `getConnection()` → a connection with `release()` / `destroy()`, `end()`, `escape` / `escapeId` / `format`,
 * `promise()`, events `connection`, `acquire`, `release`, `enqueue`.
 *
 * Each pool is self-contained (own clients, limits, internal per-instance pools); ending it ends only it. A
 * connection released with session state changed through the wrapper is reset first (resetSessionStateOnClose).
 * After a failover or a lost connection, idle connections to the failed instance are ended rather than handed out.
 */
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import mysql from 'mysql2/promise';
import type {
  Connection as PromiseConnection,
  ConnectionOptions,
  ConnectionState,
  ExecuteValues,
  FieldPacket,
  PreparedStatementInfo,
  QueryOptions,
  QueryResult,
  QueryValues,
} from 'mysql2/promise';
import { AwsMySQLClient, closedStateError, type AwsMySQLClientConfig } from '../clients/mysql-client.js';
import { AwsMySQLCallbackPoolConnection } from '../clients/mysql-callback.js';
import { captureCallerStack, withCallerStack, type CallerStack } from '../clients/caller-stack.js';
import { safeConfigView } from '../clients/config-view.js';
import type { ClientCore } from '../client-core.js';
import { ConfigurationError } from '../errors.js';
import { checkDuration } from '../option-table.js';
import { sharedServices, type WrapperServices } from '../services.js';
import { parseConnectProps } from '../options.js';
import { defaultPoolName, observePool } from '../telemetry/pool-metrics.js';
import { newReaderRoutingState } from '../reader-routing.js';
import { ClientPool, type ClientPoolOptions } from './client-pool.js';
import { AwsMySQLCallbackPool, type PoolEvent } from './mysql-callback-pool.js';
import { InternalConnectionPools } from './internal-pools.js';
import {
  afterQueryError,
  attachInternalPools,
  isClientBroken,
  resetPooledClient,
  splitPoolConfig,
} from './pool-support.js';

/** mysql2's pool settings. */
export interface AwsMySQLPoolOptions {
  /** Most connections (default 10; 0 = no limit). */
  connectionLimit?: number;
  /** Wait for a connection when the pool is full (default true); false fails at once. */
  waitForConnections?: boolean;
  /** Waiting requests allowed (default 0 = no limit). */
  queueLimit?: number;
  /** Idle connections kept from the idle timeout (default connectionLimit). */
  maxIdle?: number;
  /** Idle connections above maxIdle are closed after this many ms (default 60000). */
  idleTimeout?: number;
  /** Reset each released connection with COM_RESET_CONNECTION before it is reused (default false). */
  resetOnRelease?: boolean;
}

export type AwsMySQLPoolConfig = AwsMySQLClientConfig & AwsMySQLPoolOptions;

export interface AwsMySQLPoolInit {
  readonly services?: WrapperServices;
}

const POOL_KEYS = [
  'connectionLimit',
  'waitForConnections',
  'queueLimit',
  'maxIdle',
  'idleTimeout',
  'resetOnRelease',
] as const;

/** mysql2's own errors for a refused checkout (plain Errors with these messages). */
function refusal(reason: 'ended' | 'full' | 'queueLimit'): Error {
  return new Error(
    reason === 'ended' ? 'Pool is closed.' : reason === 'full' ? 'No connections available.' : 'Queue limit reached.',
  );
}

/** Errors after which mysql2's pool destroys the connection instead of reusing it (read-only server or session). */
function isReadOnlyError(err: unknown): boolean {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return errno === 1290 || errno === 1792 || errno === 1836;
}

type Result<T> = Promise<[T, FieldPacket[]]>;

/** A connection checked out of an AwsMySQLPool: an AwsMySQLClient with mysql2's `release()`. */
export class AwsMySQLPoolConnection extends AwsMySQLClient {
  /** Gives the connection back to its pool (a second call does nothing). */
  release: () => void = () => undefined;
  /** Pool-managed: closes the connection and frees its slot. */
  override destroy: () => void = () => super.destroy();

  /**
   * This connection with mysql2's callback API, as mysql2's `poolConnection.connection`. mysql2's typings call that a
   * promise `Connection` (its runtime has the callback one, as here): the type says both so that this connection is a
   * mysql2/promise `PoolConnection` to the type checker; the callback signatures come first and are the real ones.
   */
  override get connection(): AwsMySQLCallbackPoolConnection & PromiseConnection {
    return super.connection as AwsMySQLCallbackPoolConnection & PromiseConnection;
  }

  protected override newCallbackFace(): AwsMySQLCallbackPoolConnection {
    return new AwsMySQLCallbackPoolConnection(this);
  }

  /** As mysql2: `await using conn = await pool.getConnection()` releases it. */
  override async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }
}

function readNumber(options: Record<string, unknown>, key: string, dflt: number, min: number): number {
  const v = options[key];
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min) {
    throw new ConfigurationError(
      `AwsMySQLPool option '${key}' expects a number ≥ ${min}, got ${JSON.stringify(v)}`,
      key,
    );
  }
  return n;
}

export class AwsMySQLPool extends EventEmitter {
  readonly config: Readonly<Record<string, unknown>>;
  declare private readonly clientConfig: Record<string, unknown>;
  private readonly trace: boolean;
  private readonly services: WrapperServices | undefined;
  private readonly clientPool: ClientPool<AwsMySQLPoolConnection>;
  private callbackPool: AwsMySQLCallbackPool | undefined;
  /** How many connections the pool had when end() was first called. */
  private connectionsAtEnd: number | undefined;
  private readonly internal: InternalConnectionPools;
  /** Removes the pool from the telemetry pool metrics (enableTelemetry only). */
  private readonly unobserve: (() => void) | undefined;
  /** readerRouting's read-your-writes window covers every connection of the pool. */
  private readonly readerRoutingState = newReaderRoutingState();

  /** mysql2/promise's `Promise`: the class this object's methods return instances of (always the native one). */
  get Promise(): PromiseConstructor {
    return Promise;
  }

  constructor(config: AwsMySQLPoolConfig | string, init: AwsMySQLPoolInit = {}) {
    super();
    const { all, clientConfig, shown } = splitPoolConfig('mysql2', 'AwsMySQLPool', config, 'uri', POOL_KEYS);
    // Not enumerable: it holds the password.
    Object.defineProperty(this, 'clientConfig', { value: clientConfig, enumerable: false });
    Object.defineProperty(this, 'readerRoutingState', { enumerable: false });
    this.trace = clientConfig.trace !== false;
    const resetOnRelease = all.resetOnRelease !== undefined && all.resetOnRelease !== false;
    this.services = init.services;
    this.config = shown;

    // As mysql2: connectionLimit 0 means no limit.
    const limit = readNumber(all, 'connectionLimit', 10, 0);
    const max = limit === 0 ? Number.MAX_SAFE_INTEGER : limit;
    const poolOptions: ClientPoolOptions = {
      max,
      min: Math.min(max, readNumber(all, 'maxIdle', max, 0)),
      idleTimeoutMs: checkDuration('AwsMySQLPool', 'idleTimeout', readNumber(all, 'idleTimeout', 60_000, 0)),
      acquireTimeoutMs: 0,
      queueLimit: readNumber(all, 'queueLimit', 0, 0),
      maxUses: Infinity,
      maxLifetimeMs: 0,
      allowExitOnIdle: false,
      waitForClients: all.waitForConnections !== false,
    };
    this.internal = new InternalConnectionPools({
      maxPerHost: max,
      idleTimeoutMs: poolOptions.idleTimeoutMs > 0 ? poolOptions.idleTimeoutMs : undefined,
    });
    this.clientPool = new ClientPool<AwsMySQLPoolConnection>(poolOptions, {
      create: () => this.newConnection(),
      destroy: (c) => c.end().catch(() => undefined),
      isBroken: (c) => isClientBroken(coreOf(c)),
      reset: (c) => {
        const session = resetPooledClient(coreOf(c), (ro) => c.setReadOnly(ro));
        if (!resetOnRelease) return session;
        return (session ?? Promise.resolve()).then(() => c.reset());
      },
      created: (c) => this.emitToBoth('connection', c),
      acquired: (c) => this.emitToBoth('acquire', c),
      released: (c) => this.emitToBoth('release', c),
      enqueued: () => this.emitToBoth('enqueue'),
      refusal,
    });
    const props = parseConnectProps('mysql2', clientConfig);
    const d = props.driver;
    this.unobserve = observePool(
      init.services ?? sharedServices(),
      props.options,
      defaultPoolName(d.host ?? 'localhost', d.port ?? 3306, d.database),
      limit === 0 ? undefined : limit,
      this,
    );
    Object.defineProperty(this, 'unobserve', { enumerable: false });
  }

  /** Delivers a pool event to this pool's listeners, then to its callback face's (which does not forward it back). */
  private emitToBoth(event: PoolEvent, c?: AwsMySQLPoolConnection): void {
    if (c === undefined) this.emit(event);
    else this.emit(event, c);
    this.callbackPool?.relayEvent(event, c);
  }

  get totalCount(): number {
    return this.clientPool.totalCount;
  }

  get idleCount(): number {
    return this.clientPool.idleCount;
  }

  get waitingCount(): number {
    return this.clientPool.waitingCount;
  }

  /** The internal per-instance pools of this pool (read/write splitting's reader connections). */
  get instancePools(): InternalConnectionPools {
    return this.internal;
  }

  /** mysql2's `pool.promise()`: this pool already has the promise API. */
  promise(): this {
    return this;
  }

  /** The callback-API face of this pool (mysql2's `promisePool.pool`): same connections, mysql2's callback methods. */
  get pool(): AwsMySQLCallbackPool {
    return (this.callbackPool ??= new AwsMySQLCallbackPool(this));
  }

  private async newConnection(): Promise<AwsMySQLPoolConnection> {
    const conn = new AwsMySQLPoolConnection(this.clientConfig, {
      ...(this.services === undefined ? {} : { services: this.services }),
      readerRoutingState: this.readerRoutingState,
    });
    attachInternalPools(coreOf(conn), this.internal);
    // A lost idle connection must not crash the process (mysql2 emits 'error' on its connection).
    conn.on('error', () => undefined);
    await conn.connect();
    return conn;
  }

  private checkout(conn: AwsMySQLPoolConnection): AwsMySQLPoolConnection {
    let released = false;
    conn.release = () => {
      if (released) return;
      released = true;
      this.clientPool.release(conn);
    };
    conn.destroy = () => {
      if (released) return;
      released = true;
      // As mysql2: the connection leaves the pool without a 'release' event.
      this.clientPool.discard(conn);
    };
    return conn;
  }

  private callerStack(entry: (...args: never[]) => unknown): CallerStack | undefined {
    return this.trace ? captureCallerStack(entry) : undefined;
  }

  /** A connection of the pool; give it back with `release()`. */
  getConnection(): Promise<AwsMySQLPoolConnection> {
    const stack = this.callerStack(AwsMySQLPool.prototype.getConnection);
    return withCallerStack(this.clientPool.acquire(), stack).then((c) => this.checkout(c));
  }

  /** mysql2's `pool.releaseConnection(conn)`: the same as `conn.release()`. */
  releaseConnection(connection: AwsMySQLPoolConnection): void {
    if (connection instanceof AwsMySQLPoolConnection) connection.release();
  }

  query<T extends QueryResult>(sql: string, values?: QueryValues): Result<T>;
  query<T extends QueryResult>(options: QueryOptions, values?: QueryValues): Result<T>;
  query<T extends QueryResult>(sql: string | QueryOptions, values?: QueryValues): Result<T> {
    const stack = this.callerStack(AwsMySQLPool.prototype.query);
    return withCallerStack(
      this.run((c) => c.query<T>(sql as string, values)),
      stack,
    );
  }

  execute<T extends QueryResult>(sql: string, values?: ExecuteValues): Result<T>;
  execute<T extends QueryResult>(options: QueryOptions, values?: ExecuteValues): Result<T>;
  execute<T extends QueryResult>(sql: string | QueryOptions, values?: ExecuteValues): Result<T> {
    const stack = this.callerStack(AwsMySQLPool.prototype.execute);
    return withCallerStack(
      this.run((c) => c.execute<T>(sql as string, values)),
      stack,
    );
  }

  /** Internal (also the callback API): runs `fn` on a connection of the pool and releases it (or destroys it after a fatal error). */
  run<R>(fn: (c: AwsMySQLPoolConnection) => Promise<R>): Promise<R> {
    const idle = this.clientPool.takeIdle();
    return idle !== undefined ? this.runOn(idle, fn) : this.clientPool.acquire().then((c) => this.runOn(c, fn));
  }

  private runOn<R>(conn: AwsMySQLPoolConnection, fn: (c: AwsMySQLPoolConnection) => Promise<R>): Promise<R> {
    const core = coreOf(conn);
    const hostBefore = core.currentHost?.hostAndPort;
    return fn(conn).then(
      (result) => {
        this.clientPool.release(conn);
        return result;
      },
      (err: unknown) => {
        const destroy = afterQueryError(this.clientPool, core, hostBefore, err, coreOf) || isReadOnlyError(err);
        this.clientPool.release(conn, destroy ? err : undefined);
        throw err;
      },
    );
  }

  /**
   * Ends the pool as mysql2 does: waiting checkouts fail ('Pool is closed.'), every connection is closed (checked-out
   * ones too, after the statements already sent to them; their `release()` then does nothing); then its internal pools.
   */
  async end(): Promise<void> {
    if (this.connectionsAtEnd !== undefined) {
      await this.clientPool.end(true);
      // mysql2 ends its connections again, and each already closed one fails.
      if (this.connectionsAtEnd > 0) throw closedStateError();
      return;
    }
    this.connectionsAtEnd = this.totalCount;
    this.unobserve?.();
    await this.clientPool.end(true);
    await this.internal.end();
  }

  /** Whether end() was called. */
  get closed(): boolean {
    return this.clientPool.ending;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.clientPool.ending) await this.end();
  }

  [inspect.custom](): string {
    return `AwsMySQLPool ${inspect(this.toJSON())}`;
  }

  toJSON(): Record<string, unknown> {
    return {
      config: safeConfigView(this.clientConfig),
      totalCount: this.totalCount,
      idleCount: this.idleCount,
      waitingCount: this.waitingCount,
    };
  }

  escape(value: unknown): string {
    return mysql.escape(
      value as never,
      Boolean(this.clientConfig.stringifyObjects),
      this.clientConfig.timezone as never,
    );
  }

  // mysql2's typings make its promise Pool a promise Connection (Drizzle's `drizzle(pool)` asks for one); mysql2's
  // runtime pool has none of the members below. They are declared so that this pool type-checks where a mysql2 Pool
  // is expected: the getters are undefined, as on mysql2's pool; the methods fail naming what to use instead.

  /** Undefined, as on mysql2's pool (a pool has no server thread; its typings say `number`). */
  get threadId(): number {
    return undefined as unknown as number;
  }

  /** Undefined, as on mysql2's pool (its typings say `ConnectionState`). */
  get state(): ConnectionState {
    return undefined as unknown as ConnectionState;
  }

  connect(): Promise<void> {
    return Promise.reject(connectionOnly('connect'));
  }

  ping(): Promise<void> {
    return Promise.reject(connectionOnly('ping'));
  }

  reset(): Promise<void> {
    return Promise.reject(connectionOnly('reset'));
  }

  beginTransaction(): Promise<void> {
    return Promise.reject(connectionOnly('beginTransaction'));
  }

  commit(): Promise<void> {
    return Promise.reject(connectionOnly('commit'));
  }

  rollback(): Promise<void> {
    return Promise.reject(connectionOnly('rollback'));
  }

  changeUser(options: ConnectionOptions): Promise<void> {
    void options;
    return Promise.reject(connectionOnly('changeUser'));
  }

  prepare(options: string | QueryOptions): Promise<PreparedStatementInfo> {
    void options;
    return Promise.reject(connectionOnly('prepare'));
  }

  unprepare(sql: string | QueryOptions): void {
    void sql;
    throw connectionOnly('unprepare');
  }

  destroy(): void {
    throw connectionOnly('destroy', 'end the pool with pool.end()');
  }

  pause(): void {
    throw connectionOnly('pause');
  }

  resume(): void {
    throw connectionOnly('resume');
  }

  escapeId(value: string | string[]): string {
    return mysql.escapeId(value);
  }

  format(sql: string, values?: unknown): string {
    return mysql.format(
      sql,
      values as never,
      Boolean(this.clientConfig.stringifyObjects),
      this.clientConfig.timezone as never,
    );
  }
}

/** The error of a connection method called on a pool (mysql2's pool has none of them). */
function connectionOnly(method: string, instead = 'take a connection with pool.getConnection()'): TypeError {
  return new TypeError(`pool.${method}() is not supported (as in mysql2): it belongs to a connection; ${instead}`);
}

/** mysql2/promise's `createPool` for the wrapper. */
export function createPool(config: AwsMySQLPoolConfig | string, init?: AwsMySQLPoolInit): AwsMySQLPool {
  return new AwsMySQLPool(config, init);
}

function coreOf(conn: AwsMySQLClient): ClientCore<unknown> {
  return conn.core as ClientCore<unknown>;
}
