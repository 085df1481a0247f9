/**
 * `aws-advanced-ts-wrapper/testing`: a local Aurora / RDS Multi-AZ lookalike cluster (real PostgreSQL or MariaDB
 * servers with replication, RDS metadata, RDS-shaped DNS names and fault-injecting proxies) for failover tests.
 */
export { LocalCluster } from './local-cluster.js';
export { BlueGreenDeployment } from './blue-green.js';
export type { BlueGreenPhaseMs, SwitchoverOptions, SwitchoverPhase, SwitchoverResult, BlueGreenRow, BlueGreenStatus } from './blue-green.js';
export type {
  LocalClusterOptions, InstanceInfo, EndpointInfo, ClusterClientConfig, StopOptions, FailoverOptions, FailoverResult,
} from './local-cluster.js';
export type { ClusterState, InstanceState, EndpointState, ClusterCredentials, BlueGreenState } from './state.js';
export type { Engine, EngineContext, Flavour, InstanceSpec, TopologySnapshot } from './engine.js';
export { createPostgresEngine } from './postgres.js';
export type { PostgresEngineOptions } from './postgres.js';
export { InstanceProxy, EndpointProxy } from './proxy.js';
export type { Fault } from './proxy.js';
