#!/usr/bin/env node
// bench/efm: enhanced failure monitoring detection times on the lookalike cluster, for this wrapper
// (host_monitoring_v2) and for aws-advanced-nodejs-wrapper (efm2), same cluster, same run — the Python wrapper's
// table: grace / interval / count × outage delay → detection time min / max / avg.
//
// Each outage: a client on one instance runs a long query (`SELECT pg_sleep(600)` / `SELECT SLEEP(600)`);
// `delay` ms after the query starts the instance is black-holed (`cluster.hang`: packets swallowed, nothing
// refused); detection = time from the outage until the user's query rejects. Outages run in parallel on different
// instances (one outage per instance at a time). Monitoring connections: connect and query timeouts 1 s for both
// wrappers, as in the Python benchmark (`monitoring-connect_timeout=1`, `monitoring-socket_timeout=1`).
// Then: the same outage while the event loop is blocked by a busy loop, and the native threads, sockets and CPU
// used by 1000 monitored connections on 3 hosts (aurora-mysql lookalike: MariaDB takes 1000 connections cheaply).
//
// Goals (issue 5): detection within interval × count + 100 ms after the grace period; 100 of 100 outages
// detected; detection unaffected by a blocked event loop.
//
// Usage: npm run build && node bench/efm.mjs [--engine pg|mysql] [--profiles fast,python] [--reps 5]
//          [--instances 6] [--wrappers ours,peer] [--skip table,blocked,resources] [--connections 1000]
import { readdirSync, readFileSync, readlinkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { WrapperServices, hostMonitorRegistry, releaseResources } from 'aws-advanced-ts-wrapper';
import { AwsPGClient } from 'aws-advanced-ts-wrapper/pg';
import { AwsMySQLClient } from 'aws-advanced-ts-wrapper/mysql';
import { LocalCluster } from 'aws-advanced-ts-wrapper/testing';

// ---- arguments -------------------------------------------------------------------------------------------------

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const ENGINE = arg('engine', 'pg');
const PROFILES = arg('profiles', 'fast,python').split(',');
const REPS = Number(arg('reps', '5'));
const INSTANCES = Number(arg('instances', '6'));
const WRAPPERS = arg('wrappers', 'ours,peer').split(',');
const SKIP = new Set(arg('skip', '').split(',').filter(Boolean));
const CONNECTIONS = Number(arg('connections', '1000'));

/** The Python wrapper's published table (EFM only): [grace, interval, count, delay, min, max, avg]. */
const PYTHON = [
  [30000, 5000, 3, 5000, 41096, 41102, 41099],
  [30000, 5000, 3, 10000, 36095, 36100, 36098],
  [30000, 5000, 3, 15000, 31093, 31102, 31098],
  [30000, 5000, 3, 20000, 26099, 26101, 26100],
  [30000, 5000, 3, 25000, 21095, 21105, 21102],
  [30000, 5000, 3, 30000, 16094, 16103, 16099],
  [30000, 5000, 3, 35000, 15010, 15409, 15209],
  [30000, 5000, 3, 40000, 15116, 15126, 15121],
  [30000, 5000, 3, 50000, 15137, 15145, 15141],
  [30000, 5000, 3, 60000, 15060, 15170, 15105],
  [6000, 1000, 1, 1000, 6110, 7115, 6693],
  [6000, 1000, 1, 2000, 5111, 6114, 5493],
  [6000, 1000, 1, 3000, 4110, 5114, 4673],
  [6000, 1000, 1, 4000, 3109, 4115, 3492],
  [6000, 1000, 1, 5000, 2211, 3112, 2732],
  [6000, 1000, 1, 6000, 1110, 2114, 1512],
  [6000, 1000, 1, 7000, 1112, 1213, 1153],
  [6000, 1000, 1, 8000, 1116, 1219, 1139],
  [6000, 1000, 1, 9000, 1118, 1218, 1139],
  [6000, 1000, 1, 10000, 1120, 1222, 1141],
];
const ROWS = PYTHON.filter(([grace]) => (grace === 6000 ? PROFILES.includes('fast') : PROFILES.includes('python')));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const log = (msg) => console.error(`[efm-bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

// ---- clients of both wrappers ----------------------------------------------------------------------------------

let peer;
async function loadPeer() {
  try {
    peer =
      ENGINE === 'pg'
        ? (await import('aws-advanced-nodejs-wrapper/pg')).AwsPGClient
        : (await import('aws-advanced-nodejs-wrapper/mysql')).AwsMySQLClient;
  } catch (err) {
    log(`aws-advanced-nodejs-wrapper not available (${err.message}): measuring this wrapper only`);
  }
}

const longSql = () => (ENGINE === 'pg' ? 'SELECT pg_catalog.pg_sleep(600)' : 'SELECT SLEEP(600)');

/** A connected client of `wrapper` on `instance` with the detection parameters; `query(sql)` returns a promise. */
async function openClient(wrapper, cluster, instance, [grace, interval, count], services) {
  if (wrapper === 'ours') {
    const cfg = {
      ...cluster.clientConfig(instance),
      plugins: 'host_monitoring_v2',
      failureDetectionTimeMs: grace,
      failureDetectionIntervalMs: interval,
      failureDetectionCount: count,
      'monitoring-connectTimeout': 1000,
      'monitoring-socketTimeout': 1000,
      connectTimeout: 10000,
    };
    const client = ENGINE === 'pg' ? new AwsPGClient(cfg, { services }) : new AwsMySQLClient(cfg, { services });
    client.on('error', () => {});
    await client.connect();
    return {
      query: (sql) => (client instanceof AwsPGClient ? client.query(sql) : client.query(sql)),
      watch: () =>
        /** @type {import('../ts/plugins/host-monitoring-common.ts').HostMonitoringPlugin<unknown> | undefined} */ (
          /** @type {unknown} */ (
            client instanceof AwsPGClient
              ? client.core.getPlugin('host_monitoring_v2')
              : client.core.getPlugin('host_monitoring_v2')
          )
        )?.watch,
      end: () => Promise.race([client.end().catch(() => {}), sleep(3000)]),
    };
  }
  // The peer has no host address map: it connects to the instance's loopback address, which its monitor probes.
  const cfg = {
    ...cluster.directConfig(instance),
    plugins: 'efm2',
    clusterInstanceHostPattern: cluster.clusterInstanceHostPattern,
    failureDetectionTime: grace,
    failureDetectionInterval: interval,
    failureDetectionCount: count,
    monitoring_wrapperConnectTimeout: 1000,
    monitoring_wrapperQueryTimeout: 1000,
    wrapperQueryTimeout: 900000,
    wrapperConnectTimeout: 10000,
  };
  const client = new peer(cfg);
  client.on?.('error', () => {});
  await client.connect();
  return {
    query: (sql) => client.query(sql),
    watch: () => undefined,
    end: () => Promise.race([client.end().catch(() => {}), sleep(3000)]),
  };
}

// ---- one outage --------------------------------------------------------------------------------------------------

/**
 * Runs one outage on `instance`; resolves to { detected, ms } (ms from the outage until the query rejected) or
 * { detected: false } when the query was still pending `cap` ms after the expected detection.
 */
async function outage(wrapper, cluster, instance, row, services, { blockMs = 0 } = {}) {
  const [grace, interval, count, delay] = row;
  const client = await openClient(wrapper, cluster, instance, row, services);
  let settledAt = 0; // set when `call` settles
  const startedAt = now();
  const call = client
    .query(longSql())
    .then(
      () => ({ ok: true }),
      (err) => ({ ok: false, err }),
    )
    .finally(() => (settledAt = now()));
  // Ours: the monitor's own verdict time (taken on its thread) for the call's watch.
  let verdictAt;
  let watchId;
  const onVerdict = (_m, e) => {
    if (watchId !== undefined && e.aborted.includes(watchId)) verdictAt = e.at;
  };
  await sleep(delay);
  watchId = client.watch()?.id; // registered by the call by now
  hostMonitorRegistry(services).on('dead', onVerdict).on('aborted', onVerdict);
  const outageAt = now();
  const outageWall = Date.now();
  await cluster.hang(instance);
  let nativeAbortMs;
  if (blockMs > 0) {
    // A CPU-bound stretch of application code: no event loop turn. It may read shared memory (no yield), which is
    // how the native abort is timed: the watch's `aborted` cell flips when the monitor shuts the socket down.
    const w = client.watch();
    const end = now() + blockMs;
    while (now() < end) if (nativeAbortMs === undefined && w?.aborted) nativeAbortMs = now() - outageAt;
  }
  const expected = Math.max(0, startedAt + grace - outageAt) + interval * count;
  const cap = expected + 15000 + blockMs;
  const result = await Promise.race([call, sleep(Math.max(0, outageAt + cap - now())).then(() => undefined)]);
  await cluster.heal(instance);
  await client.end();
  hostMonitorRegistry(services).off('dead', onVerdict).off('aborted', onVerdict);
  if (result === undefined || result.ok) return { detected: false };
  // Rejected before the outage: the wrapper aborted a call on a healthy host.
  if (settledAt < outageAt) return { detected: false, falseAbort: true };
  const verdictMs = verdictAt === undefined ? undefined : verdictAt - outageWall;
  return { detected: true, ms: settledAt - outageAt, expected, nativeAbortMs, verdictMs };
}

/** After a heal: waits (bounded) until our monitors of `instance` have seen it answer again. */
async function waitOursAlive(services, dnsName) {
  const deadline = now() + 20000;
  for (;;) {
    const dead = hostMonitorRegistry(services)
      .list()
      .filter((m) => m.host.host === dnsName && m.stats()?.dead);
    if (dead.length === 0 || now() > deadline) return;
    await sleep(50);
  }
}

// ---- the table ---------------------------------------------------------------------------------------------------

async function table(cluster) {
  const services = new WrapperServices().acquire();
  const instances = cluster.instances.slice(0, INSTANCES).map((i) => i.name);
  const jobs = [];
  for (let rep = 0; rep < REPS; rep++)
    for (const row of ROWS) for (const w of WRAPPERS) if (w === 'ours' || peer) jobs.push({ wrapper: w, row, rep });
  const results = new Map();
  const free = [...instances];
  const waiters = [];
  const take = () => (free.length > 0 ? Promise.resolve(free.shift()) : new Promise((r) => waiters.push(r)));
  const give = (i) => (waiters.length > 0 ? waiters.shift()(i) : free.push(i));
  let done = 0;
  const t0 = now();
  await Promise.all(
    jobs.map(async (job) => {
      const instance = await take();
      try {
        const r = await outage(job.wrapper, cluster, instance, job.row, services);
        if (job.wrapper === 'ours')
          await waitOursAlive(services, cluster.instances.find((i) => i.name === instance).dnsName);
        const key = `${job.wrapper}|${job.row.slice(0, 4).join('|')}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key).push(r);
        done++;
        if (done % 10 === 0) log(`${done}/${jobs.length} outages measured (${((now() - t0) / 1000).toFixed(0)} s)`);
      } finally {
        give(instance);
      }
    }),
  );
  await services.release();
  return results;
}

