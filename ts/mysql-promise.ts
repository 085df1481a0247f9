/**
 * `aws-advanced-ts-wrapper/mysql/promise`: the drop-in for `mysql2/promise` (`await createConnection(cfg)` gives an
 * AwsMySQLClient, `createPool(cfg)` an AwsMySQLPool).
 */
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
export { HostInfo, HostRole, HostAvailability } from './host-info.js';
export { releaseResources } from './release.js';
export * from './mysql-driver-exports.js';
