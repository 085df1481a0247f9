/**
 * `aws-advanced-ts-wrapper/mysql/promise`: the drop-in for `mysql2/promise` (`await createConnection(cfg)` gives an
 * AwsMySQLClient, `createPool(cfg)` an AwsMySQLPool).
 */
import { AwsMySQLClient, createConnection } from './clients/mysql-client.js';
import { AwsMySQLPool, AwsMySQLPoolConnection, createPool } from './pools/mysql-pool.js';
import * as driverExports from './mysql-driver-exports.js';

export { AwsMySQLClient, AwsPreparedStatementInfo, createConnection } from './clients/mysql-client.js';
export {
  AwsMySQLClient as Connection,
  AwsMySQLClient as PromiseConnection,
  type AwsMySQLClientConfig,
  type AwsMySQLClientInit,
} from './clients/mysql-client.js';
export {
  AwsMySQLPool,
  AwsMySQLPool as PromisePool,
  AwsMySQLPoolConnection,
  AwsMySQLPoolConnection as PoolConnection,
  AwsMySQLPoolConnection as PromisePoolConnection,
  createPool,
  type AwsMySQLPoolConfig,
  type AwsMySQLPoolOptions,
  type AwsMySQLPoolInit,
} from './pools/mysql-pool.js';
export * from './errors.js';
export {
  isFailoverError,
  failoverOutcome,
  withFailoverRetry,
  type FailoverOutcome,
  type FailoverRetryOptions,
} from './failover-errors.js';
export { HostInfo, HostRole, HostAvailability } from './host-info.js';
export { releaseResources } from './release.js';
export * from './mysql-driver-exports.js';

/** `import mysql from 'aws-advanced-ts-wrapper/mysql/promise'`, as `import mysql from 'mysql2/promise'`. */
const mysql: typeof driverExports & {
  createConnection: typeof createConnection;
  createPool: typeof createPool;
  Connection: typeof AwsMySQLClient;
  PromiseConnection: typeof AwsMySQLClient;
  PoolConnection: typeof AwsMySQLPoolConnection;
  PromisePoolConnection: typeof AwsMySQLPoolConnection;
  PromisePool: typeof AwsMySQLPool;
} = {
  ...driverExports,
  createConnection,
  createPool,
  Connection: AwsMySQLClient,
  PromiseConnection: AwsMySQLClient,
  PoolConnection: AwsMySQLPoolConnection,
  PromisePoolConnection: AwsMySQLPoolConnection,
  PromisePool: AwsMySQLPool,
};
export default mysql;
