/**
 * AwsPGPool: a drop-in for `pg.Pool` whose clients are AwsPGClients (plugins apply: failover, monitoring, auth,
 * read/write splitting). Same config (pg.Pool's keys plus wrapper options), same API: `connect()` (promise or
 * callback `(err, client, done)`), `client.release(err?)` (a truthy argument ends the client), `query()` in every
 * pg form, `end()`, `totalCount` / `idleCount` / `waitingCount`, events `connect`, `acquire`, `release`, `remove`,
 * `error` (an idle client's error, after it was removed).
 *
 * Each pool is self-contained: its own clients, limits and internal per-instance pools (for the reader connections
 * of read/write splitting); ending it ends only them. Clients are reused across checkouts, never created per
 * query. Differences from pg.Pool, by design:
 * - `pool.query` keeps a client whose statement failed with a database error (pg.Pool ends it); it ends it on a
 *   connection loss or a failed failover. After a failover, idle clients still connected to the failed instance are
 *   ended rather than handed out.
 * - An idle client's error is emitted only when the pool has an 'error' listener (pg.Pool crashes the process
 *   without one: a failover ends every idle connection at once); the client is removed either way.
 * - A client released with session state changed through the wrapper (setReadOnly, setSchema, …) is reset first
 *   (resetSessionStateOnClose): back to the writer, `RESET ALL`.
 */
import { EventEmitter } from 'node:events';
import type { QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { AwsPGClient, type AwsPGClientConfig } from '../clients/pg-client.js';
import type { PgDriverDialect } from '../dialects/driver/pg.js';
import type { ClientCore } from '../client-core.js';
import { ConfigurationError } from '../errors.js';
import { checkDuration } from '../option-table.js';
import { getLogger } from '../logger.js';
import type { WrapperServices } from '../services.js';
import { ClientPool, type ClientPoolOptions } from './client-pool.js';
import { InternalConnectionPools } from './internal-pools.js';
import { afterQueryError, attachInternalPools, isClientBroken, resetPooledClient, splitPoolConfig } from './pool-support.js';

/** pg.Pool's own settings, kept out of the clients' config. */
export interface AwsPGPoolOptions {
  /** Most clients (default 10). */
  max?: number;
  /** Idle clients kept from the idle timeout (default 0). */
  min?: number;
  /** Idle client timeout in ms (default 10000; 0 = never). */
  idleTimeoutMillis?: number;
  /** How long `connect()` waits for a client (default 0 = forever); also the clients' connect timeout, as in pg. */
  connectionTimeoutMillis?: number;
  /** Checkouts after which a client is ended (default Infinity). */
  maxUses?: number;
  /** A client older than this is ended when released (default 0 = no limit). */
  maxLifetimeSeconds?: number;
  /** Idle clients do not keep the process alive (default false). */
  allowExitOnIdle?: boolean;
}

export type AwsPGPoolConfig = AwsPGClientConfig & AwsPGPoolOptions;

export interface AwsPGPoolInit {
  /** Process-wide wrapper state shared with other clients (topology, monitors); defaults to the shared one. */
  readonly services?: WrapperServices;
}

const log = getLogger('pg-pool');

const POOL_KEYS = ['max', 'min', 'idleTimeoutMillis', 'maxUses', 'maxLifetimeSeconds', 'allowExitOnIdle', 'log', 'Client', 'verify', 'Promise'] as const;

type QueryCallback<R> = (err: Error | null, result?: R) => void;

/** A client checked out of an AwsPGPool: an AwsPGClient with pg's PoolClient `release(err?)`. */
export class AwsPGPoolClient extends AwsPGClient {
  /** Gives the client back to its pool; a truthy `err` ends it instead. Calling it twice throws, as in pg. */
  release: (err?: Error | boolean) => void = () => {
    throw new Error('Release called on a client that is not checked out of a pool');
  };
}

function readNumber(options: Record<string, unknown>, key: string, dflt: number, min: number, allowInfinity = false): number {
  const v = options[key];
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || Number.isNaN(n) || n < min || (!allowInfinity && !Number.isFinite(n))) {
    throw new ConfigurationError(`AwsPGPool option '${key}' expects a number ≥ ${min}, got ${JSON.stringify(v)}`, key);
  }
  return n;
}

