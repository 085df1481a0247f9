/**
 * AwsPGClient: a drop-in for `pg.Client` whose physical connection is managed by the wrapper (failover, read/write
 * splitting, monitoring). Every `query` form of pg.Client works, with callbacks and promises; Submittables
 * (pg-query-stream, pg-cursor) are returned synchronously; pg's events are forwarded from whichever physical
 * connection is current; driver errors reach the caller unchanged.
 *
 * The config is resolved the way pg resolves it (connection string, PG* environment variables, `pg.defaults`), and
 * the wrapper's host logic (RDS URL detection, topology) uses that effective host. pg's queue semantics are kept:
 * queries issued before connect() wait for it, 'drain' is emitted once when the queue empties, end() lets pipelined
 * queries finish and fails the others with pg's 'Connection terminated', and promise rejections carry the caller's
 * async stack frames as in pg.
 *
 * Differences from pg.Client, by design (docs/drop-in.md):
 * - 'error' events are forwarded only while the client has an 'error' listener; without one, a lost idle connection
 *   does not crash the process (the next query reports it, and failover can act on it). With statements in flight,
 *   the event comes after they have settled (pg emits it first), and not at all when failover replaced the
 *   connection: the statements report the outcome (FailoverSuccessError) and the client is not broken.
 * - LISTEN registrations and other server-side session state the wrapper does not track live on the physical
 *   connection: after a connection switch (failover) the application re-issues them (FailoverSuccessError says so).
 * - socketTimeout (wrapper option) bounds promise and callback queries; Submittables are not bounded.
 * - Queued queries are held here, not in pg's queue (each is handed to pg when the previous finished, or with pg's
 *   `pipeline` option when it was sent), so plugins can act between them; pg's deprecation warning for a query
 *   issued while another runs is not printed.
 * - end() called while connect() is running: connect(callback) gets pg's connection error (pg never calls it back;
 *   pg-pool's connection timeout needs it); the promise stays pending, as in pg.
 * - copyFrom / copyTo (declared by @types/pg, implemented only by pg-native) throw; use pg-copy-streams.
 */
/// <reference path="../dialects/driver/pg-internals.d.ts" />
import { EventEmitter } from 'node:events';
import pg from 'pg';
import ConnectionParameters from 'pg/lib/connection-parameters.js';
import type { Readable, Writable } from 'node:stream';
import type {
  ClientConfig,
  QueryArrayConfig,
  QueryArrayResult,
  QueryConfig,
  QueryConfigValues,
  QueryResult,
  QueryResultRow,
  Submittable,
  TransactionStatus,
} from 'pg';
import { ClientCore } from '../client-core.js';
import type { IsolationLevel } from '../dialects/types.js';
import { PgDriverDialect } from '../dialects/driver/pg.js';
import { ConfigurationError, ConnectionAbortedError, UnsupportedOperationError } from '../errors.js';
import { redactUrl } from '../logger.js';
import { parseConnectProps } from '../options.js';
import type { HostInfo } from '../host-info.js';
import type { ClientMethod } from '../plugin.js';
import type { WrapperServices } from '../services.js';
import { ReaderRouter, type ReaderRoutingState } from '../reader-routing.js';

/**
 * pg.Client's config plus wrapper options (camelCase, or the seed's snake_case names). A value typed as pg's
 * `ClientConfig` is accepted as it is: an interface has no index signature, so it needs its own union member.
 */
export type AwsPGClientConfig = ClientConfig | (ClientConfig & { readonly [wrapperOption: string]: unknown });

export interface AwsPGClientInit {
  /** Process-wide state; defaults to the shared one. Tests pass a fresh `new WrapperServices()`. */
  readonly services?: WrapperServices;
  /** readerRouting's read-your-writes clock, shared by the clients of one pool (AwsPGPool passes its own). */
  readonly readerRoutingState?: ReaderRoutingState;
}

/**
 * pg.Client events forwarded from the current physical connection. 'drain' is the client's own: the physical
 * connection drains after every statement, since statements reach it one at a time.
 */
const FORWARDED_EVENTS = ['notice', 'notification', 'error', 'end'] as const;

