/**
 * AwsPGPool: a `pg.Pool` whose clients are AwsPGClients (plugins apply: failover, monitoring, auth, read/write
 * splitting).
 *
 * It is a subclass of pg.Pool (pg-pool), not a look-alike: `instanceof pg.Pool` holds (Prisma's PrismaPg checks it),
 * it is assignable to pg's `Pool` type without casts (Drizzle, Kysely), and every pool behaviour — queueing, end()
 * semantics and errors, idle / lifetime / maxUses eviction, `expiredCount`, `onConnect`, `verify`, `log`,
 * `poolSize`, callbacks and events — is pg-pool's own code. The wrapper adds through the client class it hands
 * pg-pool and three narrow hooks:
 * - each client takes read/write splitting's instance connections from this pool's own internal pools, ended with
 *   the pool;
 * - a client released with session state changed through the wrapper (setReadOnly, setSchema, …) goes back to the
 *   writer and has its session reset (resetSessionStateOnClose) before pg-pool sees the release;
 * - after a failover, idle clients still connected to the failed instance are ended instead of being handed out.
 *
 * Differences from pg.Pool, by design (docs/drop-in.md):
 * - An idle client's error is emitted only when the pool has an 'error' listener (pg.Pool crashes the process
 *   without one: a failover ends every idle connection at once); the client is removed either way.
 * - A string config is accepted as `{ connectionString }`; the connection string is hidden from util.inspect like
 *   the password.
 */
import pg from 'pg';
import type {
  QueryArrayConfig,
  QueryArrayResult,
  QueryConfig,
  QueryConfigValues,
  QueryResult,
  QueryResultRow,
  Submittable,
} from 'pg';
import { AwsPGClient, copyConfig, type AwsPGClientConfig, type AwsPGClientInit } from '../clients/pg-client.js';
import type { ClientCore } from '../client-core.js';
import { ConfigurationError, FailoverError } from '../errors.js';
import { checkDuration } from '../option-table.js';
import type { HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import { parseConnectProps } from '../options.js';
import { sharedServices, type WrapperServices } from '../services.js';
import { defaultPoolName, observePool } from '../telemetry/pool-metrics.js';
import { InternalConnectionPools } from './internal-pools.js';
import { newReaderRoutingState } from '../reader-routing.js';
import { attachInternalPools, isClientBroken, resetPooledClient } from './pool-support.js';

/** pg.Pool's own settings (pg-pool reads them; the clients ignore them). */
export interface AwsPGPoolOptions {
  /** Most clients (default 10; `poolSize` is pg-pool's older name). */
  max?: number;
  poolSize?: number;
  /** Idle clients kept from the idle timeout (default 0). */
  min?: number;
  /** Idle client timeout in ms (default 10000; 0 = never). */
  idleTimeoutMillis?: number | null;
  /** How long `connect()` waits for a client (default 0 = forever); also the clients' connect timeout, as in pg. */
  connectionTimeoutMillis?: number;
  /** Checkouts after which a client is ended (default Infinity). */
  maxUses?: number;
  /** A client older than this is ended when idle or released (default 0 = no limit). */
  maxLifetimeSeconds?: number;
  /** Idle clients do not keep the process alive (default false). */
  allowExitOnIdle?: boolean;
  /** Runs on every new client before it is handed out; a rejection ends it and fails the checkout. */
  onConnect?: (client: AwsPGPoolClient) => unknown;
  /** Called with each new client; an error passed to the callback fails the checkout. */
  verify?: (client: AwsPGPoolClient, callback: (err?: Error) => void) => void;
  /** pg-pool's debug logger. */
  log?: (...messages: unknown[]) => void;
}

export type AwsPGPoolConfig = AwsPGClientConfig & AwsPGPoolOptions;

export interface AwsPGPoolInit {
  /** Process-wide wrapper state shared with other clients (topology, monitors); defaults to the shared one. */
  readonly services?: WrapperServices;
}

interface AwsPGPoolClientInit extends AwsPGClientInit {
  /** The pool's internal per-instance pools (read/write splitting's reader connections). */
  readonly instancePools?: InternalConnectionPools;
}

/** The pg-pool internals the wrapper hooks use (pg-pool 3.x; stable for years). */
interface PgPoolInternals {
  Client: unknown;
  _idle: Array<{ client: unknown }>;
  _remove(client: unknown, callback?: () => void): void;
  _pulseQueue(): void;
}

const log = getLogger('pg-pool');

const DOUBLE_RELEASE_MESSAGE = 'Release called on client which has already been released to the pool.';

/** A client checked out of an AwsPGPool: an AwsPGClient with pg's PoolClient `release(err?)`. */
export class AwsPGPoolClient extends AwsPGClient {
  /** The release function pg-pool assigns on every checkout. */
  private poolRelease: ((err?: Error | boolean) => void) | undefined;
  private checkedOut = false;
  private readonly releaseFn: (err?: Error | boolean) => void;

  constructor(config?: string | AwsPGClientConfig, init: AwsPGPoolClientInit = {}) {
    super(config, init);
    if (init.instancePools !== undefined) attachInternalPools(coreOf(this), init.instancePools);
    this.releaseFn = (err?: Error | boolean) => this.releaseToPool(err);
    for (const key of ['poolRelease', 'checkedOut', 'releaseFn'] as const)
      Object.defineProperty(this, key, { enumerable: false });
  }

  /**
   * Gives the client back to its pool; a truthy `err` ends it instead. Calling it twice throws, as in pg. Session
   * state changed through the wrapper is reset first (the pool sees the release when that is done).
   */
  get release(): (err?: Error | boolean) => void {
    return this.releaseFn;
  }

  set release(fn: (err?: Error | boolean) => void) {
    this.poolRelease = fn;
    this.checkedOut = true;
  }

  private releaseToPool(err?: Error | boolean): void {
    const poolRelease = this.poolRelease;
    if (poolRelease === undefined) throw new Error('Release called on a client that is not checked out of a pool');
    if (!this.checkedOut) throw new Error(DOUBLE_RELEASE_MESSAGE);
    this.checkedOut = false;
    const core = coreOf(this);
    const service = core.pluginService;
    // Nothing changed through the wrapper (always, for pg code): released at once, as pg.Pool does.
    const needsReset =
      !err && !this._ending && !service.sessionStateTracker.isEmpty && service.options.resetSessionStateOnClose;
    const reset = needsReset
      ? this.serialized(() => resetPooledClient(core, (ro) => core.setReadOnly(ro)) ?? Promise.resolve())
      : undefined;
    if (reset === undefined) {
      poolRelease(err);
      return;
    }
    reset.then(
      () => poolRelease(),
      (resetErr: unknown) => {
        log.debug(
          'Session reset of a released client failed; the client is ended: %s',
          resetErr instanceof Error ? resetErr.message : String(resetErr),
        );
        poolRelease(resetErr instanceof Error ? resetErr : true);
      },
    );
  }
}

/** pg-pool takes any value; the wrapper refuses what cannot be a count or a duration, naming the key. */
function checkNumbers(config: Readonly<Record<string, unknown>>): void {
  for (const key of [
    'max',
    'poolSize',
    'min',
    'idleTimeoutMillis',
    'connectionTimeoutMillis',
    'maxUses',
    'maxLifetimeSeconds',
  ]) {
    const v = config[key];
    if (v === undefined || v === null) continue;
    // Numeric strings (from the environment) work with pg-pool, so they are accepted.
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || Number.isNaN(n) || n < 0) {
      throw new ConfigurationError(`AwsPGPool option '${key}' expects a number ≥ 0, got ${JSON.stringify(v)}`, key);
    }
    if (key === 'idleTimeoutMillis' || key === 'connectionTimeoutMillis') checkDuration('AwsPGPool', key, n);
    else if (key === 'maxLifetimeSeconds') checkDuration('AwsPGPool', key, n, 's');
  }
}

