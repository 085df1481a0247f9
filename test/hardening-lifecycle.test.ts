// Lifecycle under failover on the aurora-pg lookalike: releaseResources() while clients stay open (their monitors
// come back), and end() while a failover or a read/write switch runs (nothing opened afterwards survives, the process
// exits by itself, one 'error' event and never the wrapper's internal one). Exit checks run in child processes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalCluster } from '../ts/testing/index.js';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { FailoverSuccessError } from '../ts/errors.js';
import { releaseResources } from '../ts/release.js';
import { sharedServices } from '../ts/services.js';
import { rejection } from './support/failover-lab.js';

let cluster: LocalCluster;
let dir: string;

test.before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hardening-lifecycle-'));
  cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 2, dir, database: 'app' });
});

test.after(async () => {
  try {
    await cluster?.stop({ keepLogs: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.after.each(async () => {
  await cluster.heal();
  const state = await cluster.status();
  for (const i of state.instances) if (!i.running) await cluster.rejoin(i.name);
});

/** Detection in about a second: monitored after 500 ms, dead after 2 × 250 ms without an answer. */
const FAST_EFM = { failureDetectionTimeMs: 500, failureDetectionIntervalMs: 250, failureDetectionCount: 2 };

/** `p`, or a rejection naming `what` once `ms` passed (a call that would hang must fail the test, not stall it). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

test('releaseResources() with a client still open: its monitors come back at its next call, a call on a black-holed writer fails over', async () => {
  // The shared services (no `services` option): what releaseResources() resets.
  const client = new AwsPGClient({ ...cluster.clientConfig('writer'), ...FAST_EFM, failoverTimeoutMs: 30_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SELECT 1');
    await releaseResources();
    assert.is(sharedServices().referenceCount, 0, 'releaseResources() starts fresh shared services for new clients');
    assert.equal((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the open client keeps working');
    const old = cluster.writer.name;
    const call = rejection(client.query('SELECT pg_catalog.pg_sleep(60)'));
    await cluster.hang(old);
    const promoted = await cluster.failover({ mode: 'immediate' });
    // Without a monitor nothing ends the call: pg_sleep(60) on a frozen socket (and no socketTimeout) hangs.
    const err = await within(call, 20_000, 'the call on the black-holed writer');
    assert.instance(err, FailoverSuccessError, String(err));
    assert.is(client.getCurrentHost()?.host.split('.')[0], promoted.newWriter, 'the client is on the new writer');
    const who = await client.query(
      'SELECT pg_catalog.aurora_db_instance_identifier() AS id, pg_catalog.pg_is_in_recovery() AS ro',
    );
    assert.equal(who.rows, [{ id: promoted.newWriter, ro: false }]);
  } finally {
    await client.end();
    await releaseResources();
  }
});

interface ChildOutcome {
  mode: string;
  /** How the client's pending call settled. */
  outcome: string;
  /** Messages of the client's 'error' events. */
  errors: string[];
  /** Sockets the child still had open to the new writer (and, for a switch, to the readers) after end(). */
  sockets: number;
}

/** Runs the fixture in a child; it must exit by itself with code 0 within `limitMs` (killed otherwise). */
function runChild(
  mode: string,
  clusterDir = dir,
  limitMs = 40_000,
): Promise<{ code: number | null; signal: string | null; out: ChildOutcome | undefined; text: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, 'fixtures', 'lifecycle-end-during-failover.ts'), clusterDir, mode],
      {
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = text.split('\n').find((l) => l.startsWith('{'));
      resolve({ code, signal, out: line === undefined ? undefined : (JSON.parse(line) as ChildOutcome), text });
    });
  });
}

async function assertCleanExit(mode: string, clusterDir = dir, movesOn = false): Promise<ChildOutcome> {
  const r = await runChild(mode, clusterDir);
  assert.is(r.signal, null, `the process did not exit by itself (killed):\n${r.text}`);
  assert.is(r.code, 0, r.text);
  assert.ok(r.out, r.text);
  assert.is(r.out.sockets, 0, `sockets left open after end(): ${r.text}`);
  if (!movesOn)
    assert.not.ok(
      r.out.outcome.startsWith('FailoverSuccessError'),
      `the ended client did not move to a new connection: ${r.out.outcome}`,
    );
  return r.out;
}

test("a client whose 'error' listener ends it (TypeORM, Sequelize): a failover that succeeds under a statement emits no 'error' (the statement gets FailoverSuccessError); end() afterwards leaves nothing open, the process exits", async () => {
  const out = await assertCleanExit('client', dir, true);
  assert.match(out.outcome, /^FailoverSuccessError/);
  assert.equal(out.errors, [], 'the client is not broken: no error event');
});

test('end() while the failover waits for a new writer: the failover stops, the promotion that follows opens nothing', async () => {
  await assertCleanExit('during');
});

test("AwsPGPool: a checked-out client whose 'error' listener releases it with an error: no 'error' after a failover that succeeded; released afterwards, the process exits", async () => {
  const out = await assertCleanExit('pool', dir, true);
  assert.match(out.outcome, /^FailoverSuccessError/);
  assert.equal(out.errors, []);
});

test('end() while setReadOnly(true) is opening a reader connection: it is closed, the switch fails, the process exits', async () => {
  const out = await assertCleanExit('switch');
  assert.match(out.outcome, /ended/);
  assert.is(out.errors.length, 0);
});

test('aurora-mysql: end() while the failover waits for a new writer: the failover stops, the process exits', async () => {
  const mysqlDir = mkdtempSync(path.join(tmpdir(), 'hardening-lifecycle-mysql-'));
  const mysqlCluster = await LocalCluster.start({
    flavour: 'aurora-mysql',
    readers: 1,
    dir: mysqlDir,
    database: 'app',
  });
  try {
    await assertCleanExit('mysql', mysqlDir);
  } finally {
    await mysqlCluster.stop({ keepLogs: false });
    rmSync(mysqlDir, { recursive: true, force: true });
  }
});

test.run();
