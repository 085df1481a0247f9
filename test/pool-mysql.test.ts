// AwsMySQLPool as a drop-in for a mysql2/promise pool on a real MariaDB: query / execute / getConnection /
// promise(), events, limits under concurrency, waitForConnections and queueLimit, per-pool limits and end(),
// session reset on release.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import { AwsMySQLPool, AwsMySQLPoolConnection } from '../ts/mysql.js';
import { createPool } from '../ts/mysql-promise.js';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { WrapperServices } from '../ts/services.js';
import { MY as config } from './support/test-servers.js';

function pool(extra: Record<string, unknown> = {}): AwsMySQLPool {
  return createPool({ ...config, plugins: '', ...extra }, { services: new WrapperServices() });
}

test('query, execute, promise(), escape/format; events', async () => {
  const p = pool({ connectionLimit: 2 });
  assert.is(p.promise(), p);
  const events: string[] = [];
  for (const e of ['connection', 'acquire', 'release', 'enqueue']) p.on(e, () => events.push(e));
  const [rows] = await p.query<mysql.RowDataPacket[]>('SELECT ? AS x', [5]);
  assert.equal(
    rows.map((r) => ({ ...r })),
    [{ x: 5 }],
  );
  const [rows2] = await p.execute<mysql.RowDataPacket[]>('SELECT ? AS y', [6]);
  assert.equal(
    rows2.map((r) => ({ ...r })),
    [{ y: 6 }],
  );
  assert.equal(events, ['connection', 'acquire', 'release', 'acquire', 'release']);
  assert.is(p.escape("a'b"), mysql.escape("a'b"));
  assert.is(p.escapeId('t'), '`t`');
  assert.is(p.format('SELECT ?', [1]), 'SELECT 1');
  const err = await p.query('SELECT * FROM no_such_table').then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  assert.is(err?.code, 'ER_NO_SUCH_TABLE', 'the driver error, unchanged');
  await p.end();
  assert.is(p.totalCount, 0);
});

test('getConnection: an AwsMySQLClient with release(); transactions; destroy() frees the slot', async () => {
  const p = pool({ connectionLimit: 1 });
  const c = await p.getConnection();
  assert.instance(c, AwsMySQLPoolConnection);
  assert.instance(c, AwsMySQLClient);
  await c.beginTransaction();
  await c.query('SELECT 1');
  await c.commit();
  const id = c.threadId;
  c.release();
  c.release();
  const again = await p.getConnection();
  assert.is(again.threadId, id, 'the idle connection is reused');
  again.destroy();
  assert.is(p.totalCount, 0);
  const fresh = await p.getConnection();
  assert.is.not(fresh.threadId, id);
  fresh.release();
  await p.end();
});

test('under concurrency the pool never exceeds connectionLimit and serves every query', async () => {
  const p = pool({ connectionLimit: 3 });
  let enqueued = 0;
  p.on('enqueue', () => enqueued++);
  const results = await Promise.all(
    Array.from({ length: 30 }, (_, i) => p.query<mysql.RowDataPacket[]>('SELECT ? AS i, SLEEP(0.005) AS s', [i])),
  );
  assert.equal(
    results.map(([r]) => r[0].i),
    Array.from({ length: 30 }, (_, i) => i),
  );
  assert.ok(enqueued > 0);
  assert.is(p.totalCount, 3);
  const ids = new Set(
    (
      await Promise.all(
        Array.from({ length: 12 }, () => p.query<mysql.RowDataPacket[]>('SELECT CONNECTION_ID() AS id')),
      )
    ).map(([r]) => r[0].id),
  );
  assert.ok(ids.size <= 3, `at most three server connections (${ids.size})`);
  await p.end();
});

test('waitForConnections false fails at once; queueLimit bounds the waiters', async () => {
  const p = pool({ connectionLimit: 1, waitForConnections: false });
  const held = await p.getConnection();
  const err = await p.getConnection().then(
    () => undefined,
    (e: Error) => e.message,
  );
  assert.is(err, 'No connections available.', "mysql2's message");
  held.release();
  await p.end();
  const q = pool({ connectionLimit: 1, queueLimit: 1 });
  const h = await q.getConnection();
  const waiting = q.getConnection();
  const refused = await q.getConnection().then(
    () => undefined,
    (e: Error) => e.message,
  );
  assert.is(refused, 'Queue limit reached.', "mysql2's message");
  h.release();
  (await waiting).release();
  await q.end();
});

test('each pool honours its own limit; ending one leaves the other working', async () => {
  const a = pool({ connectionLimit: 1 });
  const b = pool({ connectionLimit: 4 });
  const held = await Promise.all([b.getConnection(), b.getConnection(), b.getConnection(), b.getConnection()]);
  const ha = await a.getConnection();
  ha.release();
  await a.end();
  for (const c of held) await c.query('SELECT 1');
  for (const c of held) c.release();
  await b.query('SELECT 1');
  await b.end();
});

test('session state changed through the wrapper is reset before the next checkout', async () => {
  const p = pool({ connectionLimit: 1 });
  const c = await p.getConnection();
  await c.setReadOnly(true);
  await c.setAutoCommit(false);
  await c.setTransactionIsolation('SERIALIZABLE');
  c.release();
  const d = await p.getConnection();
  assert.is(d, c);
  const [rows] = await d.query<mysql.RowDataPacket[]>(
    'SELECT @@session.tx_read_only AS ro, @@session.autocommit AS ac, @@session.tx_isolation AS iso',
  );
  assert.equal({ ...rows[0] }, { ro: 0, ac: 1, iso: 'REPEATABLE-READ' });
  assert.is(d.isReadOnly(), false);
  d.release();
  await p.end();
});

test.run();
