/**
 * bg plugin on a real PostgreSQL server standing in for RDS PostgreSQL: the test owns `rds_tools.show_topology`
 * (a function over a table the test updates) and walks its rows through a switchover. Blue and green host names
 * reach the server through hostAddressMap; green names go through a TCP forwarder so a connection that was sent
 * to green can be told apart.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { UnsupportedOperationError } from '../ts/errors.js';
import { BlueGreenRejectedError, BlueGreenTimeoutError, type BlueGreenPlugin } from '../ts/plugins/bg.js';
import type { BlueGreenStatusProvider } from '../ts/plugins/bg-status.js';
import type { BlueGreenPhase } from '../ts/plugins/bg-monitor.js';
import { blueGreenMonitorCount } from '../ts/plugins/bg-monitor.js';
import { WrapperServices } from '../ts/services.js';
import { pluginRegistry } from '../ts/plugins/registry.js';
import { connectRecorder, type SentConnection } from './support/connect-recorder.js';
import { releaseResources } from '../ts/release.js';
import { pgConnect } from './support/dialect-fixtures.js';
import { IamGate } from './support/aws-iam-gate.js';
import { format } from 'node:util';
import { setLogger } from '../ts/logger.js';
import diagnosticsChannel from 'node:diagnostics_channel';
import { CHANNEL_NAMES, type BlueGreenPhaseMessage } from '../ts/telemetry/channels.js';
import { OtelMemory } from './support/otel-memory.js';

// Test credentials for IAM token signing (environment provider chain); nothing talks to AWS.
const KEY_ID = 'AKIATESTBLUEGREEN000';
const SECRET = 'blueGreenSecretKey/For+Tests000000000000';
process.env.AWS_ACCESS_KEY_ID = KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = SECRET;
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;

const PORT = Number(process.env.TEST_PG_PORT);
const DB = `bg_test_${process.pid}`;
const BLUE = 'db.cluster-c1aaaaaaaaaa.us-east-1.rds.amazonaws.com';
const BLUE_INSTANCE = 'db-1.c1aaaaaaaaaa.us-east-1.rds.amazonaws.com';
const GREEN = 'db-green-abc123.cluster-c2bbbbbbbbbb.us-east-1.rds.amazonaws.com';
const GREEN_INSTANCE = 'db-1-green-abc123.c2bbbbbbbbbb.us-east-1.rds.amazonaws.com';

let admin: pg.Client;
let status: pg.Client;
let reads: pg.Client;
let forwarder: net.Server;
let greenPort = 0;
let greenConnections = 0;
/** Client sockets the green forwarder holds open, with the application_name of their startup message. */
const greenSockets = new Map<net.Socket, string>();
/** Connections the green forwarder accepted, per application_name (the status monitors send none). */
const greenOpenedBy = new Map<string, number>();
/** While set, the green forwarder resets connections whose application_name matches once it has counted them. */
let greenRefuses: RegExp | undefined;
/** Called on every connection the green forwarder counted. */
const greenOpenedListeners = new Set<() => void>();

/** Connections to green opened by clients whose application_name matches `pattern`. */
function greenOpenedMatching(pattern: RegExp): number {
  let n = 0;
  for (const [name, count] of greenOpenedBy) if (pattern.test(name)) n += count;
  return n;
}

/** Resolves once `done()` holds, checked on every connection the green forwarder counts. */
function whenGreenOpened(done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!done()) return;
      greenOpenedListeners.delete(check);
      resolve();
    };
    greenOpenedListeners.add(check);
    check();
  });
}

/** Status reads of the status monitors, as the status function announces them (NOTIFY bg_status_read). */
let statusReads = 0;
const statusReadListeners = new Set<() => void>();

/** Resolves after `n` more status reads: a clock that runs at the monitors' pace. */
function afterStatusReads(n: number): Promise<void> {
  const until = statusReads + n;
  return new Promise((resolve) => {
    const check = (): void => {
      if (statusReads < until) return;
      statusReadListeners.delete(check);
      resolve();
    };
    statusReadListeners.add(check);
  });
}