/** pg's errors, word for word: a query issued after end(), and one issued before end() that never ran. */
const CLOSED_ERROR_MESSAGE = 'Client was closed and is not queryable';
const TERMINATED_ERROR_MESSAGE = 'Connection terminated';

/** pg.Pool's own keys: pg.Pool hands its whole config to each client, and pg.Client ignores them. */
const POOL_KEYS = [
  'max',
  'min',
  'poolSize',
  'idleTimeoutMillis',
  'maxUses',
  'maxLifetimeSeconds',
  'allowExitOnIdle',
  'log',
  'Client',
  'verify',
  'Promise',
  'onConnect',
];

/**
 * The user's config as an own, enumerable copy: pg.Pool and Knex pass `password` as a non-enumerable property
 * (so logging the config does not show it), which a spread would drop.
 */
export function copyConfig(config: string | AwsPGClientConfig | undefined | null): Record<string, unknown> {
  if (typeof config === 'string') return { connectionString: config };
  const out: Record<string, unknown> = { ...(config ?? {}) };
  // Both may be hidden (non-enumerable) by pg.Pool, Knex or AwsPGPool.
  for (const key of ['password', 'connectionString'])
    if (config && key in config) out[key] = (config as Record<string, unknown>)[key];
  for (const key of POOL_KEYS) delete out[key];
  return out;
}

/** Replaces the stack of an error raised on the socket with one that leads back to the caller, as pg does. */
function withCallerStack(err: unknown): never {
  if (err instanceof Error) Error.captureStackTrace(err);
  throw err;
}

function isSubmittable(value: unknown): value is Submittable {
  return typeof value === 'object' && value !== null && typeof (value as { submit?: unknown }).submit === 'function';
}

/** pg.Client#ref / #unref (not in @types/pg). */
function refable(conn: pg.Client | undefined): { ref(): void; unref(): void } | undefined {
  return conn as unknown as { ref(): void; unref(): void } | undefined;
}

/** A promise that settles once and never reports an unhandled rejection by itself. */
class Gate {
  readonly promise: Promise<void>;
  settled = false;
  private resolveFn!: () => void;
  private rejectFn!: (err: unknown) => void;
  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    this.promise.catch(() => undefined);
  }
  open(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveFn();
  }
  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(err);
  }
}

export class AwsPGClient extends EventEmitter {
  /** The wrapper engine (plugin service, plugins, driver dialect). Advanced use and tests. */
  readonly core: ClientCore<pg.Client>;
  private readonly dialect: PgDriverDialect;
  private readonly typeOverrides: pg.TypeOverrides;
  /** host, port, user, database, ssl as pg resolves them from the config, PG* variables and pg.defaults. */
  private readonly params: ConnectionParameters;
  /** pg's deprecated `Promise` option: the class connect(), query() and end() return instances of. */
  private readonly customPromise: PromiseConstructor | undefined;
  /** Opens when connect() succeeds; queries issued earlier wait on it, as pg queues them. */
  private readonly connected = new Gate();
  private connectPromise: Promise<this> | undefined;
  /** The engine's connect, settled either way (what end() waits for before closing). */
  private connectAttempt: Promise<void> | undefined;
  private endPromise: Promise<void> | undefined;
  /** Queries reach the driver in call order even when the pipeline takes different times for each. */
  private turn: Promise<void> = Promise.resolve();
  private readonly forwarders = new Map<pg.Client, Array<[string, (...args: unknown[]) => void]>>();
  private unrefd = false;
  private readonly pipelined: boolean;
  /** end() without pipeline: calls issued before it that have not started fail with 'Connection terminated'. */
  private terminating = false;
  /** query() / Submittable calls not finished yet: 'drain' is emitted when this drops to 0, as pg does. */
  private pendingQueries = 0;
  /** pauseDrain(): 0 = not paused, 1 = paused, >1 = paused and a 'drain' was held back. */
  private drainPaused = 0;
  /** pg.Client's `binary` option (or pg.defaults.binary). */
  readonly binary: boolean;
  /** readerRouting (undefined when off: statements are not classified). */
  private readonly router: ReaderRouter | undefined;

