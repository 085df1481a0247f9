// Native probes and monitors against the real test servers (TEST_PG_*, TEST_MYSQL_*) and loopback sockets.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { ConfigurationError } from '../ts/errors.js';
import {
  nativeMonitorCount,
  nativeThreadCount,
  probeHost,
  releaseResources,
  startProbeMonitor,
  type ProbeMonitorEvent,
  type ProbeResult,
  type ProbeTarget,
} from '../ts/native/index.js';

const WRONG_PASSWORD = 'Wr0ng-Secret-7c1d';

function pgTarget(): ProbeTarget {
  return {
    kind: 'postgres',
    host: process.env.TEST_PG_HOST!,
    port: Number(process.env.TEST_PG_PORT),
    user: process.env.TEST_PG_USER,
    password: process.env.TEST_PG_PASSWORD,
    database: process.env.TEST_PG_DATABASE,
  };
}

function mysqlTarget(): ProbeTarget {
  return {
    kind: 'mysql',
    host: process.env.TEST_MYSQL_HOST!,
    port: Number(process.env.TEST_MYSQL_PORT),
    user: process.env.TEST_MYSQL_USER,
    password: process.env.TEST_MYSQL_PASSWORD,
    database: process.env.TEST_MYSQL_DATABASE,
  };
}

const databases = [
  ['postgres', pgTarget],
  ['mysql', mysqlTarget],
] as const;

/** A listener that accepts and never answers (a hung host). */
async function blackHole(): Promise<{ port: number; close: () => void }> {
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
  const h = await blackHole();
  h.close();
  return h.port;
}

/**
 * Waits for `work` to call `done`. Monitor callbacks never keep the process alive, so a ref'd timer does while
 * the test waits (and fails the test if the events never come).
 */
