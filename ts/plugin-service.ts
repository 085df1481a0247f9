/**
 * The plugin service of one client: what plugins may ask of the client they belong to (PluginService in
 * plugin.ts). Holds the current physical connection and host, the host list (with the shared availability applied),
 * the session state, and supplies the terminal step of every pipeline (the seed's DefaultPlugin).
 */
import { AwsWrapperError, QueryTimeoutError } from './errors.js';
import {
  diffHostLists,
  HostAvailability,
  HostRole,
  isAllowed,
  type AllowedAndBlockedHosts,
  type HostInfo,
} from './host-info.js';
import { availabilityStrategyFromOptions, hostAvailability, type AvailabilityStrategy } from './host-availability.js';
import { hostSelectors, validateHostSelectorOptions } from './host-selectors.js';
import { getLogger, type Logger } from './logger.js';
import { monitoringConnectProps, type WrapperOptions } from './options.js';
import type { ProbeConnector } from './host-list-providers/panic-probe.js';
import {
  ConnectionChange,
  OldConnectionSuggestedAction,
  type ConnectionPlugin,
  type ConnectProps,
  type HostListProvider,
  type PluginService,
  type SwitchOptions,
} from './plugin.js';
import type { PipelineTerminal, PluginManager } from './plugin-manager.js';
import type { WrapperServices } from './services.js';
import { SessionStateTracker } from './session-state.js';
import { publishConnectionSwitch } from './telemetry/channels.js';
import type { DatabaseDialect, DriverDialect, ErrorKind, SessionState } from './dialects/types.js';
import { DialectManager, isMissingObjectError } from './dialects/dialect-manager.js';
import {
  ConnectionStringHostListProvider,
  fillAliases,
  hostFromDriverConfig,
  RdsHostListProvider,
} from './host-list-providers/index.js';

const log = getLogger('plugin-service');

export interface PluginServiceInit<C> {
  readonly driver: 'pg' | 'mysql2';
  readonly props: ConnectProps;
  readonly services: WrapperServices;
  readonly driverDialect: DriverDialect<C>;
  /** Called after every switch of the physical connection, before the old one is disposed. */
  readonly onConnectionChanged?: (newConn: C, oldConn: C | undefined) => void;
  /** Receives the events plugins emit on the client (emitClientEvent). */
  readonly onClientEvent?: (event: string, payload: unknown) => void;
}

export class PluginServiceImpl<C> implements PluginService<C> {
  readonly props: ConnectProps;
  readonly options: WrapperOptions;
  readonly services: WrapperServices;
  readonly logger: Logger = log;
  readonly driverDialect: DriverDialect<C>;
  readonly dialectManager: DialectManager;
  readonly sessionStateTracker = new SessionStateTracker();
  hostListProvider: HostListProvider<C>;
  initialConnectionHostInfo: HostInfo | undefined;

  private manager: PluginManager<C> | undefined;
  private currentDialect: DatabaseDialect;
  /** The dialect the current host list provider was created for. */
  private providerDialect: DatabaseDialect;
  /** Dialect detection in progress (concurrent callers share it). */
  private detecting: Promise<void> | undefined;
  /** The host each physical connection was opened to: a dialect detected on it is cached under that host too. */
  private readonly connectedHosts = new WeakMap<object, HostInfo>();
  private conn: C | undefined;
  private host: HostInfo | undefined;
  private rawHosts: readonly HostInfo[] = [];
  private derivedFor:
    { raw: readonly HostInfo[]; version: number; filter: AllowedAndBlockedHosts | undefined } | undefined;
  private hostFilter: AllowedAndBlockedHosts | undefined;
  private derivedAll: readonly HostInfo[] = [];
  private derivedAvailable: readonly HostInfo[] = [];
  private readonly availabilityStrategy: AvailabilityStrategy;
  private readonly onConnectionChanged: ((newConn: C, oldConn: C | undefined) => void) | undefined;
  private readonly onClientEvent: ((event: string, payload: unknown) => void) | undefined;
  /** Old connections being rolled back / closed in the background after a switch. */
  private readonly disposals = new Set<Promise<void>>();
  private released = false;
  /** Aborted by beginEnd(): see PluginService.endSignal. */
  private ending: AbortController | undefined;
  private ended = false;
  /** Terminal connects in flight (end() waits for them, bounded: each one closes its connection when the client ended). */
  private readonly opening = new Set<Promise<unknown>>();
  private readonly driverName: 'pg' | 'mysql2';
  private probeProps: ConnectProps | undefined;

