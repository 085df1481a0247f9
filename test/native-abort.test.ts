// Aborting a user's connection from native code: a monitor that sees its host fail shuts down the registered
// sockets from its own thread, so the driver's pending query fails even though the JS event loop was blocked
// when the host was found dead.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import mysql from 'mysql2/promise';
import {
  releaseResources,
  shutdownSocket,
  socketFd,
  startProbeMonitor,
  type ProbeMonitorEvent,
} from '../ts/native/index.js';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Blocks the JS thread (no event loop turn) for `ms`. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `query` (which takes 10 s on the server), has a monitor of a dead host abort `socket` after 2 failures,
 * blocks the event loop through the abort, and returns how the query ended.
 */
async function abortWhileBlocked(socket: net.Socket, query: Promise<unknown>) {
  const events: ProbeMonitorEvent[] = [];
  const monitor = startProbeMonitor(
    { kind: 'tcp', host: '127.0.0.1', port: await closedPort() },
    { intervalMs: 20, timeoutMs: 500 },
    (e) => events.push(e),
  );
  try {
    assert.ok(monitor.abortSocketsOnFailure([socket], 2));
    const started = Date.now();
    // The monitor's 2nd failure (~20 ms in) happens while JS cannot run (1.5 s: room for a loaded machine).
    blockEventLoop(1500);
    const unblocked = Date.now();
    const outcome = await query.then(
      () => 'resolved',
      (err: Error) => err,
    );
    return { outcome, started, unblocked, endedAt: Date.now(), events };
  } finally {
    monitor.stop();
  }
}

test('pg: a query on a socket aborted natively while the event loop was blocked fails at once', async () => {
  const client = new pg.Client({
    host: process.env.TEST_PG_HOST,
    port: Number(process.env.TEST_PG_PORT),
    user: process.env.TEST_PG_USER,
    password: process.env.TEST_PG_PASSWORD,
    database: process.env.TEST_PG_DATABASE,
  });
  const clientErrors: Error[] = [];
  client.on('error', (e) => clientErrors.push(e));
  await client.connect();
  const socket = (client as unknown as { connection: { stream: net.Socket } }).connection.stream;
  const r = await abortWhileBlocked(socket, client.query('SELECT pg_sleep(10)'));
  assert.instance(r.outcome, Error, `query ${String(r.outcome)}`);
  assert.ok(r.endedAt - r.unblocked < 3000, `query ended ${r.endedAt - r.unblocked} ms after the loop unblocked`);
  const abort = r.events.find((e) => e.abortedSockets > 0);
  assert.ok(abort, JSON.stringify(r.events));
  assert.is(abort.abortedSockets, 1);
  assert.ok(abort.at < r.unblocked, 'the socket was shut down while JS was blocked');
  await client.end().catch(() => {});
});

test('mysql2: a query on a socket aborted natively while the event loop was blocked fails at once', async () => {
  const conn = await mysql.createConnection({
    host: process.env.TEST_MYSQL_HOST,
    port: Number(process.env.TEST_MYSQL_PORT),
    user: process.env.TEST_MYSQL_USER,
    password: process.env.TEST_MYSQL_PASSWORD,
    database: process.env.TEST_MYSQL_DATABASE,
  });
  conn.on('error', () => {});
  const socket = (conn as unknown as { connection: { stream: net.Socket } }).connection.stream;
  const r = await abortWhileBlocked(socket, conn.query('SELECT SLEEP(10)'));
  assert.instance(r.outcome, Error, `query ${String(r.outcome)}`);
  assert.ok(r.endedAt - r.unblocked < 3000, `query ended ${r.endedAt - r.unblocked} ms after the loop unblocked`);
  const abort = r.events.find((e) => e.abortedSockets > 0);
  assert.ok(abort && abort.at < r.unblocked, JSON.stringify(r.events));
  conn.destroy();
});

test('shutdownSocket() ends a connection now and refuses what is not a socket', async () => {
  const server = net.createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const fd = socketFd(socket);
  assert.type(fd, 'number');
  const ended = new Promise((resolve) => socket.once('end', resolve));
  assert.ok(shutdownSocket(socket));
  await ended;
  socket.destroy();
  server.close();

  const file = openSync(__filename, 'r');
  try {
    assert.not.ok(shutdownSocket(file), 'a file descriptor is not a socket');
  } finally {
    closeSync(file);
  }
  assert.not.ok(shutdownSocket(-1));
});

test('socketFd() finds the TCP socket under a TLS socket', async () => {
  const tcp = new net.Socket();
  const tls = await import('node:tls');
  const server = net.createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tcp.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((resolve) => tcp.once('connect', resolve));
  const secure = tls.connect({ socket: tcp, rejectUnauthorized: false });
  secure.on('error', () => {});
  assert.is(socketFd(secure), socketFd(tcp));
  secure.destroy();
  tcp.destroy();
  server.close();
});

test.after(async () => {
  await releaseResources();
});

test.run();
