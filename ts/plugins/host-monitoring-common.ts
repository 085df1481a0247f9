/**
 * Enhanced failure monitoring shared by `host_monitoring` (v1) and `host_monitoring_v2`.
 *
 * One native monitor per (host, detection parameters) probes the host from the side while calls run on it; when the
 * host stops answering it shuts the sockets of those calls down from its own thread (on time even while the JS event
 * loop is blocked), so the user's promise rejects with a network error and failover starts. See
 * ./host-monitoring-efm.ts and crates/monitor-core/src/efm.rs for the detection rules.
 *
 * - HostMonitorRegistry (one per WrapperServices): monitors by key, reference-counted by the connections
 *   registered with them, stopped `monitorDisposalTimeMs` after the last one leaves, all stopped when the services
 *   close. Marks a host UNAVAILABLE when its monitor declares it dead and AVAILABLE when it answers again.
 * - HostMonitoringPlugin: registers the client's current connection once (socket + shared cells); every network
 *   call arms the registration for its duration (two memory writes, no native call).
 */
import type { Socket } from 'node:net';
import { AwsWrapperError, ConfigurationError } from '../errors.js';
import { NATIVE_MAX_MS } from '../option-table.js';
import { HostAvailability, type HostInfo } from '../host-info.js';
import { hostAvailability } from '../host-availability.js';
import { getLogger } from '../logger.js';
import { getOption, mapHostAddress, monitoringConnectProps } from '../options.js';
import { EventEmitter } from 'node:events';
import {
  NETWORK_METHODS,
  type ConnectionPlugin,
  type ConnectProps,
  type ExecuteContext,
  type PluginService,
} from '../plugin.js';
import { isCustomClusterDns, isGlobalDbWriterClusterDns, isRdsClusterDns } from '../rds-utils.js';
import type { MonitorErrorEvent, WrapperServices } from '../services.js';
import { resolveMonitorCredentials } from '../auth/monitor-credentials.js';
import { parse as parseConnectionString } from 'pg-connection-string';
import {
  isNativeAvailable,
  nativeGeneration,
  type ConnectParams,
  type ParamsRequest,
  type ProbeKind,
  type SslMode,
} from '../native/index.js';
import {
  startEfmMonitor,
  type EfmEvent,
  type EfmMonitor,
  type EfmMonitorSpec,
  type EfmWatch,
} from './host-monitoring-efm.js';
import { publishEfmAbort, publishEfmVerdict } from '../telemetry/channels.js';

const log = getLogger('host-monitoring');

export type EfmVersion = 1 | 2;
type DriverName = 'pg' | 'mysql2';

const DEFAULT_PORTS: Readonly<Record<DriverName, number>> = { pg: 5432, mysql2: 3306 };
const PROBE_KINDS: Readonly<Record<DriverName, ProbeKind>> = { pg: 'postgres', mysql2: 'mysql' };
/** Monitoring-connection defaults injected unless the user sets them: v1 connect timeout 10 s. */
const MONITORING_DEFAULTS: Readonly<Record<EfmVersion, Readonly<Record<string, unknown>>>> = {
  1: { connectTimeout: 10_000 },
  2: {},
};

/** The detection parameters of a client (its options). */
export interface EfmSettings {
  readonly enabled: boolean;
  readonly graceMs: number;
  readonly intervalMs: number;
  readonly count: number;
  readonly disposalMs: number;
}

export function efmSettings(props: ConnectProps): EfmSettings {
  const o = props.options;
  return {
    enabled: getOption(o, 'failureDetectionEnabled'),
    graceMs: getOption(o, 'failureDetectionTimeMs'),
    intervalMs: getOption(o, 'failureDetectionIntervalMs'),
    count: getOption(o, 'failureDetectionCount'),
    disposalMs: getOption(o, 'monitorDisposalTimeMs'),
  };
}

/** The error a call aborted by the monitor rejects with when JS aborts it first (network class: failover acts on it). */
export class HostUnavailableError extends AwsWrapperError {
  readonly host: string;
  constructor(message: string, host: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: '08S01' });
    this.host = host;
  }
}

