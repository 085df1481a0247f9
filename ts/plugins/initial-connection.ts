/**
 * `initial_connection`: a connection opened through a cluster endpoint goes to a verified instance.
 *  - Writer endpoint (`cluster-`, global writer): the topology's writer instance, verified on the server to be the
 *    writer. While the topology is unknown the endpoint itself is used and its role checked; a reader behind the
 *    writer endpoint (stale DNS after a failover) is dropped and the writer confirmed from the topology.
 *  - Reader endpoint (`cluster-ro-`): a reader picked with readerInitialConnectionHostSelectorStrategy, verified to
 *    be a reader; the writer when the cluster has no reader (as cluster-ro does).
 * Attempts repeat every openConnectionRetryIntervalMs (network failures included) until
 * openConnectionRetryTimeoutMs (the seed reads the interval as the deadline — a quirk not copied); then a plain
 * connection through the endpoint is returned. Login errors and other non-network errors are raised at once.
 * Other hosts (instances, IPs, custom names) pass through.
 */
import { UnsupportedOperationError } from '../errors.js';
import { HostAvailability, HostRole, type HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import {
  PIPELINE,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type PluginFactory,
  type PluginService,
} from '../plugin.js';
import { isGlobalDbWriterClusterDns, isRdsClusterDns, isReaderClusterDns, isWriterClusterDns } from '../rds-utils.js';
import { boundedConnectProps, describe, sleep } from './failover-common.js';

const log = getLogger('initial-connection');

type Accept = (role: HostRole, readersKnown: number) => boolean;

export class InitialConnectionPlugin<C> implements ConnectionPlugin<C> {
  readonly code = 'initial_connection';
  readonly subscribedMethods: ReadonlySet<string> = new Set<string>([PIPELINE.connect]);

  constructor(
    private readonly service: PluginService<C>,
    private readonly props: ConnectProps,
  ) {}

  /** Only connections through a cluster endpoint are verified against the topology. */
  needsDialect(host: HostInfo): boolean {
    return isWriterClusterDns(host.host) || isGlobalDbWriterClusterDns(host.host) || isReaderClusterDns(host.host);
  }

  async connect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    const writerEndpoint = isWriterClusterDns(host.host) || isGlobalDbWriterClusterDns(host.host);
    const readerEndpoint = isReaderClusterDns(host.host);
    if (!writerEndpoint && !readerEndpoint) return next();
    if (readerEndpoint) {
      const strategy = this.props.options.readerInitialConnectionHostSelectorStrategy;
      if (!this.service.acceptsStrategy(HostRole.READER, strategy)) {
        throw new UnsupportedOperationError(
          `readerInitialConnectionHostSelectorStrategy '${strategy}' is not supported by the host selectors or plugins in use`,
        );
      }
    }
    const conn = await this.verified(host, props, isInitial, next, writerEndpoint ? HostRole.WRITER : HostRole.READER);
    return conn ?? next();
  }

  /** A verified connection, or undefined when the retry time ran out (the caller then uses the endpoint). */
  private async verified(
    endpoint: HostInfo,
    props: ConnectProps,
    isInitial: boolean,
    next: ConnectFn<C>,
    wanted: HostRole,
  ): Promise<C | undefined> {
    const s = this.service;
    const o = this.props.options;
    const deadline = Date.now() + o.openConnectionRetryTimeoutMs;
    // Behind cluster-ro, the writer is accepted when the cluster has no reader at all.
    const accept: Accept = (role, readersKnown) =>
      role === wanted || (wanted === HostRole.READER && role === HostRole.WRITER && readersKnown === 0);
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        if (Date.now() + o.openConnectionRetryIntervalMs >= deadline) break;
        await sleep(o.openConnectionRetryIntervalMs);
      }
      const target = this.pick(wanted);
      let conn: C | undefined;
      let host: HostInfo = target ?? endpoint;
      try {
        conn =
          target === undefined
            ? await next()
            : await s.connect(target, boundedConnectProps(props, Math.max(1, deadline - Date.now())), this);
        // Not a cluster the wrapper knows the topology of (e.g. the dialect has none): nothing to verify.
        if (s.isStaticHostListProvider) return conn;
        if (target === undefined) await s.refreshHostList(conn).catch(() => undefined);
        const role = await s.getHostRole(conn);
        const readers = s.allHosts.filter((h) => h.role === HostRole.READER).length;
        if (accept(role, readers)) {
          if (target === undefined) host = (await s.identifyConnection(conn).catch(() => undefined)) ?? endpoint;
          if (isInitial) s.initialConnectionHostInfo = host.role === role ? host : host.with({ role });
          return conn;
        }
        log.debug(`${host.hostAndPort} is a ${role}, not the ${wanted} behind ${endpoint.host}; retrying`);
        s.driverDialect.end(conn, 1000).catch(() => undefined);
        conn = undefined;
        // The topology may be stale (it named this host): confirm the writer from the servers themselves.
        await s.forceRefreshHostList(true, Math.max(1, Math.min(deadline - Date.now(), 5000)));
      } catch (err) {
        if (conn !== undefined) s.driverDialect.end(conn, 1000).catch(() => undefined);
        if (!s.isNetworkError(err)) throw err;
        lastError = err;
        log.debug(`connecting to ${host.hostAndPort} failed: ${describe(err)}`);
        if (target !== undefined) {
          s.setAvailability(target.allAliases, HostAvailability.UNAVAILABLE);
          // The instance the topology named is gone: find out from the servers which one replaced it.
          if (wanted === HostRole.WRITER)
            await s.forceRefreshHostList(true, Math.max(1, Math.min(deadline - Date.now(), 5000)));
        }
      }
    }
    log.info(
      `no verified ${wanted} behind ${endpoint.host} within ${o.openConnectionRetryTimeoutMs} ms${lastError ? ` (last error: ${describe(lastError)})` : ''}; connecting through the endpoint`,
    );
    return undefined;
  }

  /** The instance to try: the topology writer, or a reader picked with the strategy; undefined = use the endpoint. */
  private pick(wanted: HostRole): HostInfo | undefined {
    const s = this.service;
    const all = s.allHosts;
    if (wanted === HostRole.WRITER) {
      const writer = all.find((h) => h.role === HostRole.WRITER);
      return writer === undefined ||
        isRdsClusterDns(writer.host) ||
        (all.length < 2 && writer === s.hostListProvider.initialHostInfo)
        ? undefined
        : writer;
    }
    const readers = all.filter((h) => h.role === HostRole.READER && h.availability === HostAvailability.AVAILABLE);
    if (readers.length === 0) return undefined;
    try {
      return s.getHostInfoByStrategy(
        HostRole.READER,
        this.props.options.readerInitialConnectionHostSelectorStrategy,
        readers,
      );
    } catch {
      return undefined;
    }
  }
}

export const initialConnectionPluginFactory: PluginFactory = {
  code: 'initial_connection',
  weight: 50,
  aliases: ['initialConnection'],
  create: <C>(service: PluginService<C>, props: ConnectProps) => new InitialConnectionPlugin<C>(service, props),
};
