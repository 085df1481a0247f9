/**
 * How the wrapper drives mysql2 (promise API): connecting with the user's config, bounded auxiliary queries,
 * aborting a connection while a query runs, cancelling with KILL QUERY, session state and error classification.
 *
 * mysql2 facts this relies on (mysql2 3.x, lib/base/connection.js):
 * - `destroy()` / `end()` do not interrupt an in-flight query; destroying the socket does, and
 *   `stream.destroy(err)` rejects every pending command with `err` itself.
 * - A fatal error while no command is running is emitted as the core connection's 'error' event, which crashes
 *   the process without a listener, so every connection opened here gets a permanent one.
 * - The server status flags (SERVER_STATUS_IN_TRANS, SERVER_STATUS_AUTOCOMMIT) arrive in every OK packet
 *   (`ResultSetHeader.serverStatus`) and in the handshake; rows results do not expose them.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import mysql from 'mysql2/promise';
import { createConnection as createCoreConnection } from 'mysql2';
import type { Connection, ConnectionOptions, ConnectionState } from 'mysql2/promise';
import type { HostInfo } from '../../host-info.js';
import { AwsWrapperError, FailoverError, QueryTimeoutError, UnsupportedOperationError } from '../../errors.js';
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

const log = getLogger('mysql2');

const SERVER_STATUS_IN_TRANS = 1;
const SERVER_STATUS_AUTOCOMMIT = 2;
const DEFAULT_PORT = 3306;
/** Bound for a cancel (side connection + KILL QUERY) when the user set no connectTimeout. */
const DEFAULT_CANCEL_TIMEOUT_MS = 5000;

/** The parts of mysql2's core connection (`promiseConnection.connection`) the dialect uses; not in mysql2's typings. */
export interface Mysql2CoreConnection {
  stream: Duplex;
  threadId: number | null;
  config: Record<string, unknown>;
  readonly state?: ConnectionState;
  _closing?: boolean;
  _fatalError?: unknown;
  _protocolError?: unknown;
  _handshakePacket?: { statusFlags?: number } | null;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: 'error', listener: (err: Error) => void): unknown;
}

/** The core connection behind a mysql2/promise Connection (PromiseConnection keeps it as `.connection`). */
export function coreOf(conn: Connection): Mysql2CoreConnection {
  const core = (conn as unknown as { connection?: Mysql2CoreConnection }).connection;
  if (core === undefined || core.stream === undefined) {
    throw new TypeError('Expected a mysql2/promise Connection (with an inner `.connection`)');
  }
  return core;
}

/** Wrapper options the mysql2 dialect reads. */
export type Mysql2WrapperOptions = Pick<
  Partial<WrapperOptions>,
  | 'connectTimeout'
  | 'socketTimeout'
  | 'tcpKeepalive'
  | 'tcpKeepaliveTime'
  | 'tcpKeepaliveInterval'
  | 'tcpKeepaliveProbes'
  | 'hostAddressMap'
>;

/** What the dialect remembers about each connection it opened. */
interface ConnState {
  inTransaction: boolean;
  autoCommit: boolean;
  /** Bound for cancel/side-connection work (wrapper connectTimeout or the default). */
  cancelTimeoutMs: number;
  lastError: Error | undefined;
}

const NETWORK_ERRNOS = new Set([
  // client-side CR_* codes (used by other connectors and by proxies that relay them)
  2001,
  2002,
  2003,
  2004,
  2006,
  2012,
  2013,
  2026,
  2055,
  1040, // ER_CON_COUNT_ERROR (too many connections)
  1053, // ER_SERVER_SHUTDOWN
  1927, // ER_CONNECTION_KILLED (MariaDB)
  3169, // ER_SESSION_WAS_KILLED (MySQL)
  4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8.0.24+: disconnected for inactivity)
]);

const NETWORK_CODES: ReadonlySet<string> = new Set([
  ...SOCKET_ERROR_CODES,
  'PROTOCOL_CONNECTION_LOST',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
]);

