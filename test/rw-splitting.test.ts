// read_write_splitting on the aurora-pg lookalike: setReadOnly switches between the writer and a reader of the
// topology by the Python wrapper's rules: not inside a transaction, fallback to the current connection, cached
// connections reused, session state transferred; readers added to the cluster get picked up (Node peer #465),
// a removed reader is dropped whether cached or current; after a failover the client finds the new writer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { WrapperServices } from '../ts/services.js';
import { internalPoolsKey } from '../ts/plugins/rw-common.js';
import type { InternalConnectionPools } from '../ts/pools/internal-pools.js';
import { ReadWriteSplittingError } from '../ts/plugins/rw-common.js';
import { LocalCluster } from '../ts/testing/index.js';
import { where, rwPlugin as plugin } from './support/rw-lab.js';

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'rw-splitting-'));
const open: AwsPGClient[] = [];

/** The lookalike's instance addresses are `<block>.<n>:<port>`: map names of readers added later too. */
function addressMap(): Record<string, string> {
  const map = { ...cluster.hostAddressMap };
  const w = cluster.instances[0];
  const block = w.host.split('.').slice(0, 3).join('.');
  for (let n = 1; n <= 9; n++)
    map[`instance-${n}.${cluster.clusterId}.us-east-1.rds.amazonaws.com`] = `${block}.${n}:${w.port}`;
  return map;
}

async function client(
  extra: Record<string, unknown> = {},
  services = new WrapperServices(),
  endpoint = 'writer',
): Promise<AwsPGClient> {
  const c = new AwsPGClient(
    { ...cluster.clientConfig(endpoint), hostAddressMap: addressMap(), plugins: 'read_write_splitting', ...extra },
    { services },
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

test('setReadOnly(true) moves to a reader, setReadOnly(false) back to the writer; both connections are cached', async () => {
  const c = await client();
  const w = await where(c);
  assert.equal([w.id, w.ro], ['instance-1', false]);
  await c.setReadOnly(true);
  const r = await where(c);
  assert.ok(['instance-2', 'instance-3'].includes(r.id), r.id);
  assert.is(r.ro, true);
  assert.is(c.isReadOnly(), true);
  assert.is(c.getCurrentHost()!.role, 'reader');
  // The reader's session is read-only (the driver call ran on the reader).
  assert.equal((await c.query('SHOW default_transaction_read_only')).rows, [{ default_transaction_read_only: 'on' }]);
  await c.setReadOnly(false);
  const w2 = await where(c);
  assert.equal([w2.id, w2.pid], ['instance-1', w.pid], 'the cached writer connection is reused');
  assert.equal((await c.query('SHOW default_transaction_read_only')).rows, [{ default_transaction_read_only: 'off' }]);
  await c.setReadOnly(true);
  assert.equal(await where(c), r, 'the cached reader connection is reused');
  // Repeating the current mode is a no-op.
  await c.setReadOnly(true);
  assert.is((await where(c)).pid, r.pid);
  const cached = plugin(c).cachedConnections;
  assert.ok(cached.writer !== undefined && cached.reader !== undefined);
  await c.end();
});

test('a client that connected through the reader endpoint is identified as on a reader', async () => {
  const c = await client({}, new WrapperServices(), 'reader');
  const first = await where(c);
  assert.is(first.ro, true);
  await c.setReadOnly(true);
  assert.is((await where(c)).pid, first.pid, 'already on a reader: no switch');
  await c.setReadOnly(false);
  assert.equal([(await where(c)).id, (await where(c)).ro], ['instance-1', false]);
  await c.end();
});

test('session state set through the wrapper is carried to the other connection', async () => {
  const c = await client();
  await c.setSchema('reporting');
  await c.setTransactionIsolation('REPEATABLE READ');
  await c.setReadOnly(true);
  assert.is((await where(c)).ro, true);
  assert.equal((await c.query('SHOW search_path')).rows, [{ search_path: 'reporting' }]);
  assert.equal((await c.query('SHOW default_transaction_isolation')).rows, [
    { default_transaction_isolation: 'repeatable read' },
  ]);
  await c.setSchema('sales');
  await c.setReadOnly(false);
  assert.equal((await c.query('SHOW search_path')).rows, [{ search_path: 'sales' }]);
  assert.equal((await c.query('SHOW default_transaction_read_only')).rows, [{ default_transaction_read_only: 'off' }]);
  await c.end();
});

test('no switch inside a transaction: setReadOnly(true) stays, setReadOnly(false) on a reader is refused', async () => {
  const c = await client();
  const w = await where(c);
  await c.query('BEGIN');
  await c.setReadOnly(true);
  assert.is((await where(c)).pid, w.pid, 'stays on the writer inside the transaction');
  await c.query('COMMIT');
  await c.setReadOnly(false);
  await c.setReadOnly(true);
  const r = await where(c);
  assert.is(r.ro, true);
  await c.query('BEGIN');
  const err = await c.setReadOnly(false).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, ReadWriteSplittingError);
  assert.match((err as Error).message, /inside a transaction/);
  assert.is((await where(c)).pid, r.pid, 'still on the reader, transaction intact');
  await c.query('ROLLBACK');
  await c.setReadOnly(false);
  assert.is((await where(c)).ro, false);
  await c.end();
});

test('no reader reachable: setReadOnly(true) falls back to the current connection', async () => {
  const c = await client();
  const w = await where(c);
  await cluster.kill('instance-2');
  await cluster.kill('instance-3');
  try {
    await c.setReadOnly(true);
    assert.is((await where(c)).pid, w.pid, 'still on the writer');
    assert.is(c.isReadOnly(), true, 'the session itself became read-only');
    await c.setReadOnly(false);
  } finally {
    await cluster.heal();
  }
  await c.setReadOnly(true);
  assert.is((await where(c)).ro, true, 'readers back: switches');
  await c.end();
});

test('round_robin with host weight pairs spreads the clients of one services object over the readers', async () => {
  const services = new WrapperServices();
  const i2 = `instance-2.${cluster.clusterId}.us-east-1.rds.amazonaws.com`;
  const opts = { readerHostSelectorStrategy: 'round_robin', roundRobinHostWeightPairs: `${i2}:2` };
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const c = await client(opts, services);
    await c.setReadOnly(true);
    ids.push((await where(c)).id);
  }
  // instance-2 twice (weight 2), then instance-3 once, repeated.
  assert.equal(ids, ['instance-2', 'instance-2', 'instance-3', 'instance-2', 'instance-2', 'instance-3']);
  for (const c of open.splice(0)) await c.end();
});

