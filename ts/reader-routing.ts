/**
 * readerRouting: read/write splitting for code that never calls setReadOnly (ORMs, query builders). Before each
 * statement outside a transaction the client asks where it may run (sql-route.ts) and moves between the writer and
 * a reader with the splitting plugin's own switch; a read-only transaction is started on a reader and stays there
 * until it ends. Nothing is routed while the user set the session read-only, or within the read-your-writes window
 * after a write on the same pool (or client).
 *
 * The switch goes through the plugin pipeline as `Client.setReadOnly` without touching the tracked session state
 * (the user did not change it): the session is not made read-only on the reader (the reader refuses writes anyway)
 * and a pool does not reset such a client on release; it goes back to the writer at its next write.
 */
import { performance } from 'node:perf_hooks';
import type { ClientCore } from './client-core.js';
import { ConfigurationError } from './errors.js';
import type { ConnectionPlugin } from './plugin.js';
import { classifyStatement } from './sql-route.js';

export type ReaderRoutingMode = 'off' | 'explicit' | 'selects';

/** Shared by the clients of one pool: when the last write finished (performance.now()). */
export interface ReaderRoutingState {
  lastWriteAt: number;
}

export function newReaderRoutingState(): ReaderRoutingState {
  return { lastWriteAt: Number.NEGATIVE_INFINITY };
}

export class ReaderRouter {
  private readonly core: ClientCore<unknown>;
  /** The read/write splitting plugin's isReaderConnection. */
  private readonly isReader: (conn: unknown) => boolean;
  private readonly selects: boolean;
  private readonly stickMs: number;
  private readonly state: ReaderRoutingState;
  /** MySQL: `SET TRANSACTION … READ ONLY` ran on the reader; the `BEGIN` right after it stays there. */
  private nextTransactionReadOnly = false;
  /** MySQL semantics of SET TRANSACTION outside a transaction (PostgreSQL ignores it there). */
  private readonly mysql: boolean;

  /** The router of `core`, or undefined when readerRouting is off (then nothing is classified). */
  static create(core: ClientCore<unknown>, state: ReaderRoutingState | undefined): ReaderRouter | undefined {
    const mode = core.props.options.readerRouting;
    if (mode === 'off') return undefined;
    const plugin = core.plugins.find(
      (p): p is ConnectionPlugin<unknown> & Required<Pick<ConnectionPlugin<unknown>, 'isReaderConnection'>> =>
        p.isReaderConnection !== undefined,
    );
    if (plugin === undefined) {
      throw new ConfigurationError(
        `Option 'readerRouting' ('${mode}') needs the read_write_splitting or srw plugin in 'plugins'`,
        'readerRouting',
      );
    }
    const isReader = plugin.isReaderConnection.bind(plugin);
    return new ReaderRouter(core, isReader, mode, state ?? newReaderRoutingState());
  }

  private constructor(
    core: ClientCore<unknown>,
    isReader: (conn: unknown) => boolean,
    mode: ReaderRoutingMode,
    state: ReaderRoutingState,
  ) {
    this.core = core;
    this.isReader = isReader;
    this.selects = mode === 'selects';
    this.stickMs = core.props.options.readerRoutingStickMs;
    this.state = state;
    this.mysql = core.driverDialect.code === 'mysql2';
  }

  /** Whether the current connection is the plugin's reader. */
  get onReader(): boolean {
    const current = this.core.connectionOrUndefined;
    return current !== undefined && this.isReader(current);
  }

  /**
   * Moves the client where `sql` may run (undefined: a statement the client cannot read, e.g. a stream: writer).
   * Returns whether the statement counts as a write (routing.wrote() after it ran opens the window).
   */
  async before(sql: string | undefined): Promise<boolean> {
    const core = this.core;
    // Inside a transaction everything runs where it began; statements of a writer transaction count as writes.
    if (core.isInTransaction) return !this.onReader;
    // The user chose read-only (setReadOnly(true)): the plugin keeps the client on a reader, routing stays out.
    if (core.isReadOnly()) return false;
    const route = sql === undefined ? 'write' : classifyStatement(sql);
    const nextReadOnly = this.nextTransactionReadOnly;
    this.nextTransactionReadOnly = false;
    // `SET TRANSACTION READ ONLY` then `BEGIN` (MySQL): the transaction begins where the SET ran.
    if (route === 'begin' && nextReadOnly) return false;
    const setsNext = route === 'set-transaction-read-only' && this.mysql;
    const routable =
      route === 'begin-read-only' || setsNext || route === 'hinted-read' || (route === 'read' && this.selects);
    const toReader = routable && performance.now() - this.state.lastWriteAt >= this.stickMs;
    if (toReader !== this.onReader) {
      await core.execute('Client.setReadOnly', [toReader], () => Promise.resolve());
    }
    if (setsNext) this.nextTransactionReadOnly = true;
    return route === 'write' && !this.onReader;
  }

  /** A statement counted as a write has finished (either way): the read-your-writes window starts now. */
  wrote(): void {
    this.state.lastWriteAt = performance.now();
  }

  /** The last routed call (run() chains on it). */
  private turn: Promise<unknown> = Promise.resolve();

  /**
   * Routes and runs one call after the earlier routed calls of the client finished, so a switch never moves the
   * client away from a connection a call is still running on (for clients that do not order their calls already).
   */
  run<T>(sql: string | undefined, fn: () => Promise<T>): Promise<T> {
    const previous = this.turn;
    const result = (async () => {
      await previous;
      const wrote = await this.before(sql);
      try {
        return await fn();
      } finally {
        if (wrote) this.wrote();
      }
    })();
    this.turn = result.catch(() => undefined);
    return result;
  }
}
