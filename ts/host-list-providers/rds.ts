/**
 * Host list provider of topology-aware dialects (aurora-*, global-aurora-*, multi-az-*): reads the
 * cluster topology through the dialect's SQL on a connection the caller passes, and shares it through
 * the services' topology cache (cluster-state.ts) keyed by clusterId. With `topologyMonitoring` and the native addon, the provider attaches
 * to its cluster's native topology monitor (./topology-monitor.ts), which keeps the cache current and takes
 * over forced refreshes (it publishes with storeTopology()). Without it, refresh() re-reads on the given connection
 * once the cached topology is older than topologyRefreshMs, and forceRefresh(verifyWriter) probes in TypeScript.
 *
 * Nothing is read or validated until first use (lazy, as Python): the instance template and the per-region
 * templates are checked on the first call, and configuration errors surface there.
 */
import { HostInfo, HostRole } from '../host-info.js';
import { AwsWrapperError, UnsupportedOperationError } from '../errors.js';
import type { HostListProvider } from '../plugin.js';
import type { DatabaseDialect, DriverDialect, QueryRows, TopologyQueries } from '../dialects/types.js';
import type { WrapperServices } from '../services.js';
import { checkWriter, readOwnHostId, type WriterCheck } from '../dialects/database/writer.js';
import { asBoolean } from '../dialects/database/values.js';
import { getLogger } from '../logger.js';
import {
  deriveClusterId,
  instanceTemplateFor,
  parseGlobalClusterInstanceHostPatterns,
  type InstanceTemplate,
} from './instance-template.js';
import { topologyRowsToHosts, type TopologyParseContext } from './topology.js';
import { probeForWriter, type ProbeConnector } from './panic-probe.js';
import type { TopologyMonitorHandle, TopologyMonitoring } from './topology-monitor.js';
import { openedConnections } from '../opened-connections.js';
import { topologyCache, topologyMonitors } from './cluster-state.js';
import { publishTopologyChange } from '../telemetry/channels.js';

const log = getLogger('host-list-provider');
/** Longest re-check period of a reader in panic mode: a promotion in place is seen within it (two cheap queries). */
const PANIC_POLL_MS = 25;

export interface RdsHostListProviderOptions {
  readonly clusterId?: string | undefined;
  readonly clusterInstanceHostPattern?: string | undefined;
  /** Age after which refresh() re-reads the topology. Default 30000. */
  readonly topologyRefreshMs?: number;
  /** Poll period while forceRefresh(verifyWriter) waits for a confirmed writer. Default 100. */
  readonly clusterTopologyHighRefreshRateMs?: number;
  /** Bound of every auxiliary query. Default 5. */
  readonly auxiliaryQueryTimeoutSec?: number;
  /** global-aurora only: `region:?.domain[:port],...`. */
  readonly globalClusterInstanceHostPatterns?: unknown;
}

export interface RdsHostListProviderInit<C> {
  /** The host the user configured (port -1 = the dialect's default port). */
  readonly initialHost: HostInfo;
  /** A topology-aware dialect. */
  readonly dialect: DatabaseDialect;
  readonly driverDialect: Pick<DriverDialect<C>, 'queryRows'>;
  readonly options: RdsHostListProviderOptions;
  readonly services: WrapperServices;
  /**
   * Opens probe connections to single hosts. With it, forceRefresh(verifyWriter) runs in panic mode: every known
   * host is probed in parallel (the caller's connection, possibly dead, is not used). Without it, the caller's
   * connection is polled.
   */
  readonly probeConnector?: ProbeConnector<C>;
  /** Bound of each panic-probe query (default: auxiliaryQueryTimeoutSec). */
  readonly probeQueryTimeoutMs?: number;
  /**
   * How the native topology monitor connects (driver and `topology-monitoring-` props). With it, the provider
   * attaches to its cluster's native monitor (topologyMonitors(services)) on first use when the addon is available.
   */
  readonly topologyMonitoring?: TopologyMonitoring;
  /**
   * Whether the client's plugins use the topology: the provider then attaches to the monitor at its first refresh,
   * before the client connects (the monitor's connections are up by the time failover needs them). Otherwise it
   * attaches on its first read with a connection: a client that never reads the topology starts no monitor.
   * Default: attach at the first refresh.
   */
  readonly topologyWanted?: () => boolean;
}