const LOGIN_ERRNOS = new Set([
  1045, // ER_ACCESS_DENIED_ERROR
  1698, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
  1862, // ER_MUST_CHANGE_PASSWORD_LOGIN
]);

const READ_ONLY_ERRNOS = new Set([
  1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
  1836, // ER_READ_ONLY_MODE
]);
/** ER_OPTION_PREVENTS_STATEMENT: read-only only when the named server option is read_only / super_read_only. */
const ER_OPTION_PREVENTS_STATEMENT = 1290;
/** The option name the server substitutes into 1290's message (an identifier, not translated text). */
const READ_ONLY_OPTION = /--(?:super[-_])?read[-_]only\b/;

interface ErrorFields {
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  sqlMessage?: unknown;
  fatal?: unknown;
}

/**
 * Classifies a mysql2 (or Node socket, or wrapper) error by errno, SQLSTATE and code, never by English text.
 * QueryTimeoutError (a slow but answering host) and failover errors are not classified.
 */
export function classifyMysqlError(err: unknown): ErrorKind | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  if (err instanceof QueryTimeoutError || err instanceof FailoverError) return undefined;
  const e = err as ErrorFields;
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  // Driver errors carry the SQLSTATE in sqlState; wrapper errors in code.
  const sqlState = typeof e.sqlState === 'string' ? e.sqlState : err instanceof AwsWrapperError ? code : undefined;

  if (sqlState === '28000' || (errno !== undefined && LOGIN_ERRNOS.has(errno))) return 'login';
  if (errno !== undefined && READ_ONLY_ERRNOS.has(errno)) return 'read-only';
  if (sqlState === '25006') return 'read-only';
  if (errno === ER_OPTION_PREVENTS_STATEMENT && typeof e.sqlMessage === 'string' && READ_ONLY_OPTION.test(e.sqlMessage))
    return 'read-only';
  if (errno !== undefined && NETWORK_ERRNOS.has(errno)) return 'network';
  if (sqlState !== undefined && sqlState.startsWith('08')) return 'network';
  if (code !== undefined && NETWORK_CODES.has(code)) return 'network';
  // mysql2 marks errors that end the connection as fatal (socket loss, closed state, aborts).
  if (e.fatal === true) return 'network';
  return undefined;
}

const ISOLATION_LEVELS: ReadonlySet<IsolationLevel> = new Set([
  'READ UNCOMMITTED',
  'READ COMMITTED',
  'REPEATABLE READ',
  'SERIALIZABLE',
]);

/** Result of mysql2's query/execute: a ResultSetHeader (OK packet), rows, or an array of those (multi-statement). */
function lastServerStatus(result: unknown): number | undefined {
  if (result === null || typeof result !== 'object') return undefined;
  const status = (result as { serverStatus?: unknown }).serverStatus;
  if (typeof status === 'number') return status;
  if (Array.isArray(result)) {
    for (let i = result.length - 1; i >= 0; i--) {
      const s = (result[i] as { serverStatus?: unknown } | null)?.serverStatus;
      if (typeof s === 'number') return s;
    }
  }
  return undefined;
}

/**
 * mysql2/promise's createConnection without its capture of the caller's stack: the client captures the
 * application's frames itself (mysql2's `trace`), and this one would only name the wrapper's.
 */
function openPromiseConnection(cfg: ConnectionOptions): Promise<Connection> {
  const core = createCoreConnection(cfg);
  const PromiseConnection = mysql.Connection as unknown as new (core: unknown, promiseImpl?: unknown) => Connection;
  return new Promise((resolve, reject) => {
    core.once('connect', () => resolve(new PromiseConnection(core, (cfg as { Promise?: unknown }).Promise)));
    core.once('error', reject);
  });
}

function settleWithin<T>(
  p: Promise<T>,
  ms: number,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown } | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    p.then(
      (value) => {
        clearTimeout(timer);
        resolve({ ok: true, value });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ ok: false, error });
      },
    );
  });
}

/** True when the error came from a server error packet: the server answered. */
function isServerAnswer(err: unknown): boolean {
  return err !== null && typeof err === 'object' && typeof (err as ErrorFields).sqlState === 'string';
}

