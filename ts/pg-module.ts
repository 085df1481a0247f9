/**
 * The rest of pg's module shape for `aws-advanced-ts-wrapper/pg`, so ORMs that take a pg module (Sequelize's
 * `dialectModule`, TypeORM's `driver`) get the wrapper's Client and Pool with pg's own type parsers and defaults.
 */
import pg from 'pg';
import { AwsPGClient, type AwsPGClientConfig, type AwsPGClientInit } from './clients/pg-client.js';
import { AwsPGPool, type AwsPGPoolConfig } from './pools/pg-pool.js';

export { AwsPGClient as Client } from './clients/pg-client.js';
export { AwsPGPool as Pool } from './pools/pg-pool.js';
export const types: typeof pg.types = pg.types;
export const defaults: typeof pg.defaults = pg.defaults;
export const DatabaseError: typeof pg.DatabaseError = pg.DatabaseError;

/** What ORMs read from a pg module. */
export interface PgDriverModule {
  Client: new (config?: AwsPGClientConfig | string) => AwsPGClient;
  Pool: new (config?: AwsPGPoolConfig | string) => AwsPGPool;
  types: typeof pg.types;
  defaults: typeof pg.defaults;
  DatabaseError: typeof pg.DatabaseError;
}

/**
 * A pg module whose Client and Pool put `options` (wrapper options: plugins, failoverTimeoutMs, …) under every config
 * they get, and use `init.services` — for ORMs that pass the driver only pg's own keys (Sequelize keeps a fixed list
 * of `dialectOptions`). The config an ORM passes wins over `options` for the same key.
 */
export function withOptions(options: Partial<AwsPGClientConfig>, init: AwsPGClientInit = {}): PgDriverModule {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(
      `withOptions: options must be an object of wrapper options, got ${options === null ? 'null' : typeof options}`,
    );
  }
  const merge = <T>(config: T | string | undefined): T =>
    (typeof config === 'string' ? { ...options, connectionString: config } : { ...options, ...config }) as T;
  return {
    Client: class Client extends AwsPGClient {
      constructor(config?: AwsPGClientConfig | string) {
        super(merge(config), init);
      }
    },
    Pool: class Pool extends AwsPGPool {
      constructor(config?: AwsPGPoolConfig | string) {
        super(merge(config), { services: init.services });
      }
    },
    types,
    defaults,
    DatabaseError,
  };
}
