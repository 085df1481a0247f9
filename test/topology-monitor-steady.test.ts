// Steady-state load of the native topology monitor on an aurora-pg lookalike, counted from the writer's own
// statement log: an idle client costs one topology poll per topologyRefreshMs plus at most one liveness ping a
// second (metrics moving in the topology rows are not changes), and the pings still catch a black-holed writer
// long before the next poll.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { WrapperServices } from '../ts/services.js';
import { releaseResources } from '../ts/native/index.js';
import { monitorOf, nextPanic, nextPublication, TopologyLab, type AnyClient } from './support/topology-monitor-lab.js';
import { StatementLog } from './support/statement-log.js';

const REFRESH_MS = 2000;
const WINDOW_MS = 5000;

let lab: TopologyLab;
let services: WrapperServices;
let log: StatementLog;
let client: AnyClient | undefined;

test.before(async () => {
  lab = await TopologyLab.start('aurora-pg', 1);
  services = new WrapperServices();
  log = await StatementLog.enable(lab.cluster, lab.cluster.writer.name);
});

test.after(async () => {
  await client?.end().catch(() => {});
  await services.close();
  await releaseResources();
  await lab?.stop();
});

test('an idle client: one topology poll per topologyRefreshMs and at most one ping a second on the writer', async () => {
  client = await lab.client(services, 'writer', { topologyRefreshMs: REFRESH_MS });
  const monitor = monitorOf(services, client);
  if (monitor.publications === 0) await nextPublication(monitor, (p) => p.confirmed, 10_000, 'confirmed');
  log.mark();
  const markedAt = Date.now();
  // The measurement is a span of wall-clock time: what the writer saw from an idle process in it. The limits count
  // the span as it really lasted (a loaded machine oversleeps), so only a monitor faster than its rates fails them.
  await sleep(WINDOW_MS);
  const n = log.count();
  const span = Date.now() - markedAt;
  console.log(`idle client, ${span} ms, topologyRefreshMs ${REFRESH_MS}: ${JSON.stringify(n)}`);
  const polls = Math.ceil(span / REFRESH_MS) + 1;
  assert.ok(n.topology >= 1, 'the monitor still polls the topology');
  assert.ok(n.topology <= polls, `${n.topology} topology queries in ${span} ms (at most ${polls} expected)`);
  assert.ok(n.writerId <= polls, `${n.writerId} writer-id queries (at most ${polls} expected)`);
  assert.ok(n.ping >= 1, 'the monitoring connection is pinged between polls');
  assert.ok(n.ping <= Math.ceil(span / 1000) + 1, `${n.ping} pings in ${span} ms (at most one a second expected)`);
  // The last client of the cluster: its monitor stops, the next test's monitor is the only one on the writer.
  await client.end();
});

test('the liveness ping sends the monitor into panic mode on a black-holed writer well before the next poll', async () => {
  // A monitor of its own polling once per 30 s: without pings, the hang would only be seen at the next poll.
  const other = new WrapperServices();
  const slow = await lab.client(other, 'writer', { topologyRefreshMs: 30_000 });
  try {
    const monitor = monitorOf(other, slow);
    assert.is(monitor.settings.refreshMs, 30_000);
    if (monitor.publications === 0) await nextPublication(monitor, (p) => p.confirmed, 10_000, 'confirmed');
    // Once the writer sees a ping, the monitor is between polls: the next one is ~30 s away.
    log.mark();
    const until = Date.now() + 5000;
    while (log.count().ping === 0 && Date.now() < until) await sleep(50);
    assert.ok(log.count().ping > 0, 'no ping on the writer within 5 s');
    const writer = lab.cluster.writer.name;
    const panic = nextPanic(monitor, 10_000);
    const hungAt = Date.now();
    await lab.cluster.hang(writer);
    let back: Promise<unknown> | undefined;
    try {
      const reason = await panic;
      console.log(`black-holed writer: panic mode after ${Date.now() - hungAt} ms (${reason})`);
      assert.match(reason, /stopped answering/);
      // Armed before the heal: the panicking monitor may confirm the writer before the heal call returns, and
      // the next regular poll is 30 s away.
      back = nextPublication(monitor, (p) => p.confirmed, 15_000, 'writer confirmed again after heal');
    } finally {
      await lab.cluster.heal(writer);
    }
    await back;
  } finally {
    await slow.end().catch(() => {});
    await other.close();
  }
});

test.run();