  /** The end of every pipeline (the seed's DefaultPlugin), handed to the PluginManager. */
  readonly terminal: PipelineTerminal<C> = {
    connect: (host, props) => this.connectTerminal(host, props),
    forceConnect: (host, props) => this.connectTerminal(host, props),
    acceptsStrategy: (_role, strategy) => hostSelectors(this.services).accepts(strategy),
    getHostInfoByStrategy: (role, strategy, hosts) =>
      hostSelectors(this.services).select(strategy, hosts ?? this.allHosts, role, this.options),
  };

  constructor(init: PluginServiceInit<C>) {
    this.props = init.props;
    this.options = init.props.options;
    this.services = init.services;
    this.driverDialect = init.driverDialect;
    this.onConnectionChanged = init.onConnectionChanged;
    this.driverName = init.driver;
    this.onClientEvent = init.onClientEvent;
    this.availabilityStrategy = availabilityStrategyFromOptions(this.options);
    validateHostSelectorOptions(this.options);
    const initial = hostFromDriverConfig(init.props.driver);
    this.dialectManager = new DialectManager(init.services, init.driver, {
      wrapperDialect: this.options.wrapperDialect,
      customDialect: this.options['customDialect'] as DatabaseDialect | undefined,
      hostAddressMap: this.options.hostAddressMap,
    });
    this.currentDialect = this.providerDialect = this.dialectManager.getDialect(initial);
    this.hostListProvider = this.createHostListProvider(initial);
    this.initialConnectionHostInfo = this.hostListProvider.initialHostInfo;
  }

  /** Wires the manager whose pipelines this service runs (the manager needs the service as its terminal first). */
  attachPluginManager(manager: PluginManager<C>): void {
    this.manager = manager;
  }

  get pluginManager(): PluginManager<C> {
    if (this.manager === undefined)
      throw new AwsWrapperError('PluginService used before its plugin manager was attached');
    return this.manager;
  }

  get dialect(): DatabaseDialect {
    return this.currentDialect;
  }

  get auxiliaryQueryTimeoutMs(): number {
    return Math.max(1, Math.round(this.options.auxiliaryQueryTimeoutSec * 1000));
  }

  get isStaticHostListProvider(): boolean {
    return !this.hostListProvider.isDynamic;
  }

  get currentConnection(): C | undefined {
    return this.conn;
  }

  get currentHostInfo(): HostInfo | undefined {
    return this.host;
  }

  /** Every host of the topology, with the shared availability applied. */
  get allHosts(): readonly HostInfo[] {
    this.deriveHosts();
    return this.derivedAll;
  }

  /** Hosts not marked unavailable. */
  get hosts(): readonly HostInfo[] {
    this.deriveHosts();
    return this.derivedAvailable;
  }

  get isInTransaction(): boolean {
    const c = this.conn;
    return c !== undefined && !this.driverDialect.isClosed(c) && this.driverDialect.isInTransaction(c);
  }

  get sessionState(): SessionState {
    return this.sessionStateTracker.current;
  }

  get endSignal(): AbortSignal {
    // Made when first asked for: most clients end without anyone listening (an abort dispatches an event).
    this.ending ??= new AbortController();
    if (this.ended) this.ending.abort('ended');
    return this.ending.signal;
  }

  /**
   * The client starts ending: failovers and switches in progress stop, and no connection opened from now on becomes
   * current (each is closed at once). Called by ClientCore.end before anything else.
   */
  beginEnd(): void {
    // A plain reason: nothing reads it, and an Error would capture a stack trace on every end().
    if (this.ended) return;
    this.ended = true;
    this.ending?.abort('ended');
  }

  // ---- connection switching ---------------------------------------------------------------------------------

