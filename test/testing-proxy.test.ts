// Fault-injecting proxies of the lookalike cluster, against a real TCP echo server on loopback: kill refuses and
// resets, hang is a black hole that resumes on heal, latency delays, endpoints follow targets after a lag.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { EndpointProxy, InstanceProxy } from '../ts/testing/proxy.js';
import { freeLoopbackPort } from '../ts/testing/names.js';

function echoServer(tag: string): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', (d) => s.write(`${tag}:${String(d)}`));
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => {
      resolve({
        port: (srv.address() as net.AddressInfo).port,
        close: () => {
          for (const s of sockets) s.destroy();
          srv.close();
        },
      });
    });
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `msg` and resolves with the first reply, or 'silence' when nothing arrives within `ms`. */
function ask(s: net.Socket, msg: string, ms = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.off('data', onData);
      resolve('silence');
    }, ms);
    const onData = (d: Buffer): void => {
      clearTimeout(timer);
      resolve(String(d));
    };
    s.once('data', onData);
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.write(msg);
  });
}

function closed(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let code = 'closed';
    s.once('error', (err: NodeJS.ErrnoException) => (code = err.code ?? err.message));
    s.once('close', () => resolve(code));
  });
}

test('instance proxy: kill refuses new and resets open connections; heal restores', async () => {
  const echo = await echoServer('a');
  const port = await freeLoopbackPort();
  const proxy = new InstanceProxy('i1', { host: '127.0.0.1', port }, { host: '127.0.0.1', port: echo.port });
  try {
    await proxy.setServerUp(true);
    const s = await connect(port);
    assert.is(await ask(s, 'x'), 'a:x');
    const gone = closed(s);
    await proxy.kill();
    assert.is(await gone, 'ECONNRESET');
    const err = await connect(port).then(
      () => 'connected',
      (e: NodeJS.ErrnoException) => e.code,
    );
    assert.is(err, 'ECONNREFUSED');
    await proxy.heal();
    const s2 = await connect(port);
    assert.is(await ask(s2, 'y'), 'a:y');
    s2.destroy();
  } finally {
    proxy.close();
    echo.close();
  }
});

test('instance proxy: hang freezes open connections and accepts but never answers new ones; heal delivers', async () => {
  const echo = await echoServer('b');
  const port = await freeLoopbackPort();
  const proxy = new InstanceProxy('i1', { host: '127.0.0.1', port }, { host: '127.0.0.1', port: echo.port });
  try {
    await proxy.setServerUp(true);
    const open = await connect(port);
    assert.is(await ask(open, 'before'), 'b:before');
    await proxy.hang();
    assert.is(await ask(open, 'during'), 'silence');
    // A new connection completes the TCP handshake (like a dead host behind a live network), then nothing.
    const fresh = await connect(port);
    assert.is(await ask(fresh, 'hello'), 'silence');
    const late = new Promise<string>((resolve) => open.once('data', (d) => resolve(String(d))));
    const lateFresh = new Promise<string>((resolve) => fresh.once('data', (d) => resolve(String(d))));
    await proxy.heal();
    assert.is(await late, 'b:during');
    assert.is(await lateFresh, 'b:hello');
    open.destroy();
    fresh.destroy();
  } finally {
    proxy.close();
    echo.close();
  }
});

test('instance proxy: latency delays both directions; stopped server means refused', async () => {
  const echo = await echoServer('c');
  const port = await freeLoopbackPort();
  const proxy = new InstanceProxy('i1', { host: '127.0.0.1', port }, { host: '127.0.0.1', port: echo.port });
  try {
    await proxy.setServerUp(true);
    const s = await connect(port);
    await proxy.setLatency(150);
    const t0 = Date.now();
    assert.is(await ask(s, 'slow', 5000), 'c:slow');
    assert.ok(Date.now() - t0 >= 290, `round trip took ${Date.now() - t0} ms, expected >= 300 (150 each way)`);
    await proxy.setServerUp(false);
    const err = await connect(port).then(
      () => 'connected',
      (e: NodeJS.ErrnoException) => e.code,
    );
    assert.is(err, 'ECONNREFUSED');
    s.destroy();
  } finally {
    proxy.close();
    echo.close();
  }
});

test('endpoint proxy: round robin over targets, retarget after the lag, open connections stay', async () => {
  const a = await echoServer('A');
  const b = await echoServer('B');
  const port = await freeLoopbackPort();
  const ep = new EndpointProxy('writer', { host: '127.0.0.1', port });
  try {
    await ep.start([{ host: '127.0.0.1', port: a.port }]);
    const s1 = await connect(port);
    assert.is(await ask(s1, '1'), 'A:1');
    let applied = false;
    const moved = new Promise<void>((resolve) =>
      ep.retarget([{ host: '127.0.0.1', port: b.port }], 200, () => {
        applied = true;
        resolve();
      }),
    );
    const s2 = await connect(port);
    assert.is(await ask(s2, '2'), 'A:2', 'inside the DNS lag new connections still reach the old target');
    assert.not.ok(applied);
    await moved;
    const s3 = await connect(port);
    assert.is(await ask(s3, '3'), 'B:3');
    assert.is(await ask(s1, '4'), 'A:4', 'open connections do not move');
    ep.retarget(
      [
        { host: '127.0.0.1', port: a.port },
        { host: '127.0.0.1', port: b.port },
      ],
      0,
    );
    const replies = [];
    for (let i = 0; i < 2; i++) {
      const s = await connect(port);
      replies.push((await ask(s, 'r')).slice(0, 1));
      s.destroy();
    }
    assert.equal(replies.sort(), ['A', 'B']);
    // A target that refuses is a reset for the client, as a dead address would be.
    const dead = await freeLoopbackPort();
    ep.retarget([{ host: '127.0.0.1', port: dead }], 0);
    const s4 = await connect(port);
    assert.is(await closed(s4), 'ECONNRESET');
    for (const s of [s1, s2, s3]) s.destroy();
  } finally {
    ep.close();
    a.close();
    b.close();
  }
});

test.run();