/** Resolves once every socket of `sockets` is closed. */
function closed(sockets: readonly net.Socket[]): Promise<unknown> {
  return Promise.all(
    sockets.map((s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())))),
  );
}

/** Resolves on the first bg log line matching `pattern` (bg debug logging on until `stop()`). */
function logged(pattern: RegExp): { seen: Promise<void>; stop: () => void } {
  let seen: () => void = () => {};
  const promise = new Promise<void>((resolve) => (seen = resolve));
  const line = (...args: unknown[]) => {
    if (pattern.test(format(...args))) seen();
  };
  setLogger({ debug: line, info: line, warn: () => {}, error: () => {} }, { levels: 'bg:debug' });
  return { seen: promise, stop: () => setLogger(undefined) };
}

/** The port the client's current connection goes to (PORT: blue, greenPort: green). */
function remotePort(core: ClientCore<pg.Client>): number | undefined {
  return (core.pluginService.currentConnection as unknown as { connection: { stream: net.Socket } }).connection.stream
    .remotePort;
}

async function setStatus(s: string): Promise<void> {
  await status.query('UPDATE rds_tools.bg_status SET status = $1', [s]);
}

/** The connect props each client's innermost plugin saw: where the socket was sent for which name. */
const sent: SentConnection[] = [];
const recorder = connectRecorder(sent);

function newClient(
  services: WrapperServices,
  host: string,
  extra: Record<string, unknown> = {},
): ClientCore<pg.Client> {
  return new ClientCore<pg.Client>({
    driver: 'pg',
    driverDialect: new PgDriverDialect(),
    services,
    config: {
      host,
      port: PORT,
      user: process.env.TEST_PG_USER,
      password: process.env.TEST_PG_PASSWORD,
      database: DB,
      plugins: ['bg', 'bg_test_recorder'],
      wrapperDialect: 'rds-pg',
      hostAddressMap: {
        [BLUE]: `127.0.0.1:${PORT}`,
        [BLUE_INSTANCE]: `127.0.0.1:${PORT}`,
        [GREEN]: `127.0.0.1:${greenPort}`,
        [GREEN_INSTANCE]: `127.0.0.1:${greenPort}`,
      },
      bgIntervalBaselineMs: 200,
      bgIntervalIncreasedMs: 50,
      bgIntervalHighMs: 20,
      ...extra,
    },
  });
}

function newServices(): WrapperServices {
  const s = new WrapperServices();
  pluginRegistry(s).registerPlugin(recorder);
  return s;
}

const query = (core: ClientCore<pg.Client>, sql: string) => core.execute('Client.query', [sql], (c) => c.query(sql));

function provider(core: ClientCore<pg.Client>): BlueGreenStatusProvider {
  const p = core.getPlugin<BlueGreenPlugin<pg.Client>>('bg')!.status;
  assert.ok(p, 'the bg plugin has a status provider after connect');
  return p;
}

async function reach(p: BlueGreenStatusProvider, phase: BlueGreenPhase): Promise<void> {
  const ok = await p.waitUntil(() => p.currentPhase === phase, 10_000);
  assert.ok(ok, `phase ${phase} reached (now ${p.currentPhase})`);
}