  async setCurrentConnection(
    conn: C,
    host: HostInfo,
    skipPlugin?: ConnectionPlugin<C>,
    options?: SwitchOptions,
  ): Promise<ReadonlySet<ConnectionChange>> {
    if (this.ended && conn !== this.conn) {
      // A failover or switch finishing after end(): the connection it opened never becomes current.
      await this.closeUnused(conn);
      throw new AwsWrapperError(`Client was ended; the connection to ${host.hostAndPort} opened for it was closed`);
    }
    const old = this.conn;
    const oldHost = this.host;
    if (old === undefined || oldHost === undefined) {
      this.conn = conn;
      this.host = host;
      const changes: ReadonlySet<ConnectionChange> = new Set([ConnectionChange.INITIAL_CONNECTION]);
      publishConnectionSwitch(this.driverName, undefined, host);
      this.onConnectionChanged?.(conn, undefined);
      this.pluginManager.notifyConnectionChanged(changes, skipPlugin);
      return changes;
    }
    const changes = connectionChanges(oldHost, host, old !== conn);
    if (changes.size === 0) return changes;
    if (old === conn) {
      this.host = host;
      this.pluginManager.notifyConnectionChanged(changes, skipPlugin);
      return changes;
    }

    const oldUsable = !this.driverDialect.isClosed(old);
    const wasInTransaction = oldUsable && this.driverDialect.isInTransaction(old);
    const transfer = options?.sessionState ?? this.sessionStateTracker.current;
    if (this.options.transferSessionStateOnSwitch && Object.keys(transfer).length > 0) {
      try {
        await this.driverDialect.applySessionState(conn, transfer);
      } catch (err) {
        this.dispose(conn, false, false);
        throw err;
      }
    }
    this.conn = conn;
    this.host = host;
    publishConnectionSwitch(this.driverName, oldHost, host);
    this.onConnectionChanged?.(conn, old);
    // The rollback is issued before plugins hear about the switch, so a plugin preserving the old connection
    // finds it queued behind the ROLLBACK.
    const rollback = wasInTransaction && this.options.rollbackOnSwitch;
    const disposal = this.startDisposal(old, rollback);
    const action = this.pluginManager.notifyConnectionChanged(changes, skipPlugin);
    disposal(action !== OldConnectionSuggestedAction.PRESERVE);
    return changes;
  }

  /** Closes a connection that was opened for a client that is ending (bounded; never throws). */
  private async closeUnused(conn: C): Promise<void> {
    if (this.driverDialect.isClosed(conn)) return;
    try {
      await this.driverDialect.end(conn, this.auxiliaryQueryTimeoutMs);
    } catch (err) {
      log.debug('Closing a connection opened after end() failed: %s', errorText(err));
    }
  }

  /** Rolls back and/or closes a connection in the background, bounded; end() waits for these. */
  private dispose(conn: C, rollback: boolean, close: boolean): void {
    this.startDisposal(conn, rollback)(close);
  }

  private startDisposal(conn: C, rollback: boolean): (close: boolean) => void {
    const dd = this.driverDialect;
    const rolledBack =
      rollback && !dd.isClosed(conn)
        ? dd.queryRows(conn, 'ROLLBACK', this.auxiliaryQueryTimeoutMs).then(
            () => undefined,
            (err: unknown) => log.debug('Rollback of the previous connection failed: %s', errorText(err)),
          )
        : undefined;
    return (close: boolean) => {
      if (!close && rolledBack === undefined) return;
      const task = (async () => {
        await rolledBack;
        if (close && !dd.isClosed(conn)) {
          try {
            await dd.end(conn, this.auxiliaryQueryTimeoutMs);
          } catch (err) {
            log.debug('Closing the previous connection failed: %s', errorText(err));
          }
        }
      })();
      this.disposals.add(task);
      void task.finally(() => this.disposals.delete(task));
    };
  }

  // ---- pipelines through the manager ------------------------------------------------------------------------

  connect(host: HostInfo, props: ConnectProps, skipPlugin?: ConnectionPlugin<C>): Promise<C> {
    return this.pluginManager.connect(host, props, false, skipPlugin);
  }

  forceConnect(host: HostInfo, props: ConnectProps, skipPlugin?: ConnectionPlugin<C>): Promise<C> {
    return this.pluginManager.forceConnect(host, props, false, skipPlugin);
  }

  acceptsStrategy(role: HostRole, strategy: string): boolean {
    return this.pluginManager.acceptsStrategy(role, strategy);
  }

  getHostInfoByStrategy(role: HostRole, strategy: string, hosts?: readonly HostInfo[]): HostInfo {
    return this.pluginManager.getHostInfoByStrategy(role, strategy, hosts);
  }