export class AwsPGPool extends pg.Pool {
  private readonly internal!: InternalConnectionPools;
  /** Removes the pool from the telemetry pool metrics (enableTelemetry only). */
  private readonly unobserve: (() => void) | undefined;

  constructor(config: AwsPGPoolConfig | string = {}, init: AwsPGPoolInit = {}) {
    if (config === null || (typeof config !== 'object' && typeof config !== 'string')) {
      throw new TypeError(
        `AwsPGPool config must be a config object or a connection string, got ${config === null ? 'null' : typeof config}`,
      );
    }
    const options = (typeof config === 'string' ? { connectionString: config } : config) as Record<string, unknown>;
    checkNumbers(options);
    // Wrapper options are checked now, as a client would check them, so a typo fails here and not on first use.
    const props = parseConnectProps('pg', copyConfig(options));
    super(options);
    if (typeof this.options.connectionString === 'string') {
      // Like the password, so logging the pool does not show the credentials in the URL.
      Object.defineProperty(this.options, 'connectionString', {
        enumerable: false,
        writable: true,
        configurable: true,
        value: this.options.connectionString,
      });
    }
    const max = this.options.max;
    const idle = this.options.idleTimeoutMillis;
    const internal = new InternalConnectionPools({
      maxPerHost: max,
      idleTimeoutMs: typeof idle === 'number' && idle > 0 ? idle : undefined,
      acquireTimeoutMs: this.options.connectionTimeoutMillis ? this.options.connectionTimeoutMillis : undefined,
    });
    Object.defineProperty(this, 'internal', { enumerable: false, value: internal });
    const d = props.driver;
    const unobserve = observePool(
      init.services ?? sharedServices(),
      props.options,
      defaultPoolName(d.host ?? pg.defaults.host, d.port ?? pg.defaults.port, d.database ?? pg.defaults.database),
      max,
      this,
    );
    Object.defineProperty(this, 'unobserve', { enumerable: false, value: unobserve });
    const internals = this as unknown as PgPoolInternals;
    if (options.Client === undefined) {
      const services = init.services;
      // readerRouting's read-your-writes window covers every client of the pool.
      const readerRoutingState = newReaderRoutingState();
      const onFailure = (client: AwsPGPoolClient, host: HostInfo | undefined) => this.evictAfterFailure(client, host);
      internals.Client = class PooledAwsPGClient extends AwsPGPoolClient {
        constructor(clientConfig: AwsPGClientConfig) {
          super(clientConfig, { services, instancePools: internal, readerRoutingState });
        }

        protected override callFailed(err: unknown, hostBefore: HostInfo | undefined): void {
          // A failover or a lost connection means that instance is gone (or no longer the writer) for every client.
          if (err instanceof FailoverError || coreOf(this).pluginService.isNetworkError(err))
            onFailure(this, hostBefore);
        }
      };
    }
  }

