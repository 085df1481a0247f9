// The native cluster topology monitor on an aurora-pg lookalike: shared per cluster, topology polled, readers
// added/removed, forceRefresh waiting for a new topology, black-holed writer (panic mode, bounded), failover found
// by the monitor alone, per-cluster monitoring credentials, disposal and release.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WrapperServices } from '../ts/services.js';
import { nativeThreadCount, releaseResources } from '../ts/native/index.js';
import { nativeTopologyMonitorCount, type TopologyPublication } from '../ts/host-list-providers/topology-monitor.js';
import { HostRole } from '../ts/host-info.js';
import {
  instanceName,
  monitorOf,
  nextPanic,
  nextPublication,
  providerOf,
  rejectionOf,
  TopologyLab,
  type AnyClient,
} from './support/topology-monitor-lab.js';
import { topologyCache, topologyMonitors } from '../ts/host-list-providers/cluster-state.js';

let lab: TopologyLab;
let services: WrapperServices;
let clients: AnyClient[] = [];

const writerOf = (p: TopologyPublication): string | undefined => instanceName(p.hosts[0]?.host);

test.before(async () => {
  lab = await TopologyLab.start('aurora-pg', 2);
  services = new WrapperServices();
});

test.after(async () => {
  for (const c of clients) await c.end().catch(() => {});
  await services.close();
  await releaseResources();
  await lab?.stop();
});

test('two clients of the cluster (writer and reader endpoints) share one native monitor, which publishes the topology', async () => {
  const a = await lab.client(services, 'writer');
  clients.push(a);
  const monitor = monitorOf(services, a);
  const first = nextPublication(monitor, (p) => p.confirmed, 10_000, 'confirmed');
  const b = await lab.client(services, 'reader');
  clients.push(b);
  assert.is(providerOf(b).clusterId, providerOf(a).clusterId);
  assert.is(topologyMonitors(services).size, 1);
  assert.is(monitorOf(services, b), monitor);
  assert.is(monitor.referenceCount, 2);
  assert.is(nativeTopologyMonitorCount(), 1);
  // The clients' topology-monitoring- overrides bound the monitor's connects and queries.
  assert.is(monitor.settings.connectTimeoutMs, 1000);
  assert.is(monitor.settings.queryTimeoutMs, 1000);
  assert.is(monitor.settings.refreshMs, 500);

  let p: TopologyPublication | undefined;
  if (monitor.publications === 0) p = await first;
  else void first.catch(() => {}); // published already: this wait is not needed, and must not fail the file later
  const hosts = topologyCache(services).get(monitor.clusterId)!.hosts;
  assert.is(instanceName(hosts[0].host), lab.cluster.writer.name);
  assert.is(hosts[0].role, HostRole.WRITER);
  assert.equal(
    hosts
      .slice(1)
      .map((h) => instanceName(h.host))
      .sort(),
    lab.cluster.readers.map((r) => r.name).sort(),
  );
  if (p) {
    // Native code reached the writer by its RDS name: only the params callback's hostAddressMap resolves it.
    assert.ok(p.writerHost?.includes('.rds.amazonaws.com'), `writer reached as ${p.writerHost}`);
  }
});

test('topology is polled on the writer: each poll publishes (refresh interval 500 ms)', async () => {
  const monitor = monitorOf(services, clients[0]);
  const p = await nextPublication(monitor, (x) => x.reason === 'poll', 5000, 'from a regular poll');
  assert.ok(p.confirmed);
  assert.is(writerOf(p), lab.cluster.writer.name);
});

test('forceRefresh waits for a topology published after the call (confirmed when verifying the writer)', async () => {
  const monitor = monitorOf(services, clients[0]);
  const provider = providerOf(clients[0]);
  for (const verify of [false, true]) {
    const seqs: number[] = [];
    const onTopology = (p: TopologyPublication): void => void seqs.push(p.seq);
    const before = monitor.publications;
    monitor.on('topology', onTopology);
    const started = Date.now();
    const pending = provider.forceRefresh(verify, 5000);
    // A working native monitor alone answers: no TypeScript panic probe was started.
    assert.not.ok(services.peek<Map<string, unknown>>('topology:probes')?.has(provider.clusterId));
    const hosts = await pending;
    monitor.off('topology', onTopology);
    assert.ok(monitor.publications > before, `verify=${verify}: no publication after the call`);
    assert.is(instanceName(hosts[0].host), lab.cluster.writer.name);
    console.log(`forceRefresh(verifyWriter=${verify}) answered in ${Date.now() - started} ms`);
  }
  // Timeout 0: the current topology at once, no waiting.
  const now = await provider.forceRefresh(false, 0);
  assert.is(instanceName(now[0].host), lab.cluster.writer.name);
});