  // ---- terminal steps (the seed's DefaultPlugin) ------------------------------------------------------------

  /**
   * Opens the physical connection and marks the host available. The dialect is detected on it only when a plugin
   * needs it at connect (ConnectionPlugin.needsDialect) and it is not known yet: `plugins: ''` sends nothing.
   */
  connectTerminal(host: HostInfo, props: ConnectProps): Promise<C> {
    const task = this.openConnection(host, props);
    const settled = task.then(
      () => undefined,
      () => undefined,
    );
    this.opening.add(settled);
    void settled.finally(() => this.opening.delete(settled));
    return task;
  }

  private async openConnection(host: HostInfo, props: ConnectProps): Promise<C> {
    if (this.ended) throw new AwsWrapperError('Client was ended while connecting');
    const conn = await this.driverDialect.connect(host, props.driver, props.options);
    if (this.ended) {
      await this.closeUnused(conn);
      throw new AwsWrapperError('Client was ended while connecting');
    }
    this.setAvailability(host.allAliases, HostAvailability.AVAILABLE);
    if (typeof conn === 'object' && conn !== null) this.connectedHosts.set(conn, host);
    if (this.dialectManager.canUpdate && this.manager?.plugins.some((p) => p.needsDialect?.(host) === true)) {
      try {
        await this.ensureDialect(conn);
      } catch (err) {
        this.dispose(conn, false, true);
        throw err;
      }
    }
    return conn;
  }

  ensureDialect(conn: C): Promise<DatabaseDialect> {
    // A closed connection would answer no probe, which would settle the guess for good; inside the application's
    // transaction a probe naming a missing function would abort it (PostgreSQL): detection waits for a later call.
    const dd = this.driverDialect;
    if (!this.dialectManager.canUpdate || dd.isClosed(conn) || dd.isInTransaction(conn))
      return Promise.resolve(this.currentDialect);
    this.detecting ??= this.detectDialect(conn).finally(() => (this.detecting = undefined));
    return this.detecting.then(() => this.currentDialect);
  }

  /** Probes once on `conn`; a dialect that needs another kind of host list provider gets a new one. */
  private async detectDialect(conn: C): Promise<void> {
    const initial = this.hostListProvider.initialHostInfo;
    this.currentDialect = await this.dialectManager.refine(
      initial,
      (sql) => this.driverDialect.queryRows(conn, sql, this.auxiliaryQueryTimeoutMs),
      {
        connectedHost: typeof conn === 'object' && conn !== null ? this.connectedHosts.get(conn) : undefined,
        isNetworkError: (err) => this.isNetworkError(err),
      },
    );
    if (this.currentDialect !== this.providerDialect) {
      this.hostListProvider.release();
      this.hostListProvider = this.createHostListProvider(initial);
      await this.refreshHostList(conn);
    }
  }

  /**
   * Runs `op` (which queries `conn` with the dialect's SQL) once the dialect is known. A dialect taken from the
   * cache whose own statements name objects the server lacks (an Aurora entry for a name that now leads to plain
   * PostgreSQL) is forgotten, detected again on `conn`, and `op` retried once.
   */
  private async withDialect<T>(conn: C | undefined, op: () => Promise<T>): Promise<T> {
    if (conn === undefined || this.driverDialect.isClosed(conn)) return op();
    await this.ensureDialect(conn);
    try {
      return await op();
    } catch (err) {
      if (!this.dialectManager.fromCache || !isMissingObjectError(err)) throw err;
      const initial = this.hostListProvider.initialHostInfo;
      log.info(
        `the cached ${this.currentDialect.code} dialect of ${initial.hostAndPort} does not fit the server (${errorText(err)}); detecting it again`,
      );
      const connected = typeof conn === 'object' && conn !== null ? this.connectedHosts.get(conn) : undefined;
      this.currentDialect = this.dialectManager.forget(initial, ...(connected ? [connected] : []));
      await this.ensureDialect(conn);
      return op();
    }
  }

