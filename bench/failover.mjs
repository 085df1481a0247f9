#!/usr/bin/env node
// bench/failover: time from the loss of the writer to the first successful commit on the new writer, minus the
// lookalike's own fence + promotion time, p50 / p99 over N runs, on one aurora-pg lookalike cluster, for
//   - ours:  AwsPGClient with the default plugins (default settings), through the writer endpoint;
//   - peer:  aws-advanced-nodejs-wrapper's AwsPGClient with plugins 'failover2' (its defaults otherwise);
//   - plain: pg.Client reconnecting through the writer endpoint after every error;
// for a clean stop ('fast': 57P01), a crash ('immediate'), and a black-holed writer whose replacement is promoted
// 10 s later. Variants are interleaved run by run, so they see the same machine and cluster; each variant runs in
// its own worker process (its background work and retry loops never share an event loop with another variant).
//
// Each variant commits in a loop (`INSERT … RETURNING` the instance id), retrying at once after any error. The
// result of a run is (first commit acknowledged by the new writer) − (failure start + the supervisor's fence and
// promotion time); a run that does not recover within the cap is reported as "> cap".
//
// The peer resolves host names itself (it has no host address map), so the cluster writes an /etc/hosts block
// (etcHosts: true, root only); without root the peer is skipped.
// Usage: node --import tsx bench/failover.mjs [--runs 20] [--blackhole-runs 20] [--scenarios stop,crash,blackhole]
//        [--variants ours,peer,plain] [--cap-ms 60000] [--native off (ours without the native topology monitor)]
//        [--baseline DIR: adds the variant 'baseline', AwsPGClient from another build's DIR/dist (e.g. main's
//        checkout with its native addon), for before/after numbers measured in the same run]
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { LocalCluster } from '../ts/testing/index.ts';
import { AwsPGClient } from '../ts/clients/pg-client.ts';
import { FailoverError } from '../ts/errors.ts';
import { WrapperServices } from '../ts/services.ts';
import { topologyMonitors } from '../ts/host-list-providers/cluster-state.ts';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const RUNS = Number(arg('runs', 20));
const BLACKHOLE_RUNS = Number(arg('blackhole-runs', RUNS));
const SCENARIOS = arg('scenarios', 'stop,crash,blackhole').split(',');
const CAP_MS = Number(arg('cap-ms', 60_000));
const BLACKHOLE_DELAY_MS = 10_000;
/** A variant that failed to recover this many runs in a row is not run again in that scenario. */
const GIVE_UP_AFTER = 3;
const isRoot = process.getuid?.() === 0;
/** Our clients' services; --native off: without the native topology monitor (TypeScript panic probe only). */
const oursServices = new WrapperServices();
if (arg('native', 'on') === 'off') topologyMonitors(oursServices).enabled = false;
const BASELINE = arg('baseline', undefined);
const VARIANTS = arg('variants', BASELINE ? 'ours,baseline' : 'ours,peer,plain')
  .split(',')
  .filter((v) => v !== 'peer' || isRoot)
  .filter((v) => v !== 'baseline' || BASELINE);
if (!isRoot) console.log('not root: no /etc/hosts block, the peer (aws-advanced-nodejs-wrapper) is skipped');

// An 'error' event emitted on a pg.Client without a listener would end the process. Ours and the plain variant
// listen on every client they own; the peer's internal connections (its monitors) do not always, so such events are
// counted and reported instead of ending the benchmark.
let unhandledErrors = 0;
process.on('uncaughtException', (/** @type {Error & { code?: string }} */ err) => {
  unhandledErrors++;
  console.error(`unhandled error event (${unhandledErrors}): ${err?.code ?? ''} ${err?.message ?? err}`);
});

const INSERT = 'INSERT INTO bench (v) VALUES (1) RETURNING pg_catalog.aurora_db_instance_identifier() AS id';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One client flavour: connect(), commit() → instance id, close(). */
function makeVariant(name, cluster) {
  const { user, password, database } = cluster.credentials;
  const endpoint = cluster.writerEndpoint;
  if (name === 'ours') {
    let client;
    return {
      name,
      async connect() {
        client = new AwsPGClient(cluster.clientConfig('writer'), { services: oursServices });
        client.on('error', () => {});
        await client.connect();
      },
      async commit() {
        return (await client.query(INSERT)).rows[0].id;
      },
      async recover(err) {
        if (!(err instanceof FailoverError)) await sleep(1);
      },
      async close() {
        await client?.end().catch(() => {});
      },
    };
  }
  if (name === 'baseline') {
    let client;
    let lib;
    return {
      name,
      async connect() {
        lib ??= await import(pathToFileURL(path.resolve(BASELINE, 'dist/esm/pg.js')).href);
        client = new lib.AwsPGClient(cluster.clientConfig('writer'));
        client.on('error', () => {});
        await client.connect();
      },
      async commit() {
        return (await client.query(INSERT)).rows[0].id;
      },
      async recover(err) {
        if (!(err instanceof lib.FailoverError)) await sleep(1);
      },
      async close() {
        await client?.end().catch(() => {});
      },
    };
  }
  if (name === 'peer') {
    let client;
    let Peer;
    return {
      name,
      async connect() {
        Peer ??= (await import('aws-advanced-nodejs-wrapper/pg')).AwsPGClient;
        client = new Peer({
          host: endpoint.dnsName,
          port: endpoint.port,
          user,
          password,
          database,
          plugins: 'failover2',
        });
        client.on?.('error', () => {});
        await client.connect();
      },
      async commit() {
        return (await client.query(INSERT)).rows[0].id;
      },
      async recover() {
        await sleep(1);
      },
      async close() {
        await Promise.race([client?.end().catch(() => {}), sleep(2000)]);
      },
    };
  }
  // plain pg: a new connection through the writer endpoint after every error.
  let client;
  const open = async () => {
    const c = new pg.Client({ host: endpoint.host, port: endpoint.port, user, password, database });
    c.on('error', () => {});
    await c.connect();
    client = c;
  };
  return {
    name,
    connect: open,
    async commit() {
      if (!client) await open();
      return (await client.query(INSERT)).rows[0].id;
    },
    async recover() {
      const old = client;
      client = undefined;
      old?.connection.stream.destroy();
      await sleep(1);
    },
    async close() {
      client?.connection.stream.destroy();
      client = undefined;
    },
  };
}

