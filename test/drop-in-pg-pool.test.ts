// AwsPGPool as a drop-in for pg.Pool, and AwsPGClient as the Client of a plain pg.Pool (what Prisma and Knex
// build): every test runs the same scenario against pg.Pool and against ours and asserts the same observable result
// (events, errors, counters, what reached the server), once with the default plugins and once with `plugins: ''`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { inspect } from 'node:util';
import pg from 'pg';
import { AwsPGClient, AwsPGPool, AwsPGPoolClient } from '../ts/pg.js';
import { WrapperServices } from '../ts/services.js';
import { message, sameScenario, settle } from './support/same-scenario.js';
import { PG as config } from './support/test-servers.js';

type MakePool = (options?: Record<string, unknown>) => pg.Pool;

const VARIANTS: ReadonlyArray<[string, Record<string, unknown>]> = [
  ['default plugins', {}],
  ["plugins: ''", { plugins: '' }],
];

function makers(extra: Record<string, unknown>): Array<[string, MakePool]> {
  return [
    ['pg', (options = {}) => new pg.Pool({ ...config, ...options })],
    ['aws', (options = {}) => new AwsPGPool({ ...config, ...extra, ...options }, { services: new WrapperServices() })],
  ];
}

/** Runs `scenario` with the raw driver and with ours; asserts equal results; returns pg's. */
function same<T>(extra: Record<string, unknown>, scenario: (make: MakePool, which: string) => Promise<T>): Promise<T> {
  return sameScenario(makers(extra), scenario, 'AwsPGPool behaves as pg.Pool');
}

/** Backends with this application name (what the server sees). */
async function backends(observer: pg.Client, app: string): Promise<number> {
  const r = await observer.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [app]);
  return r.rows[0].n as number;
}

let observer: pg.Client;
let appSeq = 0;
const appName = () => `dropin-pool-${process.pid}-${++appSeq}`;

test.before(async () => {
  observer = new pg.Client(config);
  await observer.connect();
});

test.after(async () => {
  await observer.end();
});

test('AwsPGPool is a pg.Pool (instanceof, types); its clients are pg.Clients for the type checker', async () => {
  const p = new AwsPGPool({ ...config, plugins: '' }, { services: new WrapperServices() });
  assert.ok(p instanceof pg.Pool);
  const typed: pg.Pool = p;
  const c = await typed.connect();
  const asPgClient: pg.PoolClient = c;
  assert.instance(asPgClient, AwsPGPoolClient);
  c.release();
  await p.end();
});

