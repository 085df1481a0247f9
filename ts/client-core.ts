/**
 * The engine shared by AwsPGClient and AwsMySQLClient: parses the config, owns the plugin service and the plugin
 * manager, runs every client method through the execute pipeline and keeps track of the current physical
 * connection. The driver-specific clients only adapt the driver's API on top of it.
 */
import { EventEmitter } from 'node:events';
import { AwsWrapperError, ConfigurationError } from './errors.js';
import type { HostInfo } from './host-info.js';
import type { DriverDialect, SessionState } from './dialects/types.js';
import { parseConnectProps } from './options.js';
import type { ClientMethod, ConnectionPlugin, ConnectProps } from './plugin.js';
import { LazyExecuteContext, PluginManager } from './plugin-manager.js';
import { PluginServiceImpl } from './plugin-service.js';
import {
  checkSelectorStrategies,
  createPlugins,
  pluginRegistry,
  type ConfigurationProfile,
} from './plugins/registry.js';
import type { DevTools } from './plugins/dev.js';
import { validateSessionState } from './session-state.js';
import { sharedServices, type WrapperServices } from './services.js';
import { startTelemetry, telemetrySettings, type ClientTelemetry } from './telemetry/otel.js';

export interface ClientCoreInit<C> {
  readonly driver: 'pg' | 'mysql2';
  readonly driverDialect: DriverDialect<C>;
  /** The user's constructor config: driver config plus wrapper options. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Process-wide state; defaults to the shared one. Tests pass a fresh `new WrapperServices()`. */
  readonly services?: WrapperServices;
}

/** The client method a session-state patch is routed through (plugins subscribe to these names). */
function sessionMethod(patch: Partial<SessionState>): ClientMethod {
  if (patch.readOnly !== undefined) return 'Client.setReadOnly';
  if (patch.autoCommit !== undefined) return 'Client.setAutoCommit';
  if (patch.isolationLevel !== undefined) return 'Client.setTransactionIsolation';
  if (patch.catalog !== undefined) return 'Client.setCatalog';
  return 'Client.setSchema';
}

function notConnected(ended: boolean): AwsWrapperError {
  return new AwsWrapperError(ended ? 'Client was ended and is not connected' : 'Client is not connected');
}

/**
 * Events: `connectionChanged(newConn: C, oldConn: C | undefined)` after every switch of the physical connection
 * (initial connect, failover, read/write switch) so the client can move its event forwarding to the new one. It is
 * emitted before the old connection is closed. Events plugins emit through PluginService.emitClientEvent (e.g.
 * `failover` with a FailoverEvent) are emitted here too; the clients forward them.
 */
export class ClientCore<C> extends EventEmitter {
  readonly props: ConnectProps;
  readonly driverDialect: DriverDialect<C>;
  readonly services: WrapperServices;
  readonly pluginService: PluginServiceImpl<C>;
  readonly pluginManager: PluginManager<C>;
  private state: 'new' | 'connecting' | 'connected' | 'ended' = 'new';
  private servicesHeld = false;
  private released = false;
  private ending: Promise<void> | undefined;
  private readonly driverName: 'pg' | 'mysql2';

  constructor(init: ClientCoreInit<C>) {
    super();
    this.services = init.services ?? sharedServices();
    this.driverDialect = init.driverDialect;
    this.driverName = init.driver;
    let props = parseConnectProps(init.driver, init.config);
    let profile: ConfigurationProfile | undefined;
    if (props.options.profileName !== undefined) {
      profile = pluginRegistry(this.services).getProfile(props.options.profileName);
      if (profile.config !== undefined) props = parseConnectProps(init.driver, { ...profile.config, ...init.config });
    }
    this.props = props;
    const factories = pluginRegistry(this.services).resolve({
      plugins: props.options.plugins,
      autoSortWrapperPluginOrder: props.options.autoSortWrapperPluginOrder,
      profile,
    });
    this.pluginService = new PluginServiceImpl<C>({
      driver: init.driver,
      props,
      services: this.services,
      driverDialect: init.driverDialect,
      onConnectionChanged: (newConn, oldConn) => this.emit('connectionChanged', newConn, oldConn),
      onClientEvent: (event, payload) => this.emit(event, payload),
    });
    const plugins = createPlugins(factories, this.pluginService, props);
    this.pluginManager = new PluginManager<C>(plugins, this.pluginService.terminal);
    this.pluginService.attachPluginManager(this.pluginManager);
    checkSelectorStrategies(this.pluginService, props, plugins);
  }

  /** The current physical connection; throws when not connected. */
  get connection(): C {
    const c = this.pluginService.currentConnection;
    if (c === undefined) throw notConnected(this.state === 'ended');
    return c;
  }

  get connectionOrUndefined(): C | undefined {
    return this.pluginService.currentConnection;
  }

  get currentHost(): HostInfo | undefined {
    return this.pluginService.currentHostInfo;
  }

  /** Plugins in execution order. */
  get plugins(): readonly ConnectionPlugin<C>[] {
    return this.pluginManager.plugins;
  }

  getPlugin<P extends ConnectionPlugin<C> = ConnectionPlugin<C>>(code: string): P | undefined {
    return this.pluginManager.getPlugin(code) as P | undefined;
  }

  /** Fault injection of the `dev` plugin; a ConfigurationError when the client was created without it. */
  get devTools(): DevTools {
    const tools = this.pluginManager.plugins.find((p) => p.devTools !== undefined)?.devTools;
    if (tools === undefined)
      throw new ConfigurationError("devTools needs the 'dev' plugin: add 'dev' to the plugins option", 'plugins');
    return tools;
  }

