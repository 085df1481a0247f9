/**
 * Process-wide state of the wrapper — topology caches, dialect caches, native monitors — in one explicit,
 * reference-counted object. Every client acquires it on connect and releases it on end; when the last client
 * releases it, its teardown hooks run (monitors stop). Tests create their own with `new WrapperServices()`.
 */
import { EventEmitter } from 'node:events';
import type { HostInfo } from './host-info.js';
import type { DialectCode } from './dialects/types.js';
import { AuthState } from './auth/auth-state.js';
import { HostAvailabilityTracker } from './host-availability.js';
import { HostSelectors } from './host-selectors.js';
import { OpenedConnectionTracker } from './opened-connections.js';
import { PluginRegistry } from './plugins/registry.js';
import type { InternalConnectionPools } from './pools/internal-pools.js';
import type { HostMonitorRegistry } from './plugins/host-monitoring-common.js';
import type { ResponseTimeMonitors } from './plugins/fastest-response-strategy.js';
import { TopologyMonitors } from './host-list-providers/topology-monitor.js';

export interface CachedTopology {
  readonly hosts: readonly HostInfo[];
  readonly updatedAt: number;
}

type Teardown = () => Promise<void> | void;

interface Slot {
  readonly value: unknown;
  readonly dispose: ((value: never) => Promise<void> | void) | undefined;
}

/**
 * A background monitor cannot do its job (WrapperServices 'monitorError' event): its login is refused (wrong
 * `topology-monitoring-` credentials, or the client's own without them) or it could not start. The wrapper keeps working without it
 * (topology read on the client's connections, calls unmonitored), so this event and an error/warn log are the signs.
 */
export interface MonitorErrorEvent {
  /** 'topology': the cluster topology monitor; 'host-monitoring': an enhanced failure monitoring host monitor. */
  readonly monitor: 'topology' | 'host-monitoring';
  /** 'auth': the server refused the monitor's login; 'start': the monitor could not be started. */
  readonly reason: 'auth' | 'start';
  readonly host: string;
  readonly port: number;
  /** Topology monitors: the cluster's id. */
  readonly clusterId?: string;
  /** What went wrong (no secrets). */
  readonly message: string;
  /** ms since the Unix epoch. */
  readonly at: number;
}

/**
 * Events: `monitorError` (MonitorErrorEvent) when a background monitor of these services cannot log in or start.
 */
export class WrapperServices extends EventEmitter {
  /** Topology per clusterId. */
  readonly topology = new Map<string, CachedTopology>();
  /**
   * Detected dialect per engine and `host[:port]` with the time it was detected. Facts about servers, not state
   * of clients: kept when the last client ends (entries expire after 30 minutes), so connecting again detects
   * nothing; releaseResources() starts from an empty cache.
   */
  readonly dialects = new Map<string, { code: DialectCode; at: number }>();
  /** Plugin codes, custom plugins and configuration profiles available to the clients of these services. */
  readonly plugins: PluginRegistry;

  /** `plugins`: share a registry (custom plugins and profiles are configuration, not state to release). */
  constructor(init: { readonly plugins?: PluginRegistry } = {}) {
    super();
    this.plugins = init.plugins ?? new PluginRegistry();
  }
  /** Host up/down reports shared by every client (failover, EFM, connect). */
  readonly hostAvailability = new HostAvailabilityTracker();
  /** Built-in host selection strategies and their shared state (round-robin positions). */
  readonly hostSelectors = new HostSelectors();
  /** Open physical connections per instance (aurora_connection_tracker), closed when their instance stops being the writer. */
  readonly openedConnections = new OpenedConnectionTracker();
  /** Panic-mode topology probes in flight by clusterId, shared by the clients of a cluster (failover). */
  readonly topologyProbes = new Map<string, Promise<readonly HostInfo[]>>();
  /**
   * Internal connection pools shared by the read/write splitting clients of these services that set
   * `internalConnectionPool` (created on first use; ended when the services close).
   */
  internalConnectionPools: InternalConnectionPools | undefined;
  /** Enhanced failure monitoring: the shared host monitors (created on first use; stopped when the services close). */
  hostMonitors: HostMonitorRegistry | undefined;
  /** fastest_response_strategy: native response-time monitors per host (created on first use; stopped when the services close). */
  responseTimeMonitors: ResponseTimeMonitors | undefined;
  /** Cached IAM tokens and secrets, fetches in flight and AWS credential providers of the auth plugins. */
  readonly auth = new AuthState();
  /** Native cluster topology monitors by clusterId, shared by the clients' host list providers. */
  readonly topologyMonitors: TopologyMonitors = new TopologyMonitors(this);
  private refs = 0;
  private readonly teardowns: Teardown[] = [];
  private readonly slots = new Map<string, Slot>();

  get referenceCount(): number {
    return this.refs;
  }

  acquire(): this {
    this.refs++;
    return this;
  }

  /** Drops one reference; the last one tears everything down. */
  async release(): Promise<void> {
    if (this.refs === 0) return;
    if (--this.refs === 0) await this.close();
  }

  /**
   * The value kept under `key`, made by `create` on first use and given to `dispose` when the services close
   * (last release or releaseResources). The module that chooses the key owns the slot and its type; every option
   * that changes the value belongs in the key (`efm:${intervalMs}`), so clients with other options get their own.
   */
  shared<T>(key: string, create: () => T, dispose?: (value: T) => Promise<void> | void): T {
    const slot = this.slots.get(key);
    if (slot !== undefined) return slot.value as T;
    const value = create();
    this.slots.set(key, { value, dispose: dispose as Slot['dispose'] });
    return value;
  }

  /** The value kept under `key`, if one was made; never makes one. */
  peek<T>(key: string): T | undefined {
    return this.slots.get(key)?.value as T | undefined;
  }

  /** Registers work to run when the last reference is released (or on releaseResources). */
  onClose(fn: Teardown): void {
    this.teardowns.push(fn);
  }

  /** Runs every teardown once and clears the caches of client state (not the dialects); safe to call repeatedly. */
  async close(): Promise<void> {
    const fns = this.teardowns.splice(0);
    const slots = [...this.slots.values()].reverse();
    this.slots.clear();
    this.topologyMonitors.close();
    this.topology.clear();
    this.hostAvailability.clear();
    this.hostSelectors.clear();
    this.openedConnections.clear();
    this.auth.clear();
    await Promise.allSettled([
      ...slots.map(async (slot) => slot.dispose?.(slot.value as never)),
      ...fns.map(async (fn) => fn()),
    ]);
  }
}

let shared: WrapperServices | undefined;

/** The services object clients use unless given their own. */
export function sharedServices(): WrapperServices {
  return (shared ??= new WrapperServices());
}

/**
 * Closes the shared services object and replaces it, so the next client starts with fresh caches and monitors.
 * Registered custom plugins and profiles are kept: they are the application's configuration.
 */
export async function resetSharedServices(): Promise<void> {
  const s = shared;
  if (s === undefined) return;
  shared = new WrapperServices({ plugins: s.plugins });
  await s.close();
}