/** What a topology monitor (the native one, in a later issue) offers the provider. */
export interface TopologyMonitorLink {
  /** Reads the topology now; with verifyWriter, only once the writer is confirmed on its own connection. */
  forceRefresh(verifyWriter: boolean, timeoutMs: number): Promise<readonly HostInfo[]>;
  /**
   * The monitor has shown it can reach the cluster (it published a topology confirmed on the writer). Until then
   * (starting, or its credentials do not work), forced writer checks run the TypeScript panic probe instead (with a
   * probe connector). Default true.
   */
  readonly ready?: boolean;
}

export class RdsHostListProvider<C = unknown> implements HostListProvider<C> {
  readonly isDynamic = true;
  readonly clusterId: string;
  readonly initialHostInfo: HostInfo;
  readonly dialect: DatabaseDialect;
  private readonly driverDialect: Pick<DriverDialect<C>, 'queryRows'>;
  private readonly services: WrapperServices;
  private readonly options: RdsHostListProviderOptions;
  private template: InstanceTemplate | undefined;
  private regionTemplates: Map<string, HostInfo> | undefined;
  private monitor: TopologyMonitorLink | undefined;
  private inflight: Promise<HostInfo[] | undefined> | undefined;
  private readonly probeConnector: ProbeConnector<C> | undefined;
  private readonly probeQueryTimeoutMs: number | undefined;
  private readonly topologyMonitoring: TopologyMonitoring | undefined;
  private readonly topologyWanted: () => boolean;
  private monitorHandle: TopologyMonitorHandle | undefined;
  private monitorTried = false;
  private released = false;

  constructor(init: RdsHostListProviderInit<C>) {
    if (!init.dialect.topology) {
      throw new UnsupportedOperationError(
        `RdsHostListProvider needs a topology-aware dialect; '${init.dialect.code}' has no topology queries`,
      );
    }
    this.dialect = init.dialect;
    this.driverDialect = init.driverDialect;
    this.services = init.services;
    this.options = init.options;
    const port = init.initialHost.hasPort ? init.initialHost.port : init.dialect.defaultPort;
    this.initialHostInfo = init.initialHost.hasPort ? init.initialHost : init.initialHost.with({ port });
    this.clusterId = deriveClusterId(this.initialHostInfo, init.options.clusterId);
    this.probeConnector = init.probeConnector;
    this.probeQueryTimeoutMs = init.probeQueryTimeoutMs;
    this.topologyMonitoring = init.topologyMonitoring;
    this.topologyWanted = init.topologyWanted ?? (() => true);
  }

  /** Attaches to the cluster's native topology monitor once (falls back to reading on connections without it). */
  private ensureMonitor(): void {
    if (this.released) return;
    const stale = this.monitorHandle;
    if (stale !== undefined && stale.monitor.isClosed) {
      // releaseResources() stopped the cluster's monitor while this client stayed open: attach to a new one.
      stale.release();
      this.monitorHandle = undefined;
      this.monitor = undefined;
      this.monitorTried = false;
    }
    if (this.monitorTried || this.monitor || !this.topologyMonitoring) return;
    this.monitorTried = true;
    const handle = topologyMonitors(this.services).attach(this, this.topologyMonitoring);
    if (handle) {
      this.monitorHandle = handle;
      this.monitor = handle;
    }
  }

  get topologyQueries(): TopologyQueries {
    return this.dialect.topology!;
  }

  /** The instance template (validated on first access). */
  get instanceTemplate(): InstanceTemplate {
    if (!this.template) {
      this.template = instanceTemplateFor(this.initialHostInfo, this.options.clusterInstanceHostPattern);
      if (
        this.topologyQueries.kind === 'global-aurora' &&
        this.options.globalClusterInstanceHostPatterns !== undefined
      ) {
        this.regionTemplates = parseGlobalClusterInstanceHostPatterns(
          this.options.globalClusterInstanceHostPatterns,
          this.initialHostInfo,
        );
      }
    }
    return this.template;
  }

  private get auxTimeoutMs(): number {
    return (this.options.auxiliaryQueryTimeoutSec ?? 5) * 1000;
  }

  private queryOn(conn: C): QueryRows {
    return (sql) => this.driverDialect.queryRows(conn, sql, this.auxTimeoutMs);
  }

  /** Hands forced refreshes to a monitor (undefined detaches it). */
  setTopologyMonitor(monitor: TopologyMonitorLink | undefined): void {
    this.monitor = monitor;
  }

  /** The topology in the shared cache, however old. */
  cachedTopology(): readonly HostInfo[] | undefined {
    return topologyCache(this.services).get(this.clusterId)?.hosts;
  }

