/**
 * How the wrapper drives node-postgres (`pg.Client`): connecting with the user's config, statements bounded by a
 * timeout that really cancels (CancelRequest), aborting a connection while a query runs, session state and error
 * classification.
 *
 * pg facts this relies on (pg 8.23, lib/client.js and lib/connection.js):
 * - `client.connection.stream.destroy(err)` rejects every pending query with `err` itself, then the client emits
 *   'error' (err, then "Connection terminated unexpectedly"). An 'error' event without a listener crashes the
 *   process, so every client opened here gets a permanent one.
 * - Any 'error' event on a connected client means the client is unusable (pg sets `_queryable = false`).
 * - `client.getTransactionStatus()` is the status byte of the last ReadyForQuery ('I', 'T', 'E').
 * - pg has no public cancel API on Client; `pg.Connection#cancel(processID, secretKey)` writes the CancelRequest
 *   packet and is what pg's own (internal) `Client#cancel` uses, so a fresh pg.Connection sends ours.
 * - pg raises its connection-loss errors ("Connection terminated unexpectedly", "…not queryable", connect
 *   "timeout expired") as plain `Error`s without `code`. They are recognised by state, not text: a plain coded-less
 *   Error raised on a connection whose socket is gone is recorded here as a connection loss.
 */
import { Socket } from 'node:net';
import pg from 'pg';
import type { QueryArrayResult, QueryConfig, QueryResult, Submittable } from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import type { HostInfo } from '../../host-info.js';
import {
  AwsWrapperError,
  ConfigurationError,
  FailoverError,
  QueryTimeoutError,
  UnsupportedOperationError,
} from '../../errors.js';
import { getLogger } from '../../logger.js';
import { mapHostAddress, type WrapperOptions } from '../../options.js';
import { SOCKET_ERROR_CODES } from './socket-errors.js';
import type {
  DriverConfig,
  DriverDialect,
  ErrorKind,
  IsolationLevel,
  RowsWithColumns,
  SessionState,
} from '../types.js';

const log = getLogger('pg');

const DEFAULT_PORT = 5432;
/** Bound for a CancelRequest (and for a cancelled statement to stop) when the user set no connectTimeout. */
const DEFAULT_CANCEL_TIMEOUT_MS = 5000;
/** SQLSTATE query_canceled: what a statement stopped by a CancelRequest rejects with. */
const QUERY_CANCELED = '57014';

/** Wrapper options the pg dialect reads. */
export type PgWrapperOptions = Pick<
  Partial<WrapperOptions>,
  | 'connectTimeout'
  | 'socketTimeout'
  | 'tcpKeepalive'
  | 'tcpKeepaliveTime'
  | 'tcpKeepaliveInterval'
  | 'tcpKeepaliveProbes'
  | 'hostAddressMap'
>;

/** The parts of pg.Client the dialect uses that @types/pg does not declare. */
interface PgClientInternals {
  processID: number | null;
  secretKey: number | null;
  host: string;
  port: number;
}