  constructor(config?: string | AwsPGClientConfig, init: AwsPGClientInit = {}) {
    super();
    if (config !== undefined && config !== null && typeof config !== 'string' && typeof config !== 'object') {
      throw new TypeError(`AwsPGClient config must be a connection string or a config object, got ${typeof config}`);
    }
    const userConfig = copyConfig(config);
    const promiseOption =
      typeof config === 'object' && config !== null ? (config as { Promise?: unknown }).Promise : undefined;
    this.customPromise =
      typeof promiseOption === 'function' && promiseOption !== Promise
        ? (promiseOption as PromiseConstructor)
        : undefined;
    Object.defineProperty(this, 'customPromise', { enumerable: false });
    // pg's own resolution; the wrapper then works with the host, port, user and database pg would use.
    try {
      this.params = new ConnectionParameters(userConfig);
    } catch (err) {
      // pg's URL errors carry the whole connection string (TypeError#input): the wrapper's parser names what is
      // wrong with the password masked, and anything it lets through is reported masked too.
      parseConnectProps('pg', userConfig);
      const url = typeof userConfig.connectionString === 'string' ? userConfig.connectionString : '';
      throw new ConfigurationError(
        `Option 'connectionString' expects a valid postgres:// URL, got '${redactUrl(url)}'`,
        'connectionString',
      );
    }
    Object.defineProperty(this, 'params', { enumerable: false });
    // (A password from the connection string wins over an explicit one, as in pg; none leaves pg's pgpass lookup.)
    for (const key of ['host', 'port', 'user', 'database', 'password'] as const) {
      const value = (this.params as unknown as Record<string, unknown>)[key];
      if (value !== undefined && value !== null && !Number.isNaN(value)) userConfig[key] = value;
    }
    // One TypeOverrides shared by every physical connection, so setTypeParser survives connection switches.
    this.typeOverrides = new pg.TypeOverrides(userConfig.types as ConstructorParameters<typeof pg.TypeOverrides>[0]);
    userConfig.types = this.typeOverrides;
    this.dialect = new PgDriverDialect();
    this.core = new ClientCore<pg.Client>({
      driver: 'pg',
      driverDialect: this.dialect,
      config: userConfig,
      services: init.services,
    });
    this.pipelined = Boolean(this.core.props.driver.pipeline);
    this.binary = Boolean(this.core.props.driver.binary || pg.defaults.binary);
    // The engine holds the driver config (password included): keep it out of util.inspect / console.log output.
    Object.defineProperty(this, 'core', { enumerable: false });
    this.router = ReaderRouter.create(this.core as ClientCore<unknown>, init.readerRoutingState);
    Object.defineProperty(this, 'router', { enumerable: false });
    this.core.on('connectionChanged', (newConn: pg.Client, oldConn: pg.Client | undefined) =>
      this.moveForwarding(newConn, oldConn),
    );
    // `failover` ({ from, to, durationMs, error, outcome, mode }) after every failover, successful or not.
    this.core.on('failover', (event: unknown) => this.emit('failover', event));
  }

  // ---- public fields of pg.Client, where meaningful -------------------------------------------------------------

  /** The host of the current connection (it changes on failover); before connect, the host pg resolves. */
  get host(): string {
    return this.core.currentHost?.host ?? this.params.host;
  }

  get port(): number {
    const current = this.core.currentHost;
    if (current !== undefined && current.port > 0) return current.port;
    return this.params.port;
  }

  get user(): string | undefined {
    return this.params.user;
  }

  get database(): string | undefined {
    return this.params.database;
  }

  /** As pg.Client#connectionParameters: the resolved config (its password is non-enumerable, as in pg). */
  get connectionParameters(): Readonly<Record<string, unknown>> {
    return this.params as unknown as Readonly<Record<string, unknown>>;
  }

  /**
   * As pg.Client#password: the configured password (config, PGPASSWORD or pg.defaults; null when none). A prototype
   * getter, so util.inspect / JSON.stringify never show it (pg hides it the same way).
   */
  get password(): string | undefined {
    return (this.params as unknown as { password?: string }).password;
  }

