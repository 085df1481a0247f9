export * from './errors.js';
export { HostInfo, HostRole, HostAvailability, HostChange } from './host-info.js';
export { WrapperServices } from './services.js';
export { releaseResources } from './release.js';
export { NativeAddonUnavailableError } from './native/index.js';
export { MissingDependencyError } from './auth/sdk-loader.js';
export { AwsMySQLClient } from './clients/mysql-client.js';
export { AwsPGClient } from './clients/pg-client.js';
export { AwsPGPool, AwsPGPoolClient } from './pools/pg-pool.js';
export { AwsMySQLPool, AwsMySQLPoolConnection } from './pools/mysql-pool.js';
export { InternalConnectionPools, type InternalPoolOptions } from './pools/internal-pools.js';
export { ReadWriteSplittingError } from './plugins/rw-common.js';
export {
  registerPlugin,
  unregisterPlugin,
  registerProfile,
  unregisterProfile,
  PluginRegistry,
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
export { DevTools, type FaultOptions, type InjectedError, type ConnectFaultCallback, type MethodFaultCallback } from './plugins/dev.js';
export type { ConnectTimePlugin } from './plugins/connect-time.js';
export type { ExecuteTimePlugin } from './plugins/execute-time.js';