test.before(async () => {
  forwarder = net.createServer((socket) => {
    greenConnections++;
    greenSockets.set(socket, '');
    socket.once('data', (startup: Buffer) => {
      const app = /application_name\0([^\0]*)\0/.exec(startup.toString('latin1'));
      if (!app) return;
      greenOpenedBy.set(app[1], (greenOpenedBy.get(app[1]) ?? 0) + 1);
      if (greenSockets.has(socket)) greenSockets.set(socket, app[1]);
      if (greenRefuses?.test(app[1])) socket.resetAndDestroy();
      for (const l of [...greenOpenedListeners]) l();
    });
    socket.once('close', () => greenSockets.delete(socket));
    const upstream = net.connect(PORT, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', close);
    upstream.on('error', close);
    socket.on('close', close);
    upstream.on('close', close);
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  greenPort = (forwarder.address() as net.AddressInfo).port;
  admin = await pgConnect();
  await admin.query(`CREATE DATABASE ${DB}`);
  status = await pgConnect(DB);
  await status.query(`
    CREATE SCHEMA rds_tools;
    CREATE TABLE rds_tools.bg_status (version text, endpoint text, port int, role text, status text);
    CREATE FUNCTION rds_tools.show_topology(client text)
      RETURNS TABLE (version text, endpoint text, port int, role text, status text)
      LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('bg_status_read', '');
          RETURN QUERY SELECT s.version, s.endpoint, s.port, s.role, s.status FROM rds_tools.bg_status s;
        END $$;
  `);
  reads = await pgConnect(DB);
  reads.on('notification', () => {
    statusReads++;
    for (const l of [...statusReadListeners]) l();
  });
  await reads.query('LISTEN bg_status_read');
  await status.query(
    `INSERT INTO rds_tools.bg_status VALUES
      ('1.0', $1, $5, 'BLUE_GREEN_DEPLOYMENT_SOURCE', 'AVAILABLE'),
      ('1.0', $2, $5, 'BLUE_GREEN_DEPLOYMENT_SOURCE', 'AVAILABLE'),
      ('1.0', $3, $5, 'BLUE_GREEN_DEPLOYMENT_TARGET', 'AVAILABLE'),
      ('1.0', $4, $5, 'BLUE_GREEN_DEPLOYMENT_TARGET', 'AVAILABLE')`,
    [BLUE, BLUE_INSTANCE, GREEN, GREEN_INSTANCE, PORT],
  );
});

test.after(async () => {
  await reads?.end();
  await status?.end();
  await admin?.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin?.end();
  forwarder?.close();
});

test.before.each(async () => {
  sent.length = 0;
  await setStatus('AVAILABLE');
});

test('a switchover end to end: blue address in PREPARATION, calls and green connects held in IN_PROGRESS, green address after', async () => {
  const services = newServices();
  const app = newClient(services, BLUE);
  await app.connect();
  const others: ClientCore<pg.Client>[] = [];
  try {
    const p = provider(app);
    await reach(p, 'CREATED');
    assert.is(blueGreenMonitorCount(), 2, 'one blue and one green status monitor');
    assert.equal(p.snapshot().corresponding.get(BLUE), GREEN);
    assert.equal(p.snapshot().corresponding.get(BLUE_INSTANCE), GREEN_INSTANCE);

    // A second client of the same deployment shares the monitors.
    const second = newClient(services, BLUE_INSTANCE);
    others.push(second);
    await second.connect();
    assert.is(blueGreenMonitorCount(), 2);
    assert.is(provider(second), p);

    await setStatus('SWITCHOVER_INITIATED');
    await reach(p, 'PREPARATION');
    sent.length = 0;
    const prep = newClient(services, BLUE);
    others.push(prep);
    await prep.connect();
    assert.equal(sent, [{ host: BLUE, to: `127.0.0.1:${PORT}` }], 'the blue name goes to the blue address seen before');

    await setStatus('SWITCHOVER_IN_PROGRESS');
    await reach(p, 'IN_PROGRESS');
    const order: string[] = [];
    const held = query(app, 'select 1 as one').then((r) => {
      order.push('query');
      return r;
    });
    const greenClient = newClient(services, GREEN);
    others.push(greenClient);
    const greenConnect = greenClient.connect().then(
      () => {
        order.push('green connect');
      },
      (e: unknown) => {
        order.push('green connect failed');
        return e;
      },
    );
    // New blue connections still go to the blue address by default.
    sent.length = 0;
    const blueDuring = newClient(services, BLUE_INSTANCE);
    others.push(blueDuring);
    await blueDuring.connect();
    // (The held call's client prepares its connection to green meanwhile.)
    assert.equal(
      sent.filter((c) => c.host === BLUE_INSTANCE),
      [{ host: BLUE_INSTANCE, to: `127.0.0.1:${PORT}` }],
    );
    assert.equal(order, [], 'the call and the green connect are held');

    order.push('post');
    await setStatus('SWITCHOVER_IN_POST_PROCESSING');
    const r = await held;
    assert.is(r.rows[0].one, 1);
    const greenErr = await greenConnect;
    assert.equal([...order].sort(), ['green connect failed', 'post', 'query'], 'both settled');
    assert.is(order[0], 'post', 'the held work resumed only after the phase moved on');
    assert.instance(greenErr, BlueGreenRejectedError, 'a green name is rejected in POST');

    sent.length = 0;
    const before = greenConnections;
    const post = newClient(services, BLUE);
    others.push(post);
    await post.connect();
    assert.equal(sent, [{ host: BLUE, to: `127.0.0.1:${greenPort}` }], 'the blue name goes to the green address');
    assert.ok(greenConnections > before, 'the connection went to green');
    assert.is((await query(post, 'select 2 as two')).rows[0].two, 2);

    await setStatus('SWITCHOVER_COMPLETED');
    await reach(p, 'COMPLETED');
  } finally {
    for (const c of others) await c.end().catch(() => undefined);
    await app.end();
  }
  assert.is(blueGreenMonitorCount(), 0, 'the monitors stop with the last client');
});

test('a call held in IN_PROGRESS resumes on the connection to green prepared while it waited: no connect after the release', async () => {
  const services = newServices();
  const app = newClient(services, BLUE, { bgId: 'prepared', application_name: 'prepared' });
  const prepared = logged(/connection to green prepared/);
  await app.connect();
  try {
    const p = provider(app);
    await reach(p, 'CREATED');
    await setStatus('SWITCHOVER_IN_PROGRESS');
    await reach(p, 'IN_PROGRESS');
    sent.length = 0;
    const held = query(app, 'select 1 as one');
    await prepared.seen;
    assert.equal(sent, [{ host: BLUE, to: `127.0.0.1:${greenPort}` }], 'prepared through the green address');
    assert.is(remotePort(app), PORT, 'the call is still held: the client is on blue');
    await setStatus('SWITCHOVER_IN_POST_PROCESSING');
    assert.is((await held).rows[0].one, 1);
    assert.is(remotePort(app), greenPort, 'the call ran on green');
    assert.is(greenOpenedBy.get('prepared'), 1, 'on the prepared connection: none opened after the release');
    assert.equal(sent, [{ host: BLUE, to: `127.0.0.1:${greenPort}` }]);
  } finally {
    prepared.stop();
    await app.end();
  }
});

test('a prepared green connection is closed when the switchover rolls back, when the held call times out, and at releaseResources()', async () => {
  const services = newServices();
  for (const end of ['rollback', 'timeout', 'releaseResources'] as const) {
    await setStatus('AVAILABLE');
    const app = newClient(services, BLUE, {
      bgId: `spare-${end}`,
      bgConnectTimeoutMs: end === 'timeout' ? 3000 : 20_000,
      application_name: `spare-${end}`,
    });
    const prepared = logged(/connection to green prepared/);
    await app.connect();
    try {
      const p = provider(app);
      await reach(p, 'CREATED');
      await setStatus('SWITCHOVER_IN_PROGRESS');
      await reach(p, 'IN_PROGRESS');
      const held = query(app, 'select 1 as one').then(
        (r) => r.rows[0].one as number,
        (e: unknown) => e,
      );
      await prepared.seen;
      // (The status monitors' connections to green carry their own application_name.)
      const spare = [...greenSockets].filter(([, name]) => name === `spare-${end}`).map(([socket]) => socket);
      assert.ok(spare.length > 0, `${end}: a connection to green was prepared`);
      if (end === 'rollback') await setStatus('SWITCHOVER_INITIATED');
      if (end === 'releaseResources') {
        // The held call's monitors start again at once; it resumes when the switchover ends.
        await releaseResources();
        await setStatus('SWITCHOVER_INITIATED');
      }
      const outcome = await held;
      if (end === 'timeout') assert.instance(outcome, BlueGreenTimeoutError, `${end}: ${String(outcome)}`);
      else {
        assert.is(outcome, 1, `${end}: the held call ran`);
        assert.is(remotePort(app), PORT, `${end}: on blue`);
      }
      await closed(spare);
    } finally {
      prepared.stop();
      await app.end();
    }
  }
});

test('green refusing connections: held clients retry their prepared connection on the green monitor’s signal, not each on its own timer', async () => {
  const N = 6;
  const services = newServices();
  const apps = Array.from({ length: N }, (_, i) =>
    newClient(services, BLUE, { bgId: 'gate', application_name: `gate-${i}` }),
  );
  const mine = /^gate-/;
  // The green status monitor's connection (the native monitors name themselves).
  const dropGreenMonitor = (): void => {
    for (const [socket, name] of greenSockets) if (name === 'aws-advanced-ts-wrapper-monitor') socket.resetAndDestroy();
  };
  let prepared = 0;
  const preparedListeners = new Set<() => void>();
  const whenPrepared = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (prepared < n) return;
        preparedListeners.delete(check);
        resolve();
      };
      preparedListeners.add(check);
      check();
    });
  const line = (...args: unknown[]): void => {
    if (!/connection to green prepared/.test(format(...args))) return;
    prepared++;
    for (const l of [...preparedListeners]) l();
  };
  setLogger({ debug: line, info: () => {}, warn: () => {}, error: () => {} }, { levels: 'bg:debug' });
  try {
    for (const app of apps) await app.connect();
    const p = provider(apps[0]);
    await reach(p, 'CREATED');
    await setStatus('SWITCHOVER_IN_PROGRESS');
    await reach(p, 'IN_PROGRESS');
    const allPrepared = whenPrepared(N);
    const held = apps.map((app) =>
      query(app, 'select 1 as one').then(
        (r) => r.rows[0].one as number,
        (e: unknown) => e,
      ),
    );
    await allPrepared;
    assert.is(greenOpenedMatching(mine), N, 'one prepared connection per held client');

    // Green drops every client connection and refuses new ones (the green monitor's connection stays).
    greenRefuses = mine;
    const refusedFrom = greenOpenedMatching(mine);
    const spares = [...greenSockets].filter(([, name]) => mine.test(name)).map(([socket]) => socket);
    for (const socket of spares) socket.resetAndDestroy();
    // No signal: each client retries on its backoff (250 ms, doubling). 100 status reads at 20 ms by two monitors
    // last about 1 s, in which a client retrying every 20 ms would try about 50 times.
    await afterStatusReads(100);
    const withoutSignal = greenOpenedMatching(mine) - refusedFrom;
    assert.ok(withoutSignal <= N * 7, `${withoutSignal} attempts by ${N} held clients over 100 status reads`);

    // Each time the green monitor reads from green again after losing its connection, every held client tries once.
    const signalsFrom = p.greenAcceptSignals;
    const signalled = greenOpenedMatching(mine);
    const SIGNALS = 3;
    for (let k = 1; k <= SIGNALS; k++) {
      const tried = whenGreenOpened(() => greenOpenedMatching(mine) >= signalled + k * N);
      const signal = p.waitUntil(() => p.greenAcceptSignals >= signalsFrom + k, 10_000);
      dropGreenMonitor();
      assert.ok(await signal, `signal ${k}`);
      await tried;
    }
    const perSignal = greenOpenedMatching(mine) - signalled;
    assert.ok(perSignal <= N * (SIGNALS + 1), `${perSignal} attempts by ${N} held clients on ${SIGNALS} signals`);

    // Green accepts again: the next signal reopens every prepared connection, and the released calls use them.
    greenRefuses = undefined;
    const reopened = whenPrepared(2 * N);
    const signal = p.waitUntil(() => p.greenAcceptSignals > signalsFrom + SIGNALS, 10_000);
    dropGreenMonitor();
    assert.ok(await signal, 'green accepts');
    await reopened;
    const opened = greenOpenedMatching(mine);
    await setStatus('SWITCHOVER_IN_POST_PROCESSING');
    for (const r of await Promise.all(held)) assert.is(r, 1, String(r));
    for (const app of apps) assert.is(remotePort(app), greenPort, 'the released call ran on green');
    assert.is(greenOpenedMatching(mine), opened, 'on the prepared connections: none opened after the release');
  } finally {
    greenRefuses = undefined;
    setLogger(undefined);
    for (const app of apps) await app.end().catch(() => undefined);
  }
});

