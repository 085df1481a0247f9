/**
 * `stale_dns`: never hands out a connection to a demoted writer because a writer cluster endpoint
 * still resolves to it (DNS lags a failover by its TTL). After connecting through a writer cluster endpoint
 * (`cluster-`, global writer), the connection's role is checked on the server; if it is not the writer, the writer
 * is confirmed from the topology (panic probe: a host verifying itself as writer), the client connects to that
 * instance instead, and the stale connection is closed.
 *
 * The seed compares the endpoint's resolved IP with the writer instance's; asking the server which role it has is
 * exact where IPs mislead (proxies, tunnels, hostAddressMap) and costs one query per connect through the endpoint.
 * The same helper runs inside the failover plugins' connect, as in the seed.
 */
import { AwsWrapperError } from '../errors.js';
import { HostRole, type HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import {
  PIPELINE,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type PluginFactory,
  type PluginService,
} from '../plugin.js';
import { isGlobalDbWriterClusterDns, isRdsClusterDns, isWriterClusterDns } from '../rds-utils.js';

const log = getLogger('stale-dns');

/** Longest wait for a verified writer once stale DNS is detected. */
const WRITER_CONFIRM_TIMEOUT_MS = 5000;

export class StaleDnsHelper<C> {
  constructor(
    private readonly service: PluginService<C>,
    private readonly owner: ConnectionPlugin<C>,
  ) {}

  /** `next()` for a writer cluster endpoint, replaced by a connection to the verified writer when DNS is stale. */
  async verifiedConnection(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    if (!isWriterClusterDns(host.host) && !isGlobalDbWriterClusterDns(host.host)) return next();
    const conn = await next();
    const s = this.service;
    if (s.isStaticHostListProvider) return conn;
    let role: HostRole;
    try {
      role = await s.getHostRole(conn);
    } catch (err) {
      s.driverDialect.end(conn, 1000).catch(() => undefined);
      throw err;
    }
    if (role === HostRole.WRITER) return conn;

    log.info(`stale DNS: ${host.host} leads to a reader; connecting to the verified writer instead`);
    const confirmed = await s.forceRefreshHostList(
      true,
      Math.max(WRITER_CONFIRM_TIMEOUT_MS, s.options.auxiliaryQueryTimeoutSec * 1000),
    );
    const writer = confirmed ? s.allHosts.find((h) => h.role === HostRole.WRITER) : undefined;
    if (writer === undefined || isRdsClusterDns(writer.host)) {
      s.driverDialect.end(conn, 1000).catch(() => undefined);
      throw new AwsWrapperError(`The writer endpoint ${host.host} leads to a reader and no writer could be confirmed`, {
        code: '08001',
      });
    }
    s.driverDialect.end(conn, 1000).catch(() => undefined);
    const writerConn = await s.connect(writer, props, this.owner);
    let writerRole: HostRole;
    try {
      writerRole = await s.getHostRole(writerConn);
    } catch (err) {
      s.driverDialect.end(writerConn, 1000).catch(() => undefined);
      throw err;
    }
    if (writerRole !== HostRole.WRITER) {
      s.driverDialect.end(writerConn, 1000).catch(() => undefined);
      throw new AwsWrapperError(`${writer.hostAndPort} is no longer the writer; retry the connection`, {
        code: '08001',
      });
    }
    if (isInitial) s.initialConnectionHostInfo = writer;
    return writerConn;
  }
}

export class StaleDnsPlugin<C> implements ConnectionPlugin<C> {
  readonly code = 'stale_dns';
  readonly subscribedMethods: ReadonlySet<string> = new Set<string>([PIPELINE.connect]);
  private readonly helper: StaleDnsHelper<C>;

  constructor(service: PluginService<C>) {
    this.helper = new StaleDnsHelper(service, this);
  }

  /** Only writer cluster endpoints are checked against the topology. */
  needsDialect(host: HostInfo): boolean {
    return isWriterClusterDns(host.host) || isGlobalDbWriterClusterDns(host.host);
  }

  connect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.helper.verifiedConnection(host, props, isInitial, next);
  }
}

export const staleDnsPluginFactory: PluginFactory = {
  code: 'stale_dns',
  weight: 200,
  aliases: ['staleDns'],
  create: <C>(service: PluginService<C>) => new StaleDnsPlugin<C>(service),
};
