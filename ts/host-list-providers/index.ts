export {
  ConnectionStringHostListProvider,
  hostFromDriverConfig,
  STATIC_CLUSTER_ID,
  type ConnectionStringHostListProviderInit,
} from './connection-string.js';
export {
  RdsHostListProvider,
  roleFromIsReaderRows,
  type RdsHostListProviderInit,
  type RdsHostListProviderOptions,
  type TopologyMonitorLink,
} from './rds.js';
export {
  topologyRowsToHosts,
  parseAuroraRows,
  parseGlobalAuroraRows,
  parseMultiAzRows,
  TopologyRowError,
  type TopologyParseContext,
  type TopologyKind,
} from './topology.js';
export {
  instanceTemplateFor,
  validateClusterInstanceHostPattern,
  parseGlobalClusterInstanceHostPatterns,
  deriveClusterId,
  type InstanceTemplate,
} from './instance-template.js';
export { fillAliases, type FillAliasesDeps } from './aliases.js';
