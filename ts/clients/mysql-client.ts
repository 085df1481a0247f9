/**
 * AwsMySQLClient: a drop-in for a mysql2/promise Connection that runs every call through the wrapper's plugin
 * pipeline (ClientCore) and follows the physical connection when it changes (failover, read/write switch).
 *
 * Driver errors reach the caller unchanged (same object: class, code, errno, sqlState). escape / escapeId / format
 * stay synchronous. socketTimeout bounds every statement; a statement past it is cancelled with KILL QUERY and
 * rejects with QueryTimeoutError while the connection stays usable (see Mysql2DriverDialect.runBounded).
 */
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import mysql from 'mysql2/promise';
import type {
  Connection,
  ConnectionOptions,
  ConnectionState,
  ExecuteValues,
  FieldPacket,
  PreparedStatementInfo,
  QueryOptions,
  QueryResult,
  QueryValues,
} from 'mysql2/promise';
import { ClientCore } from '../client-core.js';
import { ConnectionAbortedError } from '../errors.js';
import { Mysql2DriverDialect, coreOf } from '../dialects/driver/mysql2.js';
import type { IsolationLevel } from '../dialects/types.js';
import type { HostInfo } from '../host-info.js';
import type { ClientMethod } from '../plugin.js';
import type { WrapperServices } from '../services.js';
import { ReaderRouter, type ReaderRoutingState } from '../reader-routing.js';
import { captureCallerStack, withCallerStack, type CallerStack } from './caller-stack.js';
import { safeConfigView } from './config-view.js';
import { AwsMySQLCallbackConnection } from './mysql-callback.js';

/**
 * mysql2 connection options plus wrapper options (plugins, failoverTimeoutMs, socketTimeout, …; docs/options.md). A
 * value typed as mysql2's `ConnectionOptions` is accepted as it is: an interface has no index signature, so it needs
 * its own union member.
 */
export type AwsMySQLClientConfig =
  | ConnectionOptions
  | (ConnectionOptions & {
      /** Plugin codes, comma-separated or as a list ('' for none). */
      readonly plugins?: string | readonly string[];
      readonly [wrapperOption: string]: unknown;
    });

export interface AwsMySQLClientInit {
  /** Process-wide wrapper state; defaults to the shared one. */
  services?: WrapperServices;
  /** readerRouting's read-your-writes clock, shared by the connections of one pool. */
  readerRoutingState?: ReaderRoutingState;
}

type Result<T> = Promise<[T, FieldPacket[]]>;

/** Events forwarded from the current physical connection. */
const FORWARDED_EVENTS = ['error', 'end'] as const;

export class AwsMySQLClient extends EventEmitter {
  /** mysql2/promise users write `await mysql.createConnection(cfg)`; this is the same for the wrapper. */
  static async createConnection(
    config: AwsMySQLClientConfig | string,
    init?: AwsMySQLClientInit,
  ): Promise<AwsMySQLClient> {
    const client = new AwsMySQLClient(config, init);
    await client.connect();
    client.openedByCreateConnection = true;
    return client;
  }

  /** The wrapper engine (plugin pipeline, current connection); for plugins and tests. */
  readonly core: ClientCore<Connection>;
  private readonly dialect: Mysql2DriverDialect;
  /** readerRouting (undefined when off: statements are not classified). */
  private readonly router: ReaderRouter | undefined;
  declare private readonly userConfig: Readonly<Record<string, unknown>>;
  /** mysql2's `trace` (default true): failed promise calls carry the caller's frames. */
  private readonly trace: boolean;
  private readonly forwarders = new Map<string, (...args: unknown[]) => void>();
  private attached: Connection | undefined;
  private callbackFace: AwsMySQLCallbackConnection | undefined;
  /**
   * Made by the promise createConnection: mysql2's leaves its connect-time once('error') listener on the callback
   * connection (its own suite counts it), which the face reproduces when first made.
   */
  private openedByCreateConnection = false;
  /** end() or destroy() was called: statements fail as mysql2's do on a closed connection. */
  private closed = false;
  /** 'end' was emitted for the current connection (mysql2 emits it once the socket ends). */
  private endEmitted = false;