/** Commits in a loop, recording (time, instance) of every acknowledged commit, until stopped. */
function commitLoop(variant) {
  const commits = [];
  const state = { stopped: false, commits };
  state.done = (async () => {
    while (!state.stopped) {
      try {
        const id = await variant.commit();
        commits.push({ at: Date.now(), id });
      } catch (err) {
        if (state.stopped) break;
        await variant.recover(err).catch(() => {});
      }
    }
  })();
  return state;
}

// ---- worker: one process per variant, so a variant's background work and retry loops share the machine with the
// others but never their event loop. Messages: start → ready (after warm commits); await → result.
let reportedErrors = 0;
async function worker(name, dir) {
  const cluster = await LocalCluster.attach(dir);
  const variant = makeVariant(name, cluster);
  await variant.connect();
  let loop;
  process.on('message', async (/** @type {any} */ msg) => {
    if (msg.type === 'start') {
      loop = commitLoop(variant);
      const until = Date.now() + 10_000;
      while (loop.commits.length < 3 && Date.now() < until) await sleep(5);
      process.send?.({ type: 'ready', commits: loop.commits.length });
    } else if (msg.type === 'await') {
      let first;
      while (Date.now() < msg.capAt) {
        first = loop.commits.find((c) => c.at >= msg.since && c.id === msg.newWriter);
        if (first) break;
        await sleep(5);
      }
      loop.stopped = true;
      // A loop stuck on a black-holed connection never returns: the parent then replaces this worker.
      const settled = await Promise.race([loop.done.then(() => true), sleep(first ? 5000 : 100).then(() => false)]);
      process.send?.({ type: 'result', at: first?.at, stuck: !settled, unhandled: unhandledErrors - reportedErrors });
      reportedErrors = unhandledErrors;
    } else if (msg.type === 'exit') {
      await Promise.race([variant.close(), sleep(2000)]);
      process.exit(0);
    }
  });
  process.send?.({ type: 'connected' });
}

