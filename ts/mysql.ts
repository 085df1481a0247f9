/**
 * `aws-advanced-ts-wrapper/mysql`: the drop-in for `mysql2` (callback API: `createConnection`, `createPool`, each
 * with `.promise()`), what ORMs load as their mysql2 driver module, and the promise classes
 * (`aws-advanced-ts-wrapper/mysql/promise` mirrors `mysql2/promise`).
 */
import { AwsMySQLClient, createConnection as createConnectionPromise } from './clients/mysql-client.js';
import { AwsMySQLPool, createPool as createPoolPromise } from './pools/mysql-pool.js';
import {
  AwsMySQLCallbackConnection,
  AwsMySQLCallbackPoolConnection,
  createConnection as callbackConnection,
} from './clients/mysql-callback.js';
import { AwsMySQLCallbackPool, createPool as callbackPool } from './pools/mysql-callback-pool.js';
import * as driverExports from './mysql-driver-exports.js';
import { AwsMySQLPoolCluster, createPoolCluster } from './pools/mysql-pool-cluster.js';

export { AwsMySQLClient, AwsPreparedStatementInfo } from './clients/mysql-client.js';
export type { AwsMySQLClientConfig, AwsMySQLClientInit } from './clients/mysql-client.js';
export {
  AwsMySQLCallbackConnection,
  AwsMySQLCallbackPoolConnection,
  createConnection,
  createConnection as connect,
  AwsMySQLCallbackConnection as Connection,
  AwsMySQLCallbackPoolConnection as PoolConnection,
  type MySQLCallback,
} from './clients/mysql-callback.js';
export { AwsMySQLCallbackPool, AwsMySQLCallbackPool as Pool, createPool } from './pools/mysql-callback-pool.js';
export {
  AwsMySQLPoolCluster,
  AwsMySQLPoolCluster as PoolCluster,
  createPoolCluster,
} from './pools/mysql-pool-cluster.js';
export { Mysql2DriverDialect, classifyMysqlError } from './dialects/driver/mysql2.js';
export * from './errors.js';
export {
  isFailoverError,
  failoverOutcome,
  withFailoverRetry,
  type FailoverOutcome,
  type FailoverRetryOptions,
} from './failover-errors.js';
export { HostInfo, HostRole, HostAvailability } from './host-info.js';
export {
  AwsMySQLPool,
  AwsMySQLPoolConnection,
  type AwsMySQLPoolConfig,
  type AwsMySQLPoolOptions,
  type AwsMySQLPoolInit,
} from './pools/mysql-pool.js';
export { releaseResources } from './release.js';
export * from './mysql-driver-exports.js';

/** mysql2's `createConnectionPromise` / `createPoolPromise`: the very functions of `mysql/promise`, as in mysql2. */
export { createConnection as createConnectionPromise } from './clients/mysql-client.js';
export { createPool as createPoolPromise } from './pools/mysql-pool.js';

/** `import mysql from 'aws-advanced-ts-wrapper/mysql'`, as `import mysql from 'mysql2'`. */
const mysql: typeof driverExports & {
  createConnection: typeof callbackConnection;
  connect: typeof callbackConnection;
  createPool: typeof callbackPool;
  createPoolCluster: typeof createPoolCluster;
  createConnectionPromise: typeof createConnectionPromise;
  createPoolPromise: typeof createPoolPromise;
  Connection: typeof AwsMySQLCallbackConnection;
  Pool: typeof AwsMySQLCallbackPool;
  PoolConnection: typeof AwsMySQLCallbackPoolConnection;
  PoolCluster: typeof AwsMySQLPoolCluster;
  AwsMySQLClient: typeof AwsMySQLClient;
  AwsMySQLPool: typeof AwsMySQLPool;
} = {
  ...driverExports,
  createConnection: callbackConnection,
  connect: callbackConnection,
  createPool: callbackPool,
  createPoolCluster,
  createConnectionPromise,
  createPoolPromise,
  Connection: AwsMySQLCallbackConnection,
  Pool: AwsMySQLCallbackPool,
  PoolConnection: AwsMySQLCallbackPoolConnection,
  PoolCluster: AwsMySQLPoolCluster,
  AwsMySQLClient,
  AwsMySQLPool,
};
export default mysql;
