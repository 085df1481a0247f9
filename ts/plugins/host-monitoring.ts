/**
 * `host_monitoring` (enhanced failure monitoring v1): a call running on a host that stops answering
 * is aborted once the host has been silent for failureDetectionIntervalMs × failureDetectionCount, counted for each
 * call from the moment it became monitored (failureDetectionTimeMs after it started). The call rejects with
 * HostUnavailableError (code 08S01, the driver's error as cause), which failover acts on. Shared machinery:
 * host-monitoring-common.ts.
 */
import type { ConnectProps, PluginFactory, PluginService } from '../plugin.js';
import { HostMonitoringPlugin } from './host-monitoring-common.js';

export const hostMonitoringPluginFactory: PluginFactory = {
  code: 'host_monitoring',
  weight: 500,
  aliases: ['efm'],
  create: <C>(service: PluginService<C>, props: ConnectProps) =>
    new HostMonitoringPlugin<C>('host_monitoring', 1, service, props),
};
