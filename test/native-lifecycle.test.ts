// Lifecycle of the native addon: releasing, natural exit, process.exit(), uncaught exceptions (each in a child
// process, since they end it), and the connection-parameters provider (in this process).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import {
  NativeProbeCancelledError,
  nativeThreadCount,
  probeHost,
  releaseResources,
  setParamsProvider,
  type ParamsRequest,
} from '../ts/native/index.js';

const fixtures = path.join(__dirname, 'fixtures');

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  lines: Record<string, unknown>[];
}

/** Runs a fixture with tsx; kills it (and reports signal SIGKILL) if it outlives `limitMs`. */
function runFixture(name: string, args: string[], limitMs = 10_000): Promise<ChildResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(fixtures, name), ...args], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, lines });
    });
  });
}

function describe(r: ChildResult): string {
  return `code=${r.code} signal=${r.signal} ms=${r.ms}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** Signs of a native crash or a Rust panic in a child's output. */
function assertNoNativeCrash(r: ChildResult): void {
  assert.is(r.signal, null, describe(r));
  for (const sign of ['panicked', 'FATAL ERROR', 'Segmentation fault', 'Aborted', 'napi_fatal']) {
    assert.not.ok(r.stderr.includes(sign), `${sign} in stderr:\n${describe(r)}`);
  }
}

/** The monitors of native-running.ts were really busy: both databases answered, the others failed as expected. */
function assertMonitorsRan(first: Record<string, unknown>): void {
  assert.ok((first.threads as number) >= 2, `native threads running: ${JSON.stringify(first)}`);
  if (process.platform === 'linux')
    assert.is(first.osThreads, first.threads, 'the OS sees the threads the addon counts');
  const byKind = first.okByKind as Record<string, string>;
  assert.is(byKind[`postgres:${process.env.TEST_PG_PORT}`], 'ok', JSON.stringify(byKind));
  assert.is(byKind[`mysql:${process.env.TEST_MYSQL_PORT}`], 'ok', JSON.stringify(byKind));
  assert.ok(Object.values(byKind).includes('refused'), JSON.stringify(byKind));
  assert.ok(Object.values(byKind).includes('timeout'), JSON.stringify(byKind));
  // The provider supplied the database passwords: at least one call per database monitor.
  assert.ok((first.providerCalls as number) >= 2, JSON.stringify(first));
}

test('releaseResources() before any native use is safe, idempotent and does not load the addon', async () => {
  const r = await runFixture('native-unloaded.ts', []);
  assert.is(r.code, 0, describe(r));
  assertNoNativeCrash(r);
  assert.equal(r.lines[0], { loaded: false, threads: 0, sync: true });
});

test('releaseResources() stops running monitors and joins every native thread, twice', async () => {
  const r = await runFixture('native-running.ts', ['release']);
  assert.is(r.code, 0, describe(r));
  assertNoNativeCrash(r);
  assertMonitorsRan(r.lines[0]);
  const released = r.lines[1];
  assert.is(released.released, true, describe(r));
  assert.is(released.threadsAfter, 0, describe(r));
  if (process.platform === 'linux')
    assert.is(released.osThreadsAfter, 0, `threads still alive per /proc: ${describe(r)}`);
  assert.ok((released.ms as number) < 5000, `release took ${released.ms} ms`);
  assert.equal(r.lines[2], { eventsAfterRelease: 0 });
});

test('a process whose JS is done exits by itself while native monitors still run', async () => {
  const r = await runFixture('native-running.ts', ['natural']);
  assert.is(r.code, 0, describe(r));
  assertNoNativeCrash(r);
  assertMonitorsRan(r.lines[0]);
  assert.ok(r.ms < 10_000, describe(r));
});

test('process.exit(0) while native threads run exits cleanly with code 0', async () => {
  const r = await runFixture('native-running.ts', ['exit']);
  assert.is(r.code, 0, describe(r));
  assertNoNativeCrash(r);
  assertMonitorsRan(r.lines[0]);
});

test('an uncaught exception while native threads run exits with code 1 and the error, no crash', async () => {
  const r = await runFixture('native-running.ts', ['throw']);
  assert.is(r.code, 1, describe(r));
  assertNoNativeCrash(r);
  assertMonitorsRan(r.lines[0]);
  assert.ok(r.stderr.includes('boom: uncaught while native threads run'), describe(r));
});

test('workers whose monitors still run can exit (process.exit or naturally) without disturbing the main thread', async () => {
  const r = await runFixture('native-worker.ts', [], 20_000);
  assert.is(r.code, 0, describe(r));
  assertNoNativeCrash(r);
  const out = r.lines[0] as {
    workers: { end: string; threads: number; code: number }[];
    mainEventsDuringWorkers: number;
    mainEventsAfter: number;
    mainThreads: number;
    osThreads: number | null;
  };
  assert.is(out.workers.length, 4, describe(r));
  for (const w of out.workers) {
    assert.is(w.code, 0, describe(r));
    assert.ok(w.threads >= 1, `worker ran native threads: ${describe(r)}`);
  }
  assert.ok(out.mainEventsDuringWorkers > 0 && out.mainEventsAfter > 0, describe(r));
  // Every worker's runtime was joined when its env ended: only the main thread's runtime threads remain.
  if (process.platform === 'linux') assert.is(out.osThreads, out.mainThreads, describe(r));
});

/** A listener that accepts and never answers; closed by the returned function. */
async function listener(): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function closedPort(): Promise<number> {
  const l = await listener();
  l.close();
  return l.port;
}

test('the params provider is consulted for each probe and its answer replaces the target', async () => {
  const up = await listener();
  const down = await closedPort();
  const calls: ParamsRequest[] = [];
  setParamsProvider(async (req) => {
    calls.push(req);
    // A host address map: the probe asks for the closed port, the provider sends it to the listener.
    return req.port === down ? { port: up.port } : {};
  });
  try {
    const r1 = await probeHost({ kind: 'tcp', host: '127.0.0.1', port: down }, 2000);
    const r2 = await probeHost({ kind: 'tcp', host: '127.0.0.1', port: up.port }, 2000);
    assert.ok(r1.ok, JSON.stringify(r1));
    assert.ok(r2.ok, JSON.stringify(r2));
    assert.equal(
      calls.map((c) => [c.kind, c.port, c.purpose]),
      [
        ['tcp', down, 'probe'],
        ['tcp', up.port, 'probe'],
      ],
    );
  } finally {
    up.close();
    setParamsProvider(null);
  }
});

test('a params provider that never answers makes the probe time out instead of hanging', async () => {
  const up = await listener();
  setParamsProvider(() => new Promise(() => {}));
  try {
    const started = Date.now();
    const r = await probeHost({ kind: 'tcp', host: '127.0.0.1', port: up.port }, 300);
    const ms = Date.now() - started;
    assert.is(r.ok, false);
    if (r.ok) return;
    assert.is(r.errorClass, 'timeout');
    assert.ok(r.message.includes('connection parameters'), r.message);
    assert.ok(ms >= 290 && ms < 5000, `took ${ms} ms (bound 300 ms; room for a loaded machine)`);
  } finally {
    up.close();
    setParamsProvider(null);
  }
});

test('a params provider that fails makes the probe fail with its message', async () => {
  setParamsProvider(() => {
    throw new Error('no secret for this host');
  });
  try {
    const r = await probeHost({ kind: 'tcp', host: '127.0.0.1', port: await closedPort() }, 2000);
    assert.is(r.ok, false);
    if (r.ok) return;
    assert.is(r.errorClass, 'other');
    assert.ok(r.message.includes('no secret for this host'), r.message);
  } finally {
    setParamsProvider(null);
  }
});

test('releaseResources() rejects a probe still in flight with NativeProbeCancelledError', async () => {
  const hole = await listener();
  try {
    const pending = probeHost(
      { kind: 'postgres', host: '127.0.0.1', port: hole.port, user: 'u', password: 'p' },
      10_000,
    );
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await releaseResources();
    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, NativeProbeCancelledError);
    assert.ok(Date.now() - started < 5000, 'cancelled, not left to its 10 s bound');
    assert.is(nativeThreadCount(), 0);
    // Native work after a release starts a fresh runtime.
    const again = await probeHost({ kind: 'tcp', host: '127.0.0.1', port: hole.port }, 2000);
    assert.ok(again.ok);
  } finally {
    hole.close();
    await releaseResources();
  }
  assert.is(nativeThreadCount(), 0);
});

test.run();