// ---- probe connection parameters ------------------------------------------------------------------------------

function pemText(ca: unknown): string | undefined {
  if (typeof ca === 'string') return ca;
  if (ca instanceof Uint8Array) return Buffer.from(ca).toString('utf8');
  if (Array.isArray(ca)) {
    const parts = ca.map(pemText).filter((p): p is string => p !== undefined);
    return parts.length > 0 ? parts.join('\n') : undefined;
  }
  return undefined;
}

/** The TLS settings of a driver config as the native probe's: `ssl: true` / objects verify unless told not to. */
export function probeTls(
  driver: DriverName,
  config: Readonly<Record<string, unknown>>,
): Pick<ConnectParams, 'ssl' | 'ca' | 'serverName'> {
  const cfg = effectiveConfig(driver, config);
  const ssl = cfg.ssl;
  const sslmode = typeof cfg.sslmode === 'string' ? cfg.sslmode : undefined;
  if (ssl === undefined || ssl === null || ssl === false) {
    if (sslmode === 'disable' || sslmode === undefined) return { ssl: 'disable' };
    const mode: SslMode =
      sslmode === 'verify-full' || sslmode === 'verify-ca'
        ? 'verify-full'
        : sslmode === 'require'
          ? 'require'
          : 'prefer';
    return { ssl: mode };
  }
  if (ssl === true || typeof ssl === 'string') return { ssl: 'verify-full' };
  if (typeof ssl !== 'object') return { ssl: 'disable' };
  const o = ssl as { rejectUnauthorized?: unknown; ca?: unknown; servername?: unknown };
  const out: Pick<ConnectParams, 'ssl' | 'ca' | 'serverName'> = {
    ssl: o.rejectUnauthorized === false ? 'require' : 'verify-full',
  };
  const ca = pemText(o.ca);
  if (ca !== undefined) out.ca = ca;
  if (typeof o.servername === 'string') out.serverName = o.servername;
  return out;
}

/**
 * The driver config with a pg `connectionString` spread into keys (what pg itself does). Not the pg dialect's helper:
 * this module must not load `pg`, an optional peer a MySQL-only application does not install.
 */
function effectiveConfig(
  driver: DriverName,
  config: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  const cs = config.connectionString;
  if (driver !== 'pg' || typeof cs !== 'string' || cs === '') return config;
  const merged: Record<string, unknown> = { ...config };
  for (const [k, v] of Object.entries(parseConnectionString(cs))) if (v !== undefined && v !== null) merged[k] = v;
  return merged;
}

function portOf(host: HostInfo, driver: DriverName, config: Readonly<Record<string, unknown>>): number {
  if (host.port > 0) return host.port;
  const cfg = effectiveConfig(driver, config);
  const p = Number(cfg.port);
  return Number.isInteger(p) && p > 0 ? p : DEFAULT_PORTS[driver];
}

// ---- shared monitors ---------------------------------------------------------------------------------------------

/** A registered connection's handle to the call aborts of its monitor. */
interface WatchRecord {
  onAbort(event: EfmEvent): void;
}

/** A native monitor shared by every connection to one host with the same detection parameters. */
export class SharedHostMonitor {
  private native: EfmMonitor | undefined;
  /** The addon generation `native` was started in (releaseResources ends a generation). */
  private generation = -1;
  private stopped = false;
  private refs = 0;
  private disposeTimer: NodeJS.Timeout | undefined;
  private readonly records = new Map<number, { readonly record: WatchRecord; reported: boolean }>();
  /**
   * Records of connections that left after their call was aborted natively but before the abort's event reached JS
   * (the socket's close can be handled first): the event still reaches them, then they go.
   */
  private readonly abortsInFlight = new Map<number, WatchRecord>();
  /** Every name the host is known by (availability is recorded under each). */
  readonly aliases = new Set<string>();

  constructor(
    readonly key: string,
    readonly host: HostInfo,
    private readonly spec: EfmMonitorSpec,
    private readonly provider: (req: ParamsRequest) => Promise<ConnectParams>,
    private readonly registry: HostMonitorRegistry,
    private readonly disposalMs: number,
  ) {
    for (const a of host.allAliases) this.aliases.add(a);
  }

