// Enhanced failure monitoring on the lookalike, written once for both engines (each test file runs it on one
// cluster): black-holed hosts during long queries, cold monitors, repeated outages, a blocked event loop, shared
// monitors, disposal, and EFM together with failover.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Flavour } from '../../ts/testing/index.js';
import { AwsPGClient } from '../../ts/clients/pg-client.js';
import { FailoverSuccessError } from '../../ts/errors.js';
import { HostAvailability, type HostInfo } from '../../ts/host-info.js';
import { efmMonitorCount } from '../../ts/plugins/host-monitoring-efm.js';
import {
  hostMonitorRegistry,
  HostUnavailableError,
  type HostMonitoringPlugin,
  type SharedHostMonitor,
} from '../../ts/plugins/host-monitoring-common.js';
import type { WrapperServices } from '../../ts/services.js';
import { Lab, rejection, type Db } from './failover-lab.js';
import { hostAvailability } from '../../ts/host-availability.js';
import diagnosticsChannel from 'node:diagnostics_channel';
import { CHANNEL_NAMES, type EfmAbortMessage } from '../../ts/telemetry/channels.js';

/** Small detection parameters: monitored after 1 s, dead after 2 × 250 ms without an answer. */
const GRACE_MS = 1000;
const INTERVAL_MS = 250;
const COUNT = 2;
const WINDOW_MS = INTERVAL_MS * COUNT;
const FAST = {
  failureDetectionTimeMs: GRACE_MS,
  failureDetectionIntervalMs: INTERVAL_MS,
  failureDetectionCount: COUNT,
};
/**
 * Scheduling slack on a loaded shared 2-core machine. The bound under test is grace + interval × count; a monitor
 * that missed the outage would leave the call waiting for its 60 s statement.
 */
const SLACK_MS = 3000;

function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function efmPlugin(db: Db, code = 'host_monitoring_v2'): HostMonitoringPlugin<unknown> {
  // The two clients' getPlugin signatures differ: narrowed, the union is callable.
  const p = db.raw instanceof AwsPGClient ? db.raw.core.getPlugin(code) : db.raw.core.getPlugin(code);
  assert.ok(p, `${code} is loaded`);
  return p as unknown as HostMonitoringPlugin<unknown>;
}

function isNetworkError(db: Db, err: unknown): boolean {
  return (db.raw.core.pluginService as { isNetworkError(e: unknown): boolean }).isNetworkError(err);
}

function availability(services: WrapperServices, host: HostInfo): HostAvailability {
  return hostAvailability(services).get(host.allAliases);
}

/**
 * Resolves with the next `kind` event of the services' host monitors; rejects after `timeoutMs`. (Monitor events never
 * keep the process alive by themselves: the timer does while the test waits.)
 */
function nextMonitorEvent(
  services: WrapperServices,
  kind: 'dead' | 'alive' | 'disposed',
  timeoutMs = 15_000,
): Promise<SharedHostMonitor> {
  const registry = hostMonitorRegistry(services);
  return new Promise((resolve, reject) => {
    const listener = (m: SharedHostMonitor): void => {
      clearTimeout(timer);
      resolve(m);
    };
    const timer = setTimeout(() => {
      registry.removeListener(kind, listener);
      reject(new Error(`no '${kind}' monitor event within ${timeoutMs} ms`));
    }, timeoutMs);
    registry.once(kind, listener);
  });
}

