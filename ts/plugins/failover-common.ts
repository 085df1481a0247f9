/**
 * What failover v1 (`failover`) and v2 (`failover_v2`) share: the failover mode, the
 * trigger, the transaction state captured before each call, one failover at a time per client (concurrent calls
 * that fail on the same dead connection share it), the outcome errors, the `failover` client event, bounded
 * connects, and the reader search. The two plugins differ only in how they find the new writer and in a few
 * options; each supplies that as `writerFailover`.
 *
 * Outcome of a failover triggered by a call (the call never succeeds silently on another connection):
 *  - FailoverSuccessError (08S02): the call was outside a transaction; the client is on a new connection; re-run it.
 *  - TransactionResolutionUnknownError (08007): a transaction was open before the call (COMMIT included); its outcome
 *    is unknown; the client is on a new connection; restart the transaction.
 *  - FailoverFailedError (08001): no suitable instance within failoverTimeoutMs; the client's connection is unusable
 *    (the next call fails over again).
 * Each carries the error that triggered failover as `cause`. Other errors pass through untouched. A client being
 * ended (end()) does not fail over and stops a failover in progress: the call rejects with the triggering error, and
 * a connection the search opens afterwards is closed.
 */
import {
  AwsWrapperError,
  ConnectionAbortedError,
  FailoverError,
  FailoverFailedError,
  FailoverSuccessError,
  QueryTimeoutError,
  TransactionResolutionUnknownError,
} from '../errors.js';
import { HostAvailability, HostRole, type HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import {
  NETWORK_METHODS,
  PIPELINE,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type ExecuteContext,
  type PluginService,
} from '../plugin.js';
import { isProxyDns, isReaderClusterDns, isWriterClusterDns } from '../rds-utils.js';
import { topologyCache } from '../host-list-providers/cluster-state.js';
import { publishFailoverEnd, publishFailoverStart } from '../telemetry/channels.js';

const log = getLogger('failover');

export enum FailoverMode {
  STRICT_WRITER = 'strict_writer',
  STRICT_READER = 'strict_reader',
  READER_OR_WRITER = 'reader_or_writer',
}

/** The `failoverMode` option in either spelling; unset: reader_or_writer behind a reader cluster endpoint, else strict_writer. */
export function failoverModeFrom(option: string | undefined, initialHost: HostInfo | undefined): FailoverMode {
  if (option !== undefined) {
    const v = option.trim().toLowerCase().replace(/-/g, '_');
    const mode = Object.values(FailoverMode).find((m) => m.valueOf() === v);
    if (mode !== undefined) return mode;
    throw new AwsWrapperError(
      `failoverMode must be one of strict_writer, strict_reader, reader_or_writer; got '${option}'`,
    );
  }
  return initialHost !== undefined && isReaderClusterDns(initialHost.host)
    ? FailoverMode.READER_OR_WRITER
    : FailoverMode.STRICT_WRITER;
}

/** Payload of the client's `failover` event. */
export interface FailoverEvent {
  /** The host the client was on. */
  readonly from: HostInfo | undefined;
  /** The host the client is on now; undefined when failover failed. */
  readonly to: HostInfo | undefined;
  readonly durationMs: number;
  /** The error that triggered failover. */
  readonly error: unknown;
  readonly outcome: 'success' | 'failed';
  readonly mode: FailoverMode;
}

/** Which hosts a reader failover may end on (gdb_failover's region rules); default: the failoverMode's. */
export interface ReaderPolicy {
  readonly allowReader: (host: HostInfo) => boolean;
  /** The writer is a candidate (after the readers), and a reader that turned out to be the writer is accepted. */
  readonly writerAllowed: boolean;
}

/** A connection failover opened and the host it is on (role as verified). */
export interface FailoverTarget<C> {
  readonly conn: C;
  readonly host: HostInfo;
}

type Outcome = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

/** Connect props whose connect timeout is at most `boundMs` (the time failover has left), for both drivers. */
export function boundedConnectProps(props: ConnectProps, boundMs: number): ConnectProps {
  const bound = Math.max(1, Math.floor(boundMs));
  const own = props.options.connectTimeout;
  const timeout = own !== undefined && own > 0 ? Math.min(own, bound) : bound;
  const driver: Record<string, unknown> = { ...props.driver };
  // The user's own driver keys win over the wrapper option in the driver dialects, so bound them as well.
  if (driver.connectTimeout !== undefined) driver.connectTimeout = timeout;
  if (driver.connectionTimeoutMillis !== undefined) {
    const t = Number(driver.connectionTimeoutMillis);
    driver.connectionTimeoutMillis = t > 0 ? Math.min(t, timeout) : timeout;
  }
  return { driver, options: { ...props.options, connectTimeout: timeout } };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** A topology younger than this naming another writer than the failed one is tried before probing. */
const RECENT_TOPOLOGY_MS = 5000;

/** Pause between failed attempts inside a failover (not a synchronisation sleep: nothing to wait on). */
export const RETRY_PAUSE_MS = 100;

export abstract class FailoverPluginBase<C> implements ConnectionPlugin<C> {
  abstract readonly code: string;
  readonly subscribedMethods: ReadonlySet<string> = new Set<string>([PIPELINE.connect, ...NETWORK_METHODS]);
  protected readonly service: PluginService<C>;
  protected readonly props: ConnectProps;
  private modeValue: FailoverMode | undefined;
  /** The failover in progress, and the connection whose loss started it. */
  private inflight: { readonly conn: C; readonly done: Promise<Outcome> } | undefined;
  /** The search for a new connection of the last failover, settled (it keeps going briefly after end() stops a failover). */
  private searching: Promise<void> | undefined;

  constructor(service: PluginService<C>, props: ConnectProps) {
    this.service = service;
    this.props = props;
    // Fail fast on a bad mode at construction (the option table already restricts the spellings).
    failoverModeFrom(props.options.failoverMode, undefined);
  }

  get failoverTimeoutMs(): number {
    return this.props.options.failoverTimeoutMs;
  }

  /** The mode, computed on first use from the initial host (endpoint type) unless configured. */
  get mode(): FailoverMode {
    return (this.modeValue ??= failoverModeFrom(
      this.props.options.failoverMode,
      this.service.initialConnectionHostInfo ?? this.service.hostListProvider.initialHostInfo,
    ));
  }

  /** The client is ending: no failover starts, one in progress stops. */
  protected get ended(): boolean {
    return this.service.endSignal?.aborted === true;
  }

  /** Whether failover applies (a topology-aware dialect) is decided right after the initial connect. */
  needsDialect(): boolean {
    return true;
  }

  /** v1's enable_failover; v2 is always enabled. */
  protected get enabled(): boolean {
    return true;
  }

  /** Failover needs a topology: a static host list or an RDS proxy endpoint leaves errors untouched. */
  private get applicable(): boolean {
    const s = this.service;
    return this.enabled && !s.isStaticHostListProvider && !isProxyDns(s.hostListProvider.initialHostInfo.host);
  }

  /** Whether `err` (raised by a call on `conn`) starts failover. */
  protected isTrigger(err: unknown, conn: C | undefined): boolean {
    if (err instanceof FailoverError) return false;
    const s = this.service;
    if (s.isNetworkError(err)) {
      // A statement cancelled after socketTimeout on a host that still answers is not a lost host.
      if (err instanceof QueryTimeoutError && conn !== undefined && !s.driverDialect.isClosed(conn)) return false;
      return true;
    }
    return this.triggersOnReadOnly && this.mode === FailoverMode.STRICT_WRITER && s.isReadOnlyError(err);
  }

  /** v2 fails over from a writer that turned read-only (demoted) in strict_writer mode; v1 does not. */
  protected get triggersOnReadOnly(): boolean {
    return true;
  }

  // ---- pipeline hooks -----------------------------------------------------------------------------------------

  async connect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    void this.mode;
    const conn = await this.connectInternal(host, props, isInitial, next);
    if (isInitial && this.applicable) {
      // The topology is needed before the first failure (cheap: cached, else read once on this connection).
      await this.service
        .refreshHostList(conn)
        .catch((err: unknown) => log.debug(`topology refresh after connect failed: ${String(err)}`));
    }
    return conn;
  }

  protected connectInternal(
    _host: HostInfo,
    _props: ConnectProps,
    _isInitial: boolean,
    next: ConnectFn<C>,
  ): Promise<C> {
    return next();
  }

  async execute<T>(_ctx: ExecuteContext, next: () => Promise<T>): Promise<T> {
    const s = this.service;
    const conn = s.currentConnection;
    if (conn === undefined || !this.applicable) return next();
    // Captured before the call: a COMMIT that fails on a dead host leaves the outcome unknown. Read from the
    // connection's last known status, which stays valid when the connection already died while idle.
    const inTransaction = s.driverDialect.isInTransaction(conn);
    try {
      return await next();
    } catch (err) {
      // A client being ended does not fail over: the call gets the driver's error, as with pg / mysql2.
      if (!this.isTrigger(err, conn) || this.ended) throw err;
      throw await this.failoverFor(conn, err, inTransaction);
    }
  }

  /** Runs (or joins) the failover for the loss of `conn`; resolves to the error the failed call rejects with. */
  private async failoverFor(conn: C, cause: unknown, inTransaction: boolean): Promise<unknown> {
    const s = this.service;
    let outcome: Outcome;
    const running = this.inflight;
    if (running !== undefined && running.conn === conn) {
      outcome = await running.done;
    } else if (
      s.currentConnection !== conn &&
      s.currentConnection !== undefined &&
      !s.driverDialect.isClosed(s.currentConnection)
    ) {
      // Another call of this client already moved it to a new connection while this one was failing.
      if (running !== undefined) await running.done;
      outcome = { ok: true };
    } else {
      const done = this.runFailover(conn, cause);
      this.inflight = { conn, done };
      try {
        outcome = await done;
      } finally {
        if (this.inflight?.done === done) this.inflight = undefined;
      }
    }
    // end() stopped the failover: the call fails with the error that triggered it.
    if (this.ended) return cause;
    if (!outcome.ok) {
      const reason = outcome.error instanceof Error ? ` (${outcome.error.message})` : '';
      return new FailoverFailedError(
        `Unable to establish a connection to a suitable instance within ${this.failoverTimeoutMs} ms${reason}.`,
        { cause },
      );
    }
    return inTransaction
      ? new TransactionResolutionUnknownError(undefined, { cause })
      : new FailoverSuccessError(undefined, { cause });
  }

  private async runFailover(conn: C, cause: unknown): Promise<Outcome> {
    const s = this.service;
    const started = Date.now();
    const deadline = started + this.failoverTimeoutMs;
    const from = s.currentHostInfo;
    const failed = this.failedHost(from);
    const network = s.isNetworkError(cause);
    if (network) {
      // Never wait on the dead socket again: calls still queued on it fail now (and join this failover).
      if (!s.driverDialect.isClosed(conn)) {
        s.driverDialect.abort(
          conn,
          new ConnectionAbortedError('The connection was closed because its host failed; failover in progress', {
            cause,
          }),
        );
      }
      if (failed !== undefined) s.setAvailability(failed.allAliases, HostAvailability.UNAVAILABLE);
    }
    log.info(
      `${this.code}: failover from ${from?.hostAndPort ?? 'unknown host'} (${this.mode}) after ${describe(cause)}`,
    );
    publishFailoverStart(this.code, this.mode, from, cause);
    try {
      const target = await this.untilEnded(this.findTarget(failed, deadline));
      await s.setCurrentConnection(target.conn, target.host, this);
      const durationMs = Date.now() - started;
      log.info(`${this.code}: failover to ${target.host.hostAndPort} (${target.host.role}) took ${durationMs} ms`);
      this.emitFailover({ from, to: target.host, durationMs, error: cause, outcome: 'success', mode: this.mode });
      return { ok: true };
    } catch (err) {
      const durationMs = Date.now() - started;
      if (this.ended) {
        log.debug(
          `${this.code}: failover from ${from?.hostAndPort ?? 'unknown host'} stopped after ${durationMs} ms: the client was ended`,
        );
        return { ok: false, error: err };
      }
      log.warn(
        `${this.code}: failover from ${from?.hostAndPort ?? 'unknown host'} failed after ${durationMs} ms: ${describe(err)}`,
      );
      this.emitFailover({ from, to: undefined, durationMs, error: cause, outcome: 'failed', mode: this.mode });
      return { ok: false, error: err };
    }
  }

  /**
   * The target `search` finds, unless the client is ended first: then it rejects at once, and a target found later
   * is closed (release() waits for that, bounded).
   */
  private untilEnded(search: Promise<FailoverTarget<C>>): Promise<FailoverTarget<C>> {
    const signal = this.service.endSignal;
    const guarded = search.then(async (target) => {
      if (!this.ended) return target;
      await this.close(target.conn);
      throw endedError();
    });
    this.searching = guarded.then(
      () => undefined,
      () => undefined,
    );
    if (signal === undefined) return guarded;
    return new Promise<FailoverTarget<C>>((resolve, reject) => {
      const onEnd = (): void => reject(endedError());
      if (signal.aborted) onEnd();
      else signal.addEventListener('abort', onEnd, { once: true });
      guarded.then(
        (t) => {
          signal.removeEventListener('abort', onEnd);
          resolve(t);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onEnd);
          reject(err);
        },
      );
    });
  }

  protected emitFailover(event: FailoverEvent): void {
    publishFailoverEnd(this.code, event);
    try {
      this.service.emitClientEvent?.('failover', event);
    } catch (err) {
      log.warn(`a 'failover' event listener threw: ${describe(err)}`);
    }
  }

  /** The topology host behind the current host (a cluster endpoint stands for the writer it led to). */
  protected failedHost(current: HostInfo | undefined): HostInfo | undefined {
    if (current === undefined) return undefined;
    const all = this.service.allHosts;
    const key = current.hostAndPort.toLowerCase();
    const match =
      all.find((h) => h.hostAndPort.toLowerCase() === key) ??
      all.find((h) => current.aliases.has(h.hostAndPort) || h.aliases.has(current.hostAndPort));
    if (match !== undefined) return match;
    if (isWriterClusterDns(current.host)) return all.find((h) => h.role === HostRole.WRITER) ?? current;
    return current;
  }

  /** The connection failover switches to: the writer in strict_writer mode, else a reader (gdb_failover: per region). */
  protected findTarget(failed: HostInfo | undefined, deadline: number): Promise<FailoverTarget<C>> {
    return this.mode === FailoverMode.STRICT_WRITER
      ? this.writerFailover(failed, deadline)
      : this.readerFailover(failed, deadline);
  }

  /** Finds, connects to and verifies the new writer before `deadline`. */
  protected abstract writerFailover(failed: HostInfo | undefined, deadline: number): Promise<FailoverTarget<C>>;

  // ---- shared building blocks ---------------------------------------------------------------------------------

  /** Opens a connection to `host` through the connect pipeline (this plugin skipped), bounded by `boundMs`. */
  protected connectBounded(host: HostInfo, boundMs: number): Promise<C> {
    return this.service.connect(host, boundedConnectProps(this.props, boundMs), this);
  }

  /** Closes a connection failover opened and does not use (bounded; in the background). */
  protected discard(conn: C): void {
    void this.close(conn);
  }

  private close(conn: C): Promise<void> {
    return this.service.driverDialect.end(conn, 1000).catch(() => undefined);
  }

  /** Connects to `host` and checks its role; resolves with the verified target or undefined (connection closed). */
  protected async tryHost(
    host: HostInfo,
    boundMs: number,
    accept: (role: HostRole) => boolean,
  ): Promise<FailoverTarget<C> | undefined> {
    if (this.ended) return undefined;
    let conn: C;
    try {
      conn = await this.connectBounded(host, boundMs);
    } catch (err) {
      log.debug(`${this.code}: cannot connect to ${host.hostAndPort}: ${describe(err)}`);
      if (this.service.isNetworkError(err)) this.service.setAvailability(host.allAliases, HostAvailability.UNAVAILABLE);
      return undefined;
    }
    try {
      const role = await this.service.getHostRole(conn);
      if (accept(role)) return { conn, host: host.role === role ? host : host.with({ role }) };
      log.debug(`${this.code}: ${host.hostAndPort} is a ${role}; not accepted`);
    } catch (err) {
      log.debug(`${this.code}: role check of ${host.hostAndPort} failed: ${describe(err)}`);
    }
    this.discard(conn);
    return undefined;
  }

  /**
   * Writer failover through the topology: waits for a topology whose writer was verified (panic probe or monitor),
   * connects to that writer and verifies its role; retries until `deadline`.
   */
  protected async writerThroughTopology(
    deadline: number,
    stop?: { readonly stopped: boolean },
    failed?: HostInfo,
  ): Promise<FailoverTarget<C>> {
    const s = this.service;
    let lastProblem = 'no writer in the topology';
    // A new writer published moments ago (another client's failover, the monitor): verify it directly, no probe.
    const cached = topologyCache(s.services).get(s.hostListProvider.clusterId);
    if (failed !== undefined && cached !== undefined && Date.now() - cached.updatedAt < RECENT_TOPOLOGY_MS) {
      await s.refreshHostList().catch(() => undefined);
      const writer = s.allHosts.find((h) => h.role === HostRole.WRITER);
      if (writer !== undefined && writer.hostAndPort !== failed.hostAndPort) {
        const target = await this.tryHost(writer, deadline - Date.now(), (role) => role === HostRole.WRITER);
        if (target !== undefined) return target;
      }
    }
    while (Date.now() < deadline && stop?.stopped !== true && !this.ended) {
      const refreshed = await s.forceRefreshHostList(true, deadline - Date.now());
      if (!refreshed) {
        lastProblem = 'the topology did not confirm a writer';
        if (Date.now() >= deadline) break;
        await sleep(Math.min(RETRY_PAUSE_MS, deadline - Date.now()));
        continue;
      }
      const writer = s.allHosts.find((h) => h.role === HostRole.WRITER);
      // The refresh confirmed a writer: missing here, it is one the host restriction (custom endpoint) leaves out.
      if (writer === undefined && s.allowedAndBlockedHosts !== undefined) {
        throw new AwsWrapperError(
          'Writer failover failed: the new writer is not among the hosts allowed for this connection (not a member of the custom endpoint)',
        );
      }
      if (writer !== undefined) {
        const target = await this.tryHost(writer, deadline - Date.now(), (role) => role === HostRole.WRITER);
        if (target !== undefined) return target;
        lastProblem = `${writer.hostAndPort} could not be verified as the writer`;
      }
      if (Date.now() < deadline) await sleep(Math.min(RETRY_PAUSE_MS, deadline - Date.now()));
    }
    throw new AwsWrapperError(`Writer failover timed out: ${lastProblem}`);
  }

  /**
   * Reader failover (strict_reader, reader_or_writer): readers picked with the selector strategy (available ones
   * first), then the writer (strict_reader: only when the topology has no reader), tried two at a time, each attempt
   * bounded by failoverReaderConnectTimeoutMs and the time left; a reader that turns out to be the writer is accepted
   * only outside strict_reader. Rounds repeat until `deadline`.
   */
  protected async readerFailover(
    failed: HostInfo | undefined,
    deadline: number,
    policy?: ReaderPolicy,
  ): Promise<FailoverTarget<C>> {
    const s = this.service;
    const strategy = this.props.options.failoverReaderHostSelectorStrategy;
    const strict = this.mode === FailoverMode.STRICT_READER;
    while (Date.now() < deadline && !this.ended) {
      await s.refreshHostList().catch(() => undefined);
      const all = s.allHosts;
      const readers = all.filter((h) => h.role === HostRole.READER && (policy === undefined || policy.allowReader(h)));
      const candidates = orderByStrategy(s, readers, strategy);
      const writer = all.find((h) => h.role === HostRole.WRITER);
      const writerAllowed = policy === undefined ? !strict || readers.length === 0 : policy.writerAllowed;
      if (writer !== undefined && writerAllowed) candidates.push(writer);
      if (candidates.length === 0 && failed !== undefined && policy === undefined) candidates.push(failed);
      const accept =
        policy === undefined
          ? (role: HostRole) => role === HostRole.READER || !strict || readers.length === 0
          : (role: HostRole) => role === HostRole.READER || policy.writerAllowed;
      for (let i = 0; i < candidates.length && Date.now() < deadline; i += 2) {
        const pair = candidates.slice(i, i + 2);
        const bound = Math.min(this.props.options.failoverReaderConnectTimeoutMs, deadline - Date.now());
        const found = await firstAccepted(
          pair.map((h) => this.tryHost(h, bound, accept)),
          (t) => this.discard(t.conn),
        );
        if (found !== undefined) return found;
      }
      if (Date.now() < deadline) await sleep(Math.min(RETRY_PAUSE_MS, deadline - Date.now()));
    }
    throw new AwsWrapperError('Reader failover timed out: no reader (or writer, where allowed) could be reached');
  }

  /** Waits for a failover stopped by end() to close what it opened (bounded by auxiliaryQueryTimeoutSec). */
  async release(): Promise<void> {
    const searching = this.searching;
    this.inflight = undefined;
    if (searching === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(1, this.props.options.auxiliaryQueryTimeoutSec * 1000));
      timer.unref();
    });
    await Promise.race([searching, bound]);
    clearTimeout(timer);
  }
}