  /**
   * Publishes a topology for every client of this cluster. When it names another writer than the previous one, the
   * tracked connections to the old writer are closed (aurora_connection_tracker; nothing is tracked without it).
   */
  storeTopology(hosts: readonly HostInfo[]): void {
    const cache = topologyCache(this.services);
    const previous = cache.get(this.clusterId)?.hosts;
    const before = previous?.[0];
    cache.set(this.clusterId, { hosts, updatedAt: Date.now() });
    publishTopologyChange(this.clusterId, previous, hosts);
    this.monitorHandle?.hostsChanged(hosts);
    const after = hosts[0];
    if (
      before?.role === HostRole.WRITER &&
      after?.role === HostRole.WRITER &&
      before.hostAndPort !== after.hostAndPort
    ) {
      openedConnections(this.services).writerChanged(before, after);
    }
  }

  /** Parses topology rows with this cluster's templates; undefined = no writer (invalid). Throws TopologyRowError. */
  parseTopology(rows: readonly unknown[], writerId?: string): HostInfo[] | undefined {
    const template = this.instanceTemplate;
    const ctx: TopologyParseContext = {
      template: template.host,
      templatePortExplicit: template.explicitPort,
      regionTemplates: this.regionTemplates,
      writerId,
      source: `${this.dialect.code} topology query of cluster ${this.clusterId}`,
    };
    return topologyRowsToHosts(this.topologyQueries.kind, rows, ctx);
  }

  /**
   * Reads the topology on `conn` now and stores it when valid. Multi-AZ rows carry no roles, so the writer check
   * always runs for them; for the others it runs when `withWriterCheck`.
   */
  private async readTopology(
    conn: C,
    withWriterCheck: boolean,
  ): Promise<{ hosts: HostInfo[] | undefined; check: WriterCheck | undefined }> {
    void this.instanceTemplate; // configuration errors before any query
    const query = this.queryOn(conn);
    const rows = await query(this.topologyQueries.topologyQuery);
    const check =
      withWriterCheck || this.topologyQueries.kind === 'multi-az'
        ? await checkWriter(this.topologyQueries, query)
        : undefined;
    const hosts = this.parseTopology(rows, check?.writerId);
    if (hosts) this.storeTopology(hosts);
    return { hosts, check };
  }

  /** Reads the topology on `conn` now (Python's get_current_topology); undefined when it has no writer. */
  queryTopology(conn: C): Promise<HostInfo[] | undefined> {
    if (!this.inflight) {
      this.inflight = this.readTopology(conn, false)
        .then((r) => r.hosts)
        .finally(() => (this.inflight = undefined));
    }
    return this.inflight;
  }

  async refresh(conn?: C): Promise<readonly HostInfo[]> {
    if (conn !== undefined || this.topologyWanted()) this.ensureMonitor();
    this.monitorHandle?.ensureRunning();
    const cached = topologyCache(this.services).get(this.clusterId);
    if (cached && Date.now() - cached.updatedAt < (this.options.topologyRefreshMs ?? 30000)) return cached.hosts;
    // A monitor keeps the cache current. Before its first topology nobody waits for it: a connection at hand is
    // read, else the initial host stands in (the monitor publishes into the cache moments later).
    if (this.monitor && cached) return cached.hosts;
    if (conn !== undefined) {
      const hosts = await this.queryTopology(conn);
      if (hosts) return hosts;
    }
    return cached?.hosts ?? [this.initialHostInfo];
  }

