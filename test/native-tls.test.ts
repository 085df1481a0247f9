// Native PostgreSQL probes over TLS: a loopback proxy answers PostgreSQL's SSLRequest, terminates TLS with a test
// certificate (test/fixtures/native-tls: a test CA and a server certificate for db.test.local, localhost and
// 127.0.0.1) and forwards the decrypted stream to the test server.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { probeHost, releaseResources, type ProbeResult, type ProbeTarget } from '../ts/native/index.js';

const certs = path.join(__dirname, 'fixtures', 'native-tls');
const ca = readFileSync(path.join(certs, 'ca.pem'), 'utf8');
const key = readFileSync(path.join(certs, 'server.key'));
const cert = readFileSync(path.join(certs, 'server.pem'));
const SSL_REQUEST_CODE = 80877103;

interface Proxy {
  port: number;
  tlsSessions: number;
  close(): void;
}

async function startPgTlsProxy(): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const proxy: Proxy = { port: 0, tlsSessions: 0, close: () => {} };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.once('data', (first) => {
      if (first.length !== 8 || first.readInt32BE(4) !== SSL_REQUEST_CODE) {
        client.destroy(); // this proxy only speaks TLS
        return;
      }
      client.write('S');
      const secure = new tls.TLSSocket(client, { isServer: true, key, cert });
      const upstream = net.connect(Number(process.env.TEST_PG_PORT), process.env.TEST_PG_HOST);
      sockets.add(upstream);
      secure.on('secure', () => proxy.tlsSessions++);
      secure.pipe(upstream).pipe(secure);
      const end = () => {
        secure.destroy();
        upstream.destroy();
      };
      secure.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as net.AddressInfo).port;
  proxy.close = () => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return proxy;
}

function viaProxy(proxy: Proxy, extra: Partial<ProbeTarget>): ProbeTarget {
  return {
    kind: 'postgres',
    host: '127.0.0.1',
    port: proxy.port,
    user: process.env.TEST_PG_USER,
    password: process.env.TEST_PG_PASSWORD,
    database: process.env.TEST_PG_DATABASE,
    ...extra,
  };
}

function assertOk(r: ProbeResult): void {
  assert.equal(r.ok, true, JSON.stringify(r));
}

function assertTlsFailure(r: ProbeResult, mention: RegExp): void {
  assert.is(r.ok, false, JSON.stringify(r));
  if (r.ok) return;
  assert.is(r.errorClass, 'tls', r.message);
  assert.match(r.message, mention);
  assert.not.ok(r.message.includes(process.env.TEST_PG_PASSWORD ?? '\u0000'), r.message);
}

let proxy: Proxy;

test.before(async () => {
  proxy = await startPgTlsProxy();
});

test.after(async () => {
  proxy.close();
  await releaseResources();
});

test('ssl=require encrypts without checking the certificate (like libpq)', async () => {
  const before = proxy.tlsSessions;
  assertOk(await probeHost(viaProxy(proxy, { ssl: 'require' }), 5000));
  assert.is(proxy.tlsSessions, before + 1);
});

test('ssl=prefer uses TLS when the server offers it', async () => {
  const before = proxy.tlsSessions;
  assertOk(await probeHost(viaProxy(proxy, { ssl: 'prefer' }), 5000));
  assert.is(proxy.tlsSessions, before + 1);
});

test('ssl=verify-full rejects a certificate from an unknown CA', async () => {
  assertTlsFailure(await probeHost(viaProxy(proxy, { ssl: 'verify-full' }), 5000), /certificate|issuer/i);
});

test('ssl=verify-full accepts the certificate with its CA given, checking the address', async () => {
  assertOk(await probeHost(viaProxy(proxy, { ssl: 'verify-full', ca }), 5000));
});

test('ssl=verify-full checks serverName when connecting to an address', async () => {
  assertOk(await probeHost(viaProxy(proxy, { ssl: 'verify-full', ca, serverName: 'db.test.local' }), 5000));
  assertTlsFailure(
    await probeHost(viaProxy(proxy, { ssl: 'verify-full', ca, serverName: 'other.test.local' }), 5000),
    /certificate|name/i,
  );
});

test('an unparsable CA is a tls failure that does not echo the CA text', async () => {
  const r = await probeHost(viaProxy(proxy, { ssl: 'verify-full', ca: 'garbage-ca-text' }), 5000);
  assertTlsFailure(r, /ca/i);
  assert.not.ok(!r.ok && r.message.includes('garbage-ca-text'));
});

test.run();