/** Connection options for a side connection (same endpoint and credentials as `core`). */
function sideConnectionOptions(core: Mysql2CoreConnection, connectTimeoutMs: number): ConnectionOptions {
  const c = core.config;
  const opts: Record<string, unknown> = { connectTimeout: connectTimeoutMs, enableKeepAlive: false };
  for (const key of [
    'host',
    'port',
    'socketPath',
    'localAddress',
    'user',
    'password',
    'password2',
    'password3',
    'passwordSha1',
    'ssl',
    'authPlugins',
    'authSwitchHandler',
    'insecureAuth',
    'enableCleartextPlugin',
    'charsetNumber',
  ]) {
    if (c[key] !== undefined && c[key] !== false) opts[key] = c[key];
  }
  // A stream factory can open another stream; a single stream instance cannot be reused.
  if (typeof c.stream === 'function') opts.stream = c.stream;
  else if (c.stream !== undefined)
    throw new UnsupportedOperationError(
      'Cannot open a side connection: the connection was opened on a caller-provided stream',
    );
  return opts;
}

export class Mysql2DriverDialect implements DriverDialect<Connection> {
  readonly code = 'mysql2' as const;
  /** Per-connection state, owned by this dialect instance (no module-level cache). */
  private readonly states = new WeakMap<Connection, ConnState>();

  /**
   * Opens a mysql2/promise connection to `host` (hostAddressMap applied) with the user's driver config.
   * Wrapper connectTimeout and keepalive options apply where the user's driver config sets nothing.
   */
  async connect(host: HostInfo, config: DriverConfig, options?: Mysql2WrapperOptions): Promise<Connection> {
    const configPort = config.port === undefined ? undefined : Number(config.port);
    const port = host.hasPort ? host.port : configPort !== undefined && configPort > 0 ? configPort : DEFAULT_PORT;
    const target = mapHostAddress(options?.hostAddressMap, host.host, port);
    const cfg: Record<string, unknown> = { ...config, host: target.host, port: target.port };
    if (cfg.connectTimeout === undefined && options?.connectTimeout !== undefined)
      cfg.connectTimeout = options.connectTimeout;
    if (cfg.enableKeepAlive === undefined && options?.tcpKeepalive !== undefined)
      cfg.enableKeepAlive = options.tcpKeepalive;
    if (
      cfg.keepAliveInitialDelay === undefined &&
      options?.tcpKeepaliveTime !== undefined &&
      options.tcpKeepalive !== false
    ) {
      cfg.enableKeepAlive ??= true;
      cfg.keepAliveInitialDelay = options.tcpKeepaliveTime;
    }
    // Node's socket API sets only the idle time; interval and probe count stay at the OS / libuv defaults.
    if (options?.tcpKeepaliveInterval !== undefined || options?.tcpKeepaliveProbes !== undefined) {
      log.debug('tcpKeepaliveInterval / tcpKeepaliveProbes are not settable on a Node socket; using system defaults');
    }

    const conn = await openPromiseConnection(cfg);
    const core = coreOf(conn);
    const statusFlags = core._handshakePacket?.statusFlags;
    const state: ConnState = {
      inTransaction: false,
      autoCommit: statusFlags === undefined ? true : (statusFlags & SERVER_STATUS_AUTOCOMMIT) !== 0,
      cancelTimeoutMs: options?.connectTimeout ?? DEFAULT_CANCEL_TIMEOUT_MS,
      lastError: undefined,
    };
    this.states.set(conn, state);
    // Always listened to: an unlistened 'error' on an idle connection would crash the process.
    core.on('error', (err: Error) => {
      state.lastError = err;
      log.debug(`connection ${String(core.threadId)} error: ${String((err as ErrorFields).code ?? err.name)}`);
    });
    return conn;
  }