function waitFor(what: string, limitMs: number, work: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${limitMs} ms`)), limitMs);
    work(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function failure(r: ProbeResult): { errorClass: string; message: string } {
  assert.is(r.ok, false, `expected a failure, got ${JSON.stringify(r)}`);
  return r as { errorClass: string; message: string };
}

/** Whether the server offers TLS, asked through the JS drivers. */
async function serverHasTls(kind: 'postgres' | 'mysql'): Promise<boolean> {
  if (kind === 'postgres') {
    const t = pgTarget();
    const c = new pg.Client({ host: t.host, port: t.port, user: t.user, password: t.password, database: t.database });
    await c.connect();
    try {
      return (await c.query<{ ssl: string }>('SHOW ssl')).rows[0].ssl === 'on';
    } finally {
      await c.end();
    }
  }
  const t = mysqlTarget();
  const c = await mysql.createConnection({
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
  });
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>("SHOW VARIABLES LIKE 'have_ssl'");
    return rows[0]?.Value === 'YES';
  } finally {
    await c.end();
  }
}

for (const [kind, target] of databases) {
  test(`${kind}: probe connects, authenticates and runs SELECT 1`, async () => {
    const r = await probeHost(target(), 5000);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.ok(r.elapsedMs > 0 && r.elapsedMs < 5000);
  });

  test(`${kind}: a wrong password fails with class auth, without the password in the message`, async () => {
    const r = failure(await probeHost({ ...target(), password: WRONG_PASSWORD }, 5000));
    assert.is(r.errorClass, 'auth', r.message);
    assert.not.ok(r.message.includes(WRONG_PASSWORD), r.message);
    assert.ok(r.message.length > 0);
  });

  test(`${kind}: a host that accepts but never answers times out within the deadline`, async () => {
    const hole = await blackHole();
    try {
      const started = Date.now();
      const r = failure(await probeHost({ ...target(), port: hole.port }, 400));
      const ms = Date.now() - started;
      assert.is(r.errorClass, 'timeout', r.message);
      assert.ok(ms >= 390 && ms < 400 + 4000, `took ${ms} ms (deadline 400 ms; room for a loaded machine)`);
    } finally {
      hole.close();
    }
  });

  test(`${kind}: ssl=prefer connects whether or not the server offers TLS`, async () => {
    const r = await probeHost({ ...target(), ssl: 'prefer' }, 5000);
    assert.equal(r.ok, true, JSON.stringify(r));
  });

  test(`${kind}: ssl=require fails with class tls on a server without TLS (connects when it has TLS)`, async () => {
    const r = await probeHost({ ...target(), ssl: 'require' }, 5000);
    if (await serverHasTls(kind)) assert.equal(r.ok, true, JSON.stringify(r));
    else assert.is(failure(r).errorClass, 'tls', JSON.stringify(r));
  });
}

test('every kind reports refused for a closed port', async () => {
  const port = await closedPort();
  for (const kind of ['tcp', 'postgres', 'mysql'] as const) {
    const r = failure(await probeHost({ kind, host: '127.0.0.1', port, user: 'u', password: WRONG_PASSWORD }, 2000));
    assert.is(r.errorClass, 'refused', `${kind}: ${r.message}`);
    assert.not.ok(r.message.includes(WRONG_PASSWORD));
  }
});

test('tcp: a listening port answers', async () => {
  const hole = await blackHole();
  try {
    const r = await probeHost({ kind: 'tcp', host: '127.0.0.1', port: hole.port }, 1000);
    assert.equal(r.ok, true, JSON.stringify(r));
  } finally {
    hole.close();
  }
});

test('bad input is refused with an error naming the field', () => {
  const bad: [unknown, string][] = [
    [{ kind: 'oracle', host: 'h', port: 1 }, 'target.kind'],
    [{ kind: 'tcp', host: '', port: 1 }, 'target.host'],
    [{ kind: 'tcp', host: 'h', port: 70000 }, 'target.port'],
    [{ kind: 'tcp', host: 'h', port: 1, ssl: 'maybe' }, 'target.ssl'],
  ];
  for (const [target, field] of bad) {
    assert.throws(
      () => probeHost(target as ProbeTarget, 100),
      (err: unknown) => err instanceof ConfigurationError && err.message.includes(field),
    );
  }
  assert.throws(
    () => probeHost({ kind: 'tcp', host: 'h', port: 1 }, -5),
    (err: unknown) => err instanceof ConfigurationError && err.message.includes('timeoutMs'),
  );
});

test('a monitor reports every tick in order, keeps its connection, and stops', async () => {
  const events: ProbeMonitorEvent[] = [];
  let monitorId = 0;
  await waitFor('5 monitor events', 10_000, (resolve) => {
    const m = startProbeMonitor(pgTarget(), { intervalMs: 20, timeoutMs: 2000 }, (ev) => {
      events.push(ev);
      if (events.length === 5) {
        assert.ok(m.stop());
        assert.not.ok(m.stop(), 'second stop finds nothing');
        resolve();
      }
    });
    monitorId = m.id;
  });
  assert.equal(
    events.map((e) => [e.monitorId, e.seq, e.ok, e.kind, e.port]),
    [1, 2, 3, 4, 5].map((seq) => [monitorId, seq, true, 'postgres', Number(process.env.TEST_PG_PORT)]),
  );
  // Ticks after the first reuse the open connection: no reconnect, so no slower than the first.
  assert.ok(events.every((e) => e.at > 0));
  assert.is(nativeMonitorCount(), 0);
});

test('a monitor on a refused port reports refused on each tick until released', async () => {
  const port = await closedPort();
  const events: ProbeMonitorEvent[] = [];
  await waitFor('3 monitor events', 10_000, (resolve) => {
    startProbeMonitor({ kind: 'mysql', host: '127.0.0.1', port }, { intervalMs: 10, timeoutMs: 500 }, (ev) => {
      events.push(ev);
      if (events.length === 3) resolve();
    });
  });
  assert.ok(
    events.every((e) => !e.ok && e.errorClass === 'refused'),
    JSON.stringify(events),
  );
  assert.is(nativeMonitorCount(), 1);
  await releaseResources();
  assert.is(nativeMonitorCount(), 0);
  assert.is(nativeThreadCount(), 0);
});

test.after(async () => {
  await releaseResources();
});

test.run();