  /** mysql2/promise's `Promise`: the class this object's methods return instances of (always the native one). */
  get Promise(): PromiseConstructor {
    return Promise;
  }

  constructor(config: AwsMySQLClientConfig | string, init: AwsMySQLClientInit = {}) {
    super();
    if (typeof config === 'string') config = { uri: config };
    if (config === null || typeof config !== 'object') {
      throw new TypeError(
        `AwsMySQLClient config must be an object or a connection URI string, got ${config === null ? 'null' : typeof config}`,
      );
    }
    // Not enumerable: it holds the password.
    Object.defineProperty(this, 'userConfig', { value: config, enumerable: false });
    this.trace = (config as Record<string, unknown>).trace !== false;
    this.dialect = new Mysql2DriverDialect();
    this.core = new ClientCore<Connection>({
      driver: 'mysql2',
      driverDialect: this.dialect,
      config: this.userConfig,
      ...(init.services !== undefined ? { services: init.services } : {}),
    });
    for (const event of FORWARDED_EVENTS) {
      this.forwarders.set(event, (...args: unknown[]) => {
        // mysql2 crashes the process on an unlistened 'error'; the wrapper only reports it to listeners that exist.
        if (event === 'error' && args[0] instanceof ConnectionAbortedError) return;
        if (event === 'end') {
          if (this.endEmitted) return;
          this.endEmitted = true;
        }
        this.emitToBoth(event, args);
      });
    }
    this.router = ReaderRouter.create(this.core as ClientCore<unknown>, init.readerRoutingState);
    Object.defineProperty(this, 'router', { enumerable: false });
    this.core.on('connectionChanged', (newConn: Connection) => this.attach(newConn));
    // `failover` ({ from, to, durationMs, error, outcome, mode }) after every failover, successful or not.
    this.core.on('failover', (event: unknown) => this.emitToBoth('failover', [event]));
  }

  /** Delivers an event to this object's listeners, then to its callback face's (which does not forward it back). */
  private emitToBoth(event: string, args: unknown[]): void {
    if (event !== 'error' || this.listenerCount('error') > 0) this.emit(event, ...args);
    this.callbackFace?.relayEvent(event, args);
  }

  /** Moves event forwarding to the current physical connection. */
  private attach(conn: Connection | undefined): void {
    if (this.attached === conn) return;
    if (this.attached !== undefined) {
      for (const [event, fn] of this.forwarders) this.attached.removeListener(event, fn);
    }
    this.attached = conn;
    if (conn !== undefined) {
      this.endEmitted = false;
      for (const [event, fn] of this.forwarders) conn.on(event, fn);
    }
  }

  async connect(): Promise<void> {
    const stack = this.callerStack(AwsMySQLClient.prototype.connect);
    await withCallerStack(this.core.connect(), stack);
    this.attach(this.core.connectionOrUndefined);
  }

  private callerStack(entry: (...args: never[]) => unknown): CallerStack | undefined {
    return this.trace ? captureCallerStack(entry) : undefined;
  }

  private get socketTimeout(): number | undefined {
    const t = this.core.props.options.socketTimeout;
    return typeof t === 'number' && t > 0 ? t : undefined;
  }

  /** Runs one driver call through the pipeline, bounded by socketTimeout. */
  private async run<T>(
    method: ClientMethod,
    args: readonly unknown[],
    fn: (conn: Connection) => Promise<T>,
  ): Promise<T> {
    if (this.closed) throw closedStateError();
    return this.core.execute(method, args, (conn) => this.dialect.runBounded(conn, () => fn(conn), this.socketTimeout));
  }

  /**
   * Internal (the callback API): the physical connection when a statement needs nothing of the wrapper (no plugin
   * takes `method`, no socketTimeout), so the command can go straight to mysql2; undefined otherwise.
   */
  directConnection(method: ClientMethod): Connection | undefined {
    if (
      this.closed ||
      this.router !== undefined ||
      this.socketTimeout !== undefined ||
      this.core.pluginManager.getExecuteChain(method) !== undefined
    )
      return undefined;
    return this.core.connectionOrUndefined;
  }

