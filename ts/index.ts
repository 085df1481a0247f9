/**
 * `aws-advanced-ts-wrapper`: what every user needs whatever the driver — errors, releaseResources, the plugin API,
 * the host model. It loads neither pg nor mysql2: the clients and pools live in `aws-advanced-ts-wrapper/pg` and
 * `aws-advanced-ts-wrapper/mysql` (which also re-export the errors and releaseResources), so an application installs
 * and loads only its own driver.
 */
export * from './errors.js';
export {
  isFailoverError,
  failoverOutcome,
  withFailoverRetry,
  type FailoverOutcome,
  type FailoverRetryOptions,
} from './failover-errors.js';
export { HostInfo, HostRole, HostAvailability, HostChange, type AllowedAndBlockedHosts } from './host-info.js';
export { WrapperServices, sharedServices, type MonitorErrorEvent } from './services.js';
export { releaseResources } from './release.js';
export { setLogger, setLogLevels, type LogSink } from './logger.js';
export { NativeAddonUnavailableError } from './native/index.js';
export { MissingDependencyError } from './auth/missing-dependency.js';
export { InternalConnectionPools, type InternalPoolOptions } from './pools/internal-pools.js';
export { ReadWriteSplittingError } from './plugins/rw-common.js';
export { CustomEndpointInfoTimeoutError, type CustomEndpointInfo } from './plugins/custom-endpoint.js';
export {
  HostUnavailableError,
  HostMonitorRegistry,
  SharedHostMonitor,
  hostMonitorRegistry,
} from './plugins/host-monitoring-common.js';
export { topologyMonitors } from './host-list-providers/cluster-state.js';
export type { EfmEvent, EfmMonitorStats } from './plugins/host-monitoring-efm.js';
export {
  registerPlugin,
  unregisterPlugin,
  registerProfile,
  unregisterProfile,
  PluginRegistry,
  pluginRegistry,
  DEFAULT_PLUGIN_CODES,
  type ConfigurationProfile,
} from './plugins/registry.js';
export {
  ALL_METHODS,
  NETWORK_METHODS,
  PIPELINE,
  RELATIVE_TO_PRIOR_PLUGIN,
  ConnectionChange,
  OldConnectionSuggestedAction,
  type ClientMethod,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type ExecuteContext,
  type HostListProvider,
  type HostListProviderService,
  type PluginFactory,
  type PluginService,
  type SwitchOptions,
} from './plugin.js';
export {
  DevTools,
  type FaultOptions,
  type InjectedError,
  type ConnectFaultCallback,
  type MethodFaultCallback,
} from './plugins/dev.js';
export type { ConnectTimePlugin } from './plugins/connect-time.js';
export type { ExecuteTimePlugin } from './plugins/execute-time.js';
export { FailoverMode, type FailoverEvent } from './plugins/failover-common.js';
export { BlueGreenTimeoutError, BlueGreenRejectedError } from './plugins/bg.js';
export {
  CHANNEL_NAMES,
  type AuthFetchMessage,
  type BlueGreenPhaseMessage,
  type ChannelName,
  type ConnectionSwitchMessage,
  type EfmAbortMessage,
  type EfmVerdictMessage,
  type FailoverEndMessage,
  type FailoverStartMessage,
  type HostRef,
  type TopologyChangeMessage,
} from './telemetry/channels.js';
