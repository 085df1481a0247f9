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
import type { ClusterTopologyMonitor, TopologyPublication } from '../../ts/host-list-providers/topology-monitor.js';
import { topologyMonitors } from '../../ts/host-list-providers/cluster-state.js';

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

  /**
   * A connected client (no plugins: the host list provider alone drives the monitor) with fast monitor bounds. A
   * client without plugins reads no topology by itself: one read on its connection attaches it to the monitor.
   */
  async client(
    services: WrapperServices,
    endpoint = 'writer',
    extra: Record<string, unknown> = {},
  ): Promise<AnyClient> {
    const cfg = {
      ...this.cluster.clientConfig(endpoint),
      plugins: [],
      topologyRefreshMs: 500,
      'topology-monitoring-connectTimeout': 1000,
      'topology-monitoring-socketTimeout': 1000,
      ...extra,
    };
    const client: AnyClient = this.isPg ? new AwsPGClient(cfg, { services }) : new AwsMySQLClient(cfg, { services });
    client.on('error', () => {});
    await client.connect();
    await client.core.pluginService.refreshHostList();
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
  const m = topologyMonitors(services).get(providerOf(client).clusterId);
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
      seen.push(
        `#${p.seq} ${p.reason} ${p.confirmed ? 'confirmed' : 'unconfirmed'} [${p.hosts.map((h) => instanceName(h.host)).join(',')}]`,
      );
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

/**
 * The per-flavour checks (one uvu suite per cluster): shared monitor and true writer in the first topology,
 * forceRefresh(verify), failover found by the monitor alone (timed), last client ends the monitor.
 */
export function registerFlavourSuite(
  suite: import('uvu').Test,
  flavour: Flavour,
  assert: typeof import('uvu/assert'),
): void {
  let lab: TopologyLab | undefined;
  let services: WrapperServices;
  const clients: AnyClient[] = [];
  const writerOf = (p: TopologyPublication): string | undefined => instanceName(p.hosts[0]?.host);

  suite.before(async () => {
    lab = await TopologyLab.start(flavour, 2);
    services = new WrapperServices();
  });
  suite.after(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await services?.close();
    await lab?.stop();
  });

  suite(`${flavour}: clients share one monitor; the first topology names the true writer`, async () => {
    const a = await lab!.client(services, 'writer');
    clients.push(a);
    const b = await lab!.client(services, 'reader');
    clients.push(b);
    const monitor = monitorOf(services, a);
    assert.is(monitorOf(services, b), monitor);
    assert.is(monitor.referenceCount, 2);
    const hosts = await providerOf(a).forceRefresh(true, 10_000);
    assert.is(instanceName(hosts[0].host), lab!.cluster.writer.name);
    assert.equal(
      hosts
        .slice(1)
        .map((h) => instanceName(h.host))
        .sort(),
      lab!.cluster.readers.map((r) => r.name).sort(),
    );
  });

  suite(`${flavour}: failover is found and published by the monitor alone`, async () => {
    const monitor = monitorOf(services, clients[0]);
    const oldWriter = lab!.cluster.writer.name;
    const started = Date.now();
    const published = nextPublication(
      monitor,
      (p) => p.confirmed && writerOf(p) !== oldWriter,
      30_000,
      'naming a new writer',
    );
    const result = await lab!.cluster.failover();
    const p = await published;
    assert.is(writerOf(p), result.newWriter);
    console.log(
      `${flavour} failover ${result.oldWriter} -> ${result.newWriter}: fence ${result.fenceMs} ms, promote ${result.promoteMs} ms; ` +
        `new writer published ${Math.round(p.at - (started + result.totalMs))} ms after the promotion ended (reason ${p.reason})`,
    );
    // Readers were repointed: a verified refresh agrees.
    const hosts = await providerOf(clients[1]).forceRefresh(true, 10_000);
    assert.is(instanceName(hosts[0].host), result.newWriter);
    await lab!.cluster.rejoin(result.oldWriter);
  });

  suite(`${flavour}: the last client ending stops the monitor`, async () => {
    const monitor = monitorOf(services, clients[0]);
    for (const c of clients.splice(0)) await c.end();
    assert.ok(monitor.isClosed);
    assert.is(topologyMonitors(services).size, 0);
  });
}