  /** Opens the initial connection through the connect pipeline. A client connects once. */
  async connect(): Promise<void> {
    if (this.state !== 'new') {
      throw new AwsWrapperError(
        this.state === 'ended'
          ? 'Client was ended; create a new client'
          : 'Client is already connected or connecting; a client can connect once',
      );
    }
    this.state = 'connecting';
    this.services.acquire();
    this.servicesHeld = true;
    try {
      const telemetry = await this.startTelemetry();
      const service = this.pluginService;
      await this.pluginManager.initHostProvider(this.props, service);
      await service.refreshHostList();
      const host = service.initialConnectionHostInfo ?? service.hostListProvider.initialHostInfo;
      const connect = (): Promise<C> => this.pluginManager.connect(host, this.props, true);
      const conn = await (telemetry === undefined ? connect() : telemetry.trace('Client.connect', [], host, connect));
      // A plugin may have connected elsewhere than the endpoint (initial_connection: the verified writer instance).
      const connectedHost = service.initialConnectionHostInfo ?? host;
      if (this.state !== 'connecting') {
        // end() was called while connecting: the client is done, drop the connection.
        await this.driverDialect.end(conn, service.auxiliaryQueryTimeoutMs).catch(() => undefined);
        throw new AwsWrapperError('Client was ended while connecting');
      }
      await service.setCurrentConnection(conn, connectedHost);
      this.state = 'connected';
    } catch (err) {
      if (this.state === 'connecting') this.state = 'ended';
      await this.releaseAll();
      throw err;
    }
  }

  /** Runs a client method through the plugin pipeline; `fn` gets the connection current when the chain reaches the driver. */
  execute<T>(method: ClientMethod, args: readonly unknown[], fn: (conn: C) => Promise<T>): Promise<T> {
    const service = this.pluginService;
    const chain = this.pluginManager.getExecuteChain(method);
    if (chain === undefined) {
      const conn = service.currentConnection;
      return conn === undefined ? Promise.reject(notConnected(this.state === 'ended')) : fn(conn);
    }
    try {
      return chain(new LazyExecuteContext(method, args), () => {
        const conn = service.currentConnection;
        return conn === undefined ? Promise.reject(notConnected(this.state === 'ended')) : fn(conn);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * With enableTelemetry, the initial connect and every call get their span and duration: `execute` is replaced on this instance, so a
   * client without telemetry runs the prototype's and does no extra work per call.
   */
  private async startTelemetry(): Promise<ClientTelemetry | undefined> {
    const settings = telemetrySettings(this.props.options);
    if (settings === undefined) return undefined;
    const database = this.props.driver.database;
    const telemetry = await startTelemetry(this.services, settings, {
      system: this.driverName === 'pg' ? 'postgresql' : 'mysql',
      namespace: typeof database === 'string' && database !== '' ? database : undefined,
    });
    const untraced = ClientCore.prototype.execute;
    this.execute = <T>(method: ClientMethod, args: readonly unknown[], fn: (conn: C) => Promise<T>): Promise<T> =>
      telemetry.trace(
        method,
        args,
        this.pluginService.currentHostInfo,
        () => untraced.call(this, method, args, fn) as Promise<T>,
      );
    return telemetry;
  }

  isReadOnly(): boolean {
    return this.pluginService.sessionState.readOnly ?? false;
  }

  async setReadOnly(readOnly: boolean): Promise<void> {
    await this.setSessionState({ readOnly });
  }

  /** Applies and records session state (re-applied on a new connection after a switch). */
  async setSessionState(patch: Partial<SessionState>): Promise<void> {
    validateSessionState(patch);
    const method = sessionMethod(patch);
    const args = method === 'Client.setReadOnly' && Object.keys(patch).length === 1 ? [patch.readOnly] : [patch];
    await this.execute(method, args, (conn) => this.driverDialect.applySessionState(conn, patch));
    this.pluginService.sessionStateTracker.record(patch);
  }

  /**
   * Records session state the connection already has (e.g. the client saw `SET search_path` or `BEGIN READ ONLY`
   * go through) without applying it, so it is re-applied after a switch.
   */
  recordSessionState(patch: Partial<SessionState>): void {
    validateSessionState(patch);
    this.pluginService.sessionStateTracker.record(patch);
  }

  get isInTransaction(): boolean {
    return this.pluginService.isInTransaction;
  }

  /**
   * Closes the client: `Client.end` through the pipeline, then the plugins' release(), the current connection
   * (bounded) and the services reference. A failover or read/write switch in progress is stopped (end() waits for
   * it); a connection it opens after end() is closed at once. Safe to call repeatedly and concurrently (same promise).
   */
  end(): Promise<void> {
    return (this.ending ??= this.doEnd());
  }

  private async doEnd(): Promise<void> {
    const wasConnected = this.state === 'connected';
    this.state = 'ended';
    const service = this.pluginService;
    // First: a failover or read/write switch in progress stops, and no connection it opens from now on survives.
    service.beginEnd();
    const conn = service.currentConnection;
    let failure: { error: unknown } | undefined;
    if (wasConnected && conn !== undefined && !this.driverDialect.isClosed(conn)) {
      try {
        await this.execute('Client.end', [], (c) => this.driverDialect.end(c, service.auxiliaryQueryTimeoutMs));
      } catch (error) {
        failure = { error };
      }
    }
    await this.releaseAll();
    if (failure !== undefined) throw failure.error;
  }

  /** Plugins, connections and the services reference, each released once. */
  private async releaseAll(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.pluginManager.release();
    await this.pluginService.release();
    if (this.servicesHeld) {
      this.servicesHeld = false;
      await this.services.release();
    }
  }
}