  /** The host list provider for the current dialect: topology-aware dialects read the cluster topology. */
  private createHostListProvider(initial: HostInfo): HostListProvider<C> {
    const dialect = (this.providerDialect = this.currentDialect);
    if (dialect.topology !== undefined) {
      return new RdsHostListProvider<C>({
        initialHost: initial,
        dialect,
        driverDialect: this.driverDialect,
        options: this.options,
        services: this.services,
        probeConnector: this.probeConnector(),
        probeQueryTimeoutMs: this.topologyProbeProps.options.socketTimeout,
        topologyMonitoring: { driver: this.driverName, props: this.topologyProbeProps },
        topologyWanted: () => this.manager?.plugins.some((p) => p.needsDialect?.(initial) === true) ?? false,
      });
    }
    return new ConnectionStringHostListProvider<C>({
      initialHost: initial,
      dialect,
      driverDialect: this.driverDialect,
      auxiliaryQueryTimeoutSec: this.options.auxiliaryQueryTimeoutSec,
    });
  }

  /** Connect props of topology probes: `topology-monitoring-` overrides over 5 s connect / query bounds. */
  private get topologyProbeProps(): ConnectProps {
    return (this.probeProps ??= monitoringConnectProps(this.driverName, this.props, 'topology-monitoring-', {
      connectTimeout: 5000,
      socketTimeout: 5000,
    }));
  }

  /** Panic-mode topology probes open their connections through the forceConnect pipeline (auth plugins apply). */
  private probeConnector(): ProbeConnector<C> {
    return {
      open: (host) => this.forceConnect(host, this.topologyProbeProps),
      close: (conn) => this.driverDialect.abort(conn, new AwsWrapperError('Topology probe connection closed')),
      isLoginError: (err) => this.isLoginError(err),
    };
  }

  // ---- host lists -------------------------------------------------------------------------------------------

  async refreshHostList(conn?: C): Promise<void> {
    const on = conn ?? this.conn;
    const hosts = await this.withDialect(on, () => this.hostListProvider.refresh(on));
    this.updateHostList(hosts);
  }

  async forceRefreshHostList(verifyWriter: boolean, timeoutMs: number): Promise<boolean> {
    try {
      const hosts = await this.hostListProvider.forceRefresh(verifyWriter, timeoutMs, this.conn);
      this.updateHostList(hosts);
      return true;
    } catch (err) {
      log.debug('Forced host list refresh failed: %s', errorText(err));
      return false;
    }
  }

  /** Replaces the host list; plugins hear about the differences. */
  updateHostList(hosts: readonly HostInfo[]): void {
    if (hosts === this.rawHosts) return;
    if (this.manager?.hearsHostListChanges !== true) {
      this.rawHosts = hosts;
      return;
    }
    const before = this.allHosts;
    this.rawHosts = hosts;
    const changes = diffHostLists(before, this.allHosts);
    if (changes.size > 0) this.manager?.notifyHostListChanged(changes);
  }

  get allowedAndBlockedHosts(): AllowedAndBlockedHosts | undefined {
    return this.hostFilter;
  }

  /** Restricts every host list plugins see (and so every host choice); plugins hear about the differences. */
  setAllowedAndBlockedHosts(filter: AllowedAndBlockedHosts | undefined): void {
    if (filter === this.hostFilter) return;
    if (this.manager?.hearsHostListChanges !== true) {
      this.hostFilter = filter;
      return;
    }
    const before = this.allHosts;
    this.hostFilter = filter;
    const changes = diffHostLists(before, this.allHosts);
    if (changes.size > 0) this.manager?.notifyHostListChanged(changes);
  }

  /** Marks the host(s) known by `aliases` up or down for every client of these services; plugins hear about it. */
  setAvailability(aliases: Iterable<string>, availability: HostAvailability): void {
    const tracker = hostAvailability(this.services);
    if (availability === HostAvailability.AVAILABLE && tracker.size === 0) return;
    if (this.manager?.hearsHostListChanges !== true) {
      tracker.set(aliases, availability);
      return;
    }
    const before = this.allHosts;
    tracker.set(aliases, availability);
    const changes = diffHostLists(before, this.allHosts);
    if (changes.size > 0) this.manager?.notifyHostListChanged(changes);
  }

