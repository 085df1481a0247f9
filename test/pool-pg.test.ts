// AwsPGPool as a drop-in for pg.Pool on a real PostgreSQL: every API form, the counters and events, limits under
// concurrency, release(err), idle errors, timeouts, maxUses, per-pool configuration (no sharing between pools),
// end() ending only its own pool, session reset on release.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { AwsPGPool, AwsPGPoolClient } from '../ts/pg.js';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { WrapperServices } from '../ts/services.js';
import { ConfigurationError } from '../ts/errors.js';

const config = {
  host: process.env.TEST_PG_HOST!,
  port: Number(process.env.TEST_PG_PORT),
  user: process.env.TEST_PG_USER,
  password: process.env.TEST_PG_PASSWORD,
  database: process.env.TEST_PG_DATABASE,
};

function pool(extra: Record<string, unknown> = {}): AwsPGPool {
  return new AwsPGPool({ ...config, plugins: '', ...extra }, { services: new WrapperServices() });
}

/** Backends of this test's application name (to see what the server sees). */
async function backends(observer: pg.Client, app: string): Promise<number> {
  const r = await observer.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [app]);
  return r.rows[0].n as number;
}

let observer: pg.Client;

test.before(async () => {
  observer = new pg.Client(config);
  await observer.connect();
});

test.after(async () => {
  await observer.end();
});

test('query in every pg form; counters; events', async () => {
  const p = pool({ max: 3 });
  const events: string[] = [];
  for (const e of ['connect', 'acquire', 'release', 'remove'] as const) p.on(e, () => events.push(e));
  assert.equal([p.totalCount, p.idleCount, p.waitingCount], [0, 0, 0]);
  const r = await p.query('SELECT $1::int AS x', [7]);
  assert.equal(r.rows, [{ x: 7 }]);
  assert.equal([p.totalCount, p.idleCount], [1, 1]);
  assert.equal(events, ['connect', 'acquire', 'release']);
  assert.equal((await p.query({ text: 'SELECT 2 AS y' })).rows, [{ y: 2 }]);
  assert.equal((await p.query({ text: 'SELECT 3 AS z', rowMode: 'array' })).rows, [[3]]);
  const viaCallback = await new Promise<unknown>((resolve, reject) =>
    p.query('SELECT 4 AS w', (err, res) => (err ? reject(err) : resolve(res.rows))),
  );
  assert.equal(viaCallback, [{ w: 4 }]);
  const viaCallback2 = await new Promise<unknown>((resolve, reject) =>
    p.query('SELECT $1::text AS v', ['a'], (err, res) => (err ? reject(err) : resolve(res.rows))),
  );
  assert.equal(viaCallback2, [{ v: 'a' }]);
  const removed = new Promise((resolve) => p.once('remove', resolve));
  const err = await p.query('SELECT * FROM no_such_table').then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  assert.is(err?.code, '42P01', 'the driver error, unchanged');
  assert.is(p.totalCount, 0, 'as in pg.Pool, pool.query ends a client whose statement failed');
  await p.end();
  assert.is(p.totalCount, 0);
  await removed; // as pg.Pool: 'remove' follows the client's end, which may come after the pool's
  assert.ok(events.includes('remove'));
  assert.is(p.ended, true);
  const after = await p.query('SELECT 1').then(
    () => undefined,
    (e: Error) => e.message,
  );
  assert.match(String(after), /Cannot use a pool after calling end/);
});

test('connect / release: a PoolClient drop-in; release(err) ends the client; double release throws', async () => {
  const p = pool({ max: 2 });
  const c = await p.connect();
  assert.instance(c, AwsPGPoolClient);
  assert.instance(c, AwsPGClient);
  await c.query('BEGIN');
  await c.query('SELECT 1');
  await c.query('COMMIT');
  assert.equal([p.totalCount, p.idleCount], [1, 0]);
  c.release();
  assert.throws(() => c.release(), /already been released/);
  assert.equal([p.totalCount, p.idleCount], [1, 1]);
  const again = await p.connect();
  assert.is(again, c, 'the idle client is reused');
  const removed = new Promise((resolve) => p.once('remove', resolve));
  again.release(new Error('broken'));
  assert.is(await removed, again);
  assert.is(p.totalCount, 0);
  // Callback form with done().
  await new Promise<void>((resolve, reject) =>
    p.connect((err, client, done) => {
      if (err || !client) return reject(err ?? new Error('no client'));
      client.query('SELECT 1', (qErr) => {
        done();
        if (qErr) reject(qErr);
        else resolve();
      });
    }),
  );
  await p.end();
});