  get referenceCount(): number {
    return this.refs;
  }

  /** The native monitor's counters (undefined before the first registration or after a release). */
  stats(): ReturnType<EfmMonitor['stats']> {
    return this.native?.stats();
  }

  private start(): EfmMonitor {
    const native = startEfmMonitor(this.spec, (e) => this.onEvent(e), this.provider);
    log.debug(
      'monitor %d started for %s (v%d, grace %d ms, interval %d ms, count %d)',
      native.id,
      this.host.hostAndPort,
      this.spec.version,
      this.spec.graceMs,
      this.spec.intervalMs,
      this.spec.count,
    );
    this.native = native;
    this.generation = nativeGeneration();
    this.stopped = false;
    return native;
  }

  /**
   * False once stopped for good (its services closed, releaseResources) or when releaseResources ended its native
   * monitor: a connection registered with it is no longer watched and must register again.
   */
  get running(): boolean {
    return !this.stopped && this.native !== undefined && this.generation === nativeGeneration();
  }

  /** Registers a connection's socket; the record hears about its call being aborted. */
  watch(socket: Socket | undefined, record: WatchRecord): EfmWatch {
    let w = (this.native ?? this.start()).watch(socket);
    // The native monitor is gone (releaseResources stopped the addon): start a fresh one.
    if (w === undefined) w = this.start().watch(socket);
    if (w === undefined) throw new Error(`cannot register a connection with the monitor of ${this.host.hostAndPort}`);
    this.records.set(w.id, { record, reported: false });
    this.refs++;
    if (this.disposeTimer !== undefined) {
      clearTimeout(this.disposeTimer);
      this.disposeTimer = undefined;
    }
    return w;
  }

  unwatch(w: EfmWatch): void {
    const entry = this.records.get(w.id);
    if (entry === undefined) return;
    this.records.delete(w.id);
    if (w.aborted && !entry.reported) this.abortsInFlight.set(w.id, entry.record);
    w.unwatch();
    if (--this.refs > 0) return;
    // Unused: stop after the disposal time (the timer never keeps the process alive).
    this.disposeTimer = setTimeout(() => this.dispose(), this.disposalMs);
    this.disposeTimer.unref();
  }

  private dispose(): void {
    this.disposeTimer = undefined;
    if (this.refs > 0) return;
    this.stop();
    this.registry.forget(this);
    this.registry.emit('disposed', this);
  }

  stop(): void {
    this.stopped = true;
    if (this.disposeTimer !== undefined) clearTimeout(this.disposeTimer);
    this.disposeTimer = undefined;
    this.abortsInFlight.clear();
    if (this.native !== undefined) {
      this.native.stop();
      log.debug('monitor %d of %s stopped', this.native.id, this.host.hostAndPort);
    }
    this.native = undefined;
  }

  private onEvent(e: EfmEvent): void {
    const availability = hostAvailability(this.registry.services);
    publishEfmVerdict(this.host, e);
    if (e.kind === 'alive') {
      log.info('%s answers again after %d ms', this.host.hostAndPort, Math.round(e.silentForMs));
      availability.set(this.aliases, HostAvailability.AVAILABLE);
      this.registry.emit('alive', this, e);
      return;
    }
    if (e.kind === 'dead') {
      log.warn(
        '%s declared dead: no answer for %d ms (%s); %d call(s) aborted',
        this.host.hostAndPort,
        Math.round(e.silentForMs),
        e.message ?? 'no reply',
        e.aborted.length,
      );
      availability.set(this.aliases, HostAvailability.UNAVAILABLE);
    }
    for (const id of e.aborted) {
      const entry = this.records.get(id);
      if (entry !== undefined) entry.reported = true;
      const record = entry?.record ?? this.abortsInFlight.get(id);
      this.abortsInFlight.delete(id);
      record?.onAbort(e);
    }
    this.registry.emit(e.kind, this, e);
  }
}