test('bgConnectTimeoutMs bounds a held call and a held connect with BlueGreenTimeoutError', async () => {
  const services = newServices();
  const app = newClient(services, BLUE, { bgConnectTimeoutMs: 300, bgId: 'timeout' });
  await app.connect();
  const green = newClient(services, GREEN, { bgConnectTimeoutMs: 300, bgId: 'timeout' });
  try {
    const p = provider(app);
    await reach(p, 'CREATED');
    await setStatus('SWITCHOVER_IN_PROGRESS');
    await reach(p, 'IN_PROGRESS');
    const err = await query(app, 'select 1').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, BlueGreenTimeoutError, String(err));
    assert.match((err as Error).message, /still in progress after bgConnectTimeoutMs \(300 ms\)/);
    const cerr = await green.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(cerr, BlueGreenTimeoutError, String(cerr));
  } finally {
    await green.end().catch(() => undefined);
    await app.end();
  }
});

test('rollback: a lower phase after PREPARATION is a rollback and routing stops', async () => {
  const services = newServices();
  const app = newClient(services, BLUE, { bgId: 'rollback' });
  await app.connect();
  const later = newClient(services, BLUE, { bgId: 'rollback' });
  try {
    const p = provider(app);
    await reach(p, 'CREATED');
    await setStatus('SWITCHOVER_INITIATED');
    await reach(p, 'PREPARATION');
    await setStatus('AVAILABLE');
    await reach(p, 'CREATED');
    assert.is(p.snapshot().rollback, true);
    sent.length = 0;
    await later.connect();
    assert.equal(sent, [{ host: BLUE, to: undefined }], 'no substitution after the rollback');
  } finally {
    await later.end().catch(() => undefined);
    await app.end();
  }
});