  /** The internal per-instance pools of this pool (read/write splitting's reader connections). */
  get instancePools(): InternalConnectionPools {
    return this.internal;
  }

  /** An idle client's error reaches 'error' listeners; without one it is logged, not a crash (see the header). */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error' && this.listenerCount('error') === 0) {
      const err = args[0];
      log.debug(
        'An idle pooled client lost its connection and was removed: %s',
        err instanceof Error ? err.message : String(err),
      );
      return false;
    }
    return super.emit(event, ...args);
  }

  /**
   * After a failover or a connection loss seen by one client, idle clients on that instance (or already broken) are
   * ended rather than handed out: they have not noticed yet.
   */
  private evictAfterFailure(from: AwsPGPoolClient, failed: HostInfo | undefined): void {
    const internals = this as unknown as PgPoolInternals;
    for (const item of internals._idle.slice()) {
      const client = item.client;
      if (client === from || !(client instanceof AwsPGClient)) continue;
      const core = coreOf(client);
      if (isClientBroken(core) || (failed !== undefined && core.currentHost?.hostAndPort === failed.hostAndPort)) {
        internals._remove(client, () => internals._pulseQueue());
      }
    }
  }

  override connect(): Promise<AwsPGPoolClient>;
  override connect(
    callback: (
      err: Error | undefined,
      client: AwsPGPoolClient | undefined,
      done: (release?: Error | boolean) => void,
    ) => void,
  ): void;
  override connect(
    callback?: (
      err: Error | undefined,
      client: AwsPGPoolClient | undefined,
      done: (release?: Error | boolean) => void,
    ) => void,
  ): Promise<AwsPGPoolClient> | void {
    return (super.connect as (cb?: unknown) => Promise<AwsPGPoolClient> | void)(callback);
  }

  // pg.Pool's overloads (rowMode: 'array' included), with `unknown` where @types/pg says `any`.
  override query<T extends Submittable>(queryStream: T): T;
  override query<R extends unknown[] = unknown[], I = unknown[]>(
    queryConfig: QueryArrayConfig<I>,
    values?: QueryConfigValues<I>,
  ): Promise<QueryArrayResult<R>>;
  override query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    values?: QueryConfigValues<I>,
  ): Promise<QueryResult<R>>;
  override query<R extends unknown[] = unknown[], I = unknown[]>(
    queryConfig: QueryArrayConfig<I>,
    callback: (err: Error | undefined, result: QueryArrayResult<R>) => void,
  ): void;
  override query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    callback: (err: Error | undefined, result: QueryResult<R>) => void,
  ): void;
  override query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryText: string,
    values: QueryConfigValues<I>,
    callback: (err: Error | undefined, result: QueryResult<R>) => void,
  ): void;
  override query(text: unknown, values?: unknown, callback?: unknown): unknown {
    return (super.query as (t: unknown, v?: unknown, c?: unknown) => unknown)(text, values, callback);
  }

  /** pg.Pool#end (a second call fails with pg-pool's error), then this pool's internal pools. */
  override end(): Promise<void>;
  override end(callback: (err?: Error) => void): void;
  override end(callback?: (err?: Error) => void): Promise<void> | void {
    if (this.ending) return (super.end as (cb?: unknown) => Promise<void> | void)(callback);
    this.unobserve?.();
    const ended = super.end().then(() => this.internal.end());
    if (callback === undefined) return ended;
    ended.then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }
}

function coreOf(client: AwsPGClient): ClientCore<unknown> {
  return client.core as ClientCore<unknown>;
}