function printTable(results) {
  const fmt = (v) => (v === undefined ? '—' : String(Math.round(v)));
  for (const wrapper of WRAPPERS) {
    if (wrapper === 'peer' && !peer) continue;
    const name = wrapper === 'ours' ? 'aws-advanced-ts-wrapper host_monitoring_v2' : 'aws-advanced-nodejs-wrapper efm2';
    console.log(`\n${name} (${ENGINE}) — detection time from the outage, ms`);
    console.log(
      '| Grace | Interval | Count | Outage delay | Detected | Min | Max | Avg | Bound* | Within bound | Monitor verdict avg / max** | Aborted before the outage | Python avg (published) |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    let total = 0;
    let detected = 0;
    let within = 0;
    for (const row of ROWS) {
      const rs = results.get(`${wrapper}|${row.slice(0, 4).join('|')}`) ?? [];
      const ok = rs.filter((r) => r.detected);
      const ms = ok.map((r) => r.ms);
      const [grace, interval, count, delay] = row;
      const bound = Math.max(0, grace - delay) + interval * count + 100;
      const inBound = ok.filter((r) => r.ms <= bound).length;
      total += rs.length;
      detected += ok.length;
      within += inBound;
      const avg = ms.length ? ms.reduce((a, b) => a + b, 0) / ms.length : undefined;
      const verdicts = ok.map((r) => r.verdictMs).filter((v) => v !== undefined);
      const verdict = verdicts.length
        ? `${fmt(verdicts.reduce((a, b) => a + b, 0) / verdicts.length)} / ${fmt(Math.max(...verdicts))}`
        : '—';
      console.log(
        `| ${grace} | ${interval} | ${count} | ${delay} | ${ok.length}/${rs.length} | ${fmt(ms.length ? Math.min(...ms) : undefined)} | ${fmt(ms.length ? Math.max(...ms) : undefined)} | ${fmt(avg)} | ${bound} | ${inBound}/${rs.length} | ${verdict} | ${rs.filter((r) => r.falseAbort).length} | ${row[6]} |`,
      );
    }
    const falseAborts = [...results.entries()]
      .filter(([k]) => k.startsWith(`${wrapper}|`))
      .flatMap(([, rs]) => rs)
      .filter((r) => r.falseAbort).length;
    console.log(
      `\n${name}: ${detected} of ${total} outages detected, ${within} of ${total} within the bound, ${falseAborts} calls aborted on a healthy host.`,
    );
  }
  console.log(
    '\n* Bound: max(0, grace − outage delay) + interval × count + 100 ms (the goal: within interval × count + 100 ms after the grace period).',
  );
  console.log(
    "** When the native monitor declared the host dead and shut the call's socket down (its own clock, ms after the outage); Min/Max/Avg are when the user's promise rejected (the JS event loop's view).",
  );
}

// ---- blocked event loop ------------------------------------------------------------------------------------------

async function blocked(cluster) {
  const row = [6000, 1000, 1, 7000];
  const blockMs = 3000;
  const services = new WrapperServices().acquire();
  const instance = cluster.instances[0].name;
  console.log(
    `\nOutage while the event loop is blocked: grace ${row[0]}, interval ${row[1]}, count ${row[2]}, outage ${row[3]} ms after the query starts, then a ${blockMs} ms busy loop from the outage on (sequential, ${REPS} each)`,
  );
  console.log(
    '| Wrapper | Outages | Socket shut down (native, during the block), ms after the outage | Query rejected, ms after the outage |',
  );
  console.log('|---|---|---|---|');
  for (const wrapper of WRAPPERS) {
    if (wrapper === 'peer' && !peer) continue;
    const rs = [];
    for (let i = 0; i < REPS; i++) {
      rs.push(await outage(wrapper, cluster, instance, row, services, { blockMs }));
      if (wrapper === 'ours') await waitOursAlive(services, cluster.instances[0].dnsName);
    }
    const ok = rs.filter((r) => r.detected);
    const span = (vals) => (vals.length ? `${Math.round(Math.min(...vals))}–${Math.round(Math.max(...vals))}` : '—');
    const natives = ok.map((r) => r.nativeAbortMs).filter((v) => v !== undefined);
    console.log(
      `| ${wrapper === 'ours' ? 'host_monitoring_v2' : 'peer efm2'} | ${ok.length}/${rs.length} detected | ${wrapper === 'ours' ? span(natives) : 'n/a (detection runs on the event loop)'} | ${span(ok.map((r) => r.ms))} |`,
    );
  }
  await services.release();
}

// ---- resources of 1000 monitored connections ------------------------------------------------------------------------

/** Threads of this process whose name starts with `prefix`, with their CPU time (ms). */
function threads(prefix) {
  const tick = 100; // USER_HZ on Linux
  const out = [];
  for (const tid of readdirSync('/proc/self/task')) {
    let comm;
    let stat;
    try {
      comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue;
    }
    if (!comm.startsWith(prefix)) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ tid, comm, cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / tick });
  }
  return out;
}

