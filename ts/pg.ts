/** `aws-advanced-ts-wrapper/pg`: the pg (node-postgres) client and pool of the wrapper and what their users need alongside. */
export { AwsPGClient, type AwsPGClientConfig, type AwsPGClientInit } from './clients/pg-client.js';
export { PgDriverDialect, classifyPgError, classifySqlState, type PgWrapperOptions } from './dialects/driver/pg.js';
export {
  AwsPGPool,
  AwsPGPoolClient,
  type AwsPGPoolConfig,
  type AwsPGPoolOptions,
  type AwsPGPoolInit,
} from './pools/pg-pool.js';
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

export { Client, Pool, types, defaults, DatabaseError, withOptions, type PgDriverModule } from './pg-module.js';
