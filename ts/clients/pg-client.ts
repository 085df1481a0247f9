/**
 * AwsPGClient: a drop-in for `pg.Client` whose physical connection is managed by the wrapper (failover, read/write
 * splitting, monitoring). Every `query` form of pg.Client works, with callbacks and promises; Submittables
 * (pg-query-stream, pg-cursor) are returned synchronously; pg's events are forwarded from whichever physical
 * connection is current; driver errors reach the caller unchanged.
 *
 * Differences from pg.Client, by design:
 * - 'error' events are forwarded only while the client has an 'error' listener; without one, a lost idle connection
 *   does not crash the process (the next query reports it, and failover can act on it).
 * - LISTEN registrations and other server-side session state the wrapper does not track live on the physical
 *   connection: after a connection switch (failover) the application re-issues them (FailoverSuccessError says so).
 * - socketTimeout (wrapper option) bounds promise and callback queries; Submittables are not bounded.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { ClientConfig, QueryArrayConfig, QueryArrayResult, QueryConfig, QueryResult, QueryResultRow, Submittable } from 'pg';
import { ClientCore } from '../client-core.js';
import { ConnectionAbortedError } from '../errors.js';
import type { IsolationLevel } from '../dialects/types.js';
import { effectivePgConfig, PgDriverDialect } from '../dialects/driver/pg.js';
import type { HostInfo } from '../host-info.js';
import type { ClientMethod } from '../plugin.js';
import type { WrapperServices } from '../services.js';

/** pg.Client's config plus wrapper options (camelCase, or the seed's snake_case names). */
export type AwsPGClientConfig = ClientConfig & { readonly [wrapperOption: string]: unknown };

export interface AwsPGClientInit {
  /** Process-wide state; defaults to the shared one. Tests pass a fresh `new WrapperServices()`. */
  readonly services?: WrapperServices;
}

type QueryCallback<R> = (err: Error | null, result?: R) => void;

/** pg.Client events forwarded from the current physical connection. */
const FORWARDED_EVENTS = ['notice', 'notification', 'error', 'end', 'drain'] as const;