/**
 * The host monitors of one WrapperServices. Events: `dead` (monitor, event) when a host is declared dead,
 * `aborted` (monitor, event) when more calls are aborted on it, `alive` (monitor, event) when it answers again,
 * `disposed` (monitor) when an unused monitor is stopped.
 */
export class HostMonitorRegistry extends EventEmitter {
  private readonly monitors = new Map<string, SharedHostMonitor>();
  /** The missing-addon warning was logged. */
  warnedNoNative = false;

  constructor(readonly services: WrapperServices) {
    super();
  }

  /** The monitor for `key`, created with `create` when there is none. */
  get(key: string, create: () => SharedHostMonitor): SharedHostMonitor {
    let m = this.monitors.get(key);
    if (m === undefined) {
      m = create();
      this.monitors.set(key, m);
    }
    return m;
  }

  forget(m: SharedHostMonitor): void {
    if (this.monitors.get(m.key) === m) this.monitors.delete(m.key);
  }

  /** Monitors currently held (in use or waiting for their disposal time). */
  get size(): number {
    return this.monitors.size;
  }

  list(): SharedHostMonitor[] {
    return [...this.monitors.values()];
  }

  stopAll(): void {
    for (const m of this.monitors.values()) m.stop();
    this.monitors.clear();
  }
}

/** The registry of `services`, created on first use and stopped when the services close. */
export function hostMonitorRegistry(services: WrapperServices): HostMonitorRegistry {
  return services.shared(
    'efm:monitors',
    () => new HostMonitorRegistry(services),
    (r) => r.stopAll(),
  );
}

// ---- the plugin ------------------------------------------------------------------------------------------------

/**
 * The monitoring connect props and the probe's connect / query bounds: `monitoring-connectTimeout` /
 * `monitoring-socketTimeout`, else the client's connectTimeout / socketTimeout, else the detection window
 * (interval × count, at least 1 s, at most the native limit). A bound the native monitor cannot honour (over one
 * day) is a ConfigurationError naming the key, at construction — never a monitor that silently does not start.
 */
function monitorTimeouts(
  driver: DriverName,
  props: ConnectProps,
  version: EfmVersion,
  st: EfmSettings,
): { mon: ConnectProps; connectTimeoutMs: number; queryTimeoutMs: number } {
  const mon = monitoringConnectProps(driver, props, 'monitoring-', MONITORING_DEFAULTS[version]);
  const fallback = Math.min(Math.max(st.intervalMs * st.count, 1000), NATIVE_MAX_MS);
  const bound = (name: 'connectTimeout' | 'socketTimeout'): number => {
    const v = getOption(mon.options, name);
    if (v === undefined) return fallback;
    if (v > NATIVE_MAX_MS) {
      const key = name in props.options.monitoringOverrides['monitoring-'] ? `monitoring-${name}` : name;
      throw new ConfigurationError(
        `Option '${key}' is also the host monitors' probe ${name === 'connectTimeout' ? 'connect' : 'query'} bound and expects at most ${NATIVE_MAX_MS} ms ` +
          `(the native monitors' limit, one day) with host_monitoring / host_monitoring_v2; got ${v}` +
          (key === name ? `. Set 'monitoring-${name}' to give the monitors their own bound` : ''),
        key,
      );
    }
    return v >= 1 ? v : fallback; // 0 means "none" for a client; a probe is always bounded
  };
  return { mon, connectTimeoutMs: bound('connectTimeout'), queryTimeoutMs: bound('socketTimeout') };
}

/** The registration of the client's current connection. */
interface Registration<C> {
  readonly conn: C;
  readonly monitor: SharedHostMonitor;
  readonly watch: EfmWatch;
  readonly socket: Socket | undefined;
  readonly onClose: () => void;
}

const IDENTIFY = Symbol('identify');

/** Hosts whose connections must be identified on the server to know which instance to monitor. */
function needsIdentification(host: string): boolean {
  return isRdsClusterDns(host) || isCustomClusterDns(host) || isGlobalDbWriterClusterDns(host);
}