  /**
   * Internal (the callback API and prepared statements): runs one statement call through the pipeline, bounded by
   * socketTimeout, and records the transaction state its result shows.
   */
  async statement<T>(method: ClientMethod, args: readonly unknown[], fn: (conn: Connection) => Result<T>): Result<T> {
    const call = () =>
      this.run(method, args, async (conn) => {
        const result = await fn(conn);
        this.dialect.trackResult(conn, result[0]);
        return result;
      });
    // readerRouting: a prepared statement's call (no SQL in its arguments) runs on the writer.
    return this.router === undefined ? call() : this.router.run(statementText(args[0]), call);
  }

  query<T extends QueryResult>(sql: string, values?: QueryValues): Result<T>;
  query<T extends QueryResult>(options: QueryOptions, values?: QueryValues): Result<T>;
  query<T extends QueryResult>(sql: string | QueryOptions, values?: QueryValues): Result<T> {
    const stack = this.callerStack(AwsMySQLClient.prototype.query);
    return withCallerStack(
      this.statement('Client.query', [sql, values], (conn) => conn.query<T>(sql as string, values)),
      stack,
    );
  }

  execute<T extends QueryResult>(sql: string, values?: ExecuteValues): Result<T>;
  execute<T extends QueryResult>(options: QueryOptions, values?: ExecuteValues): Result<T>;
  execute<T extends QueryResult>(sql: string | QueryOptions, values?: ExecuteValues): Result<T> {
    const stack = this.callerStack(AwsMySQLClient.prototype.execute);
    return withCallerStack(
      this.statement('Client.execute', [sql, values], (conn) => conn.execute<T>(sql as string, values)),
      stack,
    );
  }

  /** Prepares on the current physical connection; the statement re-prepares itself if the connection changes. */
  async prepare(options: string | QueryOptions): Promise<AwsPreparedStatementInfo> {
    const stack = this.callerStack(AwsMySQLClient.prototype.prepare);
    const [conn, statement] = await withCallerStack(
      this.run('Client.prepare', [options], async (c) => [c, await c.prepare(options)] as const),
      stack,
    );
    return new AwsPreparedStatementInfo(this, options, conn, statement);
  }

  /** Internal: runs a prepared statement's call through the pipeline (used by AwsPreparedStatementInfo). */
  runPrepared<T>(args: readonly unknown[], fn: (conn: Connection) => Result<T>): Result<T> {
    return this.statement('Client.execute', args, fn);
  }

  unprepare(sql: string | QueryOptions): void {
    this.core.connectionOrUndefined?.unprepare(sql);
  }

  async beginTransaction(): Promise<void> {
    const stack = this.callerStack(AwsMySQLClient.prototype.beginTransaction);
    await withCallerStack(
      this.transactionCommand('Client.beginTransaction', true, (conn) => conn.beginTransaction()),
      stack,
    );
  }

  async commit(): Promise<void> {
    const stack = this.callerStack(AwsMySQLClient.prototype.commit);
    await withCallerStack(
      this.transactionCommand('Client.commit', false, (conn) => conn.commit()),
      stack,
    );
  }

  async rollback(): Promise<void> {
    const stack = this.callerStack(AwsMySQLClient.prototype.rollback);
    await withCallerStack(
      this.transactionCommand('Client.rollback', false, (conn) => conn.rollback()),
      stack,
    );
  }

  /** Internal (the callback API): BEGIN / COMMIT / ROLLBACK through the pipeline; resolves with mysql2's result. */
  transactionCommand(
    method: ClientMethod,
    opens: boolean,
    fn: (conn: Connection) => Promise<unknown>,
  ): Promise<unknown> {
    const call = () =>
      this.run(method, [], async (conn) => {
        // mysql2 resolves these with [ResultSetHeader, undefined] although its typings say void.
        const result = await fn(conn);
        this.dialect.trackTransaction(conn, opens);
        if (Array.isArray(result)) this.dialect.trackResult(conn, result[0]);
        return result;
      });
    // readerRouting: beginTransaction() is a plain START TRANSACTION (read-only when SET TRANSACTION READ ONLY came
    // right before it); commit() / rollback() run where the transaction is.
    return this.router === undefined ? call() : this.router.run(opens ? 'START TRANSACTION' : undefined, call);
  }

