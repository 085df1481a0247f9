/**
 * `host_monitoring_v2` (enhanced failure monitoring v2; in the default plugin list): the host's
 * monitor declares it dead once it has been silent for failureDetectionIntervalMs × failureDetectionCount while
 * calls were monitored, aborts every monitored call on it at once, and aborts calls that become monitored while it
 * stays dead as soon as they do. The call rejects with the driver's own connection error, which failover acts on.
 * Shared machinery: host-monitoring-common.ts.
 */
import type { ConnectProps, PluginFactory, PluginService } from '../plugin.js';
import { HostMonitoringPlugin } from './host-monitoring-common.js';

export const hostMonitoringV2PluginFactory: PluginFactory = {
  code: 'host_monitoring_v2',
  weight: 510,
  aliases: ['efm2'],
  create: <C>(service: PluginService<C>, props: ConnectProps) =>
    new HostMonitoringPlugin<C>('host_monitoring_v2', 2, service, props),
};
