/**
 * Helpers the pools share: the reset of a client going back to a pool, the link between a pool's pooled clients and
 * its internal per-instance pools, and what a pool does after a failed query (failover included).
 */
import { FailoverError, FailoverFailedError } from '../errors.js';
import { parseConnectProps } from '../options.js';
import type { ClientCore } from '../client-core.js';
import type { ClientPool } from './client-pool.js';
import type { InternalConnectionPools } from './internal-pools.js';
import { resetSession } from './session-reset.js';

/** Makes read/write splitting of a pooled client take its instance connections from the pool's internal pools. */
export function attachInternalPools(core: ClientCore<unknown>, pools: InternalConnectionPools): void {
  for (const p of core.plugins) p.useInternalPools?.(pools);
}

/** A pooled client whose physical connection is gone (or that was ended) is not handed out again. */
export function isClientBroken(core: ClientCore<unknown>): boolean {
  const conn = core.connectionOrUndefined;
  return conn === undefined || core.driverDialect.isClosed(conn);
}

/**
 * What a released client needs before another checkout sees it (resetSessionStateOnClose): back to the writer
 * when read/write splitting moved it to a reader, and the session state changed through the wrapper reset.
 * Undefined (nothing to wait for) when nothing was changed: the common case costs nothing.
 */
export function resetPooledClient(
  core: ClientCore<unknown>,
  setReadOnly: (readOnly: boolean) => Promise<void>,
): Promise<void> | undefined {
  const service = core.pluginService;
  const tracker = service.sessionStateTracker;
  if (tracker.isEmpty || !service.options.resetSessionStateOnClose) return undefined;
  return (async () => {
    const changed = { ...tracker.current };
    if (changed.readOnly === true) await setReadOnly(false);
    await resetSession(
      core.driverDialect,
      core.connection,
      changed,
      core.props.driver.database,
      service.auxiliaryQueryTimeoutMs,
    );
    tracker.reset();
  })();
}

/**
 * After a query on a pooled client failed: a failover or network error means the instance the client was on is
 * gone, so idle clients still connected to it (or already broken) are ended instead of being handed out; the client
 * itself goes back unless it is unusable (failover failed, connection lost without failover, broken transaction).
 * Returns whether the client must be destroyed.
 */
export function afterQueryError<T extends object>(
  pool: ClientPool<T>,
  core: ClientCore<unknown>,
  hostBefore: string | undefined,
  err: unknown,
  coreOf: (client: T) => ClientCore<unknown>,
): boolean {
  const failover = err instanceof FailoverError;
  const network = !failover && core.pluginService.isNetworkError(err);
  if (failover || network) {
    pool.evictIdle((c) => {
      const other = coreOf(c);
      return isClientBroken(other) || (hostBefore !== undefined && other.currentHost?.hostAndPort === hostBefore);
    });
  }
  return err instanceof FailoverFailedError || network || isClientBroken(core);
}

/**
 * Splits a pool's constructor config (object, or the URL string under `urlKey`) into the config of each pooled
 * client (pool keys removed; wrapper options validated now, as a client would) and the config the pool shows the
 * user (the password not enumerable, so logging the pool does not print it).
 */
export function splitPoolConfig(
  driver: 'pg' | 'mysql2',
  what: string,
  config: unknown,
  urlKey: 'connectionString' | 'uri',
  poolKeys: Iterable<string>,
): { all: Record<string, unknown>; clientConfig: Record<string, unknown>; shown: Record<string, unknown> } {
  if (config === null || (typeof config !== 'object' && typeof config !== 'string')) {
    throw new TypeError(
      `${what} config must be a config object or a connection URL, got ${config === null ? 'null' : typeof config}`,
    );
  }
  const all: Record<string, unknown> =
    typeof config === 'string' ? { [urlKey]: config } : { ...(config as Record<string, unknown>) };
  const clientConfig: Record<string, unknown> = { ...all };
  for (const k of poolKeys) delete clientConfig[k];
  parseConnectProps(driver, clientConfig);
  const shown: Record<string, unknown> = { ...all };
  Object.defineProperty(shown, 'password', {
    enumerable: false,
    value: all.password,
    writable: true,
    configurable: true,
  });
  return { all, clientConfig, shown };
}