export class HostMonitoringPlugin<C> implements ConnectionPlugin<C> {
  readonly subscribedMethods: ReadonlySet<string> = new Set<string>(NETWORK_METHODS);
  private readonly settings: EfmSettings;
  private readonly driver: DriverName;
  private current: Registration<C> | undefined;
  /** Instance a connection opened through a cluster endpoint reached. */
  private readonly instances = new WeakMap<object, HostInfo>();
  /** Connections that cannot be monitored (no host, no native addon): skipped without another attempt. */
  private readonly unmonitored = new WeakSet<object>();

  constructor(
    readonly code: string,
    private readonly version: EfmVersion,
    private readonly service: PluginService<C>,
    props: ConnectProps,
  ) {
    this.settings = efmSettings(props);
    this.driver = service.driverDialect.code;
    if (this.settings.enabled) monitorTimeouts(this.driver, props, version, this.settings);
  }

  /** The registration of the current connection (for diagnostics and tests). */
  get watch(): EfmWatch | undefined {
    return this.current?.watch;
  }

  /** The shared monitor of the current connection's host (for diagnostics and tests). */
  get monitor(): SharedHostMonitor | undefined {
    return this.current?.monitor;
  }

  execute<T>(ctx: ExecuteContext, next: () => Promise<T>): Promise<T> {
    if (!this.settings.enabled) return next();
    const conn = this.service.currentConnection;
    let reg = this.current;
    // A monitor stopped under an open client (releaseResources) is replaced at its next call.
    if (reg === undefined || reg.conn !== conn || !reg.monitor.running) {
      const r = this.register(conn);
      if (r === IDENTIFY) return this.identify(conn as C & object).then(() => this.execute(ctx, next));
      reg = r;
    }
    if (reg === undefined) return next();
    const watch = reg.watch;
    watch.arm();
    let pending: Promise<T>;
    try {
      pending = next();
    } catch (err) {
      watch.disarm();
      throw err;
    }
    return pending.then(
      (value) => {
        watch.disarm();
        return value;
      },
      (err: unknown) => {
        watch.disarm();
        throw watch.aborted ? this.abortedCallError(reg, err) : err;
      },
    );
  }

  /** What a call the monitor aborted rejects with: v1 raises its own error, v2 lets the driver's through. */
  private abortedCallError(reg: Registration<C>, err: unknown): unknown {
    const dialect = this.service.driverDialect;
    const message = `[${this.code}] Host '${reg.monitor.host.hostAndPort}' is unavailable.`;
    if (!dialect.isClosed(reg.conn))
      dialect.abort(reg.conn, new HostUnavailableError(message, reg.monitor.host.hostAndPort));
    return this.version === 1 ? new HostUnavailableError(message, reg.monitor.host.hostAndPort, { cause: err }) : err;
  }

  /**
   * Connected through a cluster endpoint (no plugin identified the instance): ask the server which instance this is,
   * once per connection, so the monitor watches the instance rather than a name that moves on failover.
   */
  private async identify(conn: C & object): Promise<void> {
    const host = this.service.currentHostInfo!;
    let instance: HostInfo | undefined;
    try {
      instance = await this.service.identifyConnection(conn);
    } catch (err) {
      log.debug('cannot tell which instance a connection to %s reached: %s', host.hostAndPort, String(err));
    }
    this.instances.set(conn, instance ?? host);
  }