export class AwsPGPool extends EventEmitter {
  /** The pool's own settings and the clients' config, as pg.Pool exposes `options` (password hidden). */
  readonly options: Readonly<Record<string, unknown>>;
  private readonly clientConfig: Record<string, unknown>;
  private readonly services: WrapperServices | undefined;
  private readonly pool: ClientPool<AwsPGPoolClient>;
  private readonly internal: InternalConnectionPools;

  constructor(config: AwsPGPoolConfig | string = {}, init: AwsPGPoolInit = {}) {
    super();
    const { all, clientConfig, shown } = splitPoolConfig('pg', 'AwsPGPool', config, 'connectionString', POOL_KEYS);
    this.clientConfig = clientConfig;
    this.services = init.services;
    this.options = shown;

    const max = readNumber(all, 'max', 10, 1);
    const poolOptions: ClientPoolOptions = {
      max,
      min: readNumber(all, 'min', 0, 0),
      idleTimeoutMs: checkDuration('AwsPGPool', 'idleTimeoutMillis', readNumber(all, 'idleTimeoutMillis', 10_000, 0)),
      acquireTimeoutMs: checkDuration('AwsPGPool', 'connectionTimeoutMillis', readNumber(all, 'connectionTimeoutMillis', 0, 0)),
      queueLimit: 0,
      maxUses: readNumber(all, 'maxUses', Infinity, 1, true),
      maxLifetimeMs: checkDuration('AwsPGPool', 'maxLifetimeSeconds', readNumber(all, 'maxLifetimeSeconds', 0, 0), 's') * 1000,
      allowExitOnIdle: all.allowExitOnIdle === true,
      waitForClients: true,
    };
    this.internal = new InternalConnectionPools({
      maxPerHost: max,
      idleTimeoutMs: poolOptions.idleTimeoutMs > 0 ? poolOptions.idleTimeoutMs : undefined,
      acquireTimeoutMs: poolOptions.acquireTimeoutMs > 0 ? poolOptions.acquireTimeoutMs : undefined,
    });
    this.pool = new ClientPool<AwsPGPoolClient>(poolOptions, {
      create: () => this.newClient(),
      destroy: (c) => c.end().catch(() => undefined),
      isBroken: (c) => isClientBroken(coreOf(c)),
      reset: (c) => resetPooledClient(coreOf(c), (ro) => c.setReadOnly(ro)),
      onIdle: (c) => this.watchIdle(c),
      created: (c) => this.emit('connect', c),
      acquired: (c) => this.emit('acquire', c),
      released: (c, err) => this.emit('release', err instanceof Error ? err : undefined, c),
      removed: (c) => this.emit('remove', c),
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

  get ending(): boolean {
    return this.pool.ending;
  }

  get ended(): boolean {
    return this.pool.ended;
  }

  /** The internal per-instance pools of this pool (read/write splitting's reader connections). */
  get instancePools(): InternalConnectionPools {
    return this.internal;
  }

  private async newClient(): Promise<AwsPGPoolClient> {
    const client = new AwsPGPoolClient(this.clientConfig as AwsPGClientConfig, this.services === undefined ? {} : { services: this.services });
    attachInternalPools(coreOf(client), this.internal);
    await client.connect();
    return client;
  }

  /** pg.Pool: an idle client's error removes it and is emitted on the pool. */
  private watchIdle(client: AwsPGPoolClient): () => void {
    const listener = (err: Error) => {
      (err as Error & { client?: unknown }).client = client;
      this.pool.remove(client);
      // Unlike pg.Pool, no listener means no crash: a failover kills every idle connection at once (peer #620).
      if (this.listenerCount('error') > 0) this.emit('error', err, client);
      else log.debug('An idle pooled client lost its connection and was removed: %s', err.message);
    };
    client.on('error', listener);
    if (this.pool.options.allowExitOnIdle) client.unref();
    return () => {
      client.removeListener('error', listener);
      if (this.pool.options.allowExitOnIdle) client.ref();
    };
  }

  private checkout(client: AwsPGPoolClient): AwsPGPoolClient {
    let released = false;
    client.release = (err?: Error | boolean) => {
      if (released) throw new Error('Release called on client which has already been released to the pool.');
      released = true;
      this.pool.release(client, err);
    };
    return client;
  }

  connect(): Promise<AwsPGPoolClient>;
  connect(callback: (err: Error | undefined, client: AwsPGPoolClient | undefined, done: (err?: Error | boolean) => void) => void): void;
  connect(callback?: (err: Error | undefined, client: AwsPGPoolClient | undefined, done: (err?: Error | boolean) => void) => void): Promise<AwsPGPoolClient> | void {
    const promise = this.pool.acquire().then((c) => this.checkout(c));
    if (callback === undefined) return promise;
    promise.then(
      (c) => callback(undefined, c, c.release),
      (err: Error) =>
        callback(err, undefined, () => {
          /* nothing to release */
        }),
    );
  }

  query<R extends QueryResultRow = QueryResultRow>(queryTextOrConfig: string | QueryConfig<unknown[]>, values?: readonly unknown[]): Promise<QueryResult<R>>;
  query<R extends QueryResultRow = QueryResultRow>(queryTextOrConfig: string | QueryConfig<unknown[]>, callback: QueryCallback<QueryResult<R>>): void;
  query<R extends QueryResultRow = QueryResultRow>(queryText: string | QueryConfig<unknown[]>, values: readonly unknown[], callback: QueryCallback<QueryResult<R>>): void;
  query(config: string | QueryConfig<unknown[]>, values?: unknown, callback?: unknown): Promise<QueryResult> | void {
    let vals = values;
    let cb = callback;
    if (typeof values === 'function') {
      cb = values;
      vals = undefined;
    }
    if (cb === undefined && typeof config === 'object' && config !== null && typeof (config as { callback?: unknown }).callback === 'function') {
      cb = (config as { callback?: unknown }).callback;
    }
    const idle = this.pool.takeIdle();
    const promise = idle !== undefined ? this.queryOn(idle, config, vals) : this.pool.acquire().then((c) => this.queryOn(c, config, vals));
    if (typeof cb !== 'function') return promise;
    const userCallback = cb as QueryCallback<QueryResult>;
    promise.then(
      (r) => userCallback(null, r),
      (err: Error) => userCallback(err),
    );
  }

  /**
   * Runs one statement on a client this call has to itself: straight through the client's plugin pipeline to the
   * driver dialect (AwsPGClient.query would also queue it behind the client's earlier calls; there are none).
   */
  private queryOn(client: AwsPGPoolClient, config: string | QueryConfig<unknown[]>, values: unknown): Promise<QueryResult> {
    const core = client.core;
    const host = core.currentHost;
    const dialect = core.driverDialect as PgDriverDialect;
    const timeout = core.props.options.socketTimeout;
    return core.execute('Client.query', [config, values], (conn) => dialect.query<QueryResult>(conn, config, values, timeout)).then(
      (result) => {
        this.pool.release(client);
        return result;
      },
      (err: unknown) => {
        const destroy = afterQueryError(this.pool, coreOf(client), host?.hostAndPort, err, coreOf) || client.getTransactionStatus() === 'E';
        this.pool.release(client, destroy ? err : undefined);
        throw err;
      },
    );
  }

  /** Ends the pool: idle clients now, checked-out ones when released; then its internal pools. */
  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  end(callback?: (err?: Error) => void): Promise<void> | void {
    const promise = this.pool.end().then(() => this.internal.end());
    if (callback === undefined) return promise;
    promise.then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }
}

function coreOf(client: AwsPGClient): ClientCore<unknown> {
  return client.core as ClientCore<unknown>;
}
