// InternalConnectionPools (read/write splitting's per-instance pools) on a real PostgreSQL: reuse, the per-host
// limit with waiters and their timeout, reset before reuse, eviction of a host, discard, end().
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { HostInfo, HostRole } from '../ts/host-info.js';
import { InternalConnectionPools, poolKey } from '../ts/pools/internal-pools.js';
import { resetSession } from '../ts/pools/session-reset.js';

const config = {
  host: process.env.TEST_PG_HOST!,
  port: Number(process.env.TEST_PG_PORT),
  user: process.env.TEST_PG_USER,
  password: process.env.TEST_PG_PASSWORD,
  database: process.env.TEST_PG_DATABASE,
};
const dialect = new PgDriverDialect();
const host = new HostInfo({ host: config.host, port: config.port, role: HostRole.READER });
const key = poolKey({ driver: 'pg', host, user: config.user, database: config.database });
let opened = 0;
const open = async (): Promise<pg.Client> => {
  opened++;
  return dialect.connect(host, config);
};

async function pid(conn: pg.Client): Promise<number> {
  return (await conn.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
}

test('reuse, limit, waiters served on release, waiter timeout', async () => {
  const pools = new InternalConnectionPools({ maxPerHost: 2, acquireTimeoutMs: 150 });
  opened = 0;
  const a = await pools.acquire(key, host, dialect, open);
  const b = await pools.acquire(key, host, dialect, open);
  assert.is(opened, 2);
  assert.is(pools.inUseCount(host), 2);
  const timedOut = await pools.acquire(key, host, dialect, open).then(
    () => 'got one',
    (e: Error) => e.message,
  );
  assert.match(timedOut, /became free within 150 ms/);
  const waiting = pools.acquire(key, host, dialect, open);
  const aPid = await pid(a);
  pools.release(a);
  const c = await waiting;
  assert.is(c, a, 'the released connection goes to the waiter');
  assert.is(await pid(c), aPid);
  pools.release(b);
  pools.release(c);
  assert.equal(pools.stats().hosts[host.hostAndPort], { total: 2, inUse: 0, idle: 2, waiting: 0 });
  const d = await pools.acquire(key, host, dialect, open);
  assert.is(opened, 2, 'idle connections are reused');
  pools.discard(d);
  assert.equal(pools.stats().hosts[host.hostAndPort].total, 1, 'discard frees the slot');
  await pools.end();
  assert.equal(pools.stats().hosts[host.hostAndPort].total, 0);
  assert.match(
    await pools.acquire(key, host, dialect, open).then(
      () => '',
      (e: Error) => e.message,
    ),
    /ended/,
  );
});

test('a released connection is reset before another client gets it; an acquire waits for the reset', async () => {
  const pools = new InternalConnectionPools({ maxPerHost: 4 });
  opened = 0;
  const a = await pools.acquire(key, host, dialect, open);
  await dialect.applySessionState(a, { readOnly: true, schema: 'other' });
  pools.release(a, (conn) => resetSession(dialect, conn, { readOnly: true, schema: 'other' }, config.database, 2000));
  const b = await pools.acquire(key, host, dialect, open);
  assert.is(b, a, 'waited for the reset rather than opening another connection');
  assert.is(opened, 1);
  assert.equal((await b.query('SHOW default_transaction_read_only')).rows, [{ default_transaction_read_only: 'off' }]);
  assert.equal((await b.query('SHOW search_path')).rows, [{ search_path: '"$user", public' }]);
  pools.release(b);
  await pools.end();
});

test('evictHost closes the idle connections of an instance; a closed idle connection is never handed out', async () => {
  const pools = new InternalConnectionPools({ maxPerHost: 3 });
  const a = await pools.acquire(key, host, dialect, open);
  const b = await pools.acquire(key, host, dialect, open);
  pools.release(a);
  pools.release(b);
  const closed = new Promise<void>((resolve) => a.connection.stream.once('close', () => resolve()));
  pools.evictHost(host.hostAndPort);
  await closed;
  assert.equal(pools.stats().hosts[host.hostAndPort].total, 0);
  const c = await pools.acquire(key, host, dialect, open);
  await dialect.end(c, 1000);
  pools.release(c);
  assert.equal(pools.stats().hosts[host.hostAndPort].total, 0, 'a closed connection given back is dropped');
  await pools.end();
});

test.run();