function socketCount() {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

async function resources() {
  const dir = mkdtempSync(path.join(tmpdir(), 'efm-bench-mysql-'));
  log('starting a 3-instance aurora-mysql lookalike for the resource figures');
  const cluster = await LocalCluster.start({ flavour: 'aurora-mysql', readers: 2, dir });
  try {
    const mysql = (await import('mysql2/promise')).default;
    for (const i of cluster.instances) {
      const c = await mysql.createConnection(cluster.directConfig(i.name));
      await c.query(`SET GLOBAL max_connections = ${CONNECTIONS + 100}`);
      await c.end();
    }
    const names = cluster.instances.map((i) => i.name);
    console.log(
      `\n${CONNECTIONS} connections (mysql2, AwsMySQLClient) on ${names.length} hosts in one process; each state measured over 20 s`,
    );
    console.log(
      '| EFM | State | Monitors | Native threads | Probe connections | Probes | Native threads CPU | Process CPU (all threads) |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    // First without EFM (the same clients with failureDetectionEnabled: false): what the rest of the wrapper costs
    // (e.g. the native topology monitor of the cluster), then with it.
    let baselineSockets = 0;
    for (const enabled of [false, true]) {
      const services = new WrapperServices().acquire();
      const clients = [];
      const socketsBefore = socketCount();
      log(`opening ${CONNECTIONS} connections, EFM ${enabled ? 'enabled' : 'disabled'}`);
      for (let i = 0; i < CONNECTIONS; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, CONNECTIONS - i) }, async (_, k) => {
            const c = new AwsMySQLClient(
              {
                ...cluster.clientConfig(names[(i + k) % names.length]),
                plugins: 'host_monitoring_v2',
                failureDetectionEnabled: enabled,
                failureDetectionTimeMs: 1000,
              },
              { services },
            );
            c.on('error', () => {});
            await c.connect();
            await c.query('SELECT 1'); // registers the connection with its host's monitor
            clients.push(c);
          }),
        );
      }
      const measure = async (state, ms) => {
        const native0 = threads('awsw-native');
        const cpu0 = process.cpuUsage();
        const probes0 = hostMonitorRegistry(services)
          .list()
          .reduce((a, m) => a + (m.stats()?.probes ?? 0), 0);
        await sleep(ms);
        const cpu = process.cpuUsage(cpu0);
        const native1 = threads('awsw-native');
        const nativeCpu = native1.reduce((a, t) => a + t.cpuMs, 0) - native0.reduce((a, t) => a + t.cpuMs, 0);
        const monitors = hostMonitorRegistry(services).list();
        const probes = monitors.reduce((a, m) => a + (m.stats()?.probes ?? 0), 0) - probes0;
        const sockets = socketCount() - socketsBefore;
        if (!enabled && state.startsWith('idle')) baselineSockets = sockets;
        const probeConnections = enabled ? String(sockets - baselineSockets) : '—';
        console.log(
          `| ${enabled ? 'on' : 'off'} | ${state} | ${monitors.length} | ${native1.length} | ${probeConnections} | ${probes} | ${((nativeCpu / ms) * 100).toFixed(2)} % | ${(((cpu.user + cpu.system) / 1000 / ms) * 100).toFixed(2)} % |`,
        );
      };
      await measure('idle (no call in progress)', 20000);
      const sleeps = clients.map((c) => c.query('SELECT SLEEP(30)').catch(() => {}));
      await sleep(1500); // past the 1 s grace time: every call is monitored
      await measure('every connection in a call (monitored after 1 s)', 20000);
      await Promise.all(sleeps);
      for (let i = 0; i < clients.length; i += 100)
        await Promise.all(clients.slice(i, i + 100).map((c) => c.end().catch(() => {})));
      await services.release();
    }
    console.log(
      "Native threads CPU: CPU time of the addon's threads / wall time (100 % = one core); /proc, 10 ms resolution.",
    );
  } finally {
    await cluster.stop({ keepLogs: false });
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ----------------------------------------------------------------------------------------------------------

async function main() {
  console.log(
    `bench/efm — ${new Date().toISOString()}, node ${process.version}, engine ${ENGINE}, ${REPS} outages per row, up to ${INSTANCES} in parallel`,
  );
  if (WRAPPERS.includes('peer')) await loadPeer();
  if (SKIP.has('table')) ROWS.length = 0;
  if (ROWS.length > 0 || !SKIP.has('blocked')) {
    const dir = mkdtempSync(path.join(tmpdir(), 'efm-bench-'));
    const flavour = ENGINE === 'pg' ? 'aurora-pg' : 'aurora-mysql';
    log(`starting a ${INSTANCES}-instance ${flavour} lookalike`);
    const cluster = await LocalCluster.start({ flavour, readers: INSTANCES - 1, dir });
    try {
      if (ROWS.length > 0) printTable(await table(cluster));
      if (!SKIP.has('blocked')) await blocked(cluster);
    } finally {
      await cluster.stop({ keepLogs: false });
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (!SKIP.has('resources')) await resources();
  await releaseResources();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  // The peer's monitors keep timers on the event loop until its own global releaseResources(): exit explicitly.
  .finally(() => setTimeout(() => process.exit(), 100));