test('the switchover timer releases calls held by a switchover that never ends', async () => {
  const services = newServices();
  // 1.5 s: the test must see IN_PROGRESS before the timer ends it, even when a loaded machine stalls this process.
  const app = newClient(services, BLUE, { bgId: 'timer', bgSwitchoverTimeoutMs: 1500, bgConnectTimeoutMs: 20_000 });
  await app.connect();
  try {
    const p = provider(app);
    await reach(p, 'CREATED');
    await setStatus('SWITCHOVER_IN_PROGRESS');
    await reach(p, 'IN_PROGRESS');
    const r = await query(app, 'select 3 as three');
    assert.is(r.rows[0].three, 3);
    assert.is(p.currentPhase, 'COMPLETED');
    assert.is(p.snapshot().timedOut, true);
  } finally {
    await app.end();
  }
});

test('IAM: the token is signed for the host name while the socket goes to the address; green name first after the switchover', async () => {
  const services = newServices();
  const gate = new IamGate({ secrets: { [KEY_ID]: SECRET }, realPassword: process.env.TEST_PG_PASSWORD! });
  pluginRegistry(services).registerPlugin(gate.factory());
  const iamClient = (host: string) =>
    newClient(services, host, {
      bgId: 'iam',
      password: undefined,
      plugins: ['bg', 'iam', 'test_iam_gate', 'bg_test_recorder'],
      // The status monitors log in with the real password: the stand-in server cannot check tokens.
      'blue-green-monitoring-plugins': '',
      'blue-green-monitoring-password': process.env.TEST_PG_PASSWORD,
    });
  const app = iamClient(BLUE);
  await app.connect();
  const others: ClientCore<pg.Client>[] = [];
  try {
    assert.is(gate.seen.at(-1)!.token.host, BLUE);
    const p = provider(app);
    await reach(p, 'CREATED');
    await setStatus('SWITCHOVER_INITIATED');
    await reach(p, 'PREPARATION');
    sent.length = 0;
    const prep = iamClient(BLUE);
    others.push(prep);
    await prep.connect();
    assert.equal(sent, [{ host: BLUE, to: `127.0.0.1:${PORT}`, iamHost: BLUE }]);
    assert.is(gate.seen.at(-1)!.token.host, BLUE, 'token for the blue name, socket to the blue address');
    assert.ok(gate.seen.at(-1)!.accepted);

    await setStatus('SWITCHOVER_IN_POST_PROCESSING');
    await reach(p, 'POST');
    sent.length = 0;
    const post = iamClient(BLUE);
    others.push(post);
    await post.connect();
    assert.equal(sent, [{ host: BLUE, to: `127.0.0.1:${greenPort}`, iamHost: GREEN }]);
    assert.is(gate.seen.at(-1)!.token.host, GREEN, 'token for the green name RDS knows before its renames');
    assert.ok(gate.seen.at(-1)!.accepted);
  } finally {
    for (const c of others) await c.end().catch(() => undefined);
    await app.end();
  }
});

