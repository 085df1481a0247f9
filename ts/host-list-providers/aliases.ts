/**
 * fillAliases: records every name a connected host is known by, so that availability and host
 * list changes reported under one name apply to all: `host[:port]`, the dialect's alias query results
 * (e.g. `10.0.0.5:5432`, `ip-10-0-0-5:3306`) and the aliases of the topology host the connection is identified as.
 */
import type { HostInfo } from '../host-info.js';
import type { HostListProvider } from '../plugin.js';
import type { DatabaseDialect, DriverDialect } from '../dialects/types.js';
import { QueryTimeoutError } from '../errors.js';
import { asText } from '../dialects/database/values.js';
import { getLogger } from '../logger.js';

const log = getLogger('host-list-provider');

export interface FillAliasesDeps<C> {
  readonly dialect: DatabaseDialect;
  readonly driverDialect: Pick<DriverDialect<C>, 'queryRows'>;
  readonly hostListProvider: Pick<HostListProvider<C>, 'identifyConnection'>;
  readonly auxiliaryQueryTimeoutMs: number;
}

/** No-op when `host` already has aliases. A timeout is a QueryTimeoutError; other alias-query errors are logged. */
export async function fillAliases<C>(conn: C, host: HostInfo, deps: FillAliasesDeps<C>): Promise<void> {
  if (host.aliases.size > 0) return;
  host.aliases.add(host.hostAndPort);
  if (deps.dialect.aliasQuery) {
    try {
      const rows = await deps.driverDialect.queryRows(conn, deps.dialect.aliasQuery, deps.auxiliaryQueryTimeoutMs);
      for (const row of rows) {
        const alias = asText(row[0]);
        if (alias) host.aliases.add(alias);
      }
    } catch (err) {
      if (err instanceof QueryTimeoutError) throw err;
      log.debug(`alias query of ${deps.dialect.code} failed on ${host.hostAndPort}: ${(err as Error).message}`);
    }
  }
  const identified = await deps.hostListProvider.identifyConnection(conn);
  if (identified) for (const alias of identified.allAliases) host.aliases.add(alias);
}
