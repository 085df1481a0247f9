// read_write_splitting together with failover_v2 on the aurora-pg lookalike: failover while the client is split
// between a writer and a reader. The connection failover opens becomes the cached connection of its role; cached
// connections to the old writer, or to a reader that was promoted, are never used again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { FailoverSuccessError } from '../ts/errors.js';
import { WrapperServices } from '../ts/services.js';
import { LocalCluster } from '../ts/testing/index.js';
import { where, rwPlugin as plugin } from './support/rw-lab.js';

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'rw-failover-'));
const open: AwsPGClient[] = [];

async function client(extra: Record<string, unknown> = {}): Promise<AwsPGClient> {
  const c = new AwsPGClient(
    {
      ...cluster.clientConfig('writer'),
      plugins: 'read_write_splitting,failover_v2',
      failoverTimeoutMs: 30000,
      ...extra,
    },
    { services: new WrapperServices() },
  );
  c.on('error', () => {});
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

test('failover to the cached reader while on the writer: the promoted reader is not used as a reader again', async () => {
  const c = await client();
  await c.setReadOnly(true);
  const r = await where(c);
  await c.setReadOnly(false);
  const w = await where(c);
  assert.equal([w.id, w.ro], ['instance-1', false]);
  const cachedReader = plugin(c).cachedConnections.reader!;
  assert.is(cachedReader.host.hostId, r.id);

  const result = await cluster.failover({ target: r.id });
  assert.is(result.newWriter, r.id);
  const err = await c.query('SELECT 1').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, FailoverSuccessError);
  const nw = await where(c);
  assert.equal([nw.id, nw.ro], [r.id, false], 'failover took the client to the new writer');
  assert.is(plugin(c).cachedConnections.writer?.host.hostId, r.id, 'the failover connection is the cached writer');
  assert.is.not(
    plugin(c).cachedConnections.reader?.conn,
    cachedReader.conn,
    'the reader connection to the promoted instance is dropped',
  );

  await c.setReadOnly(true);
  const nr = await where(c);
  assert.is(nr.ro, true, 'a real reader');
  assert.ok(![r.id, result.oldWriter].includes(nr.id), nr.id);
  await c.setReadOnly(false);
  assert.equal([(await where(c)).id, (await where(c)).pid], [r.id, nw.pid], 'back on the cached new writer');
  await c.query('CREATE TABLE IF NOT EXISTS after_failover (id int)');
  await c.end();
  await cluster.rejoin(result.oldWriter);
});

test('failover while on a reader: setReadOnly(false) lands on the new writer, not the cached old one', async () => {
  const c = await client();
  await c.setReadOnly(true);
  const r = await where(c);
  const oldWriter = cluster.writer.name;
  const target = cluster.readers.find((i) => i.name !== r.id)!.name;
  const result = await cluster.failover({ target });
  assert.is(result.oldWriter, oldWriter);
  // The reader the client is on keeps serving (it follows the new writer).
  await c.setReadOnly(false);
  const w = await where(c);
  assert.equal([w.id, w.ro], [target, false]);
  await c.query('CREATE TABLE IF NOT EXISTS after_second_failover (id int)');
  await c.setReadOnly(true);
  const nr = await where(c);
  assert.is(nr.ro, true);
  assert.ok(nr.id !== target && nr.id !== oldWriter, nr.id);
  await c.end();
  await cluster.rejoin(result.oldWriter);
});

test('the reader dies while the client is on it: failover, then the switches keep working', async () => {
  const c = await client();
  await c.setReadOnly(true);
  const r = await where(c);
  await cluster.kill(r.id);
  try {
    const err = await c.query('SELECT 1').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, FailoverSuccessError);
    const now = await where(c);
    assert.is.not(now.id, r.id);
    await c.setReadOnly(false);
    assert.is((await where(c)).ro, false);
    await c.setReadOnly(true);
    const nr = await where(c);
    assert.is(nr.ro, true);
    assert.is.not(nr.id, r.id, 'the dead reader is not picked');
  } finally {
    await cluster.heal(r.id);
  }
  await c.end();
});

test.run();