test('under concurrency the pool never exceeds max, queues the rest, and serves every query', async () => {
  const app = `pool-conc-${process.pid}`;
  const p = pool({ max: 4, application_name: app });
  let maxWaiting = 0;
  const runs = Array.from({ length: 40 }, async (_, i) => {
    const c = await p.connect();
    maxWaiting = Math.max(maxWaiting, p.waitingCount);
    try {
      const r = await c.query('SELECT $1::int AS i, pg_sleep(0.005)', [i]);
      return r.rows[0].i as number;
    } finally {
      c.release();
    }
  });
  const results = await Promise.all(runs);
  assert.equal(
    results,
    Array.from({ length: 40 }, (_, i) => i),
  );
  assert.ok(maxWaiting > 0, 'requests waited');
  assert.is(p.totalCount, 4);
  assert.is(await backends(observer, app), 4, 'four backends on the server');
  const qs = await Promise.all(Array.from({ length: 40 }, (_, i) => p.query('SELECT $1::int AS i', [i])));
  assert.equal(
    qs.map((r) => r.rows[0].i),
    Array.from({ length: 40 }, (_, i) => i),
  );
  assert.is(p.totalCount, 4);
  await p.end();
});

test('each pool honours its own limits; ending one pool leaves the other working', async () => {
  const small = pool({ max: 2 });
  const big = pool({ max: 5 });
  const held = await Promise.all([big.connect(), big.connect(), big.connect(), big.connect(), big.connect()]);
  assert.is(big.totalCount, 5, 'the second pool gets its own five clients');
  const smallHeld = await Promise.all([small.connect(), small.connect()]);
  assert.is(small.totalCount, 2);
  for (const c of smallHeld) c.release();
  await small.end();
  for (const c of held) assert.equal((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  for (const c of held) c.release();
  assert.equal((await big.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
  await big.end();
});

test('an idle client whose connection dies is removed and its error emitted on the pool', async () => {
  const p = pool({ max: 1 });
  const c = await p.connect();
  const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  c.release();
  const emitted = new Promise<[Error, unknown]>((resolve) => p.once('error', (err, client) => resolve([err, client])));
  await observer.query('SELECT pg_terminate_backend($1)', [pid]);
  const [err, client] = await emitted;
  assert.is(client, c);
  assert.is((err as Error & { code?: string }).code, '57P01');
  assert.is(p.totalCount, 0);
  assert.equal((await p.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'a new client replaces it');
  await p.end();
});

test('connectionTimeoutMillis bounds the wait for a client; maxUses ends a client after N checkouts', async () => {
  const p = pool({ max: 1, connectionTimeoutMillis: 1500, maxUses: 3 });
  const held = await p.connect();
  const err = await p.connect().then(
    () => undefined,
    (e: Error) => e.message,
  );
  assert.match(String(err), /timeout exceeded when trying to connect/);
  held.release();
  const pids = new Set<number>();
  for (let i = 0; i < 6; i++) pids.add((await p.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number);
  assert.is(pids.size, 3, '1 use by the held checkout + 6 queries = 7 uses → three clients of at most 3 uses');
  await p.end();
});

test('session state changed through the wrapper is reset before the next checkout', async () => {
  const p = pool({ max: 1 });
  const c = await p.connect();
  await c.setSchema('elsewhere');
  await c.setReadOnly(true);
  assert.equal((await c.query('SHOW search_path')).rows, [{ search_path: 'elsewhere' }]);
  c.release();
  const d = await p.connect();
  assert.is(d, c);
  assert.is(d.isReadOnly(), false);
  assert.equal((await d.query('SHOW default_transaction_read_only')).rows, [{ default_transaction_read_only: 'off' }]);
  assert.equal((await d.query('SHOW search_path')).rows, [{ search_path: '"$user", public' }]);
  d.release();
  await p.end();
});

test('end() waits for checked-out clients; bad options are refused at construction', async () => {
  const p = pool({ max: 1 });
  const c = await p.connect();
  const ended = p.end();
  assert.match(
    await p.connect().then(
      () => 'got one',
      (e: Error) => e.message,
    ),
    /Cannot use a pool after calling end/,
  );
  let done = false;
  void ended.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  assert.is(done, false, 'still waiting for the checked-out client');
  c.release();
  await ended;
  assert.is(p.totalCount, 0);
  assert.throws(
    () => pool({ max: -1 }),
    (e: Error) => e instanceof ConfigurationError && /'max'/.test(e.message),
  );
  assert.throws(
    () => pool({ topologyRefreshMS: 5 }),
    (e: Error) => e instanceof ConfigurationError && /topologyRefreshMs/.test(e.message),
  );
});

test.run();
