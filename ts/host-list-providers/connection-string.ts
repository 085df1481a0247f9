/**
 * Static host list provider: the one host of the user's configuration, as the writer. Used by
 * dialects without topology (mysql, rds-mysql, pg, rds-pg, custom without topology). Cluster id `<none>`.
 */
import { HostInfo, HostRole } from '../host-info.js';
import { ConfigurationError, UnsupportedOperationError } from '../errors.js';
import type { HostListProvider } from '../plugin.js';
import type { DatabaseDialect, DriverConfig, DriverDialect } from '../dialects/types.js';
import { roleFromIsReaderRows } from './rds.js';

export const STATIC_CLUSTER_ID = '<none>';

/** The host and port of a driver config (`host`, `port`; pg and mysql2 both default to localhost). */
export function hostFromDriverConfig(config: DriverConfig): HostInfo {
  const host = config.host === undefined || config.host === null || config.host === '' ? 'localhost' : config.host;
  if (typeof host !== 'string')
    throw new ConfigurationError(`host: expected a host name string, got ${typeof host}`, 'host');
  let port = -1;
  if (config.port !== undefined && config.port !== null && config.port !== '') {
    port =
      typeof config.port === 'string' && /^\d+$/.test(config.port.trim())
        ? Number(config.port)
        : typeof config.port === 'number'
          ? config.port
          : NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ConfigurationError(`port: expected an integer in 1..65535, got ${JSON.stringify(config.port)}`, 'port');
    }
  }
  return new HostInfo({ host, port, role: HostRole.WRITER });
}

export interface ConnectionStringHostListProviderInit<C> {
  readonly initialHost: HostInfo;
  /** With both, getHostRole() runs the dialect's is-reader query. */
  readonly dialect?: DatabaseDialect;
  readonly driverDialect?: Pick<DriverDialect<C>, 'queryRows'>;
  readonly auxiliaryQueryTimeoutSec?: number;
}

export class ConnectionStringHostListProvider<C = unknown> implements HostListProvider<C> {
  readonly clusterId = STATIC_CLUSTER_ID;
  readonly isDynamic = false;
  readonly initialHostInfo: HostInfo;
  private readonly hosts: readonly HostInfo[];

  constructor(private readonly init: ConnectionStringHostListProviderInit<C>) {
    this.initialHostInfo =
      init.initialHost.role === HostRole.WRITER ? init.initialHost : init.initialHost.with({ role: HostRole.WRITER });
    this.hosts = [this.initialHostInfo];
  }

  async refresh(): Promise<readonly HostInfo[]> {
    return this.hosts;
  }

  /** A static list has no writer to confirm (as Python's force_monitoring_refresh). */
  async forceRefresh(): Promise<readonly HostInfo[]> {
    throw new UnsupportedOperationError(
      `The ${this.init.dialect?.code ?? 'static'} host list has no cluster topology to refresh; use a topology-aware dialect`,
    );
  }

  async getHostRole(conn: C): Promise<HostRole> {
    const { dialect, driverDialect } = this.init;
    if (!dialect || !driverDialect || !dialect.isReaderQuery)
      throw new UnsupportedOperationError('getHostRole needs a database dialect with an is-reader query');
    const rows = await driverDialect.queryRows(
      conn,
      dialect.isReaderQuery,
      (this.init.auxiliaryQueryTimeoutSec ?? 5) * 1000,
    );
    return roleFromIsReaderRows(rows, dialect.code);
  }

  /** Without a topology there is nothing to match the connection against. */
  async identifyConnection(): Promise<HostInfo | undefined> {
    return undefined;
  }

  release(): void {}
}