  async ping(): Promise<void> {
    const stack = this.callerStack(AwsMySQLClient.prototype.ping);
    await withCallerStack(
      this.run('Client.ping', [], (conn) => conn.ping()),
      stack,
    );
  }

  async changeUser(options: ConnectionOptions): Promise<void> {
    const stack = this.callerStack(AwsMySQLClient.prototype.changeUser);
    await withCallerStack(
      this.run('Client.changeUser', [options], async (conn) => {
        await conn.changeUser(options);
        // COM_CHANGE_USER resets the session: no transaction, server defaults.
        this.dialect.trackResult(conn, { serverStatus: 2 });
      }),
      stack,
    );
  }

  /** COM_RESET_CONNECTION, as mysql2's `reset()`: the server session back to its defaults, same connection. */
  async reset(): Promise<void> {
    const stack = this.callerStack(AwsMySQLClient.prototype.reset);
    await withCallerStack(
      this.run('Client.reset', [], async (conn) => {
        await conn.reset();
        this.dialect.trackResult(conn, { serverStatus: 2 });
      }),
      stack,
    );
  }

  async end(): Promise<void> {
    this.closed = true;
    const conn = this.core.connectionOrUndefined;
    await this.core.end();
    // The wrapper closes the socket itself once COM_QUIT is sent, so mysql2 may not see the server's end of it.
    if (conn !== undefined && !this.endEmitted) {
      this.endEmitted = true;
      this.emitToBoth('end', []);
    }
    if (conn !== undefined && this.attached === conn) {
      // Let the socket's own 'end' reach listeners before detaching.
      setImmediate(() => {
        if (this.attached === conn) this.attach(undefined);
      });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.core.connectionOrUndefined !== undefined) await this.end();
  }

  /** As mysql2: closes the connection without waiting; the wrapper releases its resources in the background. */
  destroy(): void {
    this.closed = true;
    this.core.connectionOrUndefined?.destroy();
    this.core.end().catch(() => undefined);
  }

  pause(): void {
    this.core.connection.pause();
  }

  resume(): void {
    this.core.connection.resume();
  }

  /** Synchronous, as in mysql2; uses the connection's settings (timezone, queryFormat, …) when connected. */
  escape(value: unknown): string {
    const conn = this.core.connectionOrUndefined;
    if (conn !== undefined) return conn.escape(value);
    return mysql.escape(value as never, false, this.userConfig.timezone as never);
  }

  escapeId(value: string | string[]): string {
    const conn = this.core.connectionOrUndefined;
    if (conn !== undefined) return conn.escapeId(value as string);
    return mysql.escapeId(value);
  }

  format(sql: string, values?: unknown): string {
    const conn = this.core.connectionOrUndefined;
    if (conn !== undefined) return conn.format(sql, values);
    return mysql.format(
      sql,
      values as never,
      Boolean(this.userConfig.stringifyObjects),
      this.userConfig.timezone as never,
    );
  }

  /**
   * Server thread id of the current physical connection; null when not connected, as mysql2's is before the
   * handshake (its typings say `number`, as here, so that this client is a mysql2 `Connection` to the type checker).
   */
  get threadId(): number {
    return (this.core.connectionOrUndefined?.threadId ?? null) as number;
  }

  /** The current connection's mysql2 config, or the given config before connecting. */
  get config(): ConnectionOptions {
    return this.core.connectionOrUndefined?.config ?? this.userConfig;
  }

  /** mysql2's connection state ('authenticated', 'disconnected', 'error', …) of the current connection. */
  get state(): ConnectionState {
    const conn = this.core.connectionOrUndefined;
    return conn === undefined ? 'disconnected' : (coreOf(conn).state ?? 'authenticated');
  }