test('unsupported strategies are refused with the reason (at connect, or at construction for unknown names)', async () => {
  for (const [strategy, reason] of [
    ['least_connections', /internalConnectionPool/],
    ['fastest_response', /fastest_response_strategy/],
  ] as const) {
    const c = new AwsPGClient(
      { ...cluster.clientConfig('writer'), plugins: 'read_write_splitting', readerHostSelectorStrategy: strategy },
      { services: new WrapperServices() },
    );
    const err = await c.connect().then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err instanceof Error && reason.test(err.message), `${strategy}: ${String(err)}`);
  }
  // A name nothing provides is refused when the client is created.
  assert.throws(
    () =>
      new AwsPGClient(
        { ...cluster.clientConfig('writer'), plugins: 'read_write_splitting', readerHostSelectorStrategy: 'nope' },
        { services: new WrapperServices() },
      ),
    /readerHostSelectorStrategy' expects one of .*got 'nope'/,
  );
});

test('internal pool: reader connections go back to the pool on the switch back and are shared by clients', async () => {
  const services = new WrapperServices();
  const opts = { internalConnectionPool: true, readerHostSelectorStrategy: 'least_connections' };
  const a = await client(opts, services);
  const b = await client(opts, services);
  await a.setReadOnly(true);
  const ra = await where(a);
  // Default sizing: the services' internal pools of that sizing.
  const key = internalPoolsKey({ maxPerHost: 10, idleTimeoutMs: 600_000, acquireTimeoutMs: 10_000 });
  const pools = services.peek<InternalConnectionPools>(key)!;
  assert.ok(pools !== undefined);
  // least_connections: ties go to the first host name; b goes to the other reader while a holds one.
  assert.is(ra.id, 'instance-2');
  await b.setReadOnly(true);
  const rb = await where(b);
  assert.is(rb.id, 'instance-3');
  await a.setReadOnly(false);
  assert.is(plugin(a).cachedConnections.reader, undefined, 'returned to the pool, not cached');
  await b.setReadOnly(false);
  // b takes the connection a gave back: the same backend, no new connection.
  await b.setReadOnly(true);
  assert.equal(await where(b), ra);
  assert.equal((await b.query('SHOW default_transaction_read_only')).rows, [{ default_transaction_read_only: 'on' }]);
  await b.setReadOnly(false);
  const inUse = Object.values(pools.stats().hosts).reduce((n, s) => n + s.inUse, 0);
  assert.is(inUse, 0, 'nothing checked out once both are back on the writer');
  await a.end();
  await b.end();
  await services.close();
  assert.is(services.peek(key), undefined, 'pools ended with the services');
  assert.ok(pools.isEnded);
});