  /**
   * Registers `conn` with its host's monitor (once per connection); undefined when it cannot be monitored,
   * IDENTIFY when its instance must be identified first.
   */
  private register(conn: C | undefined): Registration<C> | undefined | typeof IDENTIFY {
    this.unregister();
    if (typeof conn !== 'object' || conn === null || this.unmonitored.has(conn)) return undefined;
    const s = this.service;
    const host = this.instances.get(conn) ?? s.currentHostInfo;
    if (host === undefined || s.driverDialect.isClosed(conn)) return undefined;
    if (!this.instances.has(conn) && needsIdentification(host.host)) return IDENTIFY;
    if (!isNativeAvailable()) {
      this.unmonitored.add(conn);
      const registry = hostMonitorRegistry(s.services);
      if (!registry.warnedNoNative) {
        registry.warnedNoNative = true;
        log.warn('%s: the native addon is not available; connections are not monitored', this.code);
      }
      return undefined;
    }
    let monitor: SharedHostMonitor;
    let watch: EfmWatch;
    const socket = s.driverDialect.socket(conn);
    try {
      monitor = this.monitorFor(host);
      const reg: { current?: Registration<C> } = {};
      watch = monitor.watch(socket, { onAbort: (e) => this.onAbort(conn, reg.current, e) });
      const onClose = (): void => {
        if (this.current?.watch === watch) this.unregister();
        else monitor.unwatch(watch);
      };
      const registration: Registration<C> = { conn, monitor, watch, socket, onClose };
      reg.current = registration;
      socket?.once('close', onClose);
      this.current = registration;
      return registration;
    } catch (err) {
      this.unmonitored.add(conn);
      const message = `${this.code}: cannot monitor the connection to ${host.hostAndPort}: ${err instanceof Error ? err.message : String(err)}`;
      log.error('%s', message);
      const event: MonitorErrorEvent = {
        monitor: 'host-monitoring',
        reason: 'start',
        host: host.host,
        port: host.port,
        message,
        at: Date.now(),
      };
      s.services.emit('monitorError', event);
      return undefined;
    }
  }

  private unregister(): void {
    const reg = this.current;
    if (reg === undefined) return;
    this.current = undefined;
    reg.socket?.removeListener('close', reg.onClose);
    reg.monitor.unwatch(reg.watch);
  }

  /** The monitor aborted this connection's call: end the connection from JS as well (frees the socket). */
  private onAbort(conn: C, reg: Registration<C> | undefined, e: EfmEvent): void {
    const dialect = this.service.driverDialect;
    const host = reg?.monitor.host.hostAndPort ?? `${e.host}:${e.port}`;
    publishEfmAbort(this.code, reg?.monitor.host.host ?? e.host, e.port, e.silentForMs);
    if (!dialect.isClosed(conn)) {
      dialect.abort(
        conn,
        new HostUnavailableError(
          `[${this.code}] Host '${host}' is unavailable: no answer for ${Math.round(e.silentForMs)} ms.`,
          host,
        ),
      );
    }
  }

  private monitorFor(host: HostInfo): SharedHostMonitor {
    const s = this.service;
    const props = s.props;
    const driver = this.driver;
    const port = portOf(host, driver, props.driver);
    const st = this.settings;
    const { mon, connectTimeoutMs, queryTimeoutMs } = monitorTimeouts(driver, props, this.version, st);
    const key = [
      this.version,
      driver,
      host.host.toLowerCase(),
      port,
      st.graceMs,
      st.intervalMs,
      st.count,
      connectTimeoutMs,
      queryTimeoutMs,
    ].join('|');
    return hostMonitorRegistry(s.services).get(key, () => {
      const spec: EfmMonitorSpec = {
        target: { kind: PROBE_KINDS[driver], host: host.host, port },
        version: this.version,
        graceMs: st.graceMs,
        intervalMs: st.intervalMs,
        count: st.count,
        connectTimeoutMs,
        queryTimeoutMs,
      };
      const services = s.services;
      const provider = async (req: ParamsRequest): Promise<ConnectParams> => {
        const creds = await resolveMonitorCredentials({ services, props: mon, driver, host: req.host, port: req.port });
        const addr = mapHostAddress(mon.options.hostAddressMap, req.host, req.port);
        const cfg = effectiveConfig(driver, mon.driver);
        const tls = probeTls(driver, mon.driver);
        const out: ConnectParams = { host: addr.host, port: addr.port, ...tls };
        if (creds.user !== undefined) out.user = creds.user;
        if (creds.password !== undefined) out.password = creds.password;
        if (typeof cfg.database === 'string') out.database = cfg.database;
        // Mapped to an address: verify the certificate against the host's name.
        if (addr.host !== req.host && out.serverName === undefined && tls.ssl === 'verify-full')
          out.serverName = req.host;
        return out;
      };
      const registry = hostMonitorRegistry(services);
      return new SharedHostMonitor(key, host, spec, provider, registry, st.disposalMs);
    });
  }

  release(): void {
    this.unregister();
  }
}