  async forceRefresh(verifyWriter: boolean, timeoutMs: number, conn?: C): Promise<readonly HostInfo[]> {
    this.ensureMonitor();
    // A working monitor alone finds the writer (off the event loop, one set of probe connections per cluster).
    if (this.monitor && this.monitor.ready !== false) return this.monitor.forceRefresh(verifyWriter, timeoutMs);
    if (verifyWriter && this.probeConnector && timeoutMs > 0) {
      // A monitor that never reached the writer (starting, or its login is refused) does not answer forced checks:
      // the TypeScript panic probe does, alone, through the connect pipeline (custom auth plugins apply). The
      // monitor goes on finding the writer on its own; both read writers the same way (writer-detection fixtures),
      // so whichever publishes into the cache names the same writer.
      return this.panicRefresh(this.probeConnector, timeoutMs);
    }
    if (this.monitor) return this.monitor.forceRefresh(verifyWriter, timeoutMs);
    if (conn === undefined) {
      if (verifyWriter)
        throw new AwsWrapperError(
          `Cannot confirm the writer of cluster ${this.clusterId}: no connection to read the topology on`,
        );
      return this.cachedTopology() ?? [this.initialHostInfo];
    }
    if (!verifyWriter) return (await this.queryTopology(conn)) ?? this.cachedTopology() ?? [this.initialHostInfo];

    const deadline = Date.now() + Math.max(0, timeoutMs);
    for (;;) {
      const { hosts, check } = await this.readTopology(conn, true);
      const writer = hosts?.[0];
      // Confirmed: the connection is on the listed writer, or (on a reader) the reader names the listed writer.
      if (hosts && writer && check) {
        const confirmed = check.isWriter
          ? check.ownId === undefined || check.ownId === writer.hostId
          : check.writerId === undefined || check.writerId === writer.hostId;
        if (confirmed) return hosts;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        if (timeoutMs <= 0) return hosts ?? this.cachedTopology() ?? [this.initialHostInfo];
        throw new AwsWrapperError(
          `Topology of cluster ${this.clusterId} did not show a confirmed writer within ${timeoutMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(left, this.options.clusterTopologyHighRefreshRateMs ?? 100)));
    }
  }

  /**
   * Panic mode (see panic-probe.ts): probes every known host, the initial host (endpoint) included, in parallel and
   * publishes the first verified topology. Concurrent callers of every client of the cluster share one probe
   * (a shared slot of the services); each waits at most its own timeout.
   */
  private panicRefresh(connector: ProbeConnector<C>, timeoutMs: number): Promise<readonly HostInfo[]> {
    void this.instanceTemplate; // configuration errors before any probe
    const probes = this.services.shared('topology:probes', () => new Map<string, Promise<readonly HostInfo[]>>());
    let shared = probes.get(this.clusterId);
    if (!shared) {
      const cached = this.cachedTopology();
      const hosts = [...(cached ?? [])];
      if (!hosts.some((h) => h.hostAndPort === this.initialHostInfo.hostAndPort)) hosts.push(this.initialHostInfo);
      shared = probeForWriter<C>({
        hosts,
        previousWriterId: cached?.[0]?.hostId,
        queries: this.topologyQueries,
        driverDialect: this.driverDialect,
        connector,
        parse: (rows, writerId) => this.parseTopology(rows, writerId),
        timeoutMs,
        queryTimeoutMs: this.probeQueryTimeoutMs ?? this.auxTimeoutMs,
        pollMs: Math.min(this.options.clusterTopologyHighRefreshRateMs ?? 100, PANIC_POLL_MS),
        clusterId: this.clusterId,
      })
        .then((found) => {
          this.storeTopology(found);
          return found;
        })
        .finally(() => probes.delete(this.clusterId));
      probes.set(this.clusterId, shared);
    }
    const probe = shared;
    return new Promise<readonly HostInfo[]>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new AwsWrapperError(`No writer of cluster ${this.clusterId} could be confirmed within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      probe.then(
        (hosts) => {
          clearTimeout(timer);
          resolve(hosts);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  async getHostRole(conn: C): Promise<HostRole> {
    const rows = await this.queryOn(conn)(this.dialect.isReaderQuery);
    return roleFromIsReaderRows(rows, this.dialect.code);
  }

  async identifyConnection(conn: C): Promise<HostInfo | undefined> {
    const id = await readOwnHostId(this.dialect, this.queryOn(conn));
    if (id === undefined) return undefined;
    const find = (hosts: readonly HostInfo[]) => hosts.find((h) => h.hostId === id);
    const found = find(await this.refresh(conn));
    if (found) return found;
    log.debug(`instance ${id} not in the cached topology of ${this.clusterId}; re-reading it`);
    return find(await this.forceRefresh(false, this.auxTimeoutMs, conn));
  }

  release(): void {
    this.released = true;
    this.monitorHandle?.release();
    this.monitorHandle = undefined;
    this.monitor = undefined;
  }
}

/** Role from the is-reader query's single value (pg boolean, MySQL 0/1); a clear error for anything else. */
export function roleFromIsReaderRows(rows: readonly unknown[][], dialectCode: string): HostRole {
  const v = rows[0]?.[0];
  const isReader = asBoolean(v);
  if (isReader === undefined) {
    throw new AwsWrapperError(
      `The ${dialectCode} is-reader query returned ${rows.length === 0 ? 'no row' : `'${String(v)}'`}; expected one boolean`,
    );
  }
  return isReader ? HostRole.READER : HostRole.WRITER;
}
