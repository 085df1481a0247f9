/**
 * What the clients of one WrapperServices share per cluster (by clusterId): the last topology read or published,
 * and the native topology monitors that keep it current.
 */
import type { HostInfo } from '../host-info.js';
import type { WrapperServices } from '../services.js';
import { TopologyMonitors } from './topology-monitor.js';

export interface CachedTopology {
  readonly hosts: readonly HostInfo[];
  readonly updatedAt: number;
}

/** Topology per clusterId (client state: empty again after the services close). */
export function topologyCache(services: WrapperServices): Map<string, CachedTopology> {
  return services.shared('topology:cache', () => new Map<string, CachedTopology>());
}

/**
 * The native topology monitors of `services`. Kept when the services close (the monitors stop, `enabled` stays as
 * set); a services object made by releaseResources() has its own.
 */
export function topologyMonitors(services: WrapperServices): TopologyMonitors {
  return services.kept(
    'topology:monitors',
    () => new TopologyMonitors(services),
    (m) => m.close(),
  );
}
