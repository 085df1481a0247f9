/** Contracts of database dialects (what the server is) and driver dialects (how pg / mysql2 are driven). */
import type { Socket } from 'node:net';
import type { HostInfo } from '../host-info.js';
import type { WrapperOptions } from '../options.js';

export type DialectCode =
  | 'mysql'
  | 'rds-mysql'
  | 'aurora-mysql'
  | 'global-aurora-mysql'
  | 'multi-az-mysql'
  | 'pg'
  | 'rds-pg'
  | 'aurora-pg'
  | 'global-aurora-pg'
  | 'multi-az-pg'
  | 'custom'
  | 'unknown';

/** Runs one auxiliary query and returns its rows as arrays of column values. */
export type QueryRows = (sql: string) => Promise<unknown[][]>;

/**
 * Rows as returned by QueryRows / DriverDialect.queryRows. Driver dialects attach the result's column names as
 * `columns` when the driver reports them (pg `result.fields[].name`, mysql2 `fields[].name`); dialects that must
 * read a column by name (multi-az-mysql `SHOW REPLICA STATUS`) use them, with a positional fallback.
 */
export type RowsWithColumns = unknown[][] & { columns?: readonly string[] };

/**
 * How the writer-id query answers "is this connection on the writer" (true semantics; the Python wrapper's queries differ per kind):
 * - `row-means-writer`: a row is returned only on the writer (aurora, global-aurora); the row's column 0 is its id.
 * - `no-row-means-writer`: a row is returned only on replicas (multi-az-mysql `SHOW REPLICA STATUS`); on a replica
 *   the writer's id is read from `writerIdColumns` (by name, first present); the own id comes from `ownIdQuery`.
 * - `returns-writer-id`: every node returns the writer's id in column 0 (multi-az-pg); the node is the writer when it
 *   equals the node's own id from `ownIdQuery`.
 */
export type WriterIdMeaning = 'row-means-writer' | 'no-row-means-writer' | 'returns-writer-id';

/** The SQL a topology-aware dialect uses to read and verify the cluster topology. */
export interface TopologyQueries {
  readonly kind: 'aurora' | 'global-aurora' | 'multi-az';
  readonly topologyQuery: string;
  /** A row (or, per dialect, a matching value) means the connection is on the writer; see `writerIdMeaning`. */
  readonly writerIdQuery: string;
  /** Default `row-means-writer`. */
  readonly writerIdMeaning?: WriterIdMeaning;
  /** Column 0 of its single row is the connected node's own topology id (multi-az dialects). */
  readonly ownIdQuery?: string;
  /** `no-row-means-writer`: names of the writer-id column (MySQL `Source_Server_Id`, MariaDB `Master_Server_Id`). */
  readonly writerIdColumns?: readonly string[];
  /** `no-row-means-writer`: the writer-id column's position when the driver reports no column names. */
  readonly writerIdColumnIndex?: number;
  /** Which column of the host-id query result matches `HostInfo.hostId` of topology hosts. Default 1 (as Python). */
  readonly hostIdColumn?: number;
  /** global-aurora: region of one instance; `%s` stands for the instance id as a quoted SQL string literal. */
  readonly regionQuery?: string;
}

export interface DatabaseDialect {
  readonly code: DialectCode;
  /** Server family: which driver can talk to it. Optional for user-supplied custom dialects. */
  readonly engine?: 'pg' | 'mysql';
  readonly defaultPort: number;
  /** Dialects this one may be refined to after the first connection, in order. */
  readonly updateCandidates: readonly DialectCode[];
  readonly hostIdQuery: string;
  readonly isReaderQuery: string;
  readonly aliasQuery: string | undefined;
  readonly serverVersionQuery: string;
  /** Present for topology-aware dialects only. */
  readonly topology: TopologyQueries | undefined;
  isDialect(query: QueryRows): Promise<boolean>;
  /** Dialect-specific adjustment of the driver's error classification (e.g. multi-az-pg treats 28000 as network). */
  classifyError?(err: unknown, driverKind: ErrorKind | undefined): ErrorKind | undefined;
}

/** Driver configuration exactly as the user would pass it to pg / mysql2, with wrapper options removed. */
export type DriverConfig = Record<string, unknown>;

export type ErrorKind = 'network' | 'login' | 'read-only';

export type IsolationLevel = 'READ UNCOMMITTED' | 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/** Session settings the wrapper tracks so it can re-apply them on a new connection. */
export interface SessionState {
  autoCommit?: boolean;
  readOnly?: boolean;
  isolationLevel?: IsolationLevel;
  /** MySQL database (catalog). */
  catalog?: string;
  /** PostgreSQL search_path. */
  schema?: string;
}

/** How the wrapper drives one driver. C is the physical connection type (pg.Client, mysql2 promise Connection). */
export interface DriverDialect<C> {
  readonly code: 'pg' | 'mysql2';
  /**
   * Opens a physical connection to `host` (address mapping applied) with the user's driver config. `options` (the
   * wrapper options; optional for backward compatibility) supplies hostAddressMap, connectTimeout, keepalive, ….
   */
  connect(host: HostInfo, config: DriverConfig, options?: Partial<WrapperOptions>): Promise<C>;
  /** Runs an auxiliary query bounded by timeoutMs (cancelled and QueryTimeoutError on timeout). */
  queryRows(conn: C, sql: string, timeoutMs: number): Promise<RowsWithColumns>;
  /** Closes gracefully but never waits on a dead socket longer than timeoutMs. */
  end(conn: C, timeoutMs: number): Promise<void>;
  /** Destroys the connection's socket now; every in-flight call on it rejects with `err`. Synchronous. */
  abort(conn: C, err: Error): void;
  /** Cancels the statement running on `conn` without closing it (PG CancelRequest, MySQL KILL QUERY). */
  cancel(conn: C): Promise<void>;
  isClosed(conn: C): boolean;
  isInTransaction(conn: C): boolean;
  socket(conn: C): Socket | undefined;
  applySessionState(conn: C, state: SessionState): Promise<void>;
  /** By SQLSTATE / errno, never by English text. */
  classifyError(err: unknown): ErrorKind | undefined;
}