export function efmSuite(flavour: Flavour): ReturnType<typeof suite> {
  const t = suite(`enhanced failure monitoring on ${flavour}`);
  let lab: Lab;
  let seq = 0;
  /** A long statement no other case runs (its text tells the server-side wait which one to look for). */
  const longQuery = (db: Db): string => db.sleepSql(60 + ++seq);

  t.before(async () => {
    lab = await Lab.start(flavour, 1);
  });
  t.after(async () => {
    await lab?.stop();
  });
  t.after.each(async () => {
    await lab.restore();
  });

  /** Starts a long query on `db` (connected to `instance`) and resolves once the server runs it. */
  async function startLongQuery(
    db: Db,
    instance: string,
  ): Promise<{ call: Promise<Error & { code?: string; cause?: unknown }>; startedAt: number }> {
    const sql = longQuery(db);
    const startedAt = Date.now();
    const call = rejection(db.query(sql));
    await lab.waitRunning(instance, sql);
    return { call, startedAt };
  }

  for (const [code, version] of [
    ['host_monitoring_v2', 2],
    ['host_monitoring', 1],
  ] as const) {
    t(
      `${code}: a host black-holed during a long query is declared dead and the query aborted within grace + interval × count; host unavailable until it answers again`,
      async () => {
        const services = lab.newServices();
        const writer = lab.cluster.writer.name;
        const db = await lab.client(writer, { plugins: code, ...FAST }, services);
        // Armed before the call: on a loaded machine the grace time can end (and a slow probe bring the verdict)
        // before the hang.
        const dead = nextMonitorEvent(services, 'dead', 30_000);
        const { call, startedAt } = await startLongQuery(db, writer);
        const host = db.currentHost!;
        await lab.cluster.hang(writer);
        const hungAt = Date.now();
        const err = await call;
        const detectedAt = Date.now();
        // The bound: the host's silence counts from the later of the outage and the end of the grace time.
        const bound = Math.max(hungAt, startedAt + GRACE_MS) + WINDOW_MS;
        assert.ok(
          detectedAt <= bound + SLACK_MS,
          `aborted ${detectedAt - bound} ms after the bound (${detectedAt - hungAt} ms after the outage)`,
        );
        assert.ok(isNetworkError(db, err), `a network error failover acts on: ${String(err)}`);
        if (version === 1) {
          assert.instance(err, HostUnavailableError);
          assert.is(err.code, '08S01');
          assert.ok(err.cause !== undefined, "the driver's error is the cause");
        }
        const monitor = await dead;
        assert.is(monitor.host.host, host.host, 'the monitor watched the instance the connection is on');
        assert.is(availability(services, host), HostAvailability.UNAVAILABLE, 'host marked unavailable');
        const alive = nextMonitorEvent(services, 'alive');
        await lab.cluster.heal(writer);
        await alive;
        assert.is(availability(services, host), HostAvailability.AVAILABLE, 'host available again once it answers');
      },
    );
  }

  t(
    'cold monitor: a host that is already dead when monitoring starts is declared dead within grace + interval × count',
    async () => {
      for (const code of ['host_monitoring_v2', 'host_monitoring']) {
        const services = lab.newServices();
        const writer = lab.cluster.writer.name;
        const db = await lab.client(writer, { plugins: code, ...FAST }, services);
        await lab.cluster.hang(writer); // before any call: no monitor exists, its first probe will fail
        assert.is(hostMonitorRegistry(services).size, 0, 'no monitor yet');
        const startedAt = Date.now();
        const err = await rejection(db.query(longQuery(db)));
        const elapsed = Date.now() - startedAt;
        assert.ok(elapsed <= GRACE_MS + WINDOW_MS + SLACK_MS, `${code}: aborted after ${elapsed} ms`);
        assert.ok(isNetworkError(db, err), String(err));
        const stats = hostMonitorRegistry(services).list()[0]?.stats();
        assert.ok(stats && stats.probes === 0, `${code}: the probe connection never opened: ${JSON.stringify(stats)}`);
        await lab.cluster.heal(writer);
      }
    },
  );

  t('three outages in a row on the same host: each is detected by the same monitor', async () => {
    const services = lab.newServices();
    services.acquire(); // as an application whose other clients keep the services (and monitors) alive
    const writer = lab.cluster.writer.name;
    let monitor: SharedHostMonitor | undefined;
    for (let round = 1; round <= 3; round++) {
      const db = await lab.client(writer, { plugins: 'host_monitoring_v2', ...FAST }, services);
      const { call, startedAt } = await startLongQuery(db, writer);
      await lab.cluster.hang(writer);
      const hungAt = Date.now();
      const err = await call;
      const bound = Math.max(hungAt, startedAt + GRACE_MS) + WINDOW_MS;
      assert.ok(Date.now() <= bound + SLACK_MS, `round ${round}: aborted ${Date.now() - bound} ms after the bound`);
      assert.ok(isNetworkError(db, err), `round ${round}: ${String(err)}`);
      const m = hostMonitorRegistry(services).list();
      assert.is(m.length, 1, 'one monitor for the host');
      monitor ??= m[0];
      assert.ok(m[0] === monitor, `round ${round}: the same monitor survived the earlier aborts`);
      const alive = nextMonitorEvent(services, 'alive');
      await lab.cluster.heal(writer);
      await alive;
      await db.end();
    }
    assert.ok(monitor === hostMonitorRegistry(services).list()[0], 'still the same monitor');
    assert.is(monitor.stats()?.deadDeclarations, 3);
    assert.is(monitor.stats()?.aborted, 3);
  });

  t('outage while the event loop is blocked for 3 s: the native monitor aborts the call during the block', async () => {
    const services = lab.newServices();
    const writer = lab.cluster.writer.name;
    const db = await lab.client(writer, { plugins: 'host_monitoring_v2', ...FAST }, services);
    const { call } = await startLongQuery(db, writer);
    const watch = efmPlugin(db).watch!;
    assert.ok(watch.nativeAbort, 'the socket can be shut down natively');
    await lab.cluster.hang(writer); // the supervisor runs outside this process: the fault holds while we block
    assert.not.ok(watch.aborted);
    blockEventLoop(3000); // detection is due ~1.5 s after the query started: inside the block (with room for load)
    // Still inside the same synchronous run: no JS callback could have run, so the native side decided and acted.
    assert.ok(watch.aborted, 'aborted natively while the loop was blocked');
    const unblockedAt = Date.now();
    const err = await call;
    const after = Date.now() - unblockedAt;
    assert.ok(after < 2000, `the query failed ${after} ms after the loop unblocked (its socket was already shut down)`);
    assert.ok(isNetworkError(db, err), String(err));
  });

  t(
    'a natively aborted call is reported (efm:abort) even when its connection leaves before the verdict reaches JS',
    async () => {
      const services = lab.newServices();
      const writer = lab.cluster.writer.name;
      const db = await lab.client(writer, { plugins: 'host_monitoring_v2', ...FAST }, services);
      const aborts: EfmAbortMessage[] = [];
      let reported: () => void = () => {};
      const abortSeen = new Promise<void>((resolve) => (reported = resolve));
      const onAbort = (m: unknown): void => {
        aborts.push(m as EfmAbortMessage);
        reported();
      };
      diagnosticsChannel.subscribe(CHANNEL_NAMES.efmAbort, onAbort);
      try {
        const { call } = await startLongQuery(db, writer);
        const plugin = efmPlugin(db);
        const watch = plugin.watch!;
        await lab.cluster.hang(writer);
        blockEventLoop(3000); // detection (~1.5 s after the query started) happens while JS cannot run
        assert.ok(watch.aborted, 'aborted natively while the loop was blocked');
        // What the socket's close does when JS handles it before the monitor's event: the connection leaves its
        // monitor (here before any event could reach JS).
        plugin.release();
        assert.ok(isNetworkError(db, await call));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          abortSeen,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('no efm:abort within 10 s')), 10_000);
          }),
        ]).finally(() => clearTimeout(timer));
        assert.is(aborts.length, 1);
        assert.is(aborts[0].plugin, 'host_monitoring_v2');
      } finally {
        diagnosticsChannel.unsubscribe(CHANNEL_NAMES.efmAbort, onAbort);
      }
    },
  );

  t('many connections to one host share one monitor; other hosts and parameters get their own', async () => {
    const services = lab.newServices();
    const writer = lab.cluster.writer.name;
    const reader = lab.cluster.readers[0].name;
    const before = efmMonitorCount();
    const dbs: Db[] = [];
    for (let i = 0; i < 12; i++)
      dbs.push(await lab.client(writer, { plugins: 'host_monitoring_v2', ...FAST }, services));
    await Promise.all(dbs.map((db) => db.query('SELECT 1')));
    const registry = hostMonitorRegistry(services);
    assert.is(registry.size, 1);
    const [m] = registry.list();
    assert.is(m.referenceCount, 12);
    assert.is(m.stats()?.watches, 12);
    assert.is(efmMonitorCount() - before, 1, 'one native monitor');
    const onReader = await lab.client(reader, { plugins: 'host_monitoring_v2', ...FAST }, services);
    await onReader.query('SELECT 1');
    const otherParams = await lab.client(
      writer,
      { plugins: 'host_monitoring_v2', ...FAST, failureDetectionCount: 5 },
      services,
    );
    await otherParams.query('SELECT 1');
    assert.is(registry.size, 3);
    await Promise.all(dbs.map((db) => db.end()));
    assert.is(m.referenceCount, 0, 'ended clients unregister their connections');
  });

  t('an unused monitor is stopped after monitorDisposalTimeMs, and a new one starts on the next call', async () => {
    const services = lab.newServices();
    const writer = lab.cluster.writer.name;
    services.acquire(); // other clients keep the services alive: only the monitor's own disposal applies
    const options = { plugins: 'host_monitoring_v2', ...FAST, monitorDisposalTimeMs: 300 };
    const db = await lab.client(writer, options, services);
    await db.query('SELECT 1');
    const before = efmMonitorCount();
    const disposed = nextMonitorEvent(services, 'disposed');
    const endedAt = Date.now();
    await db.end();
    const m = await disposed;
    assert.ok(Date.now() - endedAt >= 250, 'not before the disposal time');
    assert.is(m.stats(), undefined, 'native monitor stopped');
    assert.is(efmMonitorCount(), before - 1);
    assert.is(hostMonitorRegistry(services).size, 0);
    const again = await lab.client(writer, options, services);
    await again.query('SELECT 1');
    assert.is(hostMonitorRegistry(services).size, 1);
    assert.is(efmMonitorCount(), before);
  });

  t(
    'EFM with failover (default plugins): a query on a black-holed writer is aborted, failover ends on the new writer',
    async () => {
      const services = lab.newServices();
      const db = await lab.client('writer', FAST, services);
      const old = lab.cluster.writer.name;
      assert.is(db.currentName, old);
      const { call, startedAt } = await startLongQuery(db, old);
      await lab.cluster.hang(old);
      const hungAt = Date.now();
      const failover = lab.cluster.failover({ mode: 'immediate' });
      const err = await call;
      const result = await failover;
      assert.instance(err, FailoverSuccessError);
      assert.ok(isNetworkError(db, err.cause), `failover acted on a network error: ${String(err.cause)}`);
      assert.ok(Date.now() - Math.max(hungAt, startedAt + GRACE_MS) < WINDOW_MS + 10_000, 'no wait on the black hole');
      assert.is(db.currentName, result.newWriter, "wrapper's current host is the new writer");
      const who = await db.whoami();
      assert.is(who.name, result.newWriter);
      assert.is(who.reader, false);
    },
  );

  return t;
}
