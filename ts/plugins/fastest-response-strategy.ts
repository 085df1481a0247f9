/**
 * `fastest_response_strategy`: adds the host selection strategy `fastest_response` (set it with
 * readerHostSelectorStrategy), which picks the host of the role with the lowest measured response time, a random one
 * while nothing is measured.
 *
 * Response times come from native probe monitors (ts/native startProbeMonitor): one per host and measurement
 * interval, on the addon's threads, keeping its probe connection open and timing a `SELECT 1` every
 * responseMeasurementIntervalMs. Monitors live in a slot of the WrapperServices (responseTimeMonitors()), shared by every client of
 * those services, counted by the clients that use them: stopped when the last one lets go (host left the topology,
 * client ended) and when the services close. Options with the `frt-` prefix configure the probe connections
 * (`frt-connectTimeout`, default 10 s).
 */
import { HostRole, type HostChange, type HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import { hostSelectors } from '../host-selectors.js';
import { mapHostAddress, monitoringConnectProps } from '../options.js';
import {
  PIPELINE,
  type ConnectionPlugin,
  type ConnectProps,
  type PluginFactory,
  type PluginService,
} from '../plugin.js';
import type { WrapperServices } from '../services.js';
import {
  isNativeAvailable,
  startProbeMonitor,
  type ConnectParams,
  type ProbeMonitor,
  type ProbeMonitorEvent,
  type ProbeTarget,
} from '../native/index.js';
import { resolveMonitorCredentials } from '../auth/monitor-credentials.js';
import { probeTls } from './host-monitoring-common.js';

const log = getLogger('fastest-response');

export const FASTEST_RESPONSE = 'fastest_response';

const DEFAULT_PORTS = { pg: 5432, mysql2: 3306 } as const;
const PROBE_KINDS = { pg: 'postgres', mysql2: 'mysql' } as const;

/** How a monitor reaches its host (resolved when it starts, and again after a refused login). */
type TargetSource = (refresh: boolean) => Promise<ProbeTarget>;

type MeasurementListener = (hostAndPort: string, ms: number) => void;

/** One native probe monitor of one host, shared by the clients that count on it. */
export class ResponseTimeMonitor {
  refs = 0;
  /** Last measured response time; Infinity after a failed probe; undefined before the first answer. */
  lastMs: number | undefined;
  private native: ProbeMonitor | undefined;
  private stopped = false;
  private restarts = 0;

  constructor(
    readonly key: string,
    readonly hostAndPort: string,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly target: TargetSource,
    private readonly onMeasured: MeasurementListener,
  ) {}

  start(refresh = false): void {
    this.target(refresh).then(
      (target) => {
        if (this.stopped) return;
        this.native = startProbeMonitor(
          target,
          { intervalMs: this.intervalMs, timeoutMs: this.timeoutMs, keepConnection: true },
          (e) => this.onEvent(e),
        );
      },
      (err: unknown) => {
        this.lastMs = Infinity;
        log.warn(
          `Response-time monitor of ${this.hostAndPort} could not start: ${err instanceof Error ? err.message : String(err)}`,
        );
      },
    );
  }

  private onEvent(e: ProbeMonitorEvent): void {
    if (this.stopped) return;
    if (e.ok) {
      this.restarts = 0;
      this.lastMs = e.elapsedMs;
    } else {
      this.lastMs = Infinity;
      // Rotated credentials (IAM token, secret): start again with fresh ones, a few times in a row at most.
      if (e.errorClass === 'auth' && this.restarts < 3) {
        this.restarts++;
        this.native?.stop();
        this.native = undefined;
        this.start(true);
      }
    }
    this.onMeasured(this.hostAndPort, this.lastMs);
  }

  stop(): void {
    this.stopped = true;
    this.native?.stop();
    this.native = undefined;
  }
}

const RESPONSE_TIME_MONITORS = 'fastest-response:monitors';

/** The response-time monitors of one WrapperServices (monitors keyed by host and interval inside). */
export class ResponseTimeMonitors {
  private readonly monitors = new Map<string, ResponseTimeMonitor>();
  private readonly listeners = new Set<MeasurementListener>();

  get size(): number {
    return this.monitors.size;
  }

  /** The monitor of `key`, created and started by `create` when there is none; counted until released. */
  acquire(key: string, create: (onMeasured: MeasurementListener) => ResponseTimeMonitor): ResponseTimeMonitor {
    let m = this.monitors.get(key);
    if (m === undefined) {
      m = create((host, ms) => {
        for (const l of this.listeners) l(host, ms);
      });
      this.monitors.set(key, m);
      m.start();
    }
    m.refs++;
    return m;
  }

  release(m: ResponseTimeMonitor): void {
    if (--m.refs > 0) return;
    m.stop();
    if (this.monitors.get(m.key) === m) this.monitors.delete(m.key);
  }

  /** The best known response time of `host:port` (any interval); undefined when not measured. */
  responseTime(hostAndPort: string): number | undefined {
    let best: number | undefined;
    for (const m of this.monitors.values()) {
      if (m.hostAndPort === hostAndPort && m.lastMs !== undefined && (best === undefined || m.lastMs < best))
        best = m.lastMs;
    }
    return best;
  }

  /** Calls `listener(host:port, ms)` after every measurement; returns the function that removes it. */
  onMeasurement(listener: MeasurementListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stopAll(): void {
    for (const m of this.monitors.values()) m.stop();
    this.monitors.clear();
    this.listeners.clear();
  }
}

/** The response-time monitors of `services`, created on first use and stopped when the services close. */
export function responseTimeMonitors(services: WrapperServices): ResponseTimeMonitors {
  return services.shared(
    RESPONSE_TIME_MONITORS,
    () => new ResponseTimeMonitors(),
    (r) => r.stopAll(),
  );
}

export class FastestResponseStrategyPlugin<C> implements ConnectionPlugin<C> {
  readonly code = 'fastest_response_strategy';
  readonly subscribedMethods: ReadonlySet<string> = new Set<string>([
    PIPELINE.acceptsStrategy,
    PIPELINE.getHostInfoByStrategy,
    PIPELINE.notifyHostListChanged,
  ]);
  readonly intervalMs: number;
  private readonly service: PluginService<C>;
  private readonly props: ConnectProps;
  /** Monitors this client counts on, by host:port. */
  private readonly held = new Map<string, ResponseTimeMonitor>();
  /** The registry `held` was acquired from (releaseResources replaces it: the monitors are then acquired again). */
  private heldFrom: ResponseTimeMonitors | undefined;
  private readonly native: boolean;
  private released = false;

  constructor(service: PluginService<C>, props: ConnectProps) {
    this.service = service;
    this.props = props;
    this.intervalMs = props.options.responseMeasurementIntervalMs;
    this.native = isNativeAvailable();
    if (!this.native)
      log.warn('fastest_response_strategy: the native addon is not available; fastest_response picks a random host');
  }

  /** The shared monitors (measurements, listeners) of this client's services. */
  get monitors(): ResponseTimeMonitors {
    return responseTimeMonitors(this.service.services);
  }

  acceptsStrategy(_role: HostRole, strategy: string): boolean {
    return strategy === FASTEST_RESPONSE;
  }

  getHostInfoByStrategy(role: HostRole, strategy: string, hosts?: readonly HostInfo[]): HostInfo | undefined {
    if (strategy !== FASTEST_RESPONSE) return undefined;
    this.syncMonitors();
    const monitors = this.monitors;
    return hostSelectors(this.service.services).selectFastestResponse(hosts ?? this.service.allHosts, role, (h) =>
      monitors.responseTime(h.hostAndPort),
    );
  }

  notifyHostListChanged(_changes: ReadonlyMap<string, ReadonlySet<HostChange>>): void {
    this.syncMonitors();
  }

  /** One monitor per topology host (instances, not cluster endpoints); monitors of hosts that left are let go. */
  private syncMonitors(): void {
    if (!this.native || this.released) return;
    const wanted = new Map<string, HostInfo>();
    for (const h of this.service.allHosts) {
      if (h.hostId !== undefined && (h.role === HostRole.READER || h.role === HostRole.WRITER))
        wanted.set(h.hostAndPort, h);
    }
    const monitors = this.monitors;
    if (this.heldFrom !== monitors) {
      // The services closed (releaseResources) and stopped what this client held: start its monitors again.
      if (this.heldFrom !== undefined) this.held.clear();
      this.heldFrom = monitors;
    }
    for (const [hp, m] of this.held) {
      if (!wanted.has(hp)) {
        this.held.delete(hp);
        monitors.release(m);
      }
    }
    for (const [hp, host] of wanted) {
      if (this.held.has(hp)) continue;
      this.held.set(hp, this.monitorFor(monitors, host));
    }
  }

  private monitorFor(monitors: ResponseTimeMonitors, host: HostInfo): ResponseTimeMonitor {
    const driver = this.service.driverDialect.code;
    const mon = monitoringConnectProps(driver, this.props, 'frt-', { connectTimeout: 10_000 });
    const configuredPort = Number(mon.driver.port);
    const port =
      host.port > 0
        ? host.port
        : Number.isInteger(configuredPort) && configuredPort > 0
          ? configuredPort
          : DEFAULT_PORTS[driver];
    const timeoutMs = Math.max(100, mon.options.connectTimeout ?? 10_000);
    const key = [driver, host.host.toLowerCase(), port, this.intervalMs].join('|');
    const services = this.service.services;
    const target: TargetSource = async (refresh) => {
      const creds = await resolveMonitorCredentials({ services, props: mon, driver, host: host.host, port, refresh });
      const addr = mapHostAddress(mon.options.hostAddressMap, host.host, port);
      const tls = probeTls(driver, mon.driver);
      const t: ProbeTarget & ConnectParams = { kind: PROBE_KINDS[driver], host: addr.host, port: addr.port, ...tls };
      if (creds.user !== undefined) t.user = creds.user;
      if (creds.password !== undefined) t.password = creds.password;
      if (typeof mon.driver.database === 'string') t.database = mon.driver.database;
      if (addr.host !== host.host && t.serverName === undefined && tls.ssl === 'verify-full') t.serverName = host.host;
      return t;
    };
    return monitors.acquire(
      key,
      (onMeasured) => new ResponseTimeMonitor(key, host.hostAndPort, this.intervalMs, timeoutMs, target, onMeasured),
    );
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const monitors = this.service.services.peek<ResponseTimeMonitors>(RESPONSE_TIME_MONITORS);
    for (const m of this.held.values()) monitors?.release(m);
    this.held.clear();
  }
}

export const fastestResponseStrategyPluginFactory: PluginFactory = {
  code: 'fastest_response_strategy',
  weight: 600,
  aliases: ['fastestResponseStrategy'],
  create: <C>(service: PluginService<C>, props: ConnectProps) => new FastestResponseStrategyPlugin<C>(service, props),
};