test('a write refused by read-only blue as the switchover starts runs again on green once promoted', async () => {
  let refused: () => void = () => {};
  const refusedSeen = new Promise<void>((resolve) => (refused = resolve));
  const line = (...args: unknown[]) => {
    if (/refused by read-only blue/.test(format(...args))) refused();
  };
  setLogger({ debug: line, info: () => {}, warn: () => {}, error: () => {} }, { levels: 'bg:debug' });
  const services = newServices();
  const app = newClient(services, BLUE, { bgId: 'read-only' });
  await app.connect();
  try {
    await query(app, 'CREATE TABLE IF NOT EXISTS bg_read_only (id int)');
    const p = provider(app);
    await reach(p, 'CREATED');
    await setStatus('SWITCHOVER_INITIATED');
    await reach(p, 'PREPARATION');
    // Blue turned read-only before this client saw IN_PROGRESS.
    await query(app, 'SET default_transaction_read_only = on');
    const order: string[] = [];
    const before = greenConnections;
    const write = query(app, 'INSERT INTO bg_read_only VALUES (1)').then(() => order.push('write'));
    await refusedSeen;
    order.push('post');
    await setStatus('SWITCHOVER_IN_POST_PROCESSING');
    await write;
    assert.equal(order, ['post', 'write']);
    assert.ok(greenConnections > before, 'run again on a connection to green');
    assert.is((await query(app, 'SELECT count(*)::int AS n FROM bg_read_only')).rows[0].n, 1, 'written once');
  } finally {
    setLogger(undefined);
    await app.end();
  }
});

