#!/usr/bin/env node
// bench/failover: time from the loss of the writer to the first successful commit on the new writer, minus the
// lookalike's own fence + promotion time, p50 / p99 over N runs, on one aurora-pg lookalike cluster, for
//   - ours:  AwsPGClient with the default plugins (default settings), through the writer endpoint;
//   - peer:  aws-advanced-nodejs-wrapper's AwsPGClient with plugins 'failover2' (its defaults otherwise);
//   - plain: pg.Client reconnecting through the writer endpoint after every error;
// for a clean stop ('fast': 57P01), a crash ('immediate'), and a black-holed writer whose replacement is promoted
// 10 s later. Variants are interleaved run by run, so they see the same machine and cluster.
//
// Each variant commits in a loop (`INSERT … RETURNING` the instance id), retrying at once after any error. The
// result of a run is (first commit acknowledged by the new writer) − (failure start + the supervisor's fence and
// promotion time); a run that does not recover within the cap is reported as "> cap".
//
// The peer resolves host names itself (it has no host address map), so the cluster writes an /etc/hosts block
// (etcHosts: true, root only); without root the peer is skipped.
// Usage: node --import tsx bench/failover.mjs [--runs 20] [--blackhole-runs 20] [--scenarios stop,crash,blackhole]
//        [--variants ours,peer,plain] [--cap-ms 60000]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { LocalCluster } from '../ts/testing/index.ts';
import { AwsPGClient } from '../ts/clients/pg-client.ts';
import { FailoverError } from '../ts/errors.ts';
import { WrapperServices } from '../ts/services.ts';

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
if (arg('native', 'on') === 'off') oursServices.topologyMonitors.enabled = false;
const VARIANTS = arg('variants', 'ours,peer,plain').split(',').filter((v) => v !== 'peer' || isRoot);
if (!isRoot) console.log('not root: no /etc/hosts block, the peer (aws-advanced-nodejs-wrapper) is skipped');

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
  if (name === 'peer') {
    let client;
    let Peer;
    return {
      name,
      async connect() {
        Peer ??= (await import('aws-advanced-nodejs-wrapper/pg')).AwsPGClient;
        client = new Peer({ host: endpoint.dnsName, port: endpoint.port, user, password, database, plugins: 'failover2' });
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

/** One run: returns the added time in ms, or undefined when the variant did not recover within the cap. */
async function runOnce(cluster, variant, scenario) {
  const loop = commitLoop(variant);
  // Warm: a few commits on the current writer first.
  const warmUntil = Date.now() + 10_000;
  while (loop.commits.length < 3 && Date.now() < warmUntil) await sleep(5);
  const oldWriter = cluster.writer.name;
  let promotedAt;
  let result;
  let promoteMs;
  const t0 = Date.now();
  if (scenario === 'blackhole') {
    await cluster.hang(oldWriter);
    await sleep(BLACKHOLE_DELAY_MS);
    const t1 = Date.now();
    result = await cluster.failover({ mode: 'immediate' });
    promoteMs = lastPgCtlPromoteMs(cluster) ?? result.promoteMs;
    promotedAt = t1 + result.fenceMs + promoteMs;
  } else {
    result = await cluster.failover({ mode: scenario === 'stop' ? 'fast' : 'immediate' });
    promoteMs = lastPgCtlPromoteMs(cluster) ?? result.promoteMs;
    promotedAt = t0 + result.fenceMs + promoteMs;
  }
  const capAt = promotedAt + CAP_MS;
  let first;
  while (Date.now() < capAt) {
    first = loop.commits.find((c) => c.at >= t0 && c.id === result.newWriter);
    if (first) break;
    await sleep(5);
  }
  loop.stopped = true;
  // A loop stuck on a black-holed connection never returns: leave it, the variant gets a new client.
  const settled = await Promise.race([loop.done.then(() => true), sleep(first ? 5000 : 100).then(() => false)]);
  return { added: first ? first.at - promotedAt : undefined, stuck: !settled, result, promoteMs };
}

function pct(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const dir = mkdtempSync(path.join(tmpdir(), 'bench-failover-'));
const cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 2, dir, database: 'app', etcHosts: isRoot });
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
    const samples = Object.fromEntries(VARIANTS.map((v) => [v, { added: [], missed: 0, skipped: 0 }]));
    const failingStreak = Object.fromEntries(VARIANTS.map((v) => [v, 0]));
    const variants = Object.fromEntries(VARIANTS.map((v) => [v, makeVariant(v, cluster)]));
    for (const v of Object.values(variants)) await v.connect();
    for (let run = 0; run < runs; run++) {
      for (const name of VARIANTS) {
        const s = samples[name];
        if (failingStreak[name] >= GIVE_UP_AFTER) {
          s.skipped++;
          continue;
        }
        const variant = variants[name];
        const r = await runOnce(cluster, variant, scenario);
        if (r.added === undefined) {
          s.missed++;
          failingStreak[name]++;
        } else {
          s.added.push(r.added);
          failingStreak[name] = 0;
        }
        process.stdout.write(`${scenario} run ${run + 1} ${name}: ${r.added === undefined ? `> ${CAP_MS} ms` : `${r.added} ms`} (fence ${r.result.fenceMs} ms + promotion ${r.promoteMs} ms)\n`);
        await restore(cluster);
        if (r.stuck || r.added === undefined) {
          // Replace a client whose loop is stuck on a dead connection.
          await Promise.race([variant.close(), sleep(2000)]);
          variants[name] = makeVariant(name, cluster);
          await variants[name].connect();
        }
      }
    }
    for (const v of Object.values(variants)) await Promise.race([v.close(), sleep(2000)]);
    report[scenario] = Object.fromEntries(
      Object.entries(samples).map(([name, s]) => {
        const sorted = [...s.added].sort((a, b) => a - b);
        return [name, { runs: sorted.length, p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted.at(-1), notRecovered: s.missed, notRun: s.skipped }];
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
    console.log(`${scenario.padEnd(9)} ${name.padEnd(5)} runs ${String(r.runs).padStart(3)}  p50 ${String(r.p50 ?? '-').padStart(6)}  p99 ${String(r.p99 ?? '-').padStart(6)}  max ${String(r.max ?? '-').padStart(6)}${cap}${skipped}`);
  }
}
console.log(JSON.stringify(report));
try {
  const { PluginManager } = await import('aws-advanced-nodejs-wrapper');
  await Promise.race([PluginManager.releaseResources(), sleep(3000)]);
} catch {
  // the peer was not loaded
}
process.exit(0);