for (const [variant, extra] of VARIANTS) {
  test(`[${variant}] query(); query(); end(): the queued queries finish; a second end() fails with pg-pool's error`, async () => {
    await same(extra, async (make) => {
      const p = make({ max: 2 });
      const q1 = settle(p.query('SELECT pg_sleep(0.05)'));
      const q2 = settle(p.query('SELECT 2'));
      const ended = p.end();
      const second = await settle(p.end());
      const secondCb = await new Promise((resolve) => p.end((err?: Error) => resolve(message(err))));
      await ended;
      return {
        q1: await q1,
        q2: await q2,
        second,
        secondCb,
        ended: p.ended,
        total: p.totalCount,
        after: await settle(p.query('SELECT 1')),
      };
    });
  });

  test(`[${variant}] pool.query(fn) and callback arguments are pg-pool's (undefined, not null)`, async () => {
    await same(extra, async (make) => {
      const p = make();
      // pg-pool takes the function for the callback and calls it with an error.
      const fnFirst = await new Promise((resolve) =>
        (p.query as unknown as (f: (err?: Error) => void) => void)((err) => resolve(message(err))),
      );
      const cbArgs = await new Promise<unknown[]>((resolve) =>
        p.query('SELECT 1 AS one', (...args: unknown[]) => resolve(args)),
      );
      const connectArgs = await new Promise<unknown[]>((resolve) =>
        p.connect((err, client, done) => {
          done();
          resolve([err, typeof client, typeof done]);
        }),
      );
      const failArgs = await new Promise<unknown[]>((resolve) =>
        p.query('SELECT nope', (...args: unknown[]) => resolve(args)),
      );
      await p.end();
      return {
        fnFirst,
        cbErr: cbArgs[0],
        cbRows: (cbArgs[1] as pg.QueryResult).rows,
        connectArgs,
        failArgs: [message(failArgs[0]), failArgs.length],
      };
    });
  });

  test(`[${variant}] events, counters and a failed statement's client (ended, as pg-pool does)`, async () => {
    await same(extra, async (make) => {
      const p = make({ max: 3 });
      const events: string[] = [];
      let removes = 0;
      let allRemoved!: () => void;
      const threeRemoved = new Promise<void>((resolve) => (allRemoved = resolve));
      for (const e of ['connect', 'acquire', 'release', 'remove'] as const) p.on(e, () => events.push(e));
      p.on('remove', () => ++removes === 3 && allRemoved());
      const counts = () => [p.totalCount, p.idleCount, p.waitingCount, p.expiredCount];
      const seen: unknown[] = [counts()];
      await p.query('SELECT 1');
      seen.push(counts());
      const removed = new Promise((resolve) => p.once('remove', resolve));
      await settle(p.query('SELECT nope'));
      seen.push(counts());
      await removed;
      const [a, b] = await Promise.all([p.connect(), p.connect()]);
      seen.push(counts());
      a.release();
      b.release(new Error('broken'));
      seen.push(counts());
      await p.end();
      await threeRemoved; // the failed statement's client, b, then a
      return { seen, events: [...events] };
    });
  });

  test(`[${variant}] poolSize, onConnect, binary and pipeline reach the pool and its clients`, async () => {
    await same(extra, async (make) => {
      const hooked: string[] = [];
      const p = make({
        poolSize: 2,
        binary: true,
        pipeline: true,
        onConnect: async (client: pg.PoolClient) => {
          hooked.push(typeof client.query);
          await client.query("SET application_name = 'hooked'");
        },
      });
      const [a, b] = await Promise.all([p.connect(), p.connect()]);
      const waiting = p.connect();
      const state = {
        max: p.options.max,
        waiting: p.waitingCount,
        binary: (a as pg.PoolClient & { binary: boolean }).binary,
        pipeline: a.pipeline,
      };
      const app = (await a.query('SHOW application_name')).rows[0];
      a.release();
      (await waiting).release();
      b.release();
      await p.end();
      const failing = make({ onConnect: () => Promise.reject(new Error('hook said no')) });
      const refused = await settle(failing.connect());
      const after = [failing.totalCount, failing.idleCount];
      await failing.end();
      return { state, app, hooked, refused, after };
    });
  });

  test(`[${variant}] client.end(); client.release() removes the client, as pg-pool does`, async () => {
    await same(extra, async (make) => {
      const p = make();
      const c = await p.connect();
      const removed = new Promise((resolve) => p.once('remove', resolve));
      await c.end();
      c.release();
      await removed;
      const counts = [p.totalCount, p.idleCount];
      const twice = (() => {
        try {
          c.release();
          return 'no error';
        } catch (err) {
          return message(err);
        }
      })();
      await p.end();
      return { counts, twice };
    });
  });

  test(`[${variant}] maxLifetimeSeconds: a checked-out client expires (expiredCount) and is ended on release`, async () => {
    await same(extra, async (make) => {
      const p = make({ maxLifetimeSeconds: 1 });
      const c = await p.connect();
      const deadline = Date.now() + 5000;
      // pg-pool has no event for expiry; poll the counter it exposes.
      while (p.expiredCount === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const expired = p.expiredCount;
      const removed = new Promise((resolve) => p.once('remove', resolve));
      c.release();
      await removed;
      const counts = [p.totalCount, p.idleCount, p.expiredCount];
      await p.end();
      return { expired, counts };
    });
  });

  test(`[${variant}] a rejected pool.query's stack leads back to the calling function`, async () => {
    const r = await same(extra, async (make) => {
      const p = make();
      async function applicationPoolCallerFn(): Promise<void> {
        await p.query('SELECT * FROM no_such_table_here');
      }
      const err = await applicationPoolCallerFn().then(
        () => undefined,
        (e: Error) => e,
      );
      await p.end();
      return /applicationPoolCallerFn/.test(err?.stack ?? '');
    });
    assert.is(r, true);
  });

  test(`[${variant}] connectionTimeoutMillis against a server that never answers: pg-pool's error, nothing left`, async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      await same(extra, async (make) => {
        const p = make({ host: '127.0.0.1', port, connectionTimeoutMillis: 200 });
        const err = await p.connect().then(
          () => undefined,
          (e: Error) => e,
        );
        const counts = [p.totalCount, p.idleCount, p.waitingCount];
        await p.end();
        // (The cause is pg's socket error: which of pg-pool's and pg's equal timers fires first varies.)
        return {
          message: message(err),
          causeIsError: (err as Error & { cause?: unknown })?.cause instanceof Error,
          counts,
        };
      });
    } finally {
      silent.close();
    }
  });

  test(`[${variant}] allowExitOnIdle lets the process exit with an idle client, as pg.Pool does`, async () => {
    const run = (which: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', 'test/fixtures/pool-exit-on-idle.ts', which, extra.plugins === '' ? '' : 'default'],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000); // a process kept alive would hang here
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
    const [raw, ours] = [await run('pg'), await run('aws')];
    assert.equal(ours, raw);
    assert.equal(raw, { code: 0, out: 'completed 1\n' });
  });

  test(`[${variant}] pg.Pool with Client: AwsPGClient reuses its clients and uses the password pg.Pool hides`, async () => {
    const app = appName();
    const p = new pg.Pool({
      ...config,
      ...extra,
      application_name: app,
      max: 2,
      Client: AwsPGClient as unknown as typeof pg.Client,
    });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => p.query('SELECT $1::int AS i', [i])));
    assert.equal(
      results.map((r) => r.rows[0].i),
      Array.from({ length: 50 }, (_, i) => i),
    );
    for (let i = 0; i < 20; i++) await p.query('SELECT 1');
    assert.is(p.totalCount, 2, 'the clients are reused, not discarded after every query');
    assert.is(await backends(observer, app), 2, 'two connections reached the server');
    const c = await p.connect();
    assert.instance(c, AwsPGClient);
    c.release();
    let removed = 0;
    const bothRemoved = new Promise<void>((resolve) => p.on('remove', () => ++removed === 2 && resolve()));
    await p.end();
    await bothRemoved; // pg-pool's end() resolves before its clients have finished ending
    // The server notices the closed sockets a moment later.
    const deadline = Date.now() + 5000;
    while ((await backends(observer, app)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.is(await backends(observer, app), 0, 'no connection left on the server');
  });

  test(`[${variant}] util.inspect / console.log / JSON.stringify of a pool never show the password`, async () => {
    const url = `postgres://${config.user}:${config.password}@${config.host}:${config.port}/${config.database}`;
    for (const options of [config, { connectionString: url }]) {
      const p = new AwsPGPool({ ...options, ...extra }, { services: new WrapperServices() });
      const shown = () =>
        [inspect(p, { depth: 8 }), JSON.stringify(p), JSON.stringify(p.options), JSON.stringify({ ...p })].join('\n');
      assert.not.match(shown(), config.password);
      const c = await p.connect();
      await c.query('SELECT 1');
      assert.not.match(inspect(p, { depth: 8 }), config.password, 'with a client checked out');
      c.release();
      assert.not.match(inspect(p, { depth: 8 }), config.password, 'with an idle client');
      await p.end();
    }
  });
}

test.run();
