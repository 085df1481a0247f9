/**
 * The contracts between the plugin manager, the plugin service and the plugins. One plugin instance exists per
 * logical client; process-wide state lives in slots of the WrapperServices (services.ts), never in module-level
 * variables.
 */
import type { AllowedAndBlockedHosts, HostChange, HostInfo, HostRole, HostAvailability } from './host-info.js';
import type { DatabaseDialect, DriverDialect, DriverConfig, SessionState } from './dialects/types.js';
import type { WrapperOptions } from './options.js';
import type { WrapperServices } from './services.js';
import type { Logger } from './logger.js';
import type { InternalConnectionPools } from './pools/internal-pools.js';

/** Names of the pipelines that are not client methods. */
export const PIPELINE = {
  connect: 'connect',
  forceConnect: 'forceConnect',
  initHostProvider: 'initHostProvider',
  notifyConnectionChanged: 'notifyConnectionChanged',
  notifyHostListChanged: 'notifyHostListChanged',
  acceptsStrategy: 'acceptsStrategy',
  getHostInfoByStrategy: 'getHostInfoByStrategy',
} as const;

/** Subscribe to every method. */
export const ALL_METHODS = '*';

/**
 * Client methods routed through the execute pipeline. Names are `<object>.<method>`; plugins subscribe to
 * these names, to ALL_METHODS, or to NETWORK_METHODS (the methods that talk to the server).
 */
export type ClientMethod =
  | 'Client.query'
  | 'Client.execute'
  | 'Client.prepare'
  | 'Client.ping'
  | 'Client.beginTransaction'
  | 'Client.commit'
  | 'Client.rollback'
  | 'Client.changeUser'
  | 'Client.reset'
  | 'Client.end'
  | 'Client.setReadOnly'
  | 'Client.isReadOnly'
  | 'Client.setAutoCommit'
  | 'Client.setTransactionIsolation'
  | 'Client.setCatalog'
  | 'Client.setSchema'
  | 'Stream.query';

export const NETWORK_METHODS: readonly ClientMethod[] = [
  'Client.query',
  'Client.execute',
  'Client.prepare',
  'Client.ping',
  'Client.beginTransaction',
  'Client.commit',
  'Client.rollback',
  'Client.changeUser',
  'Client.reset',
  'Client.setReadOnly',
  'Client.setAutoCommit',
  'Client.setTransactionIsolation',
  'Client.setCatalog',
  'Client.setSchema',
  'Stream.query',
];

export enum ConnectionChange {
  INITIAL_CONNECTION = 'INITIAL_CONNECTION',
  CONNECTION_OBJECT_CHANGED = 'CONNECTION_OBJECT_CHANGED',
  HOSTNAME = 'HOSTNAME',
  PROMOTED_TO_WRITER = 'PROMOTED_TO_WRITER',
  PROMOTED_TO_READER = 'PROMOTED_TO_READER',
  WENT_UP = 'WENT_UP',
  WENT_DOWN = 'WENT_DOWN',
  READ_ONLY = 'READ_ONLY',
  AUTO_COMMIT = 'AUTO_COMMIT',
}

/** What a plugin suggests doing with the previous physical connection after a switch. PRESERVE wins, then DISPOSE. */
export enum OldConnectionSuggestedAction {
  NO_OPINION = 'NO_OPINION',
  DISPOSE = 'DISPOSE',
  PRESERVE = 'PRESERVE',
}

/** Everything a connect pipeline needs: the driver config (wrapper options removed) and the wrapper options. */
export interface ConnectProps {
  readonly driver: DriverConfig;
  readonly options: WrapperOptions;
}

/** Arguments of one execute-pipeline call, available to plugins that need them (e.g. the SQL text). */
export interface ExecuteContext {
  readonly method: ClientMethod;
  readonly args: readonly unknown[];
  /**
   * The first bytes of the statement text, lower-cased and trimmed, computed on first access only and bounded
   * (cost independent of statement size). Undefined for methods without a statement.
   */
  readonly sqlPrefix: string | undefined;
}

/**
 * Continues the connect pipeline. A plugin may pass different props (e.g. an auth plugin's token as the password)
 * to the plugins after it and the driver without changing the client's own config; without an argument the props
 * it received are passed on.
 */
