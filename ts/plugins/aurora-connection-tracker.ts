/**
 * `aurora_connection_tracker`: records every physical connection this client opens under its
 * instance (WrapperServices.openedConnections, shared by all clients), so that when the writer changes every
 * connection to the old writer — idle pooled ones included — is aborted at once, from whichever client or monitor
 * learns about the change first:
 *  - a new topology naming another writer (RdsHostListProvider.storeTopology: failover, monitors, refreshes);
 *  - this client's host list reporting a host CONVERTED_TO_READER.
 * Aborting destroys the socket (never a wait on a dead host); calls in flight reject with a network error (08S01)
 * and their clients fail over. Connections through a cluster endpoint are tracked under the instance they reached
 * (identified on the server).
 */
import { HostChange, type HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import {
  PIPELINE,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type ExecuteContext,
  type PluginFactory,
  type PluginService,
} from '../plugin.js';
import { isRdsInstance } from '../rds-utils.js';
import { openedConnections } from '../opened-connections.js';

const log = getLogger('connection-tracker');

export class AuroraConnectionTrackerPlugin<C> implements ConnectionPlugin<C> {
  readonly code = 'aurora_connection_tracker';
  readonly subscribedMethods: ReadonlySet<string> = new Set<string>([
    PIPELINE.connect,
    PIPELINE.notifyHostListChanged,
    'Client.end',
  ]);

  constructor(private readonly service: PluginService<C>) {}

  /** Tracking is for topology instances only: whether there is a topology decides at every connect. */
  needsDialect(): boolean {
    return true;
  }

  async connect(host: HostInfo, _props: ConnectProps, _isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    const conn = await next();
    const s = this.service;
    if (s.isStaticHostListProvider || typeof conn !== 'object' || conn === null) return conn;
    const instance = await this.instanceOf(host, conn);
    if (instance !== undefined) openedConnections(s.services).track(instance.hostAndPort, conn, s.driverDialect);
    return conn;
  }

  /** The topology instance `conn` (opened to `host`) is on; undefined when it cannot be told. */
  private async instanceOf(host: HostInfo, conn: C): Promise<HostInfo | undefined> {
    const s = this.service;
    const key = host.hostAndPort.toLowerCase();
    const known = s.allHosts.find((h) => h.hostAndPort.toLowerCase() === key);
    if (known !== undefined && known.hostId !== undefined) return known;
    if (isRdsInstance(host.host)) return host;
    try {
      return await s.identifyConnection(conn);
    } catch (err) {
      log.debug(`cannot tell which instance a connection to ${host.hostAndPort} reached: ${String(err)}`);
      return undefined;
    }
  }

  async execute<T>(ctx: ExecuteContext, next: () => Promise<T>): Promise<T> {
    if (ctx.method === 'Client.end') {
      const conn = this.service.currentConnection;
      if (typeof conn === 'object' && conn !== null) openedConnections(this.service.services).untrack(conn);
    }
    return next();
  }

  notifyHostListChanged(changes: ReadonlyMap<string, ReadonlySet<HostChange>>): void {
    for (const [url, set] of changes) {
      if (!set.has(HostChange.CONVERTED_TO_READER)) continue;
      const hostAndPort = url.endsWith('/') ? url.slice(0, -1) : url;
      openedConnections(this.service.services).abortAll(hostAndPort, `${hostAndPort} is no longer the writer`);
    }
  }
}

export const auroraConnectionTrackerPluginFactory: PluginFactory = {
  code: 'aurora_connection_tracker',
  weight: 100,
  aliases: ['auroraConnectionTracker'],
  create: <C>(service: PluginService<C>) => new AuroraConnectionTrackerPlugin<C>(service),
};
