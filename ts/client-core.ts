/**
 * The engine shared by AwsPGClient and AwsMySQLClient: parses the config, owns the plugin service and the plugin
 * manager, runs every client method through the execute pipeline and keeps track of the current physical
 * connection. The driver-specific clients only adapt the driver's API on top of it.
 *
 * PLACEHOLDER implementation (no plugins, direct driver calls) so the clients can be built and tested now; the
 * plugin-manager work replaces the internals and keeps this API.
 */
import { EventEmitter } from 'node:events';
import { HostInfo } from './host-info.js';
import type { DriverDialect, SessionState } from './dialects/types.js';
import { parseConnectProps } from './options.js';
import type { ClientMethod, ConnectProps } from './plugin.js';
import { sharedServices, type WrapperServices } from './services.js';

export interface ClientCoreInit<C> {
  readonly driver: 'pg' | 'mysql2';
  readonly driverDialect: DriverDialect<C>;
  /** The user's constructor config: driver config plus wrapper options. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Process-wide state; defaults to the shared one. Tests pass a fresh `new WrapperServices()`. */
  readonly services?: WrapperServices;
}

/**
 * Events: `connectionChanged(newConn: C, oldConn: C | undefined)` after every switch of the physical connection
 * (initial connect, failover, read/write switch) so the client can move its event forwarding to the new one.
 */
export class ClientCore<C> extends EventEmitter {
  readonly props: ConnectProps;
  readonly driverDialect: DriverDialect<C>;
  readonly services: WrapperServices;
  private conn: C | undefined;
  private host: HostInfo | undefined;
  private readOnly = false;

  constructor(init: ClientCoreInit<C>) {
    super();
    this.props = parseConnectProps(init.driver, init.config);
    this.driverDialect = init.driverDialect;
    this.services = init.services ?? sharedServices();
  }

  /** The current physical connection; throws when not connected. */
  get connection(): C {
    if (this.conn === undefined) throw new Error('Client is not connected');
    return this.conn;
  }

  get connectionOrUndefined(): C | undefined {
    return this.conn;
  }

  get currentHost(): HostInfo | undefined {
    return this.host;
  }

  async connect(): Promise<void> {
    const d = this.props.driver;
    const host = new HostInfo({ host: String(d.host ?? 'localhost'), port: d.port === undefined ? -1 : Number(d.port) });
    this.services.acquire();
    try {
      this.conn = await this.driverDialect.connect(host, this.props.driver);
    } catch (err) {
      await this.services.release();
      throw err;
    }
    this.host = host;
    this.emit('connectionChanged', this.conn, undefined);
  }

  /** Runs a client method through the plugin pipeline; `fn` gets the connection current when the chain reaches the driver. */
  execute<T>(method: ClientMethod, args: readonly unknown[], fn: (conn: C) => Promise<T>): Promise<T> {
    void method;
    void args;
    return fn(this.connection);
  }

  isReadOnly(): boolean {
    return this.readOnly;
  }

  async setReadOnly(readOnly: boolean): Promise<void> {
    await this.setSessionState({ readOnly });
    this.readOnly = readOnly;
  }

  /** Applies and records session state (re-applied on a new connection after a switch). */
  async setSessionState(patch: Partial<SessionState>): Promise<void> {
    await this.execute('Client.setReadOnly', [patch], (conn) => this.driverDialect.applySessionState(conn, patch));
  }

  async end(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) {
      try {
        await this.driverDialect.end(conn, 5000);
      } finally {
        await this.services.release();
      }
    }
  }
}