test('a write refused by read-only blue before the monitors saw the switchover has them read the status at once; without a switchover the error is the application’s', async () => {
  const services = newServices();
  // At this increased rate the monitors would not read the status again during the test unless asked.
  const app = newClient(services, BLUE, { bgId: 'unseen', bgIntervalIncreasedMs: 600_000 });
  const refused = logged(/refused by read-only blue/);
  await app.connect();
  try {
    await query(app, 'CREATE TABLE IF NOT EXISTS bg_unseen (id int)');
    const p = provider(app);
    await reach(p, 'CREATED');
    await query(app, 'SET default_transaction_read_only = on');
    // No switchover: the read-only error is the application's.
    const err = await query(app, 'INSERT INTO bg_unseen VALUES (0)').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.is((err as { code?: string }).code, '25006', String(err));
    assert.is(p.currentPhase, 'CREATED');

    await setStatus('SWITCHOVER_IN_PROGRESS');
    const write = query(app, 'INSERT INTO bg_unseen VALUES (1)');
    await refused.seen;
    assert.is(p.currentPhase, 'IN_PROGRESS', 'the refused write had the monitors read the status');
    await setStatus('SWITCHOVER_IN_POST_PROCESSING');
    await write;
    assert.is(remotePort(app), greenPort, 'run again on green');
    assert.is((await query(app, 'SELECT count(*)::int AS n FROM bg_unseen')).rows[0].n, 1, 'written once');
  } finally {
    refused.stop();
    await app.end();
  }
});