  /** As pg.Client#ssl: the resolved ssl setting (`false`, `true` or the TLS options). */
  get ssl(): boolean {
    return (this.params.ssl || false) as boolean;
  }

  /** pg's `pipeline` option. */
  get pipeline(): boolean {
    return this.pipelined;
  }

  /**
   * pg's protocol connection of the current physical client. @types/pg declares it on Client; it changes on failover,
   * so do not keep it. Before connect there is none yet: an inert emitter stands in, so code that listens on it
   * before connecting, as pg allows (Sequelize: 'parameterStatus'), does not throw; the handshake's events are not
   * replayed to it (Sequelize then asks the server version with a query). Its `stream.destroy()` ends the client.
   */
  get connection(): pg.Connection {
    const current = this.core.connectionOrUndefined?.connection;
    if (current !== undefined) return current;
    if (this.unconnected === undefined) {
      // pg-pool's connection timeout destroys `connection.stream` of a client still connecting: that is end() here.
      const stand = Object.assign(new EventEmitter(), { stream: { destroy: () => void this.end().catch(() => {}) } });
      Object.defineProperty(this, 'unconnected', { enumerable: false, value: stand });
    }
    return this.unconnected as unknown as pg.Connection;
  }

  declare private readonly unconnected: EventEmitter | undefined;

  /** A lost connection's 'error' seen while statements were in flight, emitted once they have settled if no failover replaced it. */
  private deferredError: { error: unknown } | undefined = undefined;

  /** pg-pool's contract with its clients: a client being ended is not put back. */
  get _ending(): boolean {
    return this.endPromise !== undefined;
  }

  /** pg-pool's contract with its clients: a client whose connection failed is not put back. */
  get _queryable(): boolean {
    const conn = this.core.connectionOrUndefined;
    return conn === undefined || this.endPromise !== undefined || !this.dialect.isClosed(conn);
  }

  /** Connected and not ended (pg-pool asks this of clients that have no `connection` yet). */
  isConnected(): boolean {
    return this.connected.settled && this.core.connectionOrUndefined !== undefined && this.endPromise === undefined;
  }

  /** Backend process id of the current physical connection (null before connect), as in pg.Client. */
  get processID(): number | null {
    const conn = this.core.connectionOrUndefined as { processID?: number | null } | undefined;
    return conn?.processID ?? null;
  }

  // ---- connect / end --------------------------------------------------------------------------------------------

  connect(): Promise<this>;
  connect(callback: (err: Error | null, client?: AwsPGClient) => void): void;
  connect(callback?: (err: Error | null, client?: AwsPGClient) => void): Promise<this> | void {
    if (this.connectPromise !== undefined || this.endPromise !== undefined) {
      const err = new Error('Client has already been connected. You cannot reuse a client.');
      if (callback === undefined) return this.asCustomPromise(Promise.reject(err));
      process.nextTick(callback, err);
      return;
    }
    let resolveConnect!: (client: this) => void;
    let rejectConnect!: (err: unknown) => void;
    const promise = (this.connectPromise = new Promise<this>((resolve, reject) => {
      resolveConnect = resolve;
      rejectConnect = reject;
    }));
    // The callback form never rejects the promise (nobody holds it).
    if (callback !== undefined) promise.catch(() => undefined);
    const attempt = this.core.connect();
    this.connectAttempt = attempt.catch(() => undefined);
    attempt.then(
      () => {
        if (this.endPromise !== undefined) {
          // end() was called while connecting: the connection is closed right after. pg never settles connect()
          // then (`client.connect(); client.end()` must not become an unhandled rejection); the callback form is
          // told, so that pg-pool's connection timeout (which ends a client still connecting) completes.
          const err = new Error(TERMINATED_ERROR_MESSAGE);
          this.connected.fail(err);
          if (callback !== undefined) process.nextTick(callback, err);
          return;
        }
        this.connected.open();
        // pg calls back (or resolves) before it emits 'connect'.
        resolveConnect(this);
        if (callback !== undefined) {
          process.nextTick(() => {
            try {
              callback(null, this);
            } finally {
              this.emit('connect');
            }
          });
        } else {
          this.emit('connect');
        }
      },
      (err: unknown) => {
        // As pg: queued queries fail with 'Connection terminated unexpectedly' (or 'Connection terminated' after
        // end()), and the client emits 'end' once the connection attempt is over.
        const terminated = new Error(
          this.endPromise === undefined ? 'Connection terminated unexpectedly' : TERMINATED_ERROR_MESSAGE,
        );
        process.nextTick(() => {
          this.emit('end');
          this.connected.fail(terminated);
        });
        if (callback !== undefined) process.nextTick(callback, err);
        // Ended while connecting: the promise stays pending, as in pg (see above).
        else if (this.endPromise === undefined) rejectConnect(err);
      },
    );
    if (callback === undefined) return this.asCustomPromise(promise);
  }