test('a reader added, then removed, appears in and leaves the published topology', async () => {
  const monitor = monitorOf(services, clients[0]);
  // Each wait starts before the change: the monitor may publish before the lookalike's call returns.
  const before = new Set(lab.cluster.instances.map((i) => i.name));
  const added = nextPublication(
    monitor,
    (p) => p.hosts.some((h) => !before.has(instanceName(h.host) ?? '')),
    20_000,
    'listing the new reader',
  );
  const name = await lab.cluster.addReader();
  const addedTopology = await added;
  assert.ok(addedTopology.hosts.some((h) => instanceName(h.host) === name));
  assert.is(addedTopology.hosts.length, 4);
  const removedWait = nextPublication(
    monitor,
    (p) => !p.hosts.some((h) => instanceName(h.host) === name),
    20_000,
    `without ${name}`,
  );
  await lab.cluster.removeReader(name);
  const removed = await removedWait;
  assert.is(removed.hosts.length, 3);
});

test('black-holed writer: panic mode within the query bound, forceRefresh(verify) bounded, writer confirmed again after heal', async () => {
  const monitor = monitorOf(services, clients[0]);
  const provider = providerOf(clients[0]);
  const writer = lab.cluster.writer.name;
  const panic = nextPanic(monitor, 10_000);
  const hungAt = Date.now();
  await lab.cluster.hang(writer);
  const reason = await panic;
  console.log(`black-holed writer: panic mode after ${Date.now() - hungAt} ms (${reason})`);
  assert.ok(monitor.panicking);

  const started = Date.now();
  const err = await rejectionOf(provider.forceRefresh(true, 1500));
  const waited = Date.now() - started;
  assert.is(err.code, 'WRAPPER_TOPOLOGY_TIMEOUT');
  // Not before its bound, and not much after (room for a loaded machine): a wait that ignored it would hang.
  assert.ok(waited >= 1400 && waited < 6000, `forceRefresh(true, 1500) gave up after ${waited} ms`);

  const back = nextPublication(monitor, (p) => p.confirmed && writerOf(p) === writer, 15_000, `confirming ${writer}`);
  await lab.cluster.heal(writer);
  const p = await back;
  assert.is(p.reason, 'writer-confirmed');
  assert.not.ok(monitor.panicking);
});

test('failover: the monitor alone finds and publishes the new writer', async () => {
  const monitor = monitorOf(services, clients[0]);
  const oldWriter = lab.cluster.writer.name;
  const started = Date.now();
  const published = nextPublication(
    monitor,
    (p) => p.confirmed && writerOf(p) !== oldWriter,
    30_000,
    'naming a new writer',
  );
  const result = await lab.cluster.failover();
  const p = await published;
  assert.is(writerOf(p), result.newWriter);
  assert.is(p.hosts[0].role, HostRole.WRITER);
  const promotedAt = started + result.totalMs;
  console.log(
    `failover ${result.oldWriter} -> ${result.newWriter}: fence ${result.fenceMs} ms, promote ${result.promoteMs} ms; ` +
      `new writer published ${Math.round(p.at - promotedAt)} ms after the promotion ended (${Math.round(p.at - started)} ms after the failover began, reason ${p.reason})`,
  );
  const cached = topologyCache(services).get(monitor.clusterId)!.hosts;
  assert.is(instanceName(cached[0].host), result.newWriter);
  await lab.cluster.rejoin(result.oldWriter);
});

test("monitoring credentials come from the cluster clients' monitoring props (per cluster, not process-wide)", async () => {
  const other = new WrapperServices();
  try {
    const c = await lab.client(other, 'writer', {
      'topology-monitoring-password': 'wrong-password',
      'topology-monitoring-connectTimeout': undefined,
      'topology-monitoring-socketTimeout': undefined,
    });
    const monitor = monitorOf(other, c);
    // Without overrides: the documented 5 s connect / query bounds of topology monitoring connections.
    assert.is(monitor.settings.connectTimeoutMs, 5000);
    assert.is(monitor.settings.queryTimeoutMs, 5000);
    // The client itself logs in; its monitor, with the wrong password, never confirms a writer.
    const none = await rejectionOf(monitor.forceRefresh(true, 1500));
    assert.is(none.code, 'WRAPPER_TOPOLOGY_TIMEOUT', `${none.name}: ${none.message}`);
    assert.ok(monitor.panicking);
    assert.is(monitor.publications, 0);
    assert.not.ok(String(none.message).includes('wrong-password'));
    // Meanwhile the first services' monitor is unaffected.
    const hosts = await providerOf(clients[0]).forceRefresh(true, 5000);
    assert.ok(hosts.length >= 3);
    await c.end();
  } finally {
    await other.close();
  }
});

test('the last client ending stops the monitor; releaseResources leaves no native thread', async () => {
  const monitor = monitorOf(services, clients[0]);
  await clients[0].end();
  assert.is(monitor.referenceCount, 1);
  assert.not.ok(monitor.isClosed);
  await clients[1].end();
  clients = [];
  assert.ok(monitor.isClosed);
  assert.is(topologyMonitors(services).size, 0);
  assert.is(nativeTopologyMonitorCount(), 0);
  await releaseResources();
  assert.is(nativeThreadCount(), 0);
});

test.run();