test('releaseResources() stops the status monitors; the next call of an open client starts them again', async () => {
  const services = newServices();
  const app = newClient(services, BLUE, { bgId: 'release' });
  await app.connect();
  try {
    const p = provider(app);
    await reach(p, 'CREATED');
    assert.is(blueGreenMonitorCount(), 2);
    await releaseResources();
    assert.is(blueGreenMonitorCount(), 0);
    assert.is((await query(app, 'select 1 as one')).rows[0].one, 1);
    assert.is(blueGreenMonitorCount(), 2);
    await setStatus('SWITCHOVER_INITIATED');
    await reach(p, 'PREPARATION');
  } finally {
    await app.end();
  }
  assert.is(blueGreenMonitorCount(), 0);
});

test('phase changes are published on aws-advanced-ts-wrapper:bg:phase (rollback flagged) and counted by the telemetry bridge', async () => {
  const otel = new OtelMemory();
  const seen: BlueGreenPhaseMessage[] = [];
  const listener = (m: unknown): void => void seen.push(m as BlueGreenPhaseMessage);
  diagnosticsChannel.subscribe(CHANNEL_NAMES.bgPhase, listener);
  const services = newServices();
  const app = newClient(services, BLUE, { bgId: 'phase-events', enableTelemetry: true });
  try {
    await app.connect();
    const p = provider(app);
    await reach(p, 'CREATED');
    await setStatus('SWITCHOVER_INITIATED');
    await reach(p, 'PREPARATION');
    await setStatus('AVAILABLE');
    await reach(p, 'CREATED');
    assert.equal(
      seen.map((m) => [m.bgId, m.previousPhase, m.phase, m.rollback, m.timedOut]),
      [
        ['phase-events', 'NOT_CREATED', 'CREATED', false, false],
        ['phase-events', 'CREATED', 'PREPARATION', false, false],
        ['phase-events', 'PREPARATION', 'CREATED', true, false],
      ],
    );
    assert.equal(Object.keys(seen[0]).sort(), ['at', 'bgId', 'phase', 'previousPhase', 'rollback', 'timedOut']);
    assert.ok(seen.every((m) => typeof m.at === 'number' && m.at <= Date.now()));
    const count = (where: Record<string, string | boolean>) =>
      otel.total('aws_wrapper.bg.phase.change.count', { 'aws_wrapper.bg.id': 'phase-events', ...where });
    assert.is(await count({}), 3);
    assert.is(await count({ 'aws_wrapper.bg.phase': 'CREATED', 'aws_wrapper.bg.rollback': true }), 1);
  } finally {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.bgPhase, listener);
    await app.end();
    await services.close();
    await otel.shutdown();
  }
});

test('a dialect without a Blue/Green status source is refused clearly', async () => {
  const services = newServices();
  const app = newClient(services, BLUE, { wrapperDialect: 'pg', bgId: 'plain' });
  const err = await app.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, UnsupportedOperationError);
  assert.match((err as Error).message, /the pg dialect has no Blue\/Green status source/);
  await app.end().catch(() => undefined);
});

test.run();