export type ConnectFn<C> = (props?: ConnectProps) => Promise<C>;

/**
 * A connection plugin. Every hook is optional; a plugin is only called for the hooks and methods it lists in
 * `subscribedMethods` (pipeline names from PIPELINE, client method names, or ALL_METHODS).
 */
export interface ConnectionPlugin<C = unknown> {
  /** The plugin code, e.g. `failover_v2`. */
  readonly code: string;
  readonly subscribedMethods: ReadonlySet<string>;

  connect?(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C>;
  forceConnect?(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C>;
  execute?<T>(ctx: ExecuteContext, next: () => Promise<T>): Promise<T>;
  initHostProvider?(
    props: ConnectProps,
    hostListProviderService: HostListProviderService,
    next: () => Promise<void>,
  ): Promise<void>;
  notifyConnectionChanged?(changes: ReadonlySet<ConnectionChange>): OldConnectionSuggestedAction;
  notifyHostListChanged?(changes: ReadonlyMap<string, ReadonlySet<HostChange>>): void;
  acceptsStrategy?(role: HostRole, strategy: string): boolean;
  getHostInfoByStrategy?(role: HostRole, strategy: string, hosts?: readonly HostInfo[]): HostInfo | undefined;
  /** Called when the client ends: drop references to shared monitors, timers, etc. */
  release?(): Promise<void> | void;
  /**
   * Whether the plugin reads the detected database dialect (isStaticHostListProvider, the host list provider,
   * `dialect`) right after a connection to `host` is opened. When any plugin says so, the dialect is detected on
   * that connection before the connect pipeline returns (once per client, cached per host); otherwise nothing is
   * sent until something needs it (PluginService.ensureDialect). Such a client also reads the cached topology
   * before connecting and attaches to its cluster's topology monitor.
   */
  needsDialect?(host: HostInfo): boolean;
  /**
   * A pooled client's plugins get the pool's internal per-instance pools (AwsPGPool / AwsMySQLPool) through this
   * hook: a plugin that opens instance connections (read/write splitting) takes them from there.
   */
  useInternalPools?(pools: InternalConnectionPools | undefined): void;
  /**
   * Read/write splitting plugins: whether `conn` is the reader connection the plugin switched the client to
   * (readerRouting routes through the plugin that has this hook).
   */
  isReaderConnection?(conn: C): boolean;
  // `devTools?: DevTools` (the fault-injection controls a client exposes as `client.devTools`) is declared by
  // plugins/dev.ts, which owns the type, through a module augmentation of this interface.
}

/** Creates a plugin for one client. Registered under a code with a weight (lower = outer, runs first). */
export interface PluginFactory {
  readonly code: string;
  /** Sort weight; RELATIVE_TO_PRIOR_PLUGIN places it right after the plugin the user listed before it. */
  readonly weight: number;
  /** Other spellings accepted in the `plugins` option (e.g. the Node peer's camelCase codes). */
  readonly aliases?: readonly string[];
  create<C>(service: PluginService<C>, props: ConnectProps): ConnectionPlugin<C>;
}

export const RELATIVE_TO_PRIOR_PLUGIN = -1;

/** Supplies the list of hosts of the cluster the client is connected to. */
export interface HostListProvider<C = unknown> {
  /** Key of the shared topology cache and monitors (`<none>` for static providers). */
  readonly clusterId: string;
  /** True when hosts come from the cluster topology (failover possible). */
  readonly isDynamic: boolean;
  readonly initialHostInfo: HostInfo;
  /** Cached topology, reading it through `conn` when the cache is empty or stale. */
  refresh(conn?: C): Promise<readonly HostInfo[]>;
  /** Reads the topology now; with verifyWriter, only returns once a writer is confirmed, or throws on timeout. */
  forceRefresh(verifyWriter: boolean, timeoutMs: number, conn?: C): Promise<readonly HostInfo[]>;
  getHostRole(conn: C): Promise<HostRole>;
  /** Which topology host `conn` is connected to, via the dialect's host-id query. */
  identifyConnection(conn: C): Promise<HostInfo | undefined>;
  release(): void;
}

export interface HostListProviderService<C = unknown> {
  hostListProvider: HostListProvider<C>;
  readonly isStaticHostListProvider: boolean;
  initialConnectionHostInfo: HostInfo | undefined;
}

/** Options of PluginService.setCurrentConnection. */
export interface SwitchOptions {
  /**
   * The session state to apply to the new connection instead of all the tracked state (transferSessionStateOnSwitch
   * still decides whether anything is applied): e.g. only what a cached connection does not have yet. `{}` applies
   * nothing.
   */
  readonly sessionState?: Readonly<SessionState>;
}

/** What plugins may ask of the client they belong to. */
export interface PluginService<C = unknown> extends HostListProviderService<C> {
  readonly props: ConnectProps;
  readonly options: WrapperOptions;
  readonly services: WrapperServices;
  readonly logger: Logger;
  readonly driverDialect: DriverDialect<C>;
  /** The dialect in use: the cached, configured or guessed one until detection ran (ensureDialect). */
  readonly dialect: DatabaseDialect;
  readonly currentConnection: C | undefined;
  readonly currentHostInfo: HostInfo | undefined;
  /** Every host of the topology. */
  readonly allHosts: readonly HostInfo[];
  /** Hosts not marked unavailable. */
  readonly hosts: readonly HostInfo[];
  readonly isInTransaction: boolean;
  /** Session state the user set through the client API, re-applied on switch when transferSessionStateOnSwitch. */
  readonly sessionState: SessionState;
  /**
   * Aborted when the client starts ending: work in progress (failover, a read/write switch) stops, and a connection
   * that opens afterwards is closed at once. Optional so that services written before it need not implement it.
   */
  readonly endSignal?: AbortSignal;

  /** Switches the client to a new physical connection (session transfer, rollback, notifications, old conn closed). */
  setCurrentConnection(
    conn: C,
    host: HostInfo,
    skipPlugin?: ConnectionPlugin<C>,
    options?: SwitchOptions,
  ): Promise<ReadonlySet<ConnectionChange>>;
  /** Opens a connection through the connect pipeline, skipping `skipPlugin` (so a plugin can call it without recursion). */
  connect(host: HostInfo, props: ConnectProps, skipPlugin?: ConnectionPlugin<C>): Promise<C>;
  forceConnect(host: HostInfo, props: ConnectProps, skipPlugin?: ConnectionPlugin<C>): Promise<C>;
  refreshHostList(conn?: C): Promise<void>;
  forceRefreshHostList(verifyWriter: boolean, timeoutMs: number): Promise<boolean>;
  setAvailability(aliases: Iterable<string>, availability: HostAvailability): void;
  /** The restriction of the host lists (custom endpoint members), if a plugin set one. */
  readonly allowedAndBlockedHosts?: AllowedAndBlockedHosts;
  /**
   * Restricts `allHosts` / `hosts` (and so failover, read/write splitting and initial connection choices) to the
   * allowed and not blocked hosts; undefined lifts the restriction. Optional so that services written before it
   * need not implement it.
   */
  setAllowedAndBlockedHosts?(filter: AllowedAndBlockedHosts | undefined): void;
  acceptsStrategy(role: HostRole, strategy: string): boolean;
  getHostInfoByStrategy(role: HostRole, strategy: string, hosts?: readonly HostInfo[]): HostInfo;
  getHostRole(conn: C): Promise<HostRole>;
  identifyConnection(conn: C): Promise<HostInfo | undefined>;
  fillAliases(conn: C, host: HostInfo): Promise<void>;
  /**
   * Detects the database dialect on `conn` unless it is already known (configured, cached for the host, or detected
   * by this client), recreating the host list provider when the detected dialect needs another one. getHostRole,
   * identifyConnection, fillAliases and refreshHostList call it themselves.
   */
  ensureDialect(conn: C): Promise<DatabaseDialect>;
  isNetworkError(err: unknown): boolean;
  isLoginError(err: unknown): boolean;
  isReadOnlyError(err: unknown): boolean;
  /**
   * Emits an event on the client this service belongs to (e.g. `failover` with a FailoverEvent). Optional so that
   * services written before it need not implement it.
   */
  emitClientEvent?(event: string, payload: unknown): void;
}
