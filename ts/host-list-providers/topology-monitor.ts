/**
 * The native cluster topology monitor (crates/monitor-core/src/topology.rs) seen from TypeScript: one per clusterId
 * in a WrapperServices, shared and reference-counted by the RdsHostListProviders of that cluster (so by every client
 * of it). It polls the topology on a verified writer connection off the JS thread, switches to panic mode (every
 * host probed in parallel) when that connection is lost or a writer check is requested, and publishes topologies;
 * each publication is parsed with a provider's parseTopology and stored with storeTopology, so every client sees it.
 *
 * Connections are opened by native code with parameters asked here each time (per monitor, not process-wide): the
 * cluster clients' monitoring props (`topology-monitoring-` overrides over 5 s connect / query bounds), the
 * hostAddressMap, TLS mapped to sslmode, and credentials through resolveMonitorCredentials (IAM tokens, secrets).
 */
import { EventEmitter } from 'node:events';
import { AwsWrapperError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import { mapHostAddress } from '../options.js';
import type { ConnectProps } from '../plugin.js';
import type { DatabaseDialect, DriverConfig, TopologyQueries } from '../dialects/types.js';
import type { MonitorErrorEvent, WrapperServices } from '../services.js';
import type {
  NativeParams,
  NativeTopologyConfig,
  NativeTopologyEvent,
  NativeTopologyHost,
  NativeMonitorParamsRequest,
  NativeTopologyPublication,
  PublicationReason,
} from '../native/binding.js';
import {
  isNativeAvailable,
  nativeBinding,
  nativeGeneration,
  type NativeBinding,
  type SslMode,
} from '../native/index.js';
import type { InstanceTemplate } from './instance-template.js';
import type { TopologyMonitorLink } from './rds.js';

const log = getLogger('topology-monitor');

/** High-rate polling lasts this long after a writer change (30 s, as in the other AWS wrappers). */
export const HIGH_RATE_WINDOW_MS = 30_000;
/**
 * After a writer is confirmed in panic mode, a writer check requested within this window re-checks the monitoring
 * connection (one round trip) instead of probing every host again (the seed ignores such requests for 10 s).
 */
export const VERIFY_GRACE_MS = 10_000;
/**
 * Ping period of the monitoring connection between topology polls (`SELECT 1`, bounded by the query timeout): a
 * writer that stops answering is noticed within this plus the query timeout, without re-reading the topology.
 */
export const LIVENESS_MS = 1000;
/** Longest re-check period of a reader's connection in panic mode: a reader promoted in place is seen within it. */
export const PANIC_POLL_MS = 25;
/** Defaults of topology monitoring connections (5 s connect and socket timeouts, as in the other AWS wrappers). */
export const TOPOLOGY_MONITORING_DEFAULTS = { connectTimeout: 5000, socketTimeout: 5000 } as const;

/** The addon, or undefined when it is not available here (providers then read topologies on their connections). */
function topologyBinding(): NativeBinding | undefined {
  return isNativeAvailable() ? nativeBinding() : undefined;
}

/** Topology monitors running natively in this process (0 when the addon is not loaded). */
export function nativeTopologyMonitorCount(): number {
  try {
    return topologyBinding()?.topologyMonitorCount() ?? 0;
  } catch {
    return 0;
  }
}

// ---- what the monitor needs from its users -----------------------------------------------------------------------

/** What a host list provider offers the monitor (RdsHostListProvider implements it). */
export interface TopologyMonitorUser {
  readonly clusterId: string;
  readonly dialect: DatabaseDialect;
  readonly topologyQueries: TopologyQueries;
  readonly instanceTemplate: InstanceTemplate;
  readonly initialHostInfo: HostInfo;
  parseTopology(rows: readonly unknown[], writerId?: string): HostInfo[] | undefined;
  storeTopology(hosts: readonly HostInfo[]): void;
  cachedTopology(): readonly HostInfo[] | undefined;
}

/** How the monitor's connections are made for a user: its driver and monitoring connect props. */
export interface TopologyMonitoring {
  readonly driver: 'pg' | 'mysql2';
  /** Connect props with the `topology-monitoring-` overrides applied (see monitoringConnectProps). */
  readonly props: ConnectProps;
}

/** A user's hold on the monitor of its cluster. */
export interface TopologyMonitorHandle extends TopologyMonitorLink {
  readonly monitor: ClusterTopologyMonitor;
  /** Restarts the native monitor if releaseResources() ended it while users remain. */
  ensureRunning(): void;
  /** Hosts the user learnt itself (they are probed in panic mode). */
  hostsChanged(hosts: readonly HostInfo[]): void;
  /** Drops this user's reference; the last one stops the monitor. Idempotent. */
  release(): void;
}

/** Intervals and bounds the native monitor runs with (ms). */
export interface TopologyMonitorSettings {
  readonly refreshMs: number;
  readonly highRateMs: number;
  readonly panicPollMs: number;
  readonly highRateWindowMs: number;
  readonly verifyGraceMs: number;
  /** Bound of each connect (parameters, TCP, TLS, authentication): `topology-monitoring-connectTimeout`, 5 s. */
  readonly connectTimeoutMs: number;
  /** Bound of each query: `topology-monitoring-socketTimeout`, 5 s. */
  readonly queryTimeoutMs: number;
}

/** A published topology as delivered to listeners of ClusterTopologyMonitor's 'topology' event. */
export interface TopologyPublication {
  readonly hosts: readonly HostInfo[];
  readonly seq: number;
  readonly reason: PublicationReason;
  /** Read on a connection verified to be on the writer (false for a reader's view naming a new writer). */
  readonly confirmed: boolean;
  /** A reader's view naming a writer other than the last confirmed one (a failover goes there and verifies it). */
  readonly newWriter: boolean;
  /** The writer as native code reached it (host:port before hostAddressMap), when confirmed. */
  readonly writerHost: string | undefined;
  /** ms since the Unix epoch. */
  readonly at: number;
}

// ---- TLS / parameters --------------------------------------------------------------------------------------------

function pemText(ca: unknown): string | undefined {
  if (typeof ca === 'string') return ca;
  if (Buffer.isBuffer(ca)) return ca.toString('utf8');
  if (Array.isArray(ca)) {
    const parts = ca.map(pemText).filter((p): p is string => p !== undefined);
    return parts.length > 0 ? parts.join('\n') : undefined;
  }
  return undefined;
}

/**
 * The driver's TLS settings as sslmode: none/false → disable; pg `ssl: true`, an ssl object or a mysql2 profile name
 * → verify-full (both drivers check certificates unless told not to), with its `ca` and `servername`;
 * `rejectUnauthorized: false` → require. With verify-full, the certificate name is the host's RDS name when the
 * hostAddressMap sends the connection elsewhere.
 */
export function monitorTlsParams(
  config: DriverConfig,
  host: string,
  connectHost: string,
): Pick<NativeParams, 'ssl' | 'ca' | 'serverName'> {
  const ssl = config.ssl;
  if (ssl === undefined || ssl === null || ssl === false) return { ssl: 'disable' };
  let mode: SslMode = 'verify-full';
  let ca: string | undefined;
  let servername: string | undefined;
  if (typeof ssl === 'object') {
    const o = ssl as Record<string, unknown>;
    if (o.rejectUnauthorized === false) mode = 'require';
    ca = pemText(o.ca);
    if (typeof o.servername === 'string' && o.servername !== '') servername = o.servername;
  }
  const out: Pick<NativeParams, 'ssl' | 'ca' | 'serverName'> = { ssl: mode };
  if (mode === 'verify-full') {
    if (ca !== undefined) out.ca = ca;
    const name = servername ?? (connectHost !== host ? host : undefined);
    if (name !== undefined) out.serverName = name;
  }
  return out;
}

function positiveMs(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.min(v, 86_400_000) : fallback;
}

// ---- the shared monitor --------------------------------------------------------------------------------------------

interface Attached {
  readonly user: TopologyMonitorUser;
  readonly monitoring: TopologyMonitoring;
}

/**
 * The native monitor of one cluster. Events: 'topology' (TopologyPublication) after each publication is stored,
 * 'panic' (reason: string) when native code starts probing every host, 'monitorError' (MonitorErrorEvent) when a
 * login is refused (also emitted on the services).
 */
export class ClusterTopologyMonitor extends EventEmitter {
  readonly clusterId: string;
  /** Publications stored so far (all native monitors of this object). */
  publications = 0;
  private confirmedPublications = 0;
  private readonly services: WrapperServices;
  private readonly binding: NativeBinding;
  private readonly users: Attached[] = [];
  private nativeId: number | undefined;
  private generation = -1;
  /** Identifies the current native monitor; events of an earlier one are ignored. */
  private epoch = 0;
  private lastSeq = 0;
  private lastHosts: readonly HostInfo[] | undefined;
  private sentHosts = '';
  private closed = false;
  private current: TopologyMonitorSettings | undefined;
  /** A refused login was logged (once per monitor). */
  private warnedLogin = false;
  /** Hosts whose refused login was reported since the last confirmed publication. */
  private readonly refusedHosts = new Set<string>();

  constructor(services: WrapperServices, binding: NativeBinding, first: Attached) {
    super();
    this.services = services;
    this.binding = binding;
    this.clusterId = first.user.clusterId;
    this.users.push(first);
    this.start();
  }

  /** The monitor has published a topology confirmed on the writer: its connections work. */
  get ready(): boolean {
    return this.confirmedPublications > 0;
  }

  /** What the native monitor runs with. */
  get settings(): TopologyMonitorSettings {
    return this.current!;
  }

  /** Number of users (host list providers) holding this monitor. */
  get referenceCount(): number {
    return this.users.length;
  }

  /** The native monitor's id (changes when it is restarted after releaseResources). */
  get monitorId(): number | undefined {
    return this.nativeId;
  }

  /** True while native code probes every host (no verified writer connection). */
  get panicking(): boolean {
    if (this.nativeId === undefined || this.closed) return false;
    return this.binding.topologyMonitorPanicking(this.nativeId) ?? false;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private get owner(): Attached {
    const a = this.users[0];
    if (!a) throw new AwsWrapperError(`Topology monitor of cluster ${this.clusterId} has no user left`);
    return a;
  }

  private start(): void {
    const { user, monitoring } = this.owner;
    const q = user.topologyQueries;
    const dialect = user.dialect;
    const template = user.instanceTemplate;
    const templatePort = template.host.port > 0 ? template.host.port : dialect.defaultPort;
    const options = monitoring.props.options;
    const config: NativeTopologyConfig = {
      kind: (dialect.engine ?? (monitoring.driver === 'pg' ? 'pg' : 'mysql')) === 'pg' ? 'postgres' : 'mysql',
      shape: q.kind,
      topologyQuery: q.topologyQuery,
      writerIdQuery: q.writerIdQuery,
      writerIdMeaning: q.writerIdMeaning ?? 'row-means-writer',
      isReaderQuery: dialect.isReaderQuery,
      hosts: this.knownHosts(),
      refreshMs: positiveMs(options.topologyRefreshMs, 30_000),
      highRateMs: positiveMs(options.clusterTopologyHighRefreshRateMs, 100),
      panicPollMs: Math.min(positiveMs(options.clusterTopologyHighRefreshRateMs, 100), PANIC_POLL_MS),
      highRateWindowMs: HIGH_RATE_WINDOW_MS,
      livenessMs: LIVENESS_MS,
      verifyGraceMs: VERIFY_GRACE_MS,
      connectTimeoutMs: positiveMs(options.connectTimeout, TOPOLOGY_MONITORING_DEFAULTS.connectTimeout),
      queryTimeoutMs: positiveMs(options.socketTimeout, TOPOLOGY_MONITORING_DEFAULTS.socketTimeout),
    };
    if (q.writerIdColumns) config.writerIdColumns = [...q.writerIdColumns];
    if (q.writerIdColumnIndex !== undefined) config.writerIdColumnIndex = q.writerIdColumnIndex;
    if (q.ownIdQuery !== undefined) config.ownIdQuery = q.ownIdQuery;
    if (q.kind !== 'global-aurora') {
      config.templateHost = template.host.host;
      config.templatePort = templatePort;
      config.templatePortExplicit = template.explicitPort;
    }
    this.current = {
      refreshMs: config.refreshMs,
      highRateMs: config.highRateMs,
      panicPollMs: config.panicPollMs ?? config.highRateMs,
      highRateWindowMs: config.highRateWindowMs,
      verifyGraceMs: config.verifyGraceMs,
      connectTimeoutMs: config.connectTimeoutMs,
      queryTimeoutMs: config.queryTimeoutMs,
    };
    const epoch = ++this.epoch;
    this.lastSeq = 0;
    this.sentHosts = hostsKey(config.hosts);
    this.nativeId = this.binding.startTopologyMonitor(
      this.clusterId,
      config,
      (req) => this.params(req),
      (ev) => {
        if (epoch !== this.epoch || this.closed) return;
        try {
          this.onEvent(ev);
        } catch (err) {
          log.warn('cluster %s: topology event not applied: %s', this.clusterId, (err as Error).message);
        }
      },
    );
    this.generation = nativeGeneration();
    log.debug('cluster %s: native topology monitor %d started', this.clusterId, this.nativeId);
  }

  /** Restarts the native monitor when releaseResources() ended it while users remain. */
  ensureRunning(): number {
    if (this.closed) throw new AwsWrapperError(`Topology monitor of cluster ${this.clusterId} is closed`);
    if (this.nativeId === undefined || this.generation !== nativeGeneration()) this.start();
    return this.nativeId!;
  }

  /** Connection parameters for one native connection, from the owner's monitoring props. */
  private async params(req: NativeMonitorParamsRequest): Promise<NativeParams> {
    const { user, monitoring } = this.owner;
    // Native code asks again with `refresh` only after the server refused the last login to this host.
    if (req.refresh) this.loginRefused(req.host, req.port);
    // The driver config has connectionString / uri already expanded (parseConnectProps).
    const config = monitoring.props.driver;
    const to = mapHostAddress(monitoring.props.options.hostAddressMap, req.host, req.port);
    // Loaded on first use: the auth modules are not needed by clusters without monitors.
    const { resolveMonitorCredentials } = await import('../auth/monitor-credentials.js');
    const creds = await resolveMonitorCredentials({
      services: this.services,
      props: monitoring.props,
      driver: monitoring.driver,
      host: req.host,
      port: req.port,
      defaultPort: user.dialect.defaultPort,
      refresh: req.refresh,
    });
    const out: NativeParams = { host: to.host, port: to.port, ...monitorTlsParams(config, req.host, to.host) };
    if (creds.user !== undefined) out.user = creds.user;
    if (creds.password !== undefined) out.password = creds.password;
    if (typeof config.database === 'string' && config.database !== '') out.database = config.database;
    return out;
  }

  /**
   * The monitor's login to a host was refused: without a working login it never publishes, so say so — a warning
   * once per monitor, and a 'monitorError' event (here and on the services) once per host until a topology is
   * confirmed again. Credentials that rotate (IAM, Secrets Manager) are fetched again by params() meanwhile.
   */
  private loginRefused(host: string, port: number): void {
    const key = `${host}:${port}`;
    if (this.refusedHosts.has(key)) return;
    this.refusedHosts.add(key);
    const message =
      `the topology monitor of cluster ${this.clusterId} cannot log in to ${key}: the server refused its credentials ` +
      "(topology-monitoring-user / topology-monitoring-password, else the client's own); cluster changes are not detected in the background";
    if (!this.warnedLogin) {
      this.warnedLogin = true;
      log.warn('%s', message);
    } else {
      log.debug('%s', message);
    }
    const event: MonitorErrorEvent = {
      monitor: 'topology',
      reason: 'auth',
      host,
      port,
      clusterId: this.clusterId,
      message,
      at: Date.now(),
    };
    try {
      this.emit('monitorError', event);
      this.services.emit('monitorError', event);
    } catch (err) {
      // A throwing listener is the application's bug: surface it as efm.ts does, without failing this login.
      process.nextTick(() => {
        throw err;
      });
    }
  }

  private onEvent(ev: NativeTopologyEvent): void {
    if (ev.kind === 'panic') {
      log.debug('cluster %s: panic mode: %s', this.clusterId, ev.reason);
      this.emit('panic', ev.reason);
      return;
    }
    this.apply(ev.publication);
  }

  /** Parses and stores a publication (once per seq); returns its hosts. */
  private apply(ev: NativeTopologyPublication): readonly HostInfo[] {
    if (ev.seq <= this.lastSeq && this.lastHosts) return this.lastHosts;
    const user = this.owner.user;
    const hosts = user.parseTopology(ev.rows, ev.writerId ?? undefined);
    if (!hosts) throw new AwsWrapperError(`Topology published for cluster ${this.clusterId} names no writer`);
    this.lastSeq = Math.max(this.lastSeq, ev.seq);
    this.lastHosts = hosts;
    user.storeTopology(hosts);
    this.publications++;
    if (ev.confirmed) {
      this.confirmedPublications++;
      this.refusedHosts.clear();
    }
    this.sendHosts();
    const publication: TopologyPublication = {
      hosts,
      seq: ev.seq,
      reason: ev.reason,
      confirmed: ev.confirmed,
      newWriter: ev.newWriter,
      writerHost: ev.writerHost ? `${ev.writerHost}:${ev.writerPort ?? ''}` : undefined,
      at: ev.at,
    };
    log.debug(
      'cluster %s: topology %d (%s): writer %s, %d hosts',
      this.clusterId,
      ev.seq,
      ev.reason,
      hosts[0]?.hostId ?? '?',
      hosts.length,
    );
    this.emit('topology', publication);
    return hosts;
  }

  /** Users' initial hosts (endpoints) and the last topology's hosts. */
  private knownHosts(): NativeTopologyHost[] {
    const out: NativeTopologyHost[] = [];
    const seen = new Set<string>();
    const add = (h: HostInfo, id?: string): void => {
      const port = h.port > 0 ? h.port : this.owner.user.dialect.defaultPort;
      const key = `${h.host.toLowerCase()}:${port}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push(id !== undefined ? { host: h.host, port, id } : { host: h.host, port });
    };
    for (const { user } of this.users) add(user.initialHostInfo);
    const hosts = this.lastHosts ?? this.owner.user.cachedTopology() ?? [];
    for (const h of hosts) add(h, h.hostId);
    return out;
  }

  private sendHosts(): void {
    if (this.nativeId === undefined || this.closed) return;
    const hosts = this.knownHosts();
    const key = hostsKey(hosts);
    if (key === this.sentHosts) return;
    this.sentHosts = key;
    this.binding.setTopologyHosts(this.nativeId, hosts);
  }

  /** A user stored a topology it read itself: its hosts are probed in panic mode too. */
  hostsChanged(hosts: readonly HostInfo[]): void {
    if (this.lastHosts === undefined && hosts.length > 0) this.lastHosts = hosts;
    this.sendHosts();
  }

  /**
   * Waits (at most timeoutMs) for a topology published after this call; with verifyWriter, one read on a
   * connection confirmed to be on the writer, or a reader's view naming a new writer (the caller verifies the role
   * of the writer it connects to, as after the TypeScript panic probe). timeoutMs 0 returns the latest at once.
   */
  forceRefresh(verifyWriter: boolean, timeoutMs: number): Promise<readonly HostInfo[]> {
    const id = this.ensureRunning();
    const epoch = this.epoch;
    const ms = Number.isFinite(timeoutMs) ? Math.min(Math.max(0, timeoutMs), 86_400_000) : 86_400_000;
    return new Promise((resolve, reject) => {
      this.binding.topologyForceRefresh(id, verifyWriter, ms, (r) => {
        try {
          if (r.ok && r.publication && epoch === this.epoch) return resolve(this.apply(r.publication));
          if (r.ok || r.error === 'none') {
            return resolve(this.lastHosts ?? this.owner.user.cachedTopology() ?? [this.owner.user.initialHostInfo]);
          }
          reject(
            new AwsWrapperError(
              `Topology of cluster ${this.clusterId} was not refreshed: ${r.message ?? r.error ?? 'unknown error'}`,
              {
                code: r.error === 'timeout' ? 'WRAPPER_TOPOLOGY_TIMEOUT' : 'WRAPPER_TOPOLOGY_STOPPED',
              },
            ),
          );
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** Adds a user; returns its handle. */
  attach(user: TopologyMonitorUser, monitoring: TopologyMonitoring): TopologyMonitorHandle {
    const entry: Attached = { user, monitoring };
    this.users.push(entry);
    this.sendHosts();
    return this.handleFor(entry);
  }

  /** The handle of the user the monitor was created for. */
  firstHandle(): TopologyMonitorHandle {
    return this.handleFor(this.owner);
  }

  private handleFor(entry: Attached): TopologyMonitorHandle {
    let released = false;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the `ready` getter below has its own `this`
    const monitor = this;
    return {
      monitor: this,
      get ready() {
        return monitor.ready;
      },
      forceRefresh: (verifyWriter, timeoutMs) => this.forceRefresh(verifyWriter, timeoutMs),
      hostsChanged: (hosts) => this.hostsChanged(hosts),
      ensureRunning: () => {
        if (!released && !this.closed) this.ensureRunning();
      },
      release: () => {
        if (released) return;
        released = true;
        this.detach(entry);
      },
    };
  }

  private detach(entry: Attached): void {
    const i = this.users.indexOf(entry);
    if (i >= 0) this.users.splice(i, 1);
    if (this.users.length === 0) this.stop();
  }

  /** Stops the native monitor for good (pending forced refreshes settle with an error). */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.epoch++;
    if (this.nativeId !== undefined && this.generation === nativeGeneration())
      this.binding.stopTopologyMonitor(this.nativeId);
    log.debug('cluster %s: native topology monitor %s stopped', this.clusterId, String(this.nativeId));
    this.emit('stopped');
  }
}

function hostsKey(hosts: readonly NativeTopologyHost[]): string {
  return hosts.map((h) => `${h.host}:${h.port}/${h.id ?? ''}`).join(',');
}

/**
 * The topology monitors of one WrapperServices, by clusterId. `enabled = false` keeps providers on the TypeScript
 * fallback (also used when the addon is unavailable).
 */
export class TopologyMonitors {
  /** Use native monitors when the addon provides them. */
  enabled = true;
  private readonly monitors = new Map<string, ClusterTopologyMonitor>();

  constructor(private readonly services: WrapperServices) {}

  /** The monitor of a cluster, if one runs. */
  get(clusterId: string): ClusterTopologyMonitor | undefined {
    return this.monitors.get(clusterId);
  }

  get size(): number {
    return this.monitors.size;
  }

  /**
   * Attaches `user` to the monitor of its cluster, starting it on first use. Undefined when native monitors are
   * disabled or the addon lacks them (the caller keeps its TypeScript fallback).
   */
  attach(user: TopologyMonitorUser, monitoring: TopologyMonitoring): TopologyMonitorHandle | undefined {
    if (!this.enabled) return undefined;
    const existing = this.monitors.get(user.clusterId);
    if (existing && !existing.isClosed) return existing.attach(user, monitoring);
    const binding = topologyBinding();
    if (!binding) return undefined;
    let monitor: ClusterTopologyMonitor;
    try {
      monitor = new ClusterTopologyMonitor(this.services, binding, { user, monitoring });
    } catch (err) {
      const message = `native topology monitor of cluster ${user.clusterId} not started (${(err as Error).message}); the topology is read on the clients' connections instead`;
      log.error('%s', message);
      const h = user.initialHostInfo;
      const event: MonitorErrorEvent = {
        monitor: 'topology',
        reason: 'start',
        host: h.host,
        port: h.port,
        clusterId: user.clusterId,
        message,
        at: Date.now(),
      };
      this.services.emit('monitorError', event);
      return undefined;
    }
    this.monitors.set(user.clusterId, monitor);
    monitor.once('stopped', () => {
      if (this.monitors.get(user.clusterId) === monitor) this.monitors.delete(user.clusterId);
    });
    return monitor.firstHandle();
  }

  /** Stops every monitor (services close / releaseResources). */
  close(): void {
    for (const m of [...this.monitors.values()]) m.stop();
    this.monitors.clear();
  }
}
