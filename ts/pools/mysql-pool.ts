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
import mysql from 'mysql2/promise';
import type { ExecuteValues, FieldPacket, QueryOptions, QueryResult, QueryValues } from 'mysql2/promise';
import { AwsMySQLClient, type AwsMySQLClientConfig } from '../clients/mysql-client.js';
import type { ClientCore } from '../client-core.js';
import { ConfigurationError } from '../errors.js';
import { checkDuration } from '../option-table.js';
import type { WrapperServices } from '../services.js';
import { ClientPool, type ClientPoolOptions } from './client-pool.js';
import { InternalConnectionPools } from './internal-pools.js';
import { afterQueryError, attachInternalPools, isClientBroken, resetPooledClient, splitPoolConfig } from './pool-support.js';

/** mysql2's pool settings. */
export interface AwsMySQLPoolOptions {
  /** Most connections (default 10). */
  connectionLimit?: number;
  /** Wait for a connection when the pool is full (default true); false fails at once. */
  waitForConnections?: boolean;
  /** Waiting requests allowed (default 0 = no limit). */
  queueLimit?: number;
  /** Idle connections kept from the idle timeout (default connectionLimit). */
  maxIdle?: number;
  /** Idle connections above maxIdle are closed after this many ms (default 60000). */
  idleTimeout?: number;
}

export type AwsMySQLPoolConfig = AwsMySQLClientConfig & AwsMySQLPoolOptions;

export interface AwsMySQLPoolInit {
  readonly services?: WrapperServices;
}

const POOL_KEYS = ['connectionLimit', 'waitForConnections', 'queueLimit', 'maxIdle', 'idleTimeout'] as const;

type Result<T> = Promise<[T, FieldPacket[]]>;

/** A connection checked out of an AwsMySQLPool: an AwsMySQLClient with mysql2's `release()`. */
export class AwsMySQLPoolConnection extends AwsMySQLClient {
  /** Gives the connection back to its pool (a second call does nothing). */
  release: () => void = () => undefined;
  /** Pool-managed: closes the connection and frees its slot. */
  override destroy: () => void = () => super.destroy();
}

function readNumber(options: Record<string, unknown>, key: string, dflt: number, min: number): number {
  const v = options[key];
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min) {
    throw new ConfigurationError(`AwsMySQLPool option '${key}' expects a number ≥ ${min}, got ${JSON.stringify(v)}`, key);
  }
  return n;
}

export class AwsMySQLPool extends EventEmitter {
  readonly config: Readonly<Record<string, unknown>>;
  private readonly clientConfig: Record<string, unknown>;
  private readonly services: WrapperServices | undefined;
  private readonly pool: ClientPool<AwsMySQLPoolConnection>;
  private readonly internal: InternalConnectionPools;

  constructor(config: AwsMySQLPoolConfig | string, init: AwsMySQLPoolInit = {}) {
    super();
    const { all, clientConfig, shown } = splitPoolConfig('mysql2', 'AwsMySQLPool', config, 'uri', POOL_KEYS);
    this.clientConfig = clientConfig;
    this.services = init.services;
    this.config = shown;

    const max = readNumber(all, 'connectionLimit', 10, 1);
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
    this.internal = new InternalConnectionPools({ maxPerHost: max, idleTimeoutMs: poolOptions.idleTimeoutMs > 0 ? poolOptions.idleTimeoutMs : undefined });
    this.pool = new ClientPool<AwsMySQLPoolConnection>(poolOptions, {
      create: () => this.newConnection(),
      destroy: (c) => c.end().catch(() => undefined),
      isBroken: (c) => isClientBroken(coreOf(c)),
      reset: (c) => resetPooledClient(coreOf(c), (ro) => c.setReadOnly(ro)),
      created: (c) => this.emit('connection', c),
      acquired: (c) => this.emit('acquire', c),
      released: (c) => this.emit('release', c),
      enqueued: () => this.emit('enqueue'),
    });
  }

  get totalCount(): number {
    return this.pool.totalCount;
  }

  get idleCount(): number {
    return this.pool.idleCount;
  }

  get waitingCount(): number {
    return this.pool.waitingCount;
  }

  /** The internal per-instance pools of this pool (read/write splitting's reader connections). */
  get instancePools(): InternalConnectionPools {
    return this.internal;
  }

  /** mysql2's `pool.promise()`: this pool already has the promise API. */
  promise(): this {
    return this;
  }

  private async newConnection(): Promise<AwsMySQLPoolConnection> {
    const conn = new AwsMySQLPoolConnection(this.clientConfig as AwsMySQLClientConfig, this.services === undefined ? {} : { services: this.services });
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
      this.pool.release(conn);
    };
    conn.destroy = () => {
      if (released) return;
      released = true;
      this.pool.release(conn, true);
    };
    return conn;
  }

  /** A connection of the pool; give it back with `release()`. */
  async getConnection(): Promise<AwsMySQLPoolConnection> {
    return this.checkout(await this.pool.acquire());
  }

  query<T extends QueryResult>(sql: string, values?: QueryValues): Result<T>;
  query<T extends QueryResult>(options: QueryOptions, values?: QueryValues): Result<T>;
  query<T extends QueryResult>(sql: string | QueryOptions, values?: QueryValues): Result<T> {
    return this.run((c) => c.query<T>(sql as string, values));
  }

  execute<T extends QueryResult>(sql: string, values?: ExecuteValues): Result<T>;
  execute<T extends QueryResult>(options: QueryOptions, values?: ExecuteValues): Result<T>;
  execute<T extends QueryResult>(sql: string | QueryOptions, values?: ExecuteValues): Result<T> {
    return this.run((c) => c.execute<T>(sql as string, values));
  }

  private run<R>(fn: (c: AwsMySQLPoolConnection) => Promise<R>): Promise<R> {
    const idle = this.pool.takeIdle();
    return idle !== undefined ? this.runOn(idle, fn) : this.pool.acquire().then((c) => this.runOn(c, fn));
  }

  private runOn<R>(conn: AwsMySQLPoolConnection, fn: (c: AwsMySQLPoolConnection) => Promise<R>): Promise<R> {
    const core = coreOf(conn);
    const hostBefore = core.currentHost?.hostAndPort;
    return fn(conn).then(
      (result) => {
        this.pool.release(conn);
        return result;
      },
      (err: unknown) => {
        const destroy = afterQueryError(this.pool, core, hostBefore, err, coreOf);
        this.pool.release(conn, destroy ? err : undefined);
        throw err;
      },
    );
  }

  /** Ends the pool: idle connections now, checked-out ones when released; then its internal pools. */
  async end(): Promise<void> {
    await this.pool.end();
    await this.internal.end();
  }

  escape(value: unknown): string {
    return mysql.escape(value as never, Boolean(this.clientConfig.stringifyObjects), this.clientConfig.timezone as never);
  }

  escapeId(value: string | string[]): string {
    return mysql.escapeId(value);
  }

  format(sql: string, values?: unknown): string {
    return mysql.format(sql, values as never, Boolean(this.clientConfig.stringifyObjects), this.clientConfig.timezone as never);
  }
}

/** mysql2/promise's `createPool` for the wrapper. */
export function createPool(config: AwsMySQLPoolConfig | string, init?: AwsMySQLPoolInit): AwsMySQLPool {
  return new AwsMySQLPool(config, init);
}

function coreOf(conn: AwsMySQLClient): ClientCore<unknown> {
  return conn.core as ClientCore<unknown>;
}