  /**
   * As pg.Client#end: with pg's `pipeline` option the queries already issued finish first; without it the one
   * running and those still queued fail with 'Connection terminated'. Calls issued afterwards fail with 'Client was
   * closed and is not queryable'.
   */
  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  end(callback?: (err?: Error) => void): Promise<void> | void {
    if (this.endPromise === undefined) {
      const issued = this.pipelined ? this.turn : undefined;
      if (!this.pipelined) this.terminating = true;
      this.connected.fail(new Error(TERMINATED_ERROR_MESSAGE));
      const connecting = this.connectAttempt;
      // A connection still being opened is abandoned at once (pg destroys its socket).
      if (connecting !== undefined && !this.connected.settled) this.dialect.abortConnecting();
      this.endPromise = (async () => {
        if (connecting !== undefined) await connecting;
        if (issued !== undefined) await issued;
        const conn = this.core.connectionOrUndefined;
        await this.core.end();
        // A connection that already failed is not ended through the pipeline; pg still needs end() so that its
        // socket's close is the expected one ('end', no second 'error'), as on a raw pg.Client.
        if (conn !== undefined) await this.dialect.end(conn, this.core.pluginService.auxiliaryQueryTimeoutMs);
      })();
    }
    if (callback === undefined) return this.asCustomPromise(this.endPromise);
    this.endPromise.then(
      () => process.nextTick(callback),
      (err: Error) => process.nextTick(callback, err),
    );
  }

  /** `p` as an instance of the configured `Promise` class, if any (pg's deprecated option). */
  private asCustomPromise<T>(p: Promise<T>): Promise<T> {
    const P = this.customPromise;
    return P === undefined ? p : new P<T>((resolve, reject) => void p.then(resolve, reject));
  }

  // ---- query ----------------------------------------------------------------------------------------------------

