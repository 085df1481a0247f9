/**
 * mysql2's callback API over the wrapper: AwsMySQLCallbackConnection is what `mysql2.createConnection(cfg)` returns
 * (connects at once, commands wait for the handshake, `connect(cb)`, `query(sql, values?, cb)` returning mysql2's own
 * Query command with its events and `.stream()`, `end(cb)`, …) and `.promise()` gives the promise-API object, an
 * AwsMySQLClient. It is what Knex, Sequelize, TypeORM and Kysely drive when they are given this module as `mysql2`.
 *
 * Every statement runs through the client's plugin pipeline: the command is handed to the physical connection
 * current when the pipeline reaches the driver, and the outcome the pipeline settles on (a failover error in place
 * of the driver's, for example) is what the callback or the command's 'error' event gets.
 */
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import mysql from 'mysql2';
import type {
  FieldPacket,
  Prepare,
  PrepareStatementInfo,
  Query,
  QueryError,
  QueryOptions,
  ResultSetHeader,
} from 'mysql2';
import type { ConnectionState, Connection as PromiseConnection } from 'mysql2/promise';
import type { ClientMethod } from '../plugin.js';
import type { AwsMySQLPoolConnection } from '../pools/mysql-pool.js';
import {
  AwsMySQLClient,
  closedStateError,
  type AwsMySQLClientConfig,
  type AwsMySQLClientInit,
  type AwsPreparedStatementInfo,
} from './mysql-client.js';
import { safeConfigView } from './config-view.js';
import { EventRelay } from './inherit-events.js';

/** The events mysql2's promise connection forwards from its callback connection. */
const CONNECTION_EVENTS = ['error', 'drain', 'connect', 'end', 'enqueue'];

/**
 * A mysql2 callback: `(err)` on failure, `(null, result, fields)` on success (typed as mysql2 types it, so callbacks
 * written for mysql2, and ORMs' driver interfaces, fit).
 */
export type MySQLCallback<R = unknown> = (err: QueryError | null, result: R, fields: FieldPacket[]) => void;

/** Internal: how the implementation calls a callback: the error alone, or a result (and fields when mysql2 has them). */
export type Callback = (err: QueryError | null, result?: unknown, fields?: FieldPacket[]) => void;

/** What the wrapper uses of a mysql2 command object (Query, Execute, …). */
export interface DriverCommand extends EventEmitter {
  onResult?: ((err: Error | null, rows?: unknown, fields?: unknown) => void) | null;
}

/** What the wrapper uses of mysql2's callback-style core connection (PromiseConnection keeps it as `.connection`). */
export interface CallbackCore extends EventEmitter {
  query(cmd: DriverCommand): DriverCommand;
  execute(
    sql: unknown,
    values: unknown,
    cb?: (err: Error | null, rows?: unknown, fields?: unknown) => void,
  ): DriverCommand;
  _handshakePacket?: unknown;
  _closing?: boolean;
  _fatalError?: unknown;
  _protocolError?: unknown;
  stream?: { destroyed: boolean };
  sequenceId?: number;
  unprepare(sql: string | QueryOptions): PrepareStatementInfo;
}

/** mysql2's server-side protocol methods (mysql2.createServer) do not apply to a client connection. */
function serverSideOnly(method: string): TypeError {
  return new TypeError(
    `${method}() is part of mysql2's server-side protocol (mysql2.createServer) and is not available on a client connection`,
  );
}

function callbackCoreOf(conn: PromiseConnection): CallbackCore {
  return (conn as unknown as { connection: CallbackCore }).connection;
}

type CreateQuery = (
  sql: unknown,
  values: unknown,
  cb: unknown,
  config: Record<string, unknown>,
) => Query & DriverCommand;
const createDriverQuery = (mysql.Connection as unknown as { createQuery: CreateQuery }).createQuery;

/** mysql2's Query command class: a Query given to `query()` is sent as it is (mysql2's PoolCluster does that). */
const QueryCommand = createDriverQuery('', undefined, undefined, {}).constructor;