  private deriveHosts(): void {
    const tracker = hostAvailability(this.services);
    const d = this.derivedFor;
    const filter = this.hostFilter;
    if (
      d !== undefined &&
      d.raw === this.rawHosts &&
      d.version === tracker.changeCount &&
      tracker.size === 0 &&
      d.filter === filter
    )
      return;
    const raw = filter === undefined ? this.rawHosts : this.rawHosts.filter((h) => isAllowed(filter, h));
    const all = raw.map((h) => {
      const a = tracker.get(h.allAliases, this.availabilityStrategy);
      return a === h.availability ? h : h.with({ availability: a });
    });
    const changed = all.some((h, i) => h !== this.derivedAll[i]) || all.length !== this.derivedAll.length;
    if (changed) {
      this.derivedAll = all;
      this.derivedAvailable = all.filter((h) => h.availability === HostAvailability.AVAILABLE);
    }
    this.derivedFor = { raw: this.rawHosts, version: tracker.changeCount, filter };
  }

  // ---- host identity ----------------------------------------------------------------------------------------

  getHostRole(conn: C): Promise<HostRole> {
    return this.withDialect(conn, () => this.hostListProvider.getHostRole(conn));
  }

  identifyConnection(conn: C): Promise<HostInfo | undefined> {
    return this.withDialect(conn, () => this.hostListProvider.identifyConnection(conn));
  }

  /** Adds the names the server knows itself by (alias query) and those of its topology entry. */
  async fillAliases(conn: C, host: HostInfo): Promise<void> {
    await this.ensureDialect(conn);
    return fillAliases(conn, host, {
      dialect: this.currentDialect,
      driverDialect: this.driverDialect,
      hostListProvider: this.hostListProvider,
      auxiliaryQueryTimeoutMs: this.auxiliaryQueryTimeoutMs,
    });
  }

  emitClientEvent(event: string, payload: unknown): void {
    this.onClientEvent?.(event, payload);
  }

  // ---- error classification ---------------------------------------------------------------------------------

  classifyError(err: unknown): ErrorKind | undefined {
    if (err instanceof QueryTimeoutError) return 'network';
    const kind = this.driverDialect.classifyError(err);
    const hook = this.currentDialect.classifyError;
    return hook ? hook.call(this.currentDialect, err, kind) : kind;
  }

  isNetworkError(err: unknown): boolean {
    return this.classifyError(err) === 'network';
  }

  isLoginError(err: unknown): boolean {
    return this.classifyError(err) === 'login';
  }

  isReadOnlyError(err: unknown): boolean {
    return this.classifyError(err) === 'read-only';
  }

  // ---- lifecycle --------------------------------------------------------------------------------------------

  /**
   * Closes the current connection (bounded), waits for background disposals and for connects in flight (at most
   * auxiliaryQueryTimeoutSec: one that completes later is closed then), releases the host list provider.
   */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.beginEnd();
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined && !this.driverDialect.isClosed(conn)) this.dispose(conn, false, true);
    if (this.opening.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.auxiliaryQueryTimeoutMs);
        timer.unref();
      });
      await Promise.race([Promise.allSettled([...this.opening]), bound]);
      clearTimeout(timer);
    }
    await this.settleDisposals();
    this.hostListProvider.release();
  }

  /** Resolves once the old connections being rolled back / closed in the background are done (each is bounded). */
  async settleDisposals(): Promise<void> {
    while (this.disposals.size > 0) await Promise.allSettled([...this.disposals]);
  }

  /** Old connections still being rolled back or closed. */
  get pendingDisposals(): number {
    return this.disposals.size;
  }
}

/** What changed between two connections / hosts (the notifyConnectionChanged pipeline's input). */
export function connectionChanges(
  oldHost: HostInfo,
  newHost: HostInfo,
  connectionObjectChanged: boolean,
): Set<ConnectionChange> {
  const changes = new Set<ConnectionChange>();
  if (connectionObjectChanged) changes.add(ConnectionChange.CONNECTION_OBJECT_CHANGED);
  if (oldHost.hostAndPort !== newHost.hostAndPort) changes.add(ConnectionChange.HOSTNAME);
  if (oldHost.role !== newHost.role) {
    if (newHost.role === HostRole.WRITER) changes.add(ConnectionChange.PROMOTED_TO_WRITER);
    else if (newHost.role === HostRole.READER) changes.add(ConnectionChange.PROMOTED_TO_READER);
  }
  if (oldHost.availability !== newHost.availability) {
    changes.add(
      newHost.availability === HostAvailability.AVAILABLE ? ConnectionChange.WENT_UP : ConnectionChange.WENT_DOWN,
    );
  }
  return changes;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
