/**
 * What read_write_splitting (topology-based) and srw (endpoint-based) share: on
 * `setReadOnly(true|false)` the client switches between a writer and a reader connection, keeping the other one
 * cached (or returning it to an internal pool), outside transactions only, with the session state transferred by
 * PluginService.setCurrentConnection. Subclasses say where writers and readers are and how to open them.
 *
 * Cached connections never outlive their usefulness: one whose host left the topology, changed role or went down is
 * closed as soon as it is idle (host-list notifications), one that is closed is replaced, and a cached reader is
 * re-selected after readers were added to the cluster (so new replicas get traffic: the Node peer's #465).
 */
import { AwsWrapperError } from '../errors.js';
import { HostChange, HostRole, type HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import {
  ConnectionChange,
  OldConnectionSuggestedAction,
  PIPELINE,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type ExecuteContext,
  type PluginService,
} from '../plugin.js';
import type { SessionState } from '../dialects/types.js';
import type { WrapperOptions } from '../options.js';
import { InternalConnectionPools, poolKey, type InternalPoolOptions } from '../pools/internal-pools.js';
import { resetSession } from '../pools/session-reset.js';

const log = getLogger('read-write-splitting');

/**
 * Hooks both plugins subscribe to. Only setReadOnly and end of the client methods: queries do not pass through
 * the plugin (no per-statement cost); failover is seen through notifyConnectionChanged / notifyHostListChanged.
 */
export const RW_SUBSCRIBED_METHODS: readonly string[] = [
  PIPELINE.connect,
  PIPELINE.notifyConnectionChanged,
  PIPELINE.notifyHostListChanged,
  'Client.setReadOnly',
  'Client.end',
];

/** A read/write splitting rule was broken or no suitable connection could be opened. */
export class ReadWriteSplittingError extends AwsWrapperError {}

/** A connection the plugin keeps for one role. */
export interface CachedConnection<C> {
  readonly conn: C;
  host: HostInfo;
  /** Taken from the internal pools: given back (not closed) when the client switches away. */
  readonly pooled: boolean;
  /** The tracked session state the connection had when the client last switched away from it. */
  applied?: SessionState;
}

const SESSION_FIELDS = ['autoCommit', 'isolationLevel', 'catalog', 'schema'] as const;

/**
 * What must be applied to a connection that has `applied` so it has `tracked`, read-only excluded: the driver call
 * of setReadOnly sets that one right after the switch.
 */
export function sessionStateToApply(
  tracked: Readonly<SessionState>,
  applied: Readonly<SessionState> | undefined,
): SessionState {
  const patch: Record<string, unknown> = {};
  for (const f of SESSION_FIELDS) {
    const v = tracked[f];
    if (v !== undefined && applied?.[f] !== v) patch[f] = v;
  }
  return patch;
}

/** The readOnly value of a `Client.setReadOnly` call: `[bool]`, or `[patch]` when set with other session fields. */
export function readOnlyArgument(args: readonly unknown[]): boolean | undefined {
  const a = args[0];
  if (typeof a === 'boolean') return a;
  if (typeof a === 'object' && a !== null && typeof (a as SessionState).readOnly === 'boolean')
    return (a as SessionState).readOnly;
  return undefined;
}

/** The sizing of the shared internal pools of clients with these options. */
export function internalPoolOptions(o: WrapperOptions): InternalPoolOptions {
  return {
    maxPerHost: o.internalPoolMaxPerHost,
    idleTimeoutMs: o.internalPoolIdleTimeoutMs,
    acquireTimeoutMs: o.internalPoolAcquireTimeoutMs,
  };
}

/** The services slot of the shared internal pools sized by `sizing`: clients that size them alike share them. */
export function internalPoolsKey(sizing: InternalPoolOptions): string {
  return `rw:internal-pools:${sizing.maxPerHost}|${sizing.idleTimeoutMs}|${sizing.acquireTimeoutMs}`;
}

/**
 * The internal pools of the services shared by the clients with the same pool sizing (internalPoolMaxPerHost,
 * internalPoolIdleTimeoutMs, internalPoolAcquireTimeoutMs); ended when the services close.
 */
export function sharedInternalPools(service: PluginService<unknown>): InternalConnectionPools {
  const sizing = internalPoolOptions(service.options);
  return service.services.shared(
    internalPoolsKey(sizing),
    () => new InternalConnectionPools(sizing),
    (pools) => pools.end(),
  );
}

export abstract class ReadWriteSplittingBase<C> implements ConnectionPlugin<C> {
  abstract readonly code: string;
  readonly subscribedMethods: ReadonlySet<string> = new Set<string>(RW_SUBSCRIBED_METHODS);

  protected readonly service: PluginService<C>;
  protected readonly props: ConnectProps;
  protected writer: CachedConnection<C> | undefined;
  protected reader: CachedConnection<C> | undefined;
  /** Pools connections are taken from (undefined: connections are opened and cached). */
  protected pools: InternalConnectionPools | undefined;
  /** `pools` are the services' shared ones (releaseResources ends them; the next switch takes the new ones). */
  protected poolsShared = false;
  /** The current connection as of the last notification (the "old" one of the next switch). */
  private lastCurrent: C | undefined;
  /** Set while this plugin switches connections itself. */
  private switching = false;
  /** Readers were added to the cluster: the cached reader is re-selected at the next switch to a reader. */
  private rebalanceReader = false;
  private readonly closing = new Set<Promise<void>>();
  private released = false;

  constructor(service: PluginService<C>, props: ConnectProps) {
    this.service = service;
    this.props = props;
  }

  /** Takes instance connections from `pools` (an AwsPGPool / AwsMySQLPool attaches its own before connecting). */
  useInternalPools(pools: InternalConnectionPools | undefined): void {
    this.pools = pools;
  }

  isReaderConnection(conn: C): boolean {
    return this.reader?.conn === conn;
  }

  /** The connections the plugin keeps, for diagnostics and tests. */
  get cachedConnections(): {
    readonly writer: CachedConnection<C> | undefined;
    readonly reader: CachedConnection<C> | undefined;
  } {
    return { writer: this.writer, reader: this.reader };
  }

  // ---- what the subclasses supply ---------------------------------------------------------------------------

  /** The role `host` (the current or a cached connection's host) plays for splitting. */
  protected abstract roleOf(host: HostInfo, conn: C | undefined): HostRole;
  /** Refreshes what the switch decides on (topology); called at each setReadOnly. */
  protected abstract refreshHosts(): Promise<void>;
  /** Whether there is a reader to switch to at all (false: stay on the writer, e.g. a one-instance cluster). */
  protected abstract hasReaders(): boolean;
  /** Opens a reader connection (selection, retries, verification). */
  protected abstract openReader(): Promise<CachedConnection<C>>;
  /** Opens a writer connection. */
  protected abstract openWriter(): Promise<CachedConnection<C>>;
  /** Whether a connection cached for `role` on `host` may still be used (host present, same role, available). */
  protected abstract isStillValid(host: HostInfo, role: HostRole): boolean;
  /** setReadOnly(false) on a reader keeps the reader (gdb_rw with global write forwarding); default false. */
  protected keepsReaderForWrites(): boolean {
    return false;
  }
  /** Called once before the first switch: lets the subclass settle the role of the initial connection. */
  protected async prepareInitialConnection(): Promise<void> {}

  // ---- pipeline hooks ---------------------------------------------------------------------------------------

  connect(_host: HostInfo, _props: ConnectProps, _isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return next();
  }

  async execute<T>(ctx: ExecuteContext, next: () => Promise<T>): Promise<T> {
    if (ctx.method === 'Client.setReadOnly') {
      const readOnly = readOnlyArgument(ctx.args);
      if (readOnly !== undefined) await this.switchIfRequired(readOnly);
      return next();
    }
    if (ctx.method === 'Client.end') this.beforeEnd();
    return next();
  }

  notifyConnectionChanged(changes: ReadonlySet<ConnectionChange>): OldConnectionSuggestedAction {
    const current = this.service.currentConnection;
    const host = this.service.currentHostInfo;
    const old = this.lastCurrent;
    this.lastCurrent = current;
    if (this.switching)
      return old !== undefined && this.entryOf(old) !== undefined
        ? OldConnectionSuggestedAction.PRESERVE
        : OldConnectionSuggestedAction.NO_OPINION;
    if (current === undefined || host === undefined) return OldConnectionSuggestedAction.NO_OPINION;

    if (changes.has(ConnectionChange.INITIAL_CONNECTION) || current === old) {
      // Same connection, new host information (role identified, promotion): move it to the right slot.
      const entry = this.entryOf(current);
      if (entry !== undefined) {
        this.forgetEntry(entry);
        entry.host = host;
        this.cache(entry);
      } else {
        this.cache({ conn: current, host, pooled: false });
      }
      return OldConnectionSuggestedAction.NO_OPINION;
    }

    // Another plugin switched (failover, …): keep the old connection only while it stays good for its role.
    let action = OldConnectionSuggestedAction.NO_OPINION;
    const oldEntry = old === undefined ? undefined : this.entryOf(old);
    if (oldEntry !== undefined) {
      const role = oldEntry === this.writer ? HostRole.WRITER : HostRole.READER;
      if (!this.service.driverDialect.isClosed(oldEntry.conn) && this.isStillValid(oldEntry.host, role)) {
        action = OldConnectionSuggestedAction.PRESERVE;
      } else {
        this.forgetEntry(oldEntry);
        // The plugin service closes it (no plugin preserves it); the pool only frees its slot.
        if (oldEntry.pooled) this.pools?.detach(oldEntry.conn);
      }
    }
    const entry = this.entryOf(current) ?? { conn: current, host, pooled: false };
    entry.host = host;
    this.cache(entry);
    return action;
  }

  notifyHostListChanged(changes: ReadonlyMap<string, ReadonlySet<HostChange>>): void {
    for (const [url, set] of changes) {
      const gone = set.has(HostChange.HOST_DELETED) || set.has(HostChange.WENT_DOWN);
      for (const entry of [this.writer, this.reader]) {
        if (entry === undefined || entry.host.url !== url) continue;
        const role = entry === this.writer ? HostRole.WRITER : HostRole.READER;
        const converted = set.has(
          role === HostRole.WRITER ? HostChange.CONVERTED_TO_READER : HostChange.CONVERTED_TO_WRITER,
        );
        if ((gone || converted) && entry.conn !== this.service.currentConnection) {
          log.debug(
            `Closing the cached ${role} connection to ${entry.host.hostAndPort}: the host ${gone ? 'left or went down' : 'changed role'}`,
          );
          this.dropEntry(entry, true);
        }
      }
      if (
        this.pools !== undefined &&
        (gone || set.has(HostChange.CONVERTED_TO_READER) || set.has(HostChange.CONVERTED_TO_WRITER))
      ) {
        // Host urls are `host:port/`.
        this.pools.evictHost(url.endsWith('/') ? url.slice(0, -1) : url);
      }
      if (
        set.has(HostChange.HOST_ADDED) &&
        this.service.allHosts.some((h) => h.url === url && h.role === HostRole.READER)
      ) {
        this.rebalanceReader = true;
      }
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const current = this.service.currentConnection;
    for (const entry of [this.writer, this.reader]) {
      if (entry === undefined) continue;
      if (entry.conn === current) {
        // The plugin service closes the current connection; a pooled one only frees its slot.
        if (entry.pooled) this.pools?.detach(entry.conn);
        this.forgetEntry(entry);
      } else {
        this.dropEntry(entry, false);
      }
    }
    while (this.closing.size > 0) await Promise.allSettled([...this.closing]);
  }

  // ---- switching --------------------------------------------------------------------------------------------

  private prepared: Promise<void> | undefined;

  private async switchIfRequired(readOnly: boolean): Promise<void> {
    const service = this.service;
    const conn = service.currentConnection;
    if (service.endSignal?.aborted === true)
      throw new ReadWriteSplittingError(`setReadOnly(${readOnly}) on a client that was ended`);
    if (conn === undefined)
      throw new ReadWriteSplittingError(`setReadOnly(${readOnly}) on a client that is not connected`);
    // A current connection that died (its instance left the cluster, …) is switched away from whatever the mode.
    const currentClosed = service.driverDialect.isClosed(conn);
    await (this.prepared ??= this.prepareInitialConnection().catch((err: unknown) => {
      log.debug('Could not identify the initial connection: %s', errorText(err));
    }));
    try {
      await this.refreshHosts();
    } catch (err) {
      log.debug('Host list refresh before a read/write switch failed: %s', errorText(err));
    }
    const host = service.currentHostInfo;
    if (host === undefined) throw new ReadWriteSplittingError('The current host is unknown');
    const role = currentClosed ? HostRole.UNKNOWN : this.roleOf(host, conn);
    if (readOnly) {
      if (role === HostRole.READER || service.isInTransaction) return;
      try {
        await this.switchToReader();
      } catch (err) {
        const current = service.currentConnection;
        if (current === undefined || service.driverDialect.isClosed(current)) {
          throw new ReadWriteSplittingError(`Could not switch to a reader: ${errorText(err)}`, { cause: err });
        }
        log.warn(
          `Could not switch to a reader (${errorText(err)}); staying on the current connection to ${host.hostAndPort}`,
        );
      }
    } else {
      if (role === HostRole.WRITER) return;
      if (role === HostRole.READER && this.keepsReaderForWrites()) return;
      if (!currentClosed && service.isInTransaction) {
        throw new ReadWriteSplittingError(
          'setReadOnly(false) is not allowed inside a transaction on a reader: commit or roll back first',
        );
      }
      try {
        await this.switchToWriter();
      } catch (err) {
        throw new ReadWriteSplittingError(`Could not switch to the writer: ${errorText(err)}`, { cause: err });
      }
    }
  }

  private async switchToReader(): Promise<void> {
    const dd = this.service.driverDialect;
    let reader = this.reader;
    if (
      reader !== undefined &&
      (this.rebalanceReader || dd.isClosed(reader.conn) || !this.isStillValid(reader.host, HostRole.READER))
    ) {
      this.dropEntry(reader, true);
      reader = undefined;
    }
    if (reader === undefined) {
      if (!this.hasReaders()) {
        log.warn('No reader in the cluster: staying on the writer');
        return;
      }
      reader = await this.openReader();
      this.rebalanceReader = false;
      this.reader = reader;
    }
    try {
      await this.switchTo(reader);
    } catch (err) {
      this.dropEntry(reader, true);
      throw err;
    }
    const writer = this.writer;
    if (writer !== undefined && writer.pooled) this.giveBack(writer);
  }

  private async switchToWriter(): Promise<void> {
    const dd = this.service.driverDialect;
    let writer = this.writer;
    if (writer !== undefined && (dd.isClosed(writer.conn) || !this.isStillValid(writer.host, HostRole.WRITER))) {
      this.dropEntry(writer, true);
      writer = undefined;
    }
    if (writer === undefined) {
      writer = await this.openWriter();
      this.writer = writer;
    }
    try {
      await this.switchTo(writer);
    } catch (err) {
      this.dropEntry(writer, true);
      throw err;
    }
    const reader = this.reader;
    if (reader !== undefined && reader.pooled) this.giveBack(reader);
  }

  /**
   * Makes `entry` the client's connection; the previous one stays cached (PRESERVE from notifyConnectionChanged).
   * Only the session state the entry lacks is applied (a cached connection kept what it had).
   */
  protected async switchTo(entry: CachedConnection<C>): Promise<void> {
    const service = this.service;
    const current = service.currentConnection;
    if (current === entry.conn && service.currentHostInfo === entry.host) return;
    const tracked = service.sessionState;
    const leaving = current === undefined ? undefined : this.entryOf(current);
    const sessionState = sessionStateToApply(tracked, entry.applied);
    this.switching = true;
    try {
      await service.setCurrentConnection(entry.conn, entry.host, undefined, { sessionState });
    } finally {
      this.switching = false;
    }
    if (leaving !== undefined) leaving.applied = { ...tracked };
  }

  // ---- opening connections ----------------------------------------------------------------------------------

  /** Opens a connection to `host` through the connect pipeline (this plugin skipped), from the pools when in use. */
  protected async openTo(host: HostInfo, poolable: boolean): Promise<CachedConnection<C>> {
    const service = this.service;
    const open = () => service.connect(host, this.props, this);
    if (this.poolsShared && this.pools?.isEnded === true) this.pools = sharedInternalPools(service);
    const pools = poolable ? this.pools : undefined;
    if (pools === undefined) return { conn: await open(), host, pooled: false };
    const key = poolKey({
      driver: service.driverDialect.code,
      host,
      user: this.props.driver.user,
      database: this.props.driver.database,
    });
    const conn = await pools.acquire(key, host, service.driverDialect, open);
    return { conn, host, pooled: true };
  }

  // ---- cache bookkeeping ------------------------------------------------------------------------------------

  private entryOf(conn: C): CachedConnection<C> | undefined {
    if (this.writer?.conn === conn) return this.writer;
    if (this.reader?.conn === conn) return this.reader;
    return undefined;
  }

  private forgetEntry(entry: CachedConnection<C>): void {
    if (this.writer === entry) this.writer = undefined;
    if (this.reader === entry) this.reader = undefined;
  }

  /** Puts a connection in the slot of its role; an idle connection it replaces is closed. */
  private cache(entry: CachedConnection<C>): void {
    const role = this.roleOf(entry.host, entry.conn);
    if (role !== HostRole.WRITER && role !== HostRole.READER) return;
    const slot = role === HostRole.WRITER ? this.writer : this.reader;
    if (slot !== undefined && slot !== entry) this.dropEntry(slot, true);
    if (role === HostRole.WRITER) this.writer = entry;
    else this.reader = entry;
  }

  /** Forgets a cached connection and closes it (pooled: destroyed when broken, else given back) unless current. */
  private dropEntry(entry: CachedConnection<C>, broken: boolean): void {
    this.forgetEntry(entry);
    if (entry.conn === this.service.currentConnection) return;
    if (entry.pooled && this.pools !== undefined) {
      if (broken) this.pools.discard(entry.conn);
      else this.pools.release(entry.conn, this.resetFor());
      return;
    }
    const dd = this.service.driverDialect;
    if (dd.isClosed(entry.conn)) return;
    const task = dd
      .end(entry.conn, this.auxTimeoutMs)
      .catch((err: unknown) => log.debug('Closing a cached connection failed: %s', errorText(err)));
    this.closing.add(task);
    void task.finally(() => this.closing.delete(task));
  }

  /** Returns a pooled connection the client switched away from. */
  private giveBack(entry: CachedConnection<C>): void {
    if (entry.conn === this.service.currentConnection) return;
    this.forgetEntry(entry);
    this.pools?.release(entry.conn, this.resetFor());
  }

  /**
   * Resets a pooled connection given back to what a fresh connection has: the fields the client changed through
   * the wrapper (they were transferred to it) plus read-only (set on readers).
   */
  private resetFor(): (conn: C) => Promise<void> {
    const changed: SessionState = { ...this.service.sessionState, readOnly: true };
    const dd = this.service.driverDialect;
    const database = this.props.driver.database;
    const timeout = this.auxTimeoutMs;
    return (conn) => resetSession(dd, conn, changed, database, timeout);
  }

  /** Client.end: a pooled current connection is closed by the plugin service; the pool frees its slot. */
  private beforeEnd(): void {
    const current = this.service.currentConnection;
    if (current === undefined) return;
    const entry = this.entryOf(current);
    if (entry?.pooled) {
      this.pools?.detach(entry.conn);
      this.forgetEntry(entry);
    }
  }

  protected get auxTimeoutMs(): number {
    return Math.max(1, Math.round(this.service.options.auxiliaryQueryTimeoutSec * 1000));
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