function endedError(): AwsWrapperError {
  return new AwsWrapperError('Failover stopped: the client was ended');
}

/** Readers in selection order: available ones as the strategy picks them, then the unavailable ones. */
function orderByStrategy<C>(s: PluginService<C>, readers: readonly HostInfo[], strategy: string): HostInfo[] {
  const out: HostInfo[] = [];
  let left = readers.filter((h) => h.availability === HostAvailability.AVAILABLE);
  while (left.length > 0) {
    let pick: HostInfo;
    try {
      pick = s.getHostInfoByStrategy(HostRole.READER, strategy, left);
    } catch {
      pick = left[0]!;
    }
    out.push(pick);
    left = left.filter((h) => h !== pick);
  }
  for (const h of readers) if (h.availability !== HostAvailability.AVAILABLE) out.push(h);
  return out;
}

/** The first attempt (in settle order) that yields a target; later successes are handed to `discard`. */
function firstAccepted<T>(
  attempts: readonly Promise<T | undefined>[],
  discard: (t: T) => void,
): Promise<T | undefined> {
  return new Promise((resolve) => {
    let left = attempts.length;
    let winner: T | undefined;
    if (left === 0) resolve(undefined);
    for (const a of attempts) {
      a.then(
        (t) => {
          if (t !== undefined) {
            if (winner === undefined) {
              winner = t;
              resolve(t);
            } else discard(t);
          }
          if (--left === 0 && winner === undefined) resolve(undefined);
        },
        () => {
          if (--left === 0 && winner === undefined) resolve(undefined);
        },
      );
    }
  });
}

export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${err.name}${code !== undefined ? ` ${String(code)}` : ''}: ${err.message}`;
  }
  return String(err);
}