  private stateOf(conn: Connection): ConnState {
    let s = this.states.get(conn);
    if (s === undefined) {
      s = { inTransaction: false, autoCommit: true, cancelTimeoutMs: DEFAULT_CANCEL_TIMEOUT_MS, lastError: undefined };
      this.states.set(conn, s);
    }
    return s;
  }

  /** The last error the physical connection emitted while idle (socket loss, server kill), if any. */
  lastError(conn: Connection): Error | undefined {
    return this.states.get(conn)?.lastError;
  }

  /**
   * Records the transaction and autocommit state from a query/execute result. OK packets carry the server status
   * flags; a rows result does not, but in autocommit=0 mode any statement leaves a transaction open.
   */
  trackResult(conn: Connection, result: unknown): void {
    const s = this.stateOf(conn);
    const status = lastServerStatus(result);
    if (status !== undefined) {
      s.inTransaction = (status & SERVER_STATUS_IN_TRANS) !== 0;
      s.autoCommit = (status & SERVER_STATUS_AUTOCOMMIT) !== 0;
    } else if (!s.autoCommit) {
      s.inTransaction = true;
    }
  }

  /** Records an explicit transaction boundary made through the client API. */
  trackTransaction(conn: Connection, inTransaction: boolean): void {
    this.stateOf(conn).inTransaction = inTransaction;
  }

  async queryRows(conn: Connection, sql: string, timeoutMs: number): Promise<RowsWithColumns> {
    const [rows, fields] = await this.runBounded(conn, () => conn.query({ sql, rowsAsArray: true }), timeoutMs);
    this.trackResult(conn, rows);
    if (!Array.isArray(rows)) return [];
    const out: RowsWithColumns = rows as unknown[][];
    // Callers that read a column by name (SHOW REPLICA STATUS) need the names; positions differ across servers.
    if (Array.isArray(fields)) out.columns = fields.map((f) => f.name);
    return out;
  }

  /**
   * Runs `run` (a call on `conn`) bounded by `timeoutMs` (no bound when undefined or <= 0). When the bound elapses the
   * statement is cancelled with KILL QUERY from a side connection and the call rejects with QueryTimeoutError (cause:
   * the driver's error, normally 1317 query interrupted); the connection stays usable. When the host does not answer
   * the side connection in time, the connection is aborted and the call rejects with a network-class error (08S01).
   */
  async runBounded<T>(conn: Connection, run: () => Promise<T>, timeoutMs: number | undefined): Promise<T> {
    if (timeoutMs === undefined || !(timeoutMs > 0)) return run();
    const pending = run();
    const first = await settleWithin(pending, timeoutMs);
    if (first !== undefined) {
      if (first.ok) return first.value;
      throw first.error;
    }
    const bound = this.stateOf(conn).cancelTimeoutMs;
    let answered: boolean;
    try {
      await this.cancel(conn);
      answered = true;
    } catch (err) {
      answered = isServerAnswer(err);
      if (!answered) {
        const abortErr = new AwsWrapperError(
          `The statement exceeded socketTimeout (${timeoutMs} ms) and the server did not answer a cancel request within ${bound} ms; the connection was aborted`,
          { code: '08S01', cause: err },
        );
        this.abort(conn, abortErr);
        // The pending call rejects with abortErr as well; surface that same object.
        await settleWithin(pending, bound);
        throw abortErr;
      }
    }
    const after = await settleWithin(pending, bound);
    if (after === undefined) {
      const err = new QueryTimeoutError(
        `The statement exceeded socketTimeout (${timeoutMs} ms) and did not stop after KILL QUERY; the connection was aborted`,
      );
      this.abort(conn, err);
      throw err;
    }
    throw new QueryTimeoutError(
      `The statement exceeded socketTimeout (${timeoutMs} ms) and was cancelled`,
      after.ok ? undefined : { cause: after.error },
    );
  }

  async end(conn: Connection, timeoutMs: number): Promise<void> {
    const core = coreOf(conn);
    if (this.isClosed(conn)) {
      core.stream.destroy();
      return;
    }
    const done = await settleWithin(conn.end(), timeoutMs);
    if (done === undefined)
      log.debug(`end() of connection ${String(core.threadId)} took over ${timeoutMs} ms; destroying its socket`);
    core.stream.destroy();
  }