  // pg's own overloads (@types/pg), so an AwsPGClient is accepted wherever a pg.Client is expected.
  query<T extends Submittable>(queryStream: T): T;
  query<R extends unknown[] = unknown[], I = unknown[]>(
    queryConfig: QueryArrayConfig<I>,
    values?: QueryConfigValues<I>,
  ): Promise<QueryArrayResult<R>>;
  query<R extends QueryResultRow = QueryResultRow, I = unknown>(queryConfig: QueryConfig<I>): Promise<QueryResult<R>>;
  query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    values?: QueryConfigValues<I>,
  ): Promise<QueryResult<R>>;
  query<R extends unknown[] = unknown[], I = unknown[]>(
    queryConfig: QueryArrayConfig<I>,
    callback: (err: Error, result: QueryArrayResult<R>) => void,
  ): void;
  query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryTextOrConfig: string | QueryConfig<I>,
    callback: (err: Error, result: QueryResult<R>) => void,
  ): void;
  query<R extends QueryResultRow = QueryResultRow, I = unknown[]>(
    queryText: string,
    values: QueryConfigValues<I>,
    callback: (err: Error, result: QueryResult<R>) => void,
  ): void;
  query(config: unknown, values?: unknown, callback?: unknown): unknown {
    if (config === null || config === undefined) throw new TypeError('Client was passed a null or undefined query');

    if (isSubmittable(config)) {
      const sub = config as Submittable & { callback?: unknown };
      if (!sub.callback) {
        if (typeof values === 'function') sub.callback = values;
        else if (callback) sub.callback = callback;
      }
      this.runSubmittable(sub);
      return sub;
    }

    let cb: unknown = callback;
    let vals: unknown = values;
    if (typeof values === 'function') {
      cb = values;
      vals = undefined;
    }
    if (cb === undefined && typeof config === 'object' && (config as { callback?: unknown }).callback !== undefined) {
      cb = (config as { callback?: unknown }).callback;
    }
    if (cb !== undefined && typeof cb !== 'function') throw new TypeError('callback is not a function');

    let run: Promise<unknown>;
    if (this.endPromise !== undefined) {
      run = Promise.reject(new Error(CLOSED_ERROR_MESSAGE));
    } else {
      this.pendingQueries++;
      const socketTimeout = this.core.props.options.socketTimeout;
      run = this.inTurn('Client.query', [config, vals], (conn) =>
        this.dialect.query(conn, config as string | QueryConfig<unknown[]>, vals, socketTimeout),
      );
    }
    if (cb === undefined) {
      // Settled, then 'drain' in the same tick, so a 'drain' listener runs before the caller's continuation (pg).
      const P = this.customPromise ?? Promise;
      return new P((resolve, reject) => {
        run.then(
          (result) => {
            resolve(result);
            this.queryDone();
          },
          (err: unknown) => {
            reject(err);
            this.queryDone();
          },
        );
      }).catch(withCallerStack);
    }
    const userCallback = cb as (err: Error | null, result?: unknown) => void;
    const deliver = (err: Error | null, result?: unknown): void => {
      try {
        if (err) userCallback(err);
        else userCallback(null, result);
      } finally {
        this.queryDone();
      }
    };
    run.then(
      (result) => process.nextTick(deliver, null, result),
      (err: Error) => process.nextTick(deliver, err),
    );
    return undefined;
  }

  /** A query()/Submittable call finished: the last one of a burst emits 'drain' (not after end() or a lost connection). */
  private queryDone(): void {
    if (this.pendingQueries === 0) return; // a call refused at once (after end()) never counted
    if (--this.pendingQueries > 0) return;
    const deferred = this.deferredError;
    if (deferred !== undefined) {
      this.deferredError = undefined;
      // After the callers' own handlers (promise continuations, callbacks) have seen their statements' outcome, and
      // only if the client is still without a connection: after a successful failover it is not broken.
      setImmediate(() => {
        const conn = this.core.connectionOrUndefined;
        const broken = conn === undefined || this.dialect.isClosed(conn);
        if (broken && this.endPromise === undefined && this.listenerCount('error') > 0)
          this.emit('error', deferred.error);
      });
    }
    if (this.terminating) return;
    const conn = this.core.connectionOrUndefined;
    if (conn === undefined || this.dialect.isClosed(conn)) return;
    if (this.drainPaused > 0) this.drainPaused++;
    else this.emit('drain');
  }

  private runSubmittable(sub: Submittable): void {
    let submitted = false;
    const refused = this.endPromise !== undefined;
    const run: Promise<void> = refused
      ? Promise.reject(new Error(CLOSED_ERROR_MESSAGE))
      : this.inTurn('Stream.query', [sub], (conn) => {
          if (submitted)
            throw new Error(
              'A Submittable (stream or cursor) can be submitted only once; it cannot be retried on another connection',
            );
          submitted = true;
          return this.dialect.submit(conn, sub);
        });
    if (!refused) this.pendingQueries++;
    run.then(
      () => {
        if (!refused) this.queryDone();
      },
      (err: unknown) => {
        // Errors after submission already reached the submittable through pg; earlier ones (not connected, closed,
        // the pipeline failed before the driver) are delivered the way pg delivers them to a queued query.
        if (!submitted) {
          const handleError = (sub as { handleError?: (err: unknown, connection?: unknown) => void }).handleError;
          if (typeof handleError === 'function') process.nextTick(() => handleError.call(sub, err, undefined));
        }
        if (!refused) process.nextTick(() => this.queryDone());
      },
    );
  }

  /**
   * Runs `fn` through the execute pipeline after connect (queries issued before connect() wait for it, as pg queues
   * them) and after every earlier call has finished, so calls reach the server in call order whatever the plugins
   * do, a failover caused by one call happens before the next one starts, and pg never sees overlapping queries
   * (deprecated in pg 8). With pg's `pipeline` option a call only waits until the earlier ones were sent.
   */
  private inTurn<T>(method: ClientMethod, args: readonly unknown[], fn: (conn: pg.Client) => Promise<T>): Promise<T> {
    const router = this.router;
    if (router !== undefined) {
      // readerRouting: where the statement may run is settled in its turn, before the pipeline runs it.
      return this.serialized(async (release) => {
        // Streams and cursors (Submittables) stay on the writer.
        const wrote = await router.before(method === 'Client.query' ? statementText(args[0]) : undefined);
        try {
          return await this.executeInTurn(method, args, fn, release);
        } finally {
          if (wrote) router.wrote();
        }
      });
    }
    return this.serialized((release) => this.executeInTurn(method, args, fn, release));
  }

  private executeInTurn<T>(
    method: ClientMethod,
    args: readonly unknown[],
    fn: (conn: pg.Client) => Promise<T>,
    release: () => void,
  ): Promise<T> {
    const hostBefore = this.core.currentHost;
    return this.core
      .execute(method, args, (conn) => {
        // end() came while the plugins ran: pg would have this statement queued, and fail it so.
        if (this.terminating) throw new Error(TERMINATED_ERROR_MESSAGE);
        // pg's pipeline mode sends the next statement before this one finishes; otherwise pg would only queue it.
        if (this.pipelined) release();
        return fn(conn);
      })
      .catch((err: unknown) => {
        this.callFailed(err, hostBefore);
        throw err;
      });
  }

  /** A query on `hostBefore` failed with `err` (before the caller sees it). AwsPGPool's clients act on it. */
  protected callFailed(err: unknown, hostBefore: HostInfo | undefined): void {
    void err;
    void hostBefore;
  }

  /**
   * The ordering of inTurn without the pipeline, for calls that run the pipeline themselves (ClientCore's session
   * setters): wrapping them in inTurn would run every plugin twice.
   */
  protected serialized<T>(body: (release: () => void) => Promise<T>): Promise<T> {
    const previous = this.turn;
    const issuedAfterEnd = this.endPromise !== undefined;
    let release!: () => void;
    this.turn = new Promise<void>((resolve) => (release = resolve));
    const run = async (): Promise<T> => {
      try {
        await previous;
        if (issuedAfterEnd) throw new Error(CLOSED_ERROR_MESSAGE);
        if (this.terminating) throw new Error(TERMINATED_ERROR_MESSAGE);
        await this.connected.promise;
        return await body(release);
      } finally {
        release();
      }
    };
    return run();
  }

  // ---- wrapper extras -------------------------------------------------------------------------------------------

  /** Switches between writer and reader where a plugin supports it (read/write splitting), else sets the session read-only. */
  setReadOnly(readOnly: boolean): Promise<void> {
    if (typeof readOnly !== 'boolean')
      return Promise.reject(new TypeError(`setReadOnly expects a boolean, got ${typeof readOnly}`));
    return this.serialized(() => this.core.setReadOnly(readOnly));
  }

  isReadOnly(): boolean {
    return this.core.isReadOnly();
  }

  /** Isolation level of the session's later transactions; re-applied after a connection switch. */
  setTransactionIsolation(level: IsolationLevel): Promise<void> {
    return this.serialized(() => this.core.setSessionState({ isolationLevel: level }));
  }

  /** Sets search_path to the one schema; re-applied after a connection switch. */
  setSchema(schema: string): Promise<void> {
    return this.serialized(() => this.core.setSessionState({ schema }));
  }

  /**
   * The current physical pg.Client (undefined before connect). It changes on failover and read/write switches, so
   * do not keep it; use it for what the wrapper does not expose, and never end it yourself.
   */
  get targetClient(): pg.Client | undefined {
    return this.core.connectionOrUndefined;
  }

  /** The host of the current physical connection (undefined before connect). */
  getCurrentHost(): HostInfo | undefined {
    return this.core.currentHost;
  }

  // ---- pg.Client helpers ----------------------------------------------------------------------------------------

  escapeLiteral(str: string): string {
    return pg.escapeLiteral(str);
  }

  escapeIdentifier(str: string): string {
    return pg.escapeIdentifier(str);
  }

  setTypeParser(oid: number, parseFn: (value: string) => unknown): void;
  setTypeParser(oid: number, format: 'text', parseFn: (value: string) => unknown): void;
  setTypeParser(oid: number, format: 'binary', parseFn: (value: Buffer) => unknown): void;
  setTypeParser(oid: number, format: 'text' | 'binary', parseFn: (value: string) => unknown): void;
  setTypeParser(oid: number, format: unknown, parseFn?: unknown): void {
    (this.typeOverrides as unknown as { setTypeParser(o: number, f: unknown, p?: unknown): void }).setTypeParser(
      oid,
      format,
      parseFn,
    );
  }

  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    return this.typeOverrides.getTypeParser(oid, format) as unknown as (value: string) => unknown;
  }

  /** Transaction status of the last ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' failed transaction; null before connect. */
  getTransactionStatus(): TransactionStatus {
    return this.core.connectionOrUndefined?.getTransactionStatus() ?? null;
  }

  /** As pg-native's: holds 'drain' back until resumeDrain(), which emits it if one was held back. */
  pauseDrain(): void {
    this.drainPaused = 1;
  }

  resumeDrain(): void {
    const held = this.drainPaused > 1;
    this.drainPaused = 0;
    if (held) this.emit('drain');
  }

  /** Declared by @types/pg for pg-native only; pg.Client has no such method. COPY works through pg-copy-streams. */
  copyFrom(queryText: string): Writable {
    throw new UnsupportedOperationError(
      `copyFrom is not a pg.Client method (pg-native only); run COPY through pg-copy-streams: client.query(copyFrom(${JSON.stringify(queryText)}))`,
    );
  }

  /** Declared by @types/pg for pg-native only; pg.Client has no such method. COPY works through pg-copy-streams. */
  copyTo(queryText: string): Readable {
    throw new UnsupportedOperationError(
      `copyTo is not a pg.Client method (pg-native only); run COPY through pg-copy-streams: client.query(copyTo(${JSON.stringify(queryText)}))`,
    );
  }

  ref(): void {
    this.unrefd = false;
    refable(this.core.connectionOrUndefined)?.ref();
  }

  unref(): void {
    this.unrefd = true;
    refable(this.core.connectionOrUndefined)?.unref();
  }

  // ---- event forwarding -----------------------------------------------------------------------------------------

  private moveForwarding(newConn: pg.Client, oldConn: pg.Client | undefined): void {
    if (oldConn !== undefined) {
      const emitter: EventEmitter = oldConn;
      for (const [event, listener] of this.forwarders.get(oldConn) ?? []) emitter.removeListener(event, listener);
      this.forwarders.delete(oldConn);
    }
    if (this.forwarders.has(newConn)) return;
    const listeners: Array<[string, (...args: unknown[]) => void]> = FORWARDED_EVENTS.map((event) => [
      event,
      (...args: unknown[]) => {
        // Without a listener an 'error' event would crash the process; the next query reports the failure instead.
        if (event === 'error' && (this.listenerCount('error') === 0 || args[0] instanceof ConnectionAbortedError))
          return;
        // With a statement in flight the event waits until the statements have settled: pg-pool's query and ORMs
        // (TypeORM, Sequelize) release or end the client on it, which mid-failover would hand the caller the lost
        // connection instead of the failover outcome (FailoverSuccessError).
        if (event === 'error' && this.pendingQueries > 0) {
          this.deferredError ??= { error: args[0] };
          return;
        }
        this.emit(event, ...args);
      },
    ]);
    const emitter: EventEmitter = newConn;
    for (const [event, listener] of listeners) emitter.on(event, listener);
    this.forwarders.set(newConn, listeners);
    if (this.unrefd) refable(newConn)?.unref();
  }
}

/** The SQL of a query() argument (text or config), undefined for a Submittable without text. */
function statementText(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const text = typeof arg === 'object' && arg !== null ? (arg as { text?: unknown }).text : undefined;
  return typeof text === 'string' ? text : undefined;
}
