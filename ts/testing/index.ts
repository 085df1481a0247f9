/**
 * `aws-advanced-ts-wrapper/testing`: a local Aurora / RDS Multi-AZ lookalike cluster (real PostgreSQL or MariaDB
 * servers with replication, RDS metadata, RDS-shaped DNS names and fault-injecting proxies) for failover tests.
 */
export { LocalCluster } from './local-cluster.js';
export { BlueGreenDeployment } from './blue-green.js';
export type {
  BlueGreenPhaseMs,
  SwitchoverOptions,
  SwitchoverPhase,
  SwitchoverResult,
  BlueGreenRow,
  BlueGreenStatus,
} from './blue-green.js';
export type {
  LocalClusterOptions,
  InstanceInfo,
  EndpointInfo,
  ClusterClientConfig,
  StopOptions,
  FailoverOptions,
  FailoverResult,
  CustomEndpointInfo,
  CustomEndpointMembership,
  CustomEndpointSpec,
  RdsApiInfo,
} from './local-cluster.js';
export type {
  ClusterState,
  InstanceState,
  EndpointState,
  CustomEndpointState,
  RdsApiState,
  ClusterCredentials,
  BlueGreenState,
} from './state.js';
export {
  RdsApiServer,
  RdsApiError,
  describeDbClusterEndpoints,
  describeGlobalClusters,
  xmlElement,
  xmlEscape,
  xmlList,
  queryFilters,
} from './rds-api.js';
export type {
  RdsActionHandler,
  RdsApiRequest,
  RdsApiCall,
  ClusterEndpointRecord,
  GlobalClusterRecord,
} from './rds-api.js';
export type { Engine, EngineContext, Flavour, InstanceSpec, TopologySnapshot } from './engine.js';
export { createPostgresEngine } from './postgres.js';
export type { PostgresEngineOptions } from './postgres.js';
export { InstanceProxy, EndpointProxy } from './proxy.js';
export type { Fault } from './proxy.js';
export {
  LocalGlobalDatabase,
  globalEndpointDnsName,
  type LocalGlobalDatabaseOptions,
  type GlobalFlavour,
  type GlobalFailoverOptions,
  type GlobalFailoverResult,
} from './global-database.js';