  abort(conn: Connection, err: Error): void {
    coreOf(conn).stream.destroy(err);
  }

  /** KILL QUERY <threadId> from a side connection to the same server with the same credentials, bounded. */
  async cancel(conn: Connection): Promise<void> {
    const core = coreOf(conn);
    const threadId = core.threadId;
    if (threadId === null || threadId === undefined)
      throw new UnsupportedOperationError('Cannot cancel: the connection has no thread id (not connected)');
    const bound = this.stateOf(conn).cancelTimeoutMs;
    const side = createCoreConnection(sideConnectionOptions(core, bound));
    side.on('error', () => {}); // reported through the query callback or ignored after the fact
    const sideStream = (side as unknown as { stream: Duplex }).stream;
    const killed = new Promise<void>((resolve, reject) => {
      side.query(`KILL QUERY ${Number(threadId)}`, (err) => {
        // 1094 ER_NO_SUCH_THREAD: the statement and its connection are gone already; nothing to cancel.
        if (err && (err as ErrorFields).errno !== 1094) reject(err);
        else resolve();
      });
    });
    const r = await settleWithin(killed, bound);
    if (r === undefined || !r.ok) {
      sideStream.destroy();
      if (r !== undefined) throw r.error;
      const e = new Error(`The server did not answer a KILL QUERY side connection within ${bound} ms`) as Error & {
        code: string;
      };
      e.code = 'ETIMEDOUT';
      throw e;
    }
    // Quit politely but never wait on it; the socket goes away either way.
    side.end(() => sideStream.destroy());
    setTimeout(() => sideStream.destroy(), bound).unref();
  }

  isClosed(conn: Connection): boolean {
    const core = coreOf(conn);
    const state = core.state;
    if (state !== undefined) return state === 'error' || state === 'disconnected';
    return Boolean(core._closing || core._fatalError || core._protocolError || core.stream.destroyed);
  }

  isInTransaction(conn: Connection): boolean {
    return this.stateOf(conn).inTransaction;
  }

  socket(conn: Connection): Socket | undefined {
    const stream = coreOf(conn).stream;
    return stream instanceof Socket ? stream : undefined;
  }

  async applySessionState(conn: Connection, state: SessionState): Promise<void> {
    if (state.schema !== undefined)
      throw new UnsupportedOperationError('MySQL has no schema separate from the database; use catalog');
    const statements: string[] = [];
    if (state.autoCommit !== undefined) {
      if (typeof state.autoCommit !== 'boolean')
        throw new TypeError(`autoCommit must be a boolean, got ${typeof state.autoCommit}`);
      statements.push(`SET autocommit=${state.autoCommit ? 1 : 0}`);
    }
    if (state.readOnly !== undefined) {
      if (typeof state.readOnly !== 'boolean')
        throw new TypeError(`readOnly must be a boolean, got ${typeof state.readOnly}`);
      statements.push(`SET SESSION TRANSACTION ${state.readOnly ? 'READ ONLY' : 'READ WRITE'}`);
    }
    if (state.isolationLevel !== undefined) {
      if (!ISOLATION_LEVELS.has(state.isolationLevel)) {
        throw new TypeError(
          `isolationLevel must be one of ${[...ISOLATION_LEVELS].join(', ')}; got '${String(state.isolationLevel)}'`,
        );
      }
      statements.push(`SET SESSION TRANSACTION ISOLATION LEVEL ${state.isolationLevel}`);
    }
    if (state.catalog !== undefined) {
      if (typeof state.catalog !== 'string' || state.catalog === '')
        throw new TypeError('catalog must be a non-empty string');
      statements.push(`USE ${mysql.escapeId(state.catalog)}`);
    }
    for (const sql of statements) {
      const [result] = await conn.query(sql);
      this.trackResult(conn, result);
    }
  }

  classifyError(err: unknown): ErrorKind | undefined {
    return classifyMysqlError(err);
  }
}
