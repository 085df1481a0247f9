/** `aws-advanced-ts-wrapper/mysql`: the mysql2/promise drop-in and what its users need alongside it. */
export { AwsMySQLClient, AwsPreparedStatementInfo, createConnection } from './clients/mysql-client.js';
export type { AwsMySQLClientConfig, AwsMySQLClientInit } from './clients/mysql-client.js';
export { Mysql2DriverDialect, classifyMysqlError } from './dialects/driver/mysql2.js';
export * from './errors.js';
export { HostInfo, HostRole, HostAvailability } from './host-info.js';
export { AwsMySQLPool, AwsMySQLPoolConnection, createPool, type AwsMySQLPoolConfig, type AwsMySQLPoolOptions, type AwsMySQLPoolInit } from './pools/mysql-pool.js';
export { releaseResources } from './release.js';
