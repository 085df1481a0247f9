// AwsPGPool on the aurora-pg lookalike: read/write splitting inside a pool (reader connections pooled per instance
// and shared by the pool's clients), concurrency, and failover releasing the slots it invalidated.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AwsPGPool, type AwsPGPoolClient } from '../ts/pg.js';
import { FailoverSuccessError } from '../ts/errors.js';
import { WrapperServices } from '../ts/services.js';
import { LocalCluster } from '../ts/testing/index.js';

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'pool-rw-'));

function pool(extra: Record<string, unknown> = {}): AwsPGPool {
  return new AwsPGPool(
    {
      ...cluster.clientConfig('writer'),
      plugins: 'read_write_splitting,failover_v2',
      failoverTimeoutMs: 30000,
      ...extra,
    },
    { services: new WrapperServices() },
  );
}

interface Where {
  id: string;
  ro: boolean;
  pid: number;
}

async function where(c: AwsPGPoolClient): Promise<Where> {
  const r = await c.query(
    'SELECT pg_catalog.aurora_db_instance_identifier() AS id, pg_catalog.pg_is_in_recovery() AS ro, pg_catalog.pg_backend_pid() AS pid',
  );
  return r.rows[0] as Where;
}

test.before(async () => {
  cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 2, dir, database: 'app' });
});

test.after(async () => {
  await cluster?.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
});

test('read/write splitting in a pool under concurrency: reader connections pooled per instance, clients reset on release', async () => {
  const p = pool({ max: 4, readerHostSelectorStrategy: 'least_connections' });
  const readerPids = new Map<string, Set<number>>();
  const task = async (i: number) => {
    const c = await p.connect();
    try {
      await c.setReadOnly(true);
      const r = await where(c);
      assert.is(r.ro, true, `task ${i} on a reader`);
      let set = readerPids.get(r.id);
      if (!set) readerPids.set(r.id, (set = new Set()));
      set.add(r.pid);
      await c.query('SELECT pg_sleep(0.01)');
    } finally {
      c.release();
    }
  };
  await Promise.all(Array.from({ length: 24 }, (_, i) => task(i)));
  assert.equal(
    [...readerPids.keys()].sort(),
    ['instance-2', 'instance-3'],
    'least_connections spreads over both readers',
  );
  const physical = [...readerPids.values()].reduce((n, s) => n + s.size, 0);
  assert.ok(physical <= 4, `at most max physical reader connections (${physical}) for 24 read-only checkouts`);
  assert.ok(p.totalCount <= 4);
  // Released clients went back to the writer before the next checkout (checking out all of them waits for the
  // resets still running).
  const all = await Promise.all(Array.from({ length: p.totalCount }, () => p.connect()));
  for (const c of all) {
    assert.is(c.isReadOnly(), false);
    assert.is((await where(c)).ro, false);
  }
  for (const c of all) c.release();
  const stats = p.instancePools.stats().hosts;
  assert.is(
    Object.values(stats).reduce((n, s) => n + s.inUse, 0),
    0,
    'every reader connection is back in the instance pools',
  );
  await p.end();
  assert.equal(
    Object.values(p.instancePools.stats().hosts).reduce((n, s) => n + s.total, 0),
    0,
    'end() closed the instance pools too',
  );
});

test('pool.query under concurrency matches the server answers', async () => {
  const p = pool({ max: 3 });
  const results = await Promise.all(
    Array.from({ length: 30 }, (_, i) => p.query('SELECT $1::int AS i, pg_catalog.pg_is_in_recovery() AS ro', [i])),
  );
  assert.equal(
    results.map((r) => r.rows[0]),
    Array.from({ length: 30 }, (_, i) => ({ i, ro: false })),
  );
  assert.ok(p.totalCount <= 3);
  await p.end();
});

test('a connection loss seen by one query ends the idle clients on the same host (they have not noticed yet)', async () => {
  const p = pool({ max: 3, plugins: '', socketTimeout: 300, connectTimeout: 300, auxiliaryQueryTimeoutSec: 0.5 });
  const held = await Promise.all([p.connect(), p.connect(), p.connect()]);
  for (const c of held) c.release();
  assert.equal([p.totalCount, p.idleCount], [3, 3]);
  await cluster.hang(cluster.writer.name);
  try {
    const err = await p.query('SELECT 1').then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    assert.is(err?.code, '08S01', 'the statement timed out and the host did not answer the cancel');
    assert.equal([p.totalCount, p.idleCount], [0, 0], 'the failed client and the idle clients on that host were ended');
  } finally {
    await cluster.heal();
  }
  assert.equal((await p.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'a fresh client serves');
  await p.end();
});

test('failover: idle clients on the old writer are ended (their slots freed), a failing client fails over, the pool keeps serving', async () => {
  const p = pool({ max: 4 });
  const held = await Promise.all([p.connect(), p.connect(), p.connect(), p.connect()]);
  for (const c of held) c.release();
  assert.equal([p.totalCount, p.idleCount], [4, 4]);
  const removed: unknown[] = [];
  p.on('remove', (c) => removed.push(c));
  const result = await cluster.failover();
  // The fenced writer ends the idle connections: the pool removes those clients as their errors arrive (no
  // 'error' listener on the pool, no crash). A client whose error has not arrived yet fails over on its query.
  const first = await p.query('SELECT 1').then(
    () => undefined,
    (e: unknown) => e,
  );
  if (first !== undefined) assert.instance(first, FailoverSuccessError);
  assert.ok(p.idleCount <= 1, `idle clients on the failed writer were ended (idle ${p.idleCount})`);
  const after = await Promise.all(
    Array.from({ length: 8 }, () =>
      p.query('SELECT pg_catalog.aurora_db_instance_identifier() AS id, pg_catalog.pg_is_in_recovery() AS ro'),
    ),
  );
  for (const r of after) assert.equal(r.rows[0], { id: result.newWriter, ro: false });
  assert.ok(p.totalCount <= 4);
  assert.ok(removed.length >= 3, `slots of the old writer released (${removed.length} removed)`);
  await p.end();
  await cluster.rejoin(result.oldWriter);
});

test.run();
