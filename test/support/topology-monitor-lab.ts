// Shared by the topology monitor tests: a lookalike cluster, wrapper clients on it, and waits on the native
// monitor's events (no sleeps: every wait ends on an event or fails at its bound).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalCluster, type Flavour } from '../../ts/testing/index.js';
import { AwsPGClient } from '../../ts/clients/pg-client.js';
import { AwsMySQLClient } from '../../ts/clients/mysql-client.js';
import { WrapperServices } from '../../ts/services.js';
import type { RdsHostListProvider } from '../../ts/host-list-providers/rds.js';
import type { ClusterTopologyMonitor, TopologyPublication } from '../../ts/native/topology-monitor.js';

export type AnyClient = AwsPGClient | AwsMySQLClient;

export class TopologyLab {
  private constructor(
    readonly cluster: LocalCluster,
    private readonly dir: string,
  ) {}

  static async start(flavour: Flavour, readers = 2): Promise<TopologyLab> {
    const dir = mkdtempSync(path.join(tmpdir(), `topology-${flavour}-`));
    try {
      return new TopologyLab(await LocalCluster.start({ flavour, readers, dir, database: 'app' }), dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get isPg(): boolean {
    return this.cluster.flavour.endsWith('pg');
  }

  /** A connected client (no plugins: the host list provider alone drives the monitor) with fast monitor bounds. */
  async client(services: WrapperServices, endpoint = 'writer', extra: Record<string, unknown> = {}): Promise<AnyClient> {
    const cfg = {
      ...this.cluster.clientConfig(endpoint),
      plugins: [],
      topologyRefreshMs: 500,
      'topology-monitoring-connectTimeout': 1000,
      'topology-monitoring-socketTimeout': 1000,
      ...extra,
    };
    const client: AnyClient = this.isPg ? new AwsPGClient(cfg, { services }) : new AwsMySQLClient(cfg as never, { services });
    client.on('error', () => {});
    await client.connect();
    return client;
  }

  async stop(): Promise<void> {
    try {
      await this.cluster.stop({ keepLogs: false });
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

export function providerOf(client: AnyClient): RdsHostListProvider {
  return client.core.pluginService.hostListProvider as unknown as RdsHostListProvider;
}

export function monitorOf(services: WrapperServices, client: AnyClient): ClusterTopologyMonitor {
  const m = services.topologyMonitors.get(providerOf(client).clusterId);
  if (!m) throw new Error(`no topology monitor for cluster ${providerOf(client).clusterId}`);
  return m;
}

export function instanceName(host: string | undefined): string | undefined {
  return host?.split('.')[0];
}

/** The next publication satisfying `pred` (the last one counts too when `includeLast`); fails after `timeoutMs`. */
export function nextPublication(
  monitor: ClusterTopologyMonitor,
  pred: (p: TopologyPublication) => boolean,
  timeoutMs: number,
  what: string,
): Promise<TopologyPublication> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const onTopology = (p: TopologyPublication): void => {
      seen.push(`#${p.seq} ${p.reason} ${p.confirmed ? 'confirmed' : 'unconfirmed'} [${p.hosts.map((h) => instanceName(h.host)).join(',')}]`);
      if (!pred(p)) return;
      clearTimeout(timer);
      monitor.off('topology', onTopology);
      resolve(p);
    };
    const timer = setTimeout(() => {
      monitor.off('topology', onTopology);
      reject(new Error(`no publication ${what} within ${timeoutMs} ms; seen: ${seen.join(' | ') || 'none'}`));
    }, timeoutMs);
    monitor.on('topology', onTopology);
  });
}

/** The next 'panic' event's reason; fails after `timeoutMs`. */
export function nextPanic(monitor: ClusterTopologyMonitor, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const onPanic = (reason: string): void => {
      clearTimeout(timer);
      resolve(reason);
    };
    const timer = setTimeout(() => {
      monitor.off('panic', onPanic);
      reject(new Error(`monitor did not enter panic mode within ${timeoutMs} ms`));
    }, timeoutMs);
    monitor.once('panic', onPanic);
  });
}

/** The rejection of `p` (fails when it resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}
