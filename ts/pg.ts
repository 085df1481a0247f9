/** `aws-advanced-ts-wrapper/pg`: the pg (node-postgres) client of the wrapper. */
export { AwsPGClient, type AwsPGClientConfig, type AwsPGClientInit } from './clients/pg-client.js';
export { PgDriverDialect, classifyPgError, classifySqlState, type PgWrapperOptions } from './dialects/driver/pg.js';
export { AwsPGPool, AwsPGPoolClient, type AwsPGPoolConfig, type AwsPGPoolOptions, type AwsPGPoolInit } from './pools/pg-pool.js';
