/**
 * `read_write_splitting`: `setReadOnly(true)` moves the client to a reader of the cluster topology
 * (chosen with readerHostSelectorStrategy), `setReadOnly(false)` back to the writer; the connection switched away
 * from stays cached, or goes back to the internal pool. Rules and bookkeeping live in rw-common.ts.
 *
 * Beyond the seed: the initial connection (often a cluster endpoint) is identified as a topology instance before
 * the first switch, so a cached writer that is no longer the writer after a failover is recognised; and a switch to a
 * writer that cannot be reached re-reads the topology (writer confirmed) and tries the new writer once.
 */
import { ConfigurationError } from '../errors.js';
import { HostAvailability, HostRole, type HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import { hostSelectors } from '../host-selectors.js';
import { PIPELINE, type ConnectFn, type ConnectProps, type PluginFactory, type PluginService } from '../plugin.js';
import {
  ReadWriteSplittingBase,
  ReadWriteSplittingError,
  RW_SUBSCRIBED_METHODS,
  errorText,
  sharedInternalPools,
  type CachedConnection,
} from './rw-common.js';

const log = getLogger('read-write-splitting');

const LEAST_CONNECTIONS = 'least_connections';

export class ReadWriteSplittingPlugin<C> extends ReadWriteSplittingBase<C> {
  readonly code: string = 'read_write_splitting';
  override readonly subscribedMethods: ReadonlySet<string> = new Set<string>([
    ...RW_SUBSCRIBED_METHODS,
    PIPELINE.acceptsStrategy,
    PIPELINE.getHostInfoByStrategy,
  ]);
  readonly strategy: string;

  constructor(service: PluginService<C>, props: ConnectProps) {
    super(service, props);
    this.strategy = props.options.readerHostSelectorStrategy;
    if (typeof this.strategy !== 'string' || this.strategy.trim() === '') {
      throw new ConfigurationError('readerHostSelectorStrategy must be a strategy name', 'readerHostSelectorStrategy');
    }
  }

  /** Switching follows the topology: whether there is one is known before the first switch (never mid-transaction). */
  needsDialect(): boolean {
    return true;
  }

  override connect(_host: HostInfo, _props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    if (isInitial) {
      if (this.pools === undefined && this.service.options.internalConnectionPool) {
        this.pools = sharedInternalPools(this.service);
        this.poolsShared = true;
      }
      if (!this.service.acceptsStrategy(HostRole.READER, this.strategy)) {
        return Promise.reject(
          new ConfigurationError(
            `read_write_splitting: unsupported readerHostSelectorStrategy '${this.strategy}'` +
              (this.strategy === LEAST_CONNECTIONS
                ? ' (least_connections needs internalConnectionPool or AwsPGPool / AwsMySQLPool)'
                : '') +
              (this.strategy === 'fastest_response'
                ? " (fastest_response needs the 'fastest_response_strategy' plugin)"
                : ''),
            'readerHostSelectorStrategy',
          ),
        );
      }
    }
    return next();
  }

  acceptsStrategy(_role: HostRole, strategy: string): boolean {
    return strategy === LEAST_CONNECTIONS && this.pools !== undefined;
  }

  getHostInfoByStrategy(role: HostRole, strategy: string, hosts?: readonly HostInfo[]): HostInfo | undefined {
    const pools = this.pools;
    if (strategy !== LEAST_CONNECTIONS || pools === undefined) return undefined;
    return hostSelectors(this.service.services).selectLeastConnections(hosts ?? this.service.allHosts, role, (h) =>
      pools.inUseCount(h),
    );
  }

  protected roleOf(host: HostInfo): HostRole {
    return host.role;
  }

  protected refreshHosts(): Promise<void> {
    return this.service.refreshHostList();
  }

  protected hasReaders(): boolean {
    return this.service.allHosts.some((h) => h.role === HostRole.READER);
  }

  protected isStillValid(host: HostInfo, role: HostRole): boolean {
    // Hosts that did not come from the topology (a cluster endpoint the client connected to) cannot be checked.
    if (host.hostId === undefined) return true;
    const now = this.service.allHosts.find((h) => h.hostId === host.hostId);
    return now !== undefined && now.role === role && now.availability === HostAvailability.AVAILABLE;
  }

  /** Identifies the initial connection as a topology instance (role included) before the first switch. */
  protected override async prepareInitialConnection(): Promise<void> {
    const service = this.service;
    const conn = service.currentConnection;
    const host = service.currentHostInfo;
    if (conn === undefined || host === undefined || host.hostId !== undefined || service.isStaticHostListProvider)
      return;
    await service.refreshHostList();
    const found = await service.identifyConnection(conn);
    if (found !== undefined) {
      if (service.currentConnection === conn) await service.setCurrentConnection(conn, found);
    } else {
      const role = await service.getHostRole(conn);
      if (role !== host.role && service.currentConnection === conn)
        await service.setCurrentConnection(conn, host.with({ role }));
    }
    const initial = service.initialConnectionHostInfo;
    const now = service.currentHostInfo;
    if (initial !== undefined && now !== undefined && initial.role !== now.role)
      service.initialConnectionHostInfo = initial.with({ role: now.role });
  }

  /**
   * A reader chosen with the strategy among the available readers (all readers if none is marked available);
   * a reader that cannot be reached is not tried again in this switch.
   */
  protected async openReader(): Promise<CachedConnection<C>> {
    const service = this.service;
    const failed = new Set<string>();
    let lastError: unknown;
    const attempts = 2 * Math.max(1, service.allHosts.length);
    for (let i = 0; i < attempts; i++) {
      let candidates = service.hosts.filter(
        (h) => h.role === HostRole.READER && !failed.has(h.url) && this.readerAllowed(h),
      );
      if (candidates.length === 0) {
        candidates = service.allHosts
          .filter((h) => h.role === HostRole.READER && !failed.has(h.url) && this.readerAllowed(h))
          .map((h) =>
            h.availability === HostAvailability.AVAILABLE ? h : h.with({ availability: HostAvailability.AVAILABLE }),
          );
      }
      if (candidates.length === 0) break;
      const host = service.getHostInfoByStrategy(HostRole.READER, this.strategy, candidates);
      try {
        return await this.openTo(host, true);
      } catch (err) {
        if (service.endSignal?.aborted === true) throw err;
        lastError = err;
        failed.add(host.url);
        log.debug(`Could not connect to reader ${host.hostAndPort}: ${errorText(err)}`);
      }
    }
    throw new ReadWriteSplittingError(
      `No reader could be reached${lastError === undefined ? '' : `: ${errorText(lastError)}`}`,
      lastError === undefined ? undefined : { cause: lastError },
    );
  }

  /** Whether a topology reader may be switched to (gdb_rw: home region only). */
  protected readerAllowed(_host: HostInfo): boolean {
    return true;
  }

  protected async openWriter(): Promise<CachedConnection<C>> {
    const writer = this.topologyWriter();
    try {
      return await this.openTo(writer, true);
    } catch (err) {
      if (this.service.endSignal?.aborted === true) throw err;
      // The writer may have changed (failover) since the topology was read: read it again, writer confirmed.
      log.debug(`Could not connect to writer ${writer.hostAndPort} (${errorText(err)}); re-reading the topology`);
      if (!(await this.service.forceRefreshHostList(true, this.auxTimeoutMs))) throw err;
      const again = this.topologyWriter();
      if (again.hostAndPort === writer.hostAndPort) throw err;
      return await this.openTo(again, true);
    }
  }

  private topologyWriter(): HostInfo {
    const writer = this.service.allHosts.find((h) => h.role === HostRole.WRITER);
    if (writer !== undefined) return writer;
    const filter = this.service.allowedAndBlockedHosts;
    if (filter === undefined) throw new ReadWriteSplittingError('No writer in the cluster topology');
    // The writer is there but left out (custom_endpoint): say so, a READER endpoint never reaches it.
    const restriction =
      filter.allowed !== undefined
        ? `the members ${[...filter.allowed].join(', ')}`
        : `every instance but ${[...(filter.blocked ?? [])].join(', ')}`;
    throw new ReadWriteSplittingError(
      `No writer among the hosts this client may use (${restriction}, from custom_endpoint): the cluster's writer is ` +
        'not a member of the custom endpoint',
    );
  }
}

export const readWriteSplittingPluginFactory: PluginFactory = {
  code: 'read_write_splitting',
  weight: 300,
  aliases: ['readWriteSplitting'],
  create: <C>(service: PluginService<C>, props: ConnectProps) => new ReadWriteSplittingPlugin<C>(service, props),
};
