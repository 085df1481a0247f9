#!/usr/bin/env node
// bench/topology-steady: the load one idle application process puts on the writer through its native topology
// monitor, counted by the writer itself (log_statement = 'all' on the aurora-pg lookalike's writer): topology
// queries, writer-id and is-reader checks, and liveness pings (SELECT 1) per second, over an idle window, with
// default settings (topologyRefreshMs 30 s).
// Goal: at most one topology poll per topologyRefreshMs and at most one ping a second. The black-hole detection
// half of the goal (promotion + 1 s) is bench/failover.mjs --scenarios blackhole.
//
// Each variant runs in its own process, one after the other, on the same cluster:
//   - ours:     this checkout (ts/ through tsx, native/ addon);
//   - baseline: --baseline DIR, another build's DIR/dist (e.g. main's checkout, with its native addon).
// Usage: node --import tsx bench/topology-steady.mjs [--idle-ms 40000] [--settle-ms 3000] [--baseline /work/main]
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalCluster } from '../ts/testing/index.ts';
import { StatementLog } from '../test/support/statement-log.ts';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const IDLE_MS = Number(arg('idle-ms', 40_000));
const SETTLE_MS = Number(arg('settle-ms', 3000));
const BASELINE = arg('baseline', undefined);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function worker(name, dir) {
  const cluster = await LocalCluster.attach(dir);
  const { AwsPGClient } =
    name === 'baseline'
      ? await import(pathToFileURL(path.resolve(BASELINE, 'dist/esm/pg.js')).href)
      : await import('../ts/clients/pg-client.ts');
  const client = new AwsPGClient(cluster.clientConfig('writer'));
  client.on('error', () => {});
  await client.connect();
  await client.query('SELECT 1');
  process.on('message', async (/** @type {any} */ msg) => {
    if (msg.type === 'exit') {
      await Promise.race([client.end().catch(() => {}), sleep(2000)]);
      process.exit(0);
    }
  });
  process.send?.({ type: 'connected' });
}

function spawnWorker(name, dir) {
  const args = ['--worker', name, '--dir', dir, ...(BASELINE ? ['--baseline', BASELINE] : [])];
  const child = fork(fileURLToPath(import.meta.url), args, {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const connected = new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code})`)));
  });
  return {
    connected,
    async stop() {
      child.send({ type: 'exit' });
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

if (arg('worker', undefined)) {
  await worker(arg('worker'), arg('dir'));
} else {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-topology-steady-'));
  const cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 2, dir, database: 'app' });
  const report = {};
  try {
    const log = await StatementLog.enable(cluster, cluster.writer.name);
    for (const name of ['ours', ...(BASELINE ? ['baseline'] : [])]) {
      const w = spawnWorker(name, cluster.dir);
      await w.connected;
      await sleep(SETTLE_MS);
      log.mark();
      await sleep(IDLE_MS);
      const n = log.count();
      await w.stop();
      const perSecond = Object.fromEntries(
        Object.entries(n).map(([k, v]) => [k, Number(((v * 1000) / IDLE_MS).toFixed(2))]),
      );
      report[name] = { windowMs: IDLE_MS, counts: n, perSecond };
      console.log(
        `${name.padEnd(8)} idle ${IDLE_MS} ms: ${JSON.stringify(n)} -> per second ${JSON.stringify(perSecond)}`,
      );
    }
    await log.disable();
  } finally {
    await cluster.stop({ keepLogs: false });
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(report));
  process.exit(0);
}