/** pg.Connection (pg's protocol connection) with the methods @types/pg leaves out. */
interface PgProtocolConnection {
  readonly stream: Socket;
  connect(port: number | string, host?: string): void;
  cancel(processID: number, secretKey: number): void;
  on(event: 'connect' | 'end', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** A Query object as pg.Client#query receives it; `query_timeout` is read off the object itself. */
type PgQuery = pg.Query & {
  callback: ((err: Error | null, res?: unknown) => void) | undefined;
  submit: (connection: pg.Connection) => Error | void;
  query_timeout?: unknown;
};

/** The Submittable callbacks the dialect observes to learn when a stream or cursor is finished. */
interface ObservedSubmittable extends Submittable {
  handleError?: (err: Error, connection?: pg.Connection) => void;
  handleReadyForQuery?: (connection?: pg.Connection) => void;
}

/** What the dialect remembers about each connection it opened. */
interface ConnState {
  /** The socket closed, the connection reported a fatal error, or it was ended/aborted: it is unusable. */
  closed: boolean;
  /** end() was called: the errors pg raises on it now ('Connection terminated') are not connection losses. */
  ended?: boolean;
  /** Bound for a CancelRequest and for a cancelled statement to stop (connectTimeout or the default). */
  cancelTimeoutMs: number;
  /** socketTimeout, applied to session-state statements. */
  socketTimeoutMs: number | undefined;
}

/**
 * The user's pg config with `connectionString` folded in the way pg does it (values from the string win over
 * explicit keys), so host and port can then be replaced safely.
 */
export function effectivePgConfig(config: DriverConfig): Record<string, unknown> {
  const { connectionString, ...rest } = config;
  if (typeof connectionString !== 'string' || connectionString === '') return rest;
  const merged: Record<string, unknown> = { ...rest };
  for (const [key, value] of Object.entries(parseConnectionString(connectionString))) {
    if (value !== undefined && value !== null) merged[key] = value;
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------------------------
// Error classification (with the "08 prefix" quirk fixed: two-character entries are SQLSTATE
// classes, five-character entries exact codes).

/** SQLSTATE classes that mean the connection or the server is gone or unusable. */
const NETWORK_SQLSTATE_CLASSES: ReadonlySet<string> = new Set([
  '08', // connection_exception
  '53', // insufficient_resources (too many connections, out of memory, disk full)
  '58', // system_error (I/O errors)
  '99', // listed by the Python/JDBC wrappers; not a standard class
  'F0', // config_file_error
  'XX', // internal_error, data_corrupted
]);
const NETWORK_SQLSTATES: ReadonlySet<string> = new Set([
  '57P01', // admin_shutdown (also pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, recovery)
]);
const LOGIN_SQLSTATES: ReadonlySet<string> = new Set(['28000', '28P01']);
const READ_ONLY_SQLSTATE = '25006';

const NETWORK_ERRNO_CODES: ReadonlySet<string> = new Set(SOCKET_ERROR_CODES);

/** Classifies a SQLSTATE: network by class or exact code, login, read-only. */
export function classifySqlState(sqlState: string): ErrorKind | undefined {
  if (LOGIN_SQLSTATES.has(sqlState)) return 'login';
  if (sqlState === READ_ONLY_SQLSTATE) return 'read-only';
  if (NETWORK_SQLSTATES.has(sqlState) || NETWORK_SQLSTATE_CLASSES.has(sqlState.slice(0, 2))) return 'network';
  return undefined;
}

/** A server error (pg's DatabaseError, or one from another copy of pg-protocol). */
function isDatabaseError(err: object): err is pg.DatabaseError {
  if (err instanceof pg.DatabaseError) return true;
  const e = err as { severity?: unknown; code?: unknown };
  return typeof e.severity === 'string' && typeof e.code === 'string';
}

/**
 * Classifies a pg (or Node socket, or wrapper) error by SQLSTATE and errno code, never by English text.
 * `connectionLosses` holds pg's code-less connection-loss errors recorded by a dialect (see the module comment).
 * QueryTimeoutError (a slow but answering host) and failover errors are not classified.
 */
export function classifyPgError(err: unknown, connectionLosses?: WeakSet<object>, depth = 0): ErrorKind | undefined {
  if (err === null || typeof err !== 'object' || depth > 8) return undefined;
  if (err instanceof QueryTimeoutError || err instanceof FailoverError) return undefined;
  if (connectionLosses?.has(err)) return 'network';
  if (isDatabaseError(err)) return err.code === undefined ? undefined : classifySqlState(err.code);
  const code = (err as { code?: unknown }).code;
  if (err instanceof AwsWrapperError) {
    // Wrapper errors carry a SQLSTATE-like code (08S01 for an aborted connection), else the driver error as cause.
    const own = typeof code === 'string' ? classifySqlState(code) : undefined;
    return own ?? classifyPgError(err.cause, connectionLosses, depth + 1);
  }
  if (typeof code === 'string' && NETWORK_ERRNO_CODES.has(code)) return 'network';
  // net.connect with several addresses (autoSelectFamily) fails with an AggregateError of the attempts.
  if (err instanceof AggregateError) {
    for (const inner of err.errors)
      if (classifyPgError(inner, connectionLosses, depth + 1) === 'network') return 'network';
  }
  return undefined;
}

const ISOLATION_LEVELS: ReadonlySet<IsolationLevel> = new Set([
  'READ UNCOMMITTED',
  'READ COMMITTED',
  'REPEATABLE READ',
  'SERIALIZABLE',
]);

function errnoError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function internals(conn: pg.Client): PgClientInternals {
  return conn as unknown as PgClientInternals;
}

export class PgDriverDialect implements DriverDialect<pg.Client> {
  readonly code = 'pg' as const;
  /** Per-connection state, owned by this dialect instance (no module-level cache). */
  private readonly states = new WeakMap<pg.Client, ConnState>();
  /** pg's code-less connection-loss errors seen on connections of this dialect (classified as network). */
  private readonly connectionLosses = new WeakSet<object>();
  /** Connections being opened (connect() not settled yet). */
  private readonly connecting = new Set<pg.Client>();

  /** The pg.Client config for a connection to `host`: address mapping, connect timeout and keepalive applied. */
  clientConfig(host: HostInfo, config: DriverConfig, options: PgWrapperOptions = {}): pg.ClientConfig {
    const base = effectivePgConfig(config);
    const configuredPort =
      base.port === undefined || base.port === null || base.port === '' ? DEFAULT_PORT : Number(base.port);
    const port = host.port > 0 ? host.port : configuredPort;
    const target = mapHostAddress(options.hostAddressMap, host.host, port);
    const out: Record<string, unknown> = { ...base, host: target.host, port: target.port };

    if (
      options.connectTimeout !== undefined &&
      options.connectTimeout > 0 &&
      base.connectionTimeoutMillis === undefined
    ) {
      out.connectionTimeoutMillis = options.connectTimeout;
    }
    // tcpKeepaliveTime alone implies keepalive on; the user's own pg keys win.
    const keepAlive = options.tcpKeepalive ?? (options.tcpKeepaliveTime !== undefined ? true : undefined);
    if (keepAlive !== undefined && base.keepAlive === undefined) out.keepAlive = keepAlive;
    if (options.tcpKeepaliveTime !== undefined && base.keepAliveInitialDelayMillis === undefined) {
      out.keepAliveInitialDelayMillis = options.tcpKeepaliveTime;
    }
    if (options.tcpKeepaliveInterval !== undefined || options.tcpKeepaliveProbes !== undefined) {
      // Node's net API sets only SO_KEEPALIVE and the idle time; interval and probe count keep the OS defaults.
      log.debug(
        'tcpKeepaliveInterval/tcpKeepaliveProbes are not applied to pg sockets (not settable through Node net)',
      );
    }
    return out;
  }

  async connect(host: HostInfo, config: DriverConfig, options?: PgWrapperOptions): Promise<pg.Client> {
    const client = new pg.Client(this.clientConfig(host, config, options));
    const state: ConnState = {
      closed: false,
      cancelTimeoutMs:
        options?.connectTimeout !== undefined && options.connectTimeout > 0
          ? options.connectTimeout
          : DEFAULT_CANCEL_TIMEOUT_MS,
      socketTimeoutMs: options?.socketTimeout,
    };
    this.states.set(client, state);
    // Permanent listeners: an unhandled 'error' would crash the process; 'end' marks the socket gone before pg
    // rejects the pending queries (they are rejected on a later tick).
    client.on('error', (err: Error) => {
      state.closed = true;
      this.noteError(client, err);
      log.debug(
        `connection to ${host.hostAndPort} reported an error: ${err.name} ${(err as { code?: unknown }).code ?? ''}`,
      );
    });
    client.connection.on('end', () => {
      state.closed = true;
    });
    this.connecting.add(client);
    try {
      await client.connect();
    } catch (err) {
      this.noteError(client, err);
      state.closed = true;
      const stream = client.connection.stream;
      if (!stream.destroyed) stream.destroy();
      throw err;
    } finally {
      this.connecting.delete(client);
    }
    return client;
  }

  /**
   * Closes the sockets of the connections still being opened (their connect fails with pg's 'Connection terminated
   * unexpectedly', as when pg-pool's connection timeout destroys a raw client's socket).
   */
  abortConnecting(): void {
    for (const client of this.connecting) client.connection.stream.destroy();
  }

  /**
   * Records pg's code-less connection-loss errors: a plain Error (not a subclass, no `code`) raised on a connection
   * whose socket is gone. Called for every error the dialect sees on a connection.
   */
  noteError(conn: pg.Client, err: unknown): void {
    if (err === null || typeof err !== 'object' || Object.getPrototypeOf(err) !== Error.prototype) return;
    if ((err as { code?: unknown }).code !== undefined) return;
    if (this.states.get(conn)?.ended === true) return;
    if (this.isClosed(conn)) this.connectionLosses.add(err);
  }

  /**
   * Runs one statement on `conn` (text or QueryConfig, with values) and resolves with pg's result. With
   * `timeoutMs` > 0 the statement is bounded from the moment it is sent: it is then cancelled with a CancelRequest
   * and rejects with QueryTimeoutError (cause: pg's 57014 error) while the connection stays usable. If the host does
   * not answer the cancel within the cancel bound (connectTimeout or 5 s) the connection is aborted with a
   * network-class AwsWrapperError (code 08S01); if it answers but the statement still does not stop, the connection
   * is aborted with QueryTimeoutError.
   */
  query<R = QueryResult>(
    conn: pg.Client,
    config: string | QueryConfig<unknown[]>,
    values: unknown,
    timeoutMs: number | undefined,
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      // Same construction as pg.Client#query (pg copies the config), but with a Query object we can bound.
      const query = new pg.Query(config as QueryConfig, values as unknown[] | undefined) as PgQuery;
      if (typeof config === 'object' && 'query_timeout' in config)
        query.query_timeout = (config as { query_timeout?: unknown }).query_timeout;
      let settled = false;
      let cancelled = false;
      let timer: NodeJS.Timeout | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      let cancelling: Promise<void> | undefined;
      query.callback = (err, res) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(graceTimer);
        if (err) this.noteError(conn, err);
        const deliver = () => {
          if (err && cancelled && isDatabaseError(err) && err.code === QUERY_CANCELED) {
            reject(
              new QueryTimeoutError(`The statement exceeded the timeout of ${timeoutMs} ms and was cancelled`, {
                cause: err,
              }),
            );
          } else if (err) reject(err);
          else resolve(res as R);
        };
        // A statement that ended on its own while our cancel was in flight: settle only once the server has taken
        // the cancel, so it cannot land on the caller's next statement (an idle backend ignores a cancel).
        if (cancelling !== undefined && !(err && isDatabaseError(err) && err.code === QUERY_CANCELED))
          cancelling.then(deliver, deliver);
        else deliver();
      };
      if (timeoutMs !== undefined && timeoutMs > 0) {
        const bound = this.stateOf(conn).cancelTimeoutMs;
        const onTimeout = () => {
          if (settled) return;
          cancelled = true;
          cancelling = this.cancel(conn);
          cancelling.then(
            () => {
              if (settled) return;
              graceTimer = setTimeout(() => {
                if (settled) return;
                this.abort(
                  conn,
                  new QueryTimeoutError(
                    `The statement exceeded the timeout of ${timeoutMs} ms and did not stop within ${bound} ms after a cancel request; the connection was aborted`,
                  ),
                );
              }, bound);
            },
            (cancelErr: unknown) => {
              if (settled) return;
              this.abort(
                conn,
                new AwsWrapperError(
                  `The statement exceeded the timeout of ${timeoutMs} ms and the server did not answer a cancel request within ${bound} ms; the connection was aborted`,
                  { code: '08S01', cause: cancelErr },
                ),
              );
            },
          );
        };
        // The bound starts when pg sends the statement, not while it waits behind another one in pg's queue.
        const submit = query.submit;
        query.submit = function (this: PgQuery, connection: pg.Connection) {
          timer = setTimeout(onTimeout, timeoutMs);
          return submit.call(this, connection);
        };
      }
      try {
        conn.query(query);
      } catch (err) {
        query.callback?.(err as Error);
      }
    });
  }

  /**
   * Submits a Submittable (pg.Query, pg-cursor, pg-query-stream …) on `conn`; resolves when it is finished
   * (ReadyForQuery) and rejects with the error pg hands it. Results and errors still reach the submittable itself.
   */
  submit(conn: pg.Client, submittable: Submittable): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sub = submittable as ObservedSubmittable;
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        if (err) {
          this.noteError(conn, err);
          reject(err);
        } else resolve();
      };
      const onError = sub.handleError;
      const onReady = sub.handleReadyForQuery;
      sub.handleError = function (this: ObservedSubmittable, err: Error, connection?: pg.Connection) {
        finish(err);
        return onError?.call(this, err, connection);
      };
      sub.handleReadyForQuery = function (this: ObservedSubmittable, connection?: pg.Connection) {
        finish();
        return onReady?.call(this, connection);
      };
      conn.query(sub);
    });
  }

  async queryRows(conn: pg.Client, sql: string, timeoutMs: number): Promise<RowsWithColumns> {
    const result = await this.query<QueryArrayResult | QueryArrayResult[]>(
      conn,
      { text: sql, rowMode: 'array' } as QueryConfig<unknown[]>,
      undefined,
      timeoutMs,
    );
    // A multi-statement text yields one result per statement; auxiliary queries want the last one.
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    if (last === undefined) return [];
    const out: RowsWithColumns = last.rows as unknown[][];
    out.columns = last.fields.map((f) => f.name);
    return out;
  }

  async end(conn: pg.Client, timeoutMs: number): Promise<void> {
    const state = this.states.get(conn);
    if (state) {
      state.closed = true;
      state.ended = true;
    }
    const stream = conn.connection.stream;
    if (stream.destroyed && (conn as unknown as { _ended?: boolean })._ended !== false) return;
    await new Promise<void>((resolve) => {
      // pg's graceful end waits for the server to close the socket; a dead host never does.
      const timer = setTimeout(() => {
        stream.destroy();
        resolve();
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      conn.end().then(done, done);
    });
  }

  abort(conn: pg.Client, err: Error): void {
    const state = this.states.get(conn);
    if (state) state.closed = true;
    // Every pending query rejects with `err`; the 'error' events that follow go to the permanent listener.
    conn.connection.stream.destroy(err);
  }

  /**
   * Sends a CancelRequest for the statement running on `conn` over a new socket to the same address. Resolves when
   * the server has taken it (it closes that socket); rejects when the server cannot be reached or does not answer
   * within `timeoutMs` (default: the connection's cancel bound), with a Node-style error (ETIMEDOUT, ECONNREFUSED…).
   */
  cancel(conn: pg.Client, timeoutMs?: number): Promise<void> {
    const { processID, secretKey, host, port } = internals(conn);
    if (processID === null || processID === undefined || secretKey === null || secretKey === undefined) {
      return Promise.reject(
        new UnsupportedOperationError('Cannot cancel: the connection has no backend key (not connected)'),
      );
    }
    const bound = timeoutMs ?? this.states.get(conn)?.cancelTimeoutMs ?? DEFAULT_CANCEL_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      const con = new pg.Connection() as unknown as PgProtocolConnection;
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        con.stream.destroy();
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => finish(errnoError(`The server did not answer a cancel request within ${bound} ms`, 'ETIMEDOUT')),
        bound,
      );
      con.on('connect', () => con.cancel(processID, secretKey));
      con.on('error', (err: Error) => finish(err));
      con.on('end', () => finish());
      if (typeof host === 'string' && host.startsWith('/')) con.connect(`${host}/.s.PGSQL.${port}`);
      else con.connect(port, host);
    });
  }

  isClosed(conn: pg.Client): boolean {
    return this.states.get(conn)?.closed === true || conn.connection.stream.destroyed;
  }

  isInTransaction(conn: pg.Client): boolean {
    const status = conn.getTransactionStatus();
    return status === 'T' || status === 'E';
  }

  socket(conn: pg.Client): Socket | undefined {
    const stream = conn.connection.stream;
    return stream instanceof Socket ? stream : undefined;
  }

  /**
   * readOnly and isolationLevel become the session's transaction characteristics, schema the search_path.
   * pg is always in autocommit outside BEGIN … COMMIT, so autoCommit true is a no-op and false is unsupported;
   * a pg connection cannot change its database, so catalog is unsupported.
   */
  async applySessionState(conn: pg.Client, state: SessionState): Promise<void> {
    if (state.autoCommit === false) {
      throw new UnsupportedOperationError(
        'pg has no autocommit mode to turn off: every statement outside BEGIN … COMMIT commits; use BEGIN to start a transaction',
      );
    }
    if (state.catalog !== undefined) {
      throw new UnsupportedOperationError(
        'pg cannot switch the database (catalog) of an open connection; connect to the other database instead',
      );
    }
    const statements: string[] = [];
    if (state.readOnly !== undefined) {
      statements.push(`SET SESSION CHARACTERISTICS AS TRANSACTION ${state.readOnly ? 'READ ONLY' : 'READ WRITE'}`);
    }
    if (state.isolationLevel !== undefined) {
      if (!ISOLATION_LEVELS.has(state.isolationLevel)) {
        throw new ConfigurationError(
          `isolationLevel must be one of ${[...ISOLATION_LEVELS].join(', ')}; got '${String(state.isolationLevel)}'`,
          'isolationLevel',
        );
      }
      statements.push(`SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL ${state.isolationLevel}`);
    }
    if (state.schema !== undefined) {
      if (typeof state.schema !== 'string' || state.schema === '')
        throw new ConfigurationError('schema must be a non-empty string', 'schema');
      statements.push(`SET search_path TO ${pg.escapeIdentifier(state.schema)}`);
    }
    if (statements.length === 0) return;
    await this.query(conn, statements.join('; '), undefined, this.states.get(conn)?.socketTimeoutMs);
  }

  classifyError(err: unknown): ErrorKind | undefined {
    return classifyPgError(err, this.connectionLosses);
  }

  private stateOf(conn: pg.Client): ConnState {
    let state = this.states.get(conn);
    if (state === undefined) {
      // A connection this dialect did not open: defaults, and no listeners of ours.
      state = { closed: false, cancelTimeoutMs: DEFAULT_CANCEL_TIMEOUT_MS, socketTimeoutMs: undefined };
      this.states.set(conn, state);
    }
    return state;
  }
}