  /** mysql2's `promiseConnection.connection`: this connection with mysql2's callback API (Drizzle streams with it). */
  get connection(): AwsMySQLCallbackConnection {
    if (this.callbackFace === undefined) {
      this.callbackFace = this.newCallbackFace();
      if (this.openedByCreateConnection) this.callbackFace.once('error', () => undefined);
    }
    return this.callbackFace;
  }

  protected newCallbackFace(): AwsMySQLCallbackConnection {
    return new AwsMySQLCallbackConnection(this);
  }

  /** The current physical mysql2/promise connection (changes on failover); undefined when not connected. */
  get targetConnection(): Connection | undefined {
    return this.core.connectionOrUndefined;
  }

  setReadOnly(readOnly: boolean): Promise<void> {
    if (typeof readOnly !== 'boolean')
      return Promise.reject(new TypeError(`setReadOnly expects a boolean, got ${typeof readOnly}`));
    return this.core.setReadOnly(readOnly);
  }

  isReadOnly(): boolean {
    return this.core.isReadOnly();
  }

  setAutoCommit(autoCommit: boolean): Promise<void> {
    if (typeof autoCommit !== 'boolean')
      return Promise.reject(new TypeError(`setAutoCommit expects a boolean, got ${typeof autoCommit}`));
    return this.core.setSessionState({ autoCommit });
  }

  setCatalog(catalog: string): Promise<void> {
    return this.core.setSessionState({ catalog });
  }

  setTransactionIsolation(isolationLevel: IsolationLevel): Promise<void> {
    return this.core.setSessionState({ isolationLevel });
  }

  /** The host the current physical connection is on. */
  getCurrentHost(): HostInfo | undefined {
    return this.core.currentHost;
  }

  /** What console.log shows: where it connects and its state, never the password (the config holds it). */
  [inspect.custom](): string {
    return `${this.constructor.name} ${inspect({ threadId: this.threadId, state: this.state, config: safeConfigView(this.userConfig) })}`;
  }

  toJSON(): Record<string, unknown> {
    return { threadId: this.threadId, state: this.state, config: safeConfigView(this.userConfig) };
  }
}

/** A statement prepared through AwsMySQLClient: mysql2's PreparedStatementInfo shape, routed through the wrapper. */
export class AwsPreparedStatementInfo {
  private conn: Connection;
  private prepared: PreparedStatementInfo;

  constructor(
    private readonly client: AwsMySQLClient,
    private readonly options: string | QueryOptions,
    conn: Connection,
    prepared: PreparedStatementInfo,
  ) {
    this.conn = conn;
    this.prepared = prepared;
  }

  /** The statement as mysql2 prepared it on the physical connection. */
  get statement(): PreparedStatementInfo {
    return this.prepared;
  }

  execute<T extends QueryResult = QueryResult>(parameters?: unknown): Result<T> {
    return this.client.runPrepared([this.options, parameters], async (conn) => {
      if (conn !== this.conn) {
        // The physical connection changed (failover, read/write switch): prepare again on the new one.
        this.prepared = await conn.prepare(this.options);
        this.conn = conn;
      }
      return (await this.prepared.execute(parameters)) as [T, FieldPacket[]];
    });
  }

  close(): Promise<void> {
    return this.prepared.close();
  }
}

/** mysql2's error for a command given to a connection that was ended or destroyed. */
export function closedStateError(): Error & { fatal: true } {
  return Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true as const });
}

/** Opens a connected AwsMySQLClient, as mysql2/promise's createConnection does for a Connection. */
export function createConnection(
  config: AwsMySQLClientConfig | string,
  init?: AwsMySQLClientInit,
): Promise<AwsMySQLClient> {
  return AwsMySQLClient.createConnection(config, init);
}

/** The SQL of a query()/execute() argument (text or options), undefined otherwise. */
function statementText(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const sql = typeof arg === 'object' && arg !== null ? (arg as { sql?: unknown }).sql : undefined;
  return typeof sql === 'string' ? sql : undefined;
}