const CLOSED_ERROR_MESSAGE = 'Client was closed and is not queryable';

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
  /** Public fields from the user's config (connectionString folded in), shown before connect. No secrets. */
  private readonly initialConfig: Readonly<Pick<Record<string, unknown>, 'host' | 'port' | 'user' | 'database' | 'ssl'>>;
  /** Opens when connect() succeeds; queries issued earlier wait on it, as pg queues them. */
  private readonly connected = new Gate();
  private connectPromise: Promise<this> | undefined;
  private endPromise: Promise<void> | undefined;
  /** Queries reach the driver in call order even when the pipeline takes different times for each. */
  private turn: Promise<void> = Promise.resolve();
  private readonly forwarders = new Map<pg.Client, Array<[string, (...args: unknown[]) => void]>>();
  private unrefd = false;
  private readonly pipelined: boolean;

  constructor(config?: string | AwsPGClientConfig, init: AwsPGClientInit = {}) {
    super();
    if (config !== undefined && config !== null && typeof config !== 'string' && typeof config !== 'object') {
      throw new TypeError(`AwsPGClient config must be a connection string or a config object, got ${typeof config}`);
    }
    const userConfig: Record<string, unknown> = typeof config === 'string' ? { connectionString: config } : { ...(config ?? {}) };
    // One TypeOverrides shared by every physical connection, so setTypeParser survives connection switches.
    this.typeOverrides = new pg.TypeOverrides(userConfig.types as ConstructorParameters<typeof pg.TypeOverrides>[0]);
    userConfig.types = this.typeOverrides;
    this.dialect = new PgDriverDialect();
    this.core = new ClientCore<pg.Client>({ driver: 'pg', driverDialect: this.dialect, config: userConfig, services: init.services });
    const effective = effectivePgConfig(this.core.props.driver);
    this.initialConfig = { host: effective.host, port: effective.port, user: effective.user, database: effective.database, ssl: effective.ssl };
    this.pipelined = effective.pipeline === true;
    // The engine holds the driver config (password included): keep it out of util.inspect / console.log output.
    Object.defineProperty(this, 'core', { enumerable: false });
    this.core.on('connectionChanged', (newConn: pg.Client, oldConn: pg.Client | undefined) => this.moveForwarding(newConn, oldConn));
    // `failover` ({ from, to, durationMs, error, outcome, mode }) after every failover, successful or not.
    this.core.on('failover', (event: unknown) => this.emit('failover', event));
  }

  // ---- public fields of pg.Client, where meaningful -------------------------------------------------------------

  /** The host name the client is connected to (the logical name, before hostAddressMap). */
  get host(): string {
    return this.core.currentHost?.host ?? String(this.initialConfig.host ?? process.env.PGHOST ?? 'localhost');
  }

  get port(): number {
    const current = this.core.currentHost;
    if (current !== undefined && current.port > 0) return current.port;
    return Number(this.initialConfig.port ?? process.env.PGPORT ?? 5432);
  }

  get user(): string | undefined {
    const conn = this.core.connectionOrUndefined;
    if (conn !== undefined) return conn.user;
    const user = this.initialConfig.user ?? process.env.PGUSER ?? pg.defaults.user;
    return user === undefined ? undefined : String(user);
  }

  get database(): string | undefined {
    const conn = this.core.connectionOrUndefined;
    if (conn !== undefined) return conn.database;
    const db = this.initialConfig.database ?? process.env.PGDATABASE;
    return db === undefined ? this.user : String(db);
  }

  get ssl(): unknown {
    return this.core.connectionOrUndefined?.ssl ?? this.initialConfig.ssl ?? false;
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
    let promise: Promise<this>;
    if (this.connectPromise !== undefined || this.endPromise !== undefined) {
      promise = Promise.reject(new Error('Client has already been connected. You cannot reuse a client.'));
    } else {
      promise = this.connectPromise = this.core.connect().then(
        () => {
          this.connected.open();
          this.emit('connect');
          return this;
        },
        (err: unknown) => {
          this.connected.fail(err);
          throw err;
        },
      );
    }
    if (callback === undefined) return promise;
    promise.then(
      (client) => process.nextTick(callback, null, client),
      (err: Error) => process.nextTick(callback, err),
    );
  }

  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  end(callback?: (err?: Error) => void): Promise<void> | void {
    if (this.endPromise === undefined) {
      this.connected.fail(new Error(CLOSED_ERROR_MESSAGE));
      const connecting = this.connectPromise;
      this.endPromise = (async () => {
        if (connecting !== undefined) await connecting.catch(() => undefined);
        await this.core.end();
      })();
    }
    if (callback === undefined) return this.endPromise;
    this.endPromise.then(
      () => process.nextTick(callback),
      (err: Error) => process.nextTick(callback, err),
    );
  }

  // ---- query ----------------------------------------------------------------------------------------------------

  query<T extends Submittable>(queryStream: T, callback?: QueryCallback<unknown>): T;
  query<R extends unknown[] = unknown[]>(queryConfig: QueryArrayConfig<unknown[]>, values?: readonly unknown[]): Promise<QueryArrayResult<R>>;
  query<R extends QueryResultRow = QueryResultRow>(queryTextOrConfig: string | QueryConfig<unknown[]>, values?: readonly unknown[]): Promise<QueryResult<R>>;
  query<R extends unknown[] = unknown[]>(queryConfig: QueryArrayConfig<unknown[]>, callback: QueryCallback<QueryArrayResult<R>>): void;
  query<R extends QueryResultRow = QueryResultRow>(queryTextOrConfig: string | QueryConfig<unknown[]>, callback: QueryCallback<QueryResult<R>>): void;
  query<R extends QueryResultRow = QueryResultRow>(queryText: string | QueryConfig<unknown[]>, values: readonly unknown[], callback: QueryCallback<QueryResult<R>>): void;
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

    const socketTimeout = this.core.props.options.socketTimeout;
    const promise = this.inTurn('Client.query', [config, vals], (conn) =>
      this.dialect.query(conn, config as string | QueryConfig<unknown[]>, vals, socketTimeout),
    );
    if (cb === undefined) return promise;
    const userCallback = cb as (err: Error | null, result?: unknown) => void;
    promise.then(
      (result) => process.nextTick(userCallback, null, result),
      (err: Error) => process.nextTick(userCallback, err),
    );
    return undefined;
  }

  private runSubmittable(sub: Submittable): void {
    let submitted = false;
    this.inTurn('Stream.query', [sub], (conn) => {
      if (submitted) throw new Error('A Submittable (stream or cursor) can be submitted only once; it cannot be retried on another connection');
      submitted = true;
      return this.dialect.submit(conn, sub);
    }).catch((err: unknown) => {
      // Errors after submission already reached the submittable through pg; earlier ones (not connected, closed,
      // the pipeline failed before the driver) are delivered the way pg delivers them to a queued query.
      if (submitted) return;
      const handleError = (sub as { handleError?: (err: unknown, connection?: unknown) => void }).handleError;
      if (typeof handleError === 'function') process.nextTick(() => handleError.call(sub, err, undefined));
    });
  }

  /**
   * Runs `fn` through the execute pipeline after connect (queries issued before connect() wait for it, as pg queues
   * them) and after every earlier call has finished, so calls reach the server in call order whatever the plugins
   * do, a failover caused by one call happens before the next one starts, and pg never sees overlapping queries
   * (deprecated in pg 8). With pg's `pipeline` option a call only waits until the earlier ones were sent.
   */
  private inTurn<T>(method: ClientMethod, args: readonly unknown[], fn: (conn: pg.Client) => Promise<T>): Promise<T> {
    return this.serialized((release) =>
      this.core.execute(method, args, (conn) => {
        // pg's pipeline mode sends the next statement before this one finishes; otherwise pg would only queue it.
        if (this.pipelined) release();
        return fn(conn);
      }),
    );
  }

  /**
   * The ordering of inTurn without the pipeline, for calls that run the pipeline themselves (ClientCore's session
   * setters): wrapping them in inTurn would run every plugin twice.
   */
  private serialized<T>(body: (release: () => void) => Promise<T>): Promise<T> {
    const previous = this.turn;
    let release!: () => void;
    this.turn = new Promise<void>((resolve) => (release = resolve));
    const run = async (): Promise<T> => {
      try {
        await previous;
        if (this.endPromise !== undefined) throw new Error(CLOSED_ERROR_MESSAGE);
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
    if (typeof readOnly !== 'boolean') return Promise.reject(new TypeError(`setReadOnly expects a boolean, got ${typeof readOnly}`));
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
  setTypeParser(oid: number, format: unknown, parseFn?: unknown): void {
    (this.typeOverrides as unknown as { setTypeParser(o: number, f: unknown, p?: unknown): void }).setTypeParser(oid, format, parseFn);
  }

  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    return this.typeOverrides.getTypeParser(oid, format) as unknown as (value: string) => unknown;
  }

  /** Transaction status of the last ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' failed transaction; null before connect. */
  getTransactionStatus(): string | null {
    return this.core.connectionOrUndefined?.getTransactionStatus() ?? null;
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
        if (event === 'error' && (this.listenerCount('error') === 0 || args[0] instanceof ConnectionAbortedError)) return;
        this.emit(event, ...args);
      },
    ]);
    const emitter: EventEmitter = newConn;
    for (const [event, listener] of listeners) emitter.on(event, listener);
    this.forwarders.set(newConn, listeners);
    if (this.unrefd) refable(newConn)?.unref();
  }
}