/** Internal: mysql2's Query command for `query(sql, values, cb)`, in event mode until it is sent. */
export function createQuery(
  sql: unknown,
  values: unknown,
  cb: unknown,
  config: Record<string, unknown>,
): Query & DriverCommand {
  const cmd =
    (sql as object | null)?.constructor === QueryCommand
      ? (sql as Query & DriverCommand)
      : createDriverQuery(sql, values, cb, config);
  const named = cmd as { namedPlaceholders?: unknown };
  if (named.namedPlaceholders === undefined) named.namedPlaceholders = config.namedPlaceholders;
  // The command reports to the pipeline; the user's callback gets the pipeline's outcome.
  cmd.onResult = null;
  return cmd;
}

/** Internal: what sends a Query command created by createQuery on the physical connection. */
export function sendQuery(
  cmd: Query & DriverCommand,
): (core: CallbackCore, done: DriverCommand['onResult'] | undefined) => DriverCommand {
  return (core, done) => {
    cmd.onResult = done ?? null;
    return core.query(cmd);
  };
}

/** Internal: calls a user callback; an exception it throws surfaces as mysql2's would (uncaught), not as a statement error. */
export function invoke(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/** Internal: mysql2 `execute()`'s synchronous checks of the bind values. */
export function checkExecuteValues(values: unknown): void {
  if (values === undefined || values === null || typeof values === 'function') return;
  if (!Array.isArray(values))
    throw new TypeError('Bind parameters must be array if namedPlaceholders parameter is not enabled');
  for (const v of values) {
    if (v === undefined)
      throw new TypeError('Bind parameters must not contain undefined. To pass SQL NULL specify JS null');
    if (typeof v === 'function') {
      throw new TypeError(
        'Bind parameters must not contain function(s). To pass the body of a function as a string call .toString() first',
      );
    }
  }
}

/** Internal: splits mysql2's `(sql, values?, cb?)` arguments. */
export function splitArgs(values: unknown, cb: unknown): { values: unknown; cb: Callback | undefined } {
  if (typeof values === 'function') return { values: undefined, cb: values as Callback };
  return { values, cb: typeof cb === 'function' ? (cb as Callback) : undefined };
}

/** How a command sent through the pipeline ended: the pipeline's error, or mysql2's result. */
export interface CommandOutcome {
  readonly err?: QueryError;
  readonly rows?: unknown;
  readonly fields?: unknown;
}

/**
 * Internal: one mysql2 command sent through a client's pipeline. `handle` is what the caller holds (the command
 * itself, or a stand-in): the command's events reach it as they happen, except 'error' and 'end', which follow the
 * pipeline's outcome (a failover error in place of the driver's, for example) when `deliver` is called: on success
 * 'end' then the callback, on failure the callback (or 'error') then 'end', in mysql2's order.
 */
export class CommandRun {
  private ended = false;
  private delivered = false;

  constructor(
    private readonly handle: EventEmitter,
    private readonly cb: Callback | undefined,
  ) {}

  private toUser(event: string | symbol, ...a: unknown[]): boolean {
    return EventEmitter.prototype.emit.call(this.handle, event, ...a);
  }

  /** Runs the command through `client`'s pipeline; `send` creates or queues it on the physical connection. */
  send(
    client: AwsMySQLClient,
    method: ClientMethod,
    args: readonly unknown[],
    send: (
      core: CallbackCore,
      done: ((err: Error | null, rows?: unknown, fields?: unknown) => void) | undefined,
    ) => DriverCommand,
  ): Promise<CommandOutcome> {
    const cb = this.cb;
    let sent = false;
    return client
      .statement(method, args, (conn) => {
        return new Promise<[never, FieldPacket[]]>((resolve, reject) => {
          if (sent) {
            reject(new Error(`${method}: a mysql2 command runs once and was already sent`));
            return;
          }
          sent = true;
          const core = callbackCoreOf(conn);
          let lastHeader: unknown;
          const settle = (err: Error | null | undefined, rows?: unknown, fields?: unknown): void => {
            core.removeListener('error', onLost);
            if (err) reject(err);
            else resolve([rows as never, fields as FieldPacket[]]);
          };
          // Event mode: a fatal error goes to the connection, not the command.
          const onLost = (err: Error): void => settle(err);
          if (cb === undefined) core.on('error', onLost);
          const real = send(core, cb === undefined ? undefined : (err, rows, fields) => settle(err, rows, fields));
          real.emit = (event: string | symbol, ...a: unknown[]): boolean => {
            if (event === 'error') {
              settle(a[0] as Error);
              return true;
            }
            if (event === 'end') {
              this.ended = true;
              if (this.delivered) return this.toUser('end');
              if (cb === undefined) settle(null, lastHeader);
              return true;
            }
            // A statement's OK packet (event mode) tells the transaction state.
            if (event === 'result' && (a[0] as object | null)?.constructor?.name === 'ResultSetHeader')
              lastHeader = a[0];
            return this.toUser(event, ...a);
          };
        });
      })
      .then(
        ([rows, fields]): CommandOutcome => ({ rows, fields }),
        (err: QueryError): CommandOutcome => ({ err }),
      );
  }

  /** Gives the outcome to the caller: the callback or the handle's events. */
  deliver(outcome: CommandOutcome): void {
    const cb = this.cb;
    this.delivered = true;
    if (outcome.err === undefined) {
      if (this.ended) this.toUser('end');
      if (cb !== undefined)
        invoke(() =>
          outcome.fields === undefined
            ? cb(null, outcome.rows)
            : cb(null, outcome.rows, outcome.fields as FieldPacket[]),
        );
      return;
    }
    const err = outcome.err;
    if (cb !== undefined) invoke(() => cb(err));
    else if (this.handle.listenerCount('error') > 0) this.toUser('error', err);
    // As an unlistened 'error' event does in mysql2.
    else invoke(() => this.toUser('error', err));
    if (this.ended) this.toUser('end');
  }
}

/** A transaction command's callback arguments: mysql2 gives `(null, header)` (no fields for an OK packet). */
function headerArgs(result: unknown): unknown[] {
  return [null, Array.isArray(result) ? result[0] : undefined];
}

/**
 * mysql2's `Connection` (callback API) over an AwsMySQLClient: `createConnection(config)` makes one (and starts
 * connecting), `awsMySQLClient.connection` is a client's own (mysql2's `promiseConnection.connection`);
 * `.promise()` returns the client.
 */
export class AwsMySQLCallbackConnection extends EventEmitter {
  declare private readonly client: AwsMySQLClient;
  declare private readonly eventRelay: EventRelay;
  /** The connect this object started; commands wait for it (undefined: nothing to wait for). */
  private connecting: Promise<void> | undefined;
  private connectError: Error | undefined;
  private ended = false;
  /** Commands waiting for the connect. */
  private waiting = 0;

  /** Internal: use `createConnection(config)` or `client.connection`. */
  constructor(client: AwsMySQLClient, connectNow = false) {
    super();
    Object.defineProperty(this, 'client', { value: client, enumerable: false });
    Object.defineProperty(this, 'eventRelay', {
      value: new EventRelay(this, client, CONNECTION_EVENTS),
      enumerable: false,
    });
    if (connectNow) void this.startConnect();
  }

  /**
   * @internal The client's own events ('end', 'failover', a lost connection's 'error'), already delivered to its
   * listeners. A lost connection must not crash the process: 'error' reaches this object's listeners if any.
   */
  relayEvent(event: string, args: readonly unknown[]): void {
    if (event === 'error' && this.listenerCount('error') === 0) return;
    this.eventRelay.relay(event, args);
  }

  private get connected(): boolean {
    return this.client.targetConnection !== undefined;
  }

  /** Connects the client, as mysql2 does when a connection is created. */
  private startConnect(): Promise<void> {
    const connecting = this.client.connect().then(
      () => {
        this.connecting = undefined;
        this.emit('connect', this.handshake());
      },
      (err: Error) => {
        this.connectError = err;
        // As mysql2: the error goes to the commands that were waiting, and to the connection when none took it.
        if (this.listenerCount('error') > 0 && this.waiting === 0) this.emit('error', err);
        throw err;
      },
    );
    connecting.catch(() => undefined);
    this.connecting = connecting;
    return connecting;
  }

  private handshake(): unknown {
    const conn = this.client.targetConnection;
    return conn === undefined ? undefined : callbackCoreOf(conn)._handshakePacket;
  }

  /** Runs `fn` once connected; a failed connect or an ended connection gives `fail` the driver's error instead. */
  private whenReady(fn: () => void, fail: (err: Error) => void): void {
    if (this.ended) return fail(closedStateError());
    if (this.connectError !== undefined) return fail(this.connectError);
    const connecting = this.connecting;
    if (connecting === undefined) return fn();
    this.waiting++;
    connecting.then(
      () => {
        this.waiting--;
        fn();
      },
      (err: Error) => {
        this.waiting--;
        fail(err);
      },
    );
  }

  /** The promise-API object (an AwsMySQLClient) over the same connection. */
  promise(): AwsMySQLClient {
    return this.client;
  }

  /** As mysql2: `cb(null, handshake)` once connected, `cb(err)` if connecting failed; the connection connects anyway. */
  connect(cb?: (err: QueryError | null, handshake?: unknown) => void): void {
    if (this.connectError !== undefined) {
      const err = this.connectError as QueryError;
      if (cb) process.nextTick(() => cb(err));
      return;
    }
    if (this.connecting === undefined && this.connected) {
      if (cb) process.nextTick(() => cb(null, this));
      return;
    }
    const connecting = this.connecting ?? (this.ended ? Promise.reject(closedStateError()) : this.startConnect());
    if (cb === undefined) return void connecting.catch(() => undefined);
    connecting.then(
      () => invoke(() => cb(null, this.handshake())),
      (err: QueryError) => invoke(() => cb(err)),
    );
  }

  /** mysql2's Query command: callback mode with `cb`, events ('fields', 'result', 'end', 'error') and `.stream()` without. */
  query<R = unknown>(sql: string | QueryOptions | Query, cb?: MySQLCallback<R>): Query;
  query<R = unknown>(sql: string | QueryOptions | Query, values: unknown, cb?: MySQLCallback<R>): Query;
  query(sql: string | QueryOptions | Query, values?: unknown, cb?: unknown): Query {
    const a = splitArgs(values, cb);
    // A ready Query command carries its own callback.
    if ((sql as object).constructor === QueryCommand && a.cb === undefined)
      a.cb = (sql as DriverCommand).onResult ?? undefined;
    const cmd = createQuery(sql, a.values, a.cb, (this.client.config ?? {}) as Record<string, unknown>);
    this.whenReady(
      () => {
        const direct = this.client.directConnection('Client.query');
        if (direct !== undefined) {
          // Nothing of the wrapper applies: mysql2 runs the command as it would on its own connection.
          cmd.onResult = (a.cb as DriverCommand['onResult']) ?? null;
          callbackCoreOf(direct).query(cmd);
          return;
        }
        const run = new CommandRun(cmd, a.cb);
        void run.send(this.client, 'Client.query', [sql, a.values], sendQuery(cmd)).then((o) => run.deliver(o));
      },
      (err) => this.fail(cmd, a.cb, err),
    );
    return cmd;
  }

  /** Delivers an error before the command reached the driver, as mysql2 does for a closed connection. */
  private fail(handle: EventEmitter, cb: Callback | undefined, err: Error): void {
    if (cb !== undefined) invoke(() => cb(err as QueryError));
    else if (err.message === closedStateError().message) this.emitError(err);
    else if (handle.listenerCount('error') > 0) handle.emit('error', err);
    else this.emitError(err);
  }

  private emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** A prepared statement executed in one call (mysql2 caches the statement per connection). */
  execute<R = unknown>(sql: string | QueryOptions, cb?: MySQLCallback<R>): Query;
  execute<R = unknown>(sql: string | QueryOptions, values: unknown, cb?: MySQLCallback<R>): Query;
  execute(sql: string | QueryOptions, values?: unknown, cb?: unknown): Query {
    const a = splitArgs(values, cb);
    if (typeof sql === 'object' && a.values === undefined) checkExecuteValues(sql.values);
    else checkExecuteValues(a.values);
    // mysql2 returns its Execute command, which its typings call a Query. This stand-in relays the command's events
    // and carries its `sql`; it has no `stream()` (use query() to stream rows).
    const handle = Object.assign(new EventEmitter(), {
      sql: typeof sql === 'string' ? sql : sql.sql,
    }) as unknown as Query & EventEmitter;
    this.whenReady(
      () => {
        const run = new CommandRun(handle, a.cb);
        void run
          .send(this.client, 'Client.execute', [sql, a.values], (core, done) => core.execute(sql, a.values, done))
          .then((o) => run.deliver(o));
      },
      (err) => this.fail(handle, a.cb, err),
    );
    return handle;
  }

  /**
   * Prepares a statement (re-prepared by the wrapper after a connection switch); `cb(null, statement)`. Returns the
   * command as mysql2 does: it emits 'end' once done (after the callback), and 'error' first when it failed without
   * a callback. mysql2's typings call it a `Prepare` with `sql`, `start()`, `determinePacket()` and `stream()`; its
   * runtime command has none of them (nor does this one), hence the cast.
   */
  prepare(
    options: string | QueryOptions,
    cb?: (err: QueryError | null, statement: AwsMySQLCallbackStatement) => void,
  ): Prepare {
    const handle = new EventEmitter();
    const failed = (err: Error): void => {
      if (cb) invoke(() => (cb as Callback)(err as QueryError));
      else if (handle.listenerCount('error') > 0) handle.emit('error', err);
      else this.emitError(err);
      handle.emit('end');
    };
    this.whenReady(
      () =>
        void this.client.prepare(options).then((s) => {
          if (cb) invoke(() => cb(null, new AwsMySQLCallbackStatement(s, this, options)));
          handle.emit('end');
        }, failed),
      failed,
    );
    return handle as unknown as Prepare;
  }

  /**
   * Forgets (and closes) the statement prepared for `sql` on the current physical connection; returns it, or
   * undefined when there is none (mysql2's typings omit the undefined).
   */
  unprepare(sql: string | QueryOptions): PrepareStatementInfo {
    const current = this.currentCore();
    if (current === undefined) return undefined as unknown as PrepareStatementInfo;
    return current.unprepare(sql);
  }

  /** Runs a non-statement command; on success `cb` gets exactly the arguments mysql2 gives it (`success(result)`). */
  private command(run: () => Promise<unknown>, cb: Callback | undefined, success: (r: unknown) => unknown[]): void {
    const failed = (err: Error): void => (cb ? invoke(() => cb(err as QueryError)) : this.emitError(err));
    this.whenReady(
      () =>
        void run().then((r) => {
          if (cb) invoke(() => (cb as (...a: unknown[]) => void)(...success(r)));
        }, failed),
      failed,
    );
  }

  /** START TRANSACTION; `cb(null, resultSetHeader)` as mysql2. */
  beginTransaction(cb?: MySQLCallback<ResultSetHeader>): void {
    this.command(
      () => this.client.transactionCommand('Client.beginTransaction', true, (c) => c.beginTransaction()),
      cb as Callback | undefined,
      headerArgs,
    );
  }

  commit(cb?: MySQLCallback<ResultSetHeader>): void {
    this.command(
      () => this.client.transactionCommand('Client.commit', false, (c) => c.commit()),
      cb as Callback | undefined,
      headerArgs,
    );
  }

  rollback(cb?: MySQLCallback<ResultSetHeader>): void {
    this.command(
      () => this.client.transactionCommand('Client.rollback', false, (c) => c.rollback()),
      cb as Callback | undefined,
      headerArgs,
    );
  }

  /** COM_PING; `cb()` with no arguments on success, as mysql2 (whose typings say `cb(null)`). */
  ping(cb?: (err: QueryError | null) => void): void {
    this.command(
      () => this.client.ping(),
      cb,
      () => [],
    );
  }

  /** COM_RESET_CONNECTION (mysql2 `reset(cb)`); `cb(null)` on success. */
  reset(cb?: (err: QueryError | null) => void): void {
    this.command(
      () => this.client.reset(),
      cb,
      () => [null],
    );
  }

  changeUser(options: AwsMySQLClientConfig, cb?: (err: QueryError | null) => void): void {
    this.command(
      () => this.client.changeUser(options),
      cb,
      () => [null],
    );
  }

  /** Closes the connection after the commands already sent (COM_QUIT); commands given afterwards fail. */
  end(cb?: (err: QueryError | null) => void): void {
    if (this.ended) {
      const err = closedStateError();
      if (cb) invoke(() => cb(err as QueryError));
      else this.emitError(err);
      return;
    }
    this.ended = true;
    const done = (): Promise<void> => this.client.end();
    (this.connecting ?? Promise.resolve())
      .then(done, () => undefined)
      .then(
        // mysql2 calls back with no argument on success (its typings say `null`).
        () => cb && invoke(() => (cb as () => void)()),
        (err: QueryError) => (cb ? invoke(() => cb(err)) : this.emitError(err)),
      );
  }

  /** Closes the socket now. */
  destroy(): void {
    this.ended = true;
    if (this.connecting === undefined) this.client.destroy();
    else
      void this.connecting.then(
        () => this.client.destroy(),
        () => undefined,
      );
  }

  pause(): void {
    this.client.pause();
  }

  resume(): void {
    this.client.resume();
  }

  escape(value: unknown): string {
    return this.client.escape(value);
  }

  escapeId(value: string | string[]): string {
    return this.client.escapeId(value);
  }

  format(sql: string, values?: unknown): string {
    return this.client.format(sql, values);
  }

  /** Server thread id (null before the handshake). */
  /** The server's connection id; null before the handshake, as in mysql2 (whose typings say `number`, as here). */
  get threadId(): number {
    return this.client.threadId;
  }

  /** The physical connection's mysql2 config (the given config before the handshake). */
  get config(): Record<string, unknown> {
    return this.client.config as Record<string, unknown>;
  }

  /** mysql2's connection state: 'protocol_handshake', 'authenticated', 'disconnected', 'error'. */
  get state(): ConnectionState {
    if (this.connectError !== undefined) return 'error';
    if (!this.connected) return this.ended || this.connecting === undefined ? 'disconnected' : 'protocol_handshake';
    return this.ended && this.client.state === 'authenticated' ? 'disconnected' : this.client.state;
  }

  get authorized(): boolean {
    return this.state === 'authenticated';
  }

  // mysql2's health flags, read by Knex's and Sequelize's connection validation.
  get _closing(): boolean {
    const core = this.currentCore();
    return this.ended || Boolean(core?._closing);
  }

  get _fatalError(): unknown {
    return this.currentCore()?._fatalError ?? this.connectError ?? null;
  }

  get _protocolError(): unknown {
    return this.currentCore()?._protocolError ?? null;
  }

  /** The physical connection's socket (a closed stand-in when there is none). */
  get stream(): { destroyed: boolean } {
    return this.currentCore()?.stream ?? { destroyed: this.ended || this.connectError !== undefined };
  }

  /** The packet sequence number of the physical connection (0 when there is none). */
  get sequenceId(): number {
    return this.currentCore()?.sequenceId ?? 0;
  }

  // mysql2's Connection typings include its server side. Declared so that the type checker takes this for a mysql2
  // Connection (ORM signatures ask for one, e.g. Drizzle's); calling them fails clearly.
  serverHandshake(args?: unknown): never {
    void args;
    throw serverSideOnly('serverHandshake');
  }

  writeOk(args?: unknown): never {
    void args;
    throw serverSideOnly('writeOk');
  }

  writeError(args?: unknown): never {
    void args;
    throw serverSideOnly('writeError');
  }

  writeEof(warnings?: number, statusFlags?: number): never {
    void warnings;
    void statusFlags;
    throw serverSideOnly('writeEof');
  }

  writeTextResult(rows?: unknown[], columns?: unknown[]): never {
    void rows;
    void columns;
    throw serverSideOnly('writeTextResult');
  }

  writePacket(packet: unknown): never {
    void packet;
    throw serverSideOnly('writePacket');
  }

  private currentCore(): CallbackCore | undefined {
    const conn = this.client.targetConnection;
    return conn === undefined ? undefined : callbackCoreOf(conn);
  }

  [Symbol.dispose](): void {
    if (!this.ended) this.end();
  }

  [inspect.custom](): string {
    return `${this.constructor.name} ${inspect(this.toJSON())}`;
  }

  toJSON(): Record<string, unknown> {
    return {
      threadId: this.threadId,
      state: this.state,
      config: safeConfigView(this.client.config as Record<string, unknown>),
    };
  }
}

/** mysql2's callback PreparedStatementInfo over the wrapper's prepared statement. */
export class AwsMySQLCallbackStatement {
  constructor(
    private readonly statement: AwsPreparedStatementInfo,
    private readonly connection: AwsMySQLCallbackConnection,
    private readonly options: string | QueryOptions,
  ) {}

  /** mysql2's statement as prepared (the promise wrapper keeps it as `.statement`); a switch re-prepares it. */
  private get driverStatement(): { id: number; columns: unknown; parameters: unknown } {
    return (this.statement.statement as unknown as { statement: { id: number; columns: unknown; parameters: unknown } })
      .statement;
  }

  get id(): number {
    return this.driverStatement.id;
  }

  get columns(): unknown {
    return this.driverStatement.columns;
  }

  get parameters(): unknown {
    return this.driverStatement.parameters;
  }

  /**
   * Executes the statement, as mysql2 does: through the connection's statement cache (`connection.execute`, which
   * prepares it again on a new physical connection after a failover or switch). Returns the command, with mysql2's
   * events ('fields', 'result', 'end', 'error'); mysql2 returns its Execute command, which its typings call a Query.
   */
  execute<R = unknown>(parameters?: unknown, cb?: MySQLCallback<R>): Query {
    if (typeof parameters === 'function') {
      cb = parameters as MySQLCallback<R>;
      parameters = [];
    }
    return this.connection.execute(this.options, parameters, cb);
  }

  close(): void {
    void this.statement.close().catch(() => undefined);
  }
}

/** A connection checked out of an AwsMySQLCallbackPool (mysql2's `PoolConnection`); `.promise()` is the pool's. */
export class AwsMySQLCallbackPoolConnection extends AwsMySQLCallbackConnection {
  declare private readonly pooled: AwsMySQLPoolConnection;

  /** Internal: `poolConnection.connection`, or a callback pool's getConnection(cb). */
  constructor(pooled: AwsMySQLPoolConnection) {
    super(pooled);
    Object.defineProperty(this, 'pooled', { value: pooled, enumerable: false });
  }

  override promise(): AwsMySQLPoolConnection {
    return this.pooled;
  }

  /** In mysql2's `PoolConnection` typings (its runtime has none): this connection. */
  get connection(): this {
    return this;
  }

  /** Gives the connection back to its pool (again: nothing). */
  release(): void {
    this.pooled.release();
  }

  /** Closes the connection and frees its pool slot. */
  override destroy(): void {
    this.pooled.destroy();
  }

  /** As mysql2 (without `gracefulEnd`): a pooled connection's end() warns and releases it. */
  override end(cb?: (err: QueryError | null) => void): void {
    const warning = new Error(
      'Calling conn.end() to release a pooled connection is deprecated. In next version calling conn.end() will be restored to default conn.end() behavior. Use conn.release() instead.',
    );
    this.emit('warn', warning);
    console.warn(warning.message);
    this.release();
    // mysql2 calls back with no argument (its typings say `null`).
    if (cb) (cb as () => void)();
  }

  override [Symbol.dispose](): void {
    this.release();
  }
}

/** mysql2's `createConnection(config)`: a connection that starts connecting now. */
export function createConnection(
  config: AwsMySQLClientConfig | string,
  init?: AwsMySQLClientInit,
): AwsMySQLCallbackConnection {
  const connection = new AwsMySQLClient(config, init).connection;
  connection.connect();
  return connection;
}