/** A worker process for a variant, attached to the cluster in `dir`. */
function spawnWorker(name, dir) {
  const forwarded = [
    ...(arg('native', undefined) ? ['--native', arg('native')] : []),
    ...(BASELINE ? ['--baseline', BASELINE] : []),
  ];
  const child = fork(fileURLToPath(import.meta.url), ['--worker', name, '--dir', dir, ...forwarded], {
    execArgv: process.execArgv,
    // The peer logs every failed attempt to stdout; keep errors only.
    stdio: process.env.BENCH_WORKER_OUTPUT
      ? ['ignore', 'inherit', 'inherit', 'ipc']
      : ['ignore', 'ignore', 'pipe', 'ipc'],
    env: process.env,
  });
  child.stderr?.on('data', () => {});
  const next = (type, timeoutMs) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker ${name}: no '${type}' within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onExit = (code) => reject(new Error(`worker ${name} exited (${code})`));
      const onMessage = (msg) => {
        if (msg.type !== type) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(msg);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  return {
    name,
    ready: next('connected', 60_000),
    async start() {
      const r = next('ready', 20_000);
      child.send({ type: 'start' });
      return r;
    },
    async awaitCommit(newWriter, since, capAt) {
      const r = next('result', capAt - Date.now() + 15_000);
      child.send({ type: 'await', newWriter, since, capAt });
      return r;
    },
    async stop() {
      child.send({ type: 'exit' });
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

async function restore(cluster) {
  await cluster.heal();
  const st = await cluster.status();
  for (const i of st.instances) if (!i.running) await cluster.rejoin(i.name);
}

/**
 * Milliseconds `pg_ctl promote` of the last failover took, from the supervisor's log. The new writer accepts writes
 * once it returns; the supervisor's promoteMs also counts repointing the other readers and publishing the topology.
 */
function lastPgCtlPromoteMs(cluster) {
  const log = readFileSync(path.join(cluster.dir, 'logs', 'supervisor.log'), 'utf8');
  const all = [...log.matchAll(/pg_ctl promote \S+: (\d+) ms/g)];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}

/** One run: the added time in ms (undefined when the variant did not recover within the cap). */
async function runOnce(cluster, w, scenario) {
  await w.start();
  const t0 = Date.now();
  let failoverAt = t0;
  if (scenario === 'blackhole') {
    await cluster.hang(cluster.writer.name);
    await sleep(BLACKHOLE_DELAY_MS);
    failoverAt = Date.now();
  }
  const result = await cluster.failover({ mode: scenario === 'stop' ? 'fast' : 'immediate' });
  const promoteMs = lastPgCtlPromoteMs(cluster) ?? result.promoteMs;
  const promotedAt = failoverAt + result.fenceMs + promoteMs;
  const r = await w.awaitCommit(result.newWriter, t0, promotedAt + CAP_MS);
  return {
    added: r.at === undefined ? undefined : r.at - promotedAt,
    stuck: r.stuck,
    result,
    promoteMs,
    unhandled: r.unhandled ?? 0,
  };
}

function pct(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

if (arg('worker', undefined)) {
  await worker(arg('worker'), arg('dir'));
} else {
  await main();
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-failover-'));
  const cluster = await LocalCluster.start({
    flavour: 'aurora-pg',
    readers: 2,
    dir,
    database: 'app',
    etcHosts: isRoot,
  });
  const report = {};
  try {
    {
      const c = new pg.Client({ ...cluster.directConfig('writer') });
      await c.connect();
      await c.query('CREATE TABLE bench (id bigserial PRIMARY KEY, v int)');
      await c.end();
    }
    for (const scenario of SCENARIOS) {
      const runs = scenario === 'blackhole' ? BLACKHOLE_RUNS : RUNS;
      const samples = Object.fromEntries(VARIANTS.map((v) => [v, { added: [], missed: 0, skipped: 0, unhandled: 0 }]));
      const failingStreak = Object.fromEntries(VARIANTS.map((v) => [v, 0]));
      const workers = Object.fromEntries(VARIANTS.map((v) => [v, spawnWorker(v, cluster.dir)]));
      for (const w of Object.values(workers)) await w.ready;
      for (let run = 0; run < runs; run++) {
        for (const name of VARIANTS) {
          const s = samples[name];
          if (failingStreak[name] >= GIVE_UP_AFTER) {
            s.skipped++;
            continue;
          }
          let r;
          try {
            r = await runOnce(cluster, workers[name], scenario);
          } catch (err) {
            console.log(`${scenario} run ${run + 1} ${name}: worker failed (${err.message})`);
            r = { added: undefined, stuck: true, result: { fenceMs: 0 }, promoteMs: 0 };
          }
          s.unhandled += r.unhandled ?? 0;
          if (r.added === undefined) {
            s.missed++;
            failingStreak[name]++;
          } else {
            s.added.push(r.added);
            failingStreak[name] = 0;
          }
          console.log(
            `${scenario} run ${run + 1} ${name}: ${r.added === undefined ? `> ${CAP_MS} ms` : `${r.added} ms`} (fence ${r.result.fenceMs} ms + promotion ${r.promoteMs} ms)`,
          );
          await restore(cluster);
          if (r.stuck || r.added === undefined) {
            // Replace a worker whose loop is stuck on a dead connection.
            workers[name].kill();
            workers[name] = spawnWorker(name, cluster.dir);
            await workers[name].ready;
          }
        }
      }
      for (const w of Object.values(workers)) await w.stop();
      report[scenario] = Object.fromEntries(
        Object.entries(samples).map(([name, s]) => {
          const sorted = [...s.added].sort((a, b) => a - b);
          return [
            name,
            {
              runs: sorted.length,
              p50: pct(sorted, 50),
              p99: pct(sorted, 99),
              max: sorted.at(-1),
              notRecovered: s.missed,
              notRun: s.skipped,
              unhandledErrorEvents: s.unhandled,
            },
          ];
        }),
      );
    }
  } finally {
    await cluster.stop({ keepLogs: false });
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\nadded time after the lookalike promoted the new writer (ms)');
  for (const [scenario, byVariant] of Object.entries(report)) {
    for (const [name, r] of Object.entries(byVariant)) {
      const cap = r.notRecovered ? `, ${r.notRecovered} not recovered within ${CAP_MS} ms` : '';
      const skipped = r.notRun ? `, ${r.notRun} runs skipped after ${GIVE_UP_AFTER} failures in a row` : '';
      const crashes = r.unhandledErrorEvents
        ? `, ${r.unhandledErrorEvents} 'error' events without a listener (an application would have crashed)`
        : '';
      console.log(
        `${scenario.padEnd(9)} ${name.padEnd(5)} runs ${String(r.runs).padStart(3)}  p50 ${String(r.p50 ?? '-').padStart(6)}  p99 ${String(r.p99 ?? '-').padStart(6)}  max ${String(r.max ?? '-').padStart(6)}${cap}${skipped}${crashes}`,
      );
    }
  }
  console.log(JSON.stringify(report));
  process.exit(0);
}