test('readers added to the cluster get picked up: cached readers are re-selected (peer #465)', async () => {
  const services = new WrapperServices();
  const clients: AwsPGClient[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await client({ readerHostSelectorStrategy: 'round_robin' }, services);
    await c.setReadOnly(true);
    clients.push(c);
  }
  const before = new Set(await Promise.all(clients.map(async (c) => (await where(c)).id)));
  assert.equal([...before].sort(), ['instance-2', 'instance-3']);
  const added = await cluster.addReader();
  // A topology refresh (as the topology monitor does) tells every client's plugins about the new host; the monitor
  // may have got there first, so what counts is that every client lists it afterwards.
  for (const c of clients) {
    const svc = c.core.pluginService;
    await svc.forceRefreshHostList(false, 5000);
    assert.ok(
      svc.allHosts.some((h) => h.hostId === added),
      `${added} appeared in the topology`,
    );
  }
  const after: string[] = [];
  for (const c of clients) {
    await c.setReadOnly(false);
    await c.setReadOnly(true);
    after.push((await where(c)).id);
  }
  assert.ok(after.includes(added), `one client moved to ${added}: ${after.join(', ')}`);
  assert.equal([...new Set(after)].sort(), ['instance-2', 'instance-3', added].sort(), 'spread over all three readers');
  for (const c of clients) await c.end();
});

test('a removed reader is dropped: closed at once when cached, left at the next switch when current', async () => {
  const services = new WrapperServices();
  // round_robin starts at the first host name; weight 10 keeps both clients on it.
  const first = `instance-2.${cluster.clusterId}.us-east-1.rds.amazonaws.com`;
  const opts = { readerHostSelectorStrategy: 'round_robin', roundRobinHostWeightPairs: `${first}:10` };
  const cachedClient = await client(opts, services);
  const currentClient = await client(opts, services);
  await cachedClient.setReadOnly(true);
  await cachedClient.setReadOnly(false);
  await currentClient.setReadOnly(true);
  assert.is((await where(currentClient)).id, 'instance-2');
  const cachedConn = plugin(cachedClient).cachedConnections.reader!.conn;
  const closed = new Promise<void>((resolve) => cachedConn.connection.stream.once('close', () => resolve()));

  await cluster.removeReader('instance-2');
  await cachedClient.core.pluginService.forceRefreshHostList(false, 5000);
  assert.is(plugin(cachedClient).cachedConnections.reader, undefined, 'cached reader forgotten');
  await closed;
  await cachedClient.setReadOnly(true);
  const now = await where(cachedClient);
  assert.is.not(now.id, 'instance-2');
  assert.is(now.ro, true);

  // The client whose current connection is on the removed reader: back to the writer, then a live reader.
  await currentClient.core.pluginService.forceRefreshHostList(false, 5000);
  assert.ok(
    plugin(currentClient).cachedConnections.reader !== undefined,
    'the current connection is not closed under the client',
  );
  await currentClient.setReadOnly(false);
  assert.is((await where(currentClient)).ro, false);
  await currentClient.setReadOnly(true);
  const moved = await where(currentClient);
  assert.is.not(moved.id, 'instance-2');
  assert.is(moved.ro, true);
  await cachedClient.end();
  await currentClient.end();
});

test('failover while on a reader: setReadOnly(false) finds the new writer (topology re-read when the old one is gone)', async () => {
  const c = await client();
  await c.setReadOnly(true);
  const r = await where(c);
  const result = await cluster.failover({ target: cluster.readers.find((i) => i.name !== r.id)?.name });
  assert.is.not(result.newWriter, r.id);
  await c.setReadOnly(false);
  const w = await where(c);
  assert.equal([w.id, w.ro], [result.newWriter, false]);
  await c.query('CREATE TABLE IF NOT EXISTS after_failover (id int)');
  await c.setReadOnly(true);
  assert.is((await where(c)).ro, true);
  await c.end();
  await cluster.rejoin(result.oldWriter);
});

test.run();
