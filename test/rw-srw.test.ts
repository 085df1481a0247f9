// srw (simple read/write splitting) on the aurora-pg lookalike: switches between the cluster's
// reader and writer endpoints, verifies the role of every new connection and retries, verifies the initial
// connection when its host is a cluster endpoint, and refuses a config without both endpoints.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { ConfigurationError } from '../ts/errors.js';
import { WrapperServices } from '../ts/services.js';
import { ReadWriteSplittingError } from '../ts/plugins/rw-common.js';
import { LocalCluster } from '../ts/testing/index.js';
import { where } from './support/rw-lab.js';

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'rw-srw-'));
const open: AwsPGClient[] = [];

function endpoints(): { srwReadEndpoint: string; srwWriteEndpoint: string } {
  return {
    srwReadEndpoint: `${cluster.readerEndpoint.dnsName}:${cluster.readerEndpoint.port}`,
    srwWriteEndpoint: `${cluster.writerEndpoint.dnsName}:${cluster.writerEndpoint.port}`,
  };
}

async function client(extra: Record<string, unknown> = {}, endpoint = 'writer'): Promise<AwsPGClient> {
  const c = new AwsPGClient(
    { ...cluster.clientConfig(endpoint), plugins: 'srw', ...endpoints(), ...extra },
    { services: new WrapperServices() },
  );
  open.push(c);
  await c.connect();
  return c;
}

test.before(async () => {
  cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 2, dir, database: 'app' });
});

test.after(async () => {
  for (const c of open) await c.end().catch(() => {});
  await cluster?.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
});

test('switches between the reader and writer endpoints; cached connections are reused', async () => {
  const c = await client();
  const w = await where(c);
  assert.equal([w.id, w.ro], ['instance-1', false]);
  await c.setReadOnly(true);
  const r = await where(c);
  assert.is(r.ro, true);
  assert.is(c.getCurrentHost()!.host, cluster.readerEndpoint.dnsName);
  await c.setReadOnly(false);
  assert.equal(await where(c), w, 'the cached writer connection');
  await c.setReadOnly(true);
  assert.equal(await where(c), r, 'the cached reader connection');
  await c.setSchema('s1');
  await c.setReadOnly(false);
  assert.equal((await c.query('SHOW search_path')).rows, [{ search_path: 's1' }], 'session state carried');
  await c.end();
});

test('a connection through the reader endpoint is identified as a reader: no switch on setReadOnly(true)', async () => {
  const c = await client({}, 'reader');
  const first = await where(c);
  assert.is(first.ro, true);
  await c.setReadOnly(true);
  assert.is((await where(c)).pid, first.pid);
  await c.setReadOnly(false);
  assert.is((await where(c)).ro, false);
  await c.end();
});

test('verification: an endpoint that leads to the wrong role is retried until the timeout, then the client stays', async () => {
  const writerInstance = `${cluster.instances[0].dnsName}:${cluster.instances[0].port}`;
  const opts = { srwReadEndpoint: writerInstance, srwConnectRetryTimeoutMs: 600, srwConnectRetryIntervalMs: 100 };
  const c = await client(opts);
  const w = await where(c);
  const t0 = Date.now();
  await c.setReadOnly(true);
  const waited = Date.now() - t0;
  assert.is((await where(c)).pid, w.pid, 'stays on the writer: the "read endpoint" is a writer');
  assert.ok(waited >= 500, `retried for the timeout (${waited} ms)`);
  await c.setReadOnly(false);
  await c.end();

  // Without verification the same endpoint is taken as is.
  const u = await client({ ...opts, srwVerifyNewConnections: false });
  const uw = await where(u);
  await u.setReadOnly(true);
  const ur = await where(u);
  assert.is(ur.id, 'instance-1');
  assert.is.not(ur.pid, uw.pid, 'a new connection was opened as the reader');
  await u.end();
});

test('retry: a refused connection through the reader endpoint is retried and reaches a live reader', async () => {
  await cluster.kill('instance-2');
  try {
    for (let i = 0; i < 2; i++) {
      const c = await client({ srwConnectRetryIntervalMs: 50 });
      await c.setReadOnly(true);
      const r = await where(c);
      assert.equal([r.id, r.ro], ['instance-3', true]);
      await c.end();
    }
  } finally {
    await cluster.heal('instance-2');
  }
});

test('initial connection: verified against srwVerifyInitialConnectionType, plain connection when it cannot be', async () => {
  const opts = {
    srwVerifyInitialConnectionType: 'writer',
    srwConnectRetryTimeoutMs: 400,
    srwConnectRetryIntervalMs: 100,
  };
  const t0 = Date.now();
  const c = await client(opts, 'reader');
  assert.ok(Date.now() - t0 >= 300, 'kept trying for a writer behind the reader endpoint');
  assert.is((await where(c)).ro, true, 'then connected plainly');
  await c.end();
});

test('both endpoints are required and must be host[:port]', async () => {
  const base = { ...cluster.clientConfig('writer'), plugins: 'srw' };
  for (const [extra, key] of [
    [{ srwWriteEndpoint: 'w.example.com' }, 'srwReadEndpoint'],
    [{ srwReadEndpoint: 'r.example.com' }, 'srwWriteEndpoint'],
  ] as const) {
    const err = (() => {
      try {
        new AwsPGClient({ ...base, ...extra }, { services: new WrapperServices() });
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof ConfigurationError && err.key === key, String(err));
  }
  assert.throws(
    () => new AwsPGClient({ ...base, srwReadEndpoint: 'r.example.com:notaport', srwWriteEndpoint: 'w' }),
    /srwReadEndpoint/,
  );
});

test('setReadOnly(false) inside a transaction on the reader is refused', async () => {
  const c = await client();
  await c.setReadOnly(true);
  await c.query('BEGIN');
  const err = await c.setReadOnly(false).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, ReadWriteSplittingError);
  await c.query('ROLLBACK');
  await c.setReadOnly(false);
  assert.is((await where(c)).ro, false);
  await c.end();
});

test.run();
