// AwsPGClient as a drop-in for pg.Client: every test runs the same scenario against a raw pg.Client and against
// AwsPGClient and asserts the same observable result (events and their order, errors, what reached the server),
// once with the default plugins and once with `plugins: ''`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { inspect } from 'node:util';
import pg from 'pg';
import { AwsPGClient } from '../ts/pg.js';
import { WrapperServices } from '../ts/services.js';
import { sameScenario, settle } from './support/same-scenario.js';
import { isRdsClusterDns } from '../ts/rds-utils.js';
import { PG as config } from './support/test-servers.js';

/** What a scenario needs of a client: the pg.Client surface both classes share. */
type AnyClient = pg.Client;
type Make = (cfg?: Record<string, unknown>) => AnyClient;

const VARIANTS: ReadonlyArray<[string, Record<string, unknown>]> = [
  ['default plugins', {}],
  ["plugins: ''", { plugins: '' }],
];

/** `cfg` plus the variant's wrapper keys, keeping a hidden (non-enumerable) password hidden. */
function withExtra(cfg: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out = { ...cfg, ...extra };
  if ('password' in cfg && !('password' in out))
    Object.defineProperty(out, 'password', { value: cfg.password, enumerable: false });
  return out;
}

/** The raw driver and our class, for a variant. pg ignores the wrapper keys. */
function makers(extra: Record<string, unknown>): Array<[string, Make]> {
  return [
    ['pg', (cfg = config) => new pg.Client(cfg)],
    ['aws', (cfg = config) => new AwsPGClient(withExtra(cfg, extra), { services: new WrapperServices() })],
  ];
}

/** Runs `scenario` with the raw driver and with ours; asserts equal results; returns pg's. */
function same<T>(extra: Record<string, unknown>, scenario: (make: Make, which: string) => Promise<T>): Promise<T> {
  return sameScenario(makers(extra), scenario, 'AwsPGClient behaves as pg.Client');
}

/** Sets environment variables (and pg.defaults) for the duration of `fn`. */
async function withEnv<T>(
  env: Record<string, string | undefined>,
  defaults: Partial<typeof pg.defaults>,
  fn: () => Promise<T>,
): Promise<T> {
  const savedEnv: Record<string, string | undefined> = {};
  const savedDefaults: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(env)) {
    savedEnv[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  for (const [k, v] of Object.entries(defaults)) {
    savedDefaults[k] = (pg.defaults as Record<string, unknown>)[k];
    (pg.defaults as Record<string, unknown>)[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    Object.assign(pg.defaults, savedDefaults);
  }
}

let observer: pg.Client;

test.before(async () => {
  observer = new pg.Client(config);
  await observer.connect();
});

test.after(async () => {
  await observer.end();
});

for (const [variant, extra] of VARIANTS) {
  test(`[${variant}] PG* environment variables and pg.defaults configure the client as in pg`, async () => {
    const env = {
      PGHOST: config.host,
      PGPORT: String(config.port),
      PGUSER: config.user,
      PGPASSWORD: config.password,
      PGDATABASE: config.database,
    };
    const seen = await withEnv(env, {}, () =>
      same(extra, async (make) => {
        const c = make({});
        const before = [c.host, c.port, c.user, c.database];
        await c.connect();
        const r = await c.query('SELECT current_user AS u, current_database() AS d, inet_server_port() AS p');
        await c.end();
        return { before, server: r.rows[0] };
      }),
    );
    assert.equal(seen.before, [config.host, config.port, config.user, config.database]);
    // pg.defaults instead of the environment (host from PGHOST still).
    await withEnv(
      { PGHOST: config.host, PGPORT: undefined, PGUSER: undefined, PGPASSWORD: undefined, PGDATABASE: undefined },
      { port: config.port, user: config.user, password: config.password, database: config.database },
      () =>
        same(extra, async (make) => {
          const c = make({});
          const before = [c.host, c.port, c.user, c.database, c.password === config.password];
          await c.connect();
          const r = await c.query('SELECT current_user AS u, current_database() AS d');
          await c.end();
          return { before, server: r.rows[0] };
        }),
    );
    // No database anywhere: pg uses the user name; pg.defaults.database wins over that.
    await withEnv({ PGDATABASE: undefined }, {}, () => same(extra, async (make) => make({ user: 'someone' }).database));
    await withEnv({ PGDATABASE: undefined }, { database: 'bar' }, () =>
      same(extra, async (make) => make({ user: 'someone' }).database),
    );
  });

  test(`[${variant}] the wrapper's host logic sees the host pg resolves from PGHOST / PGPORT`, async () => {
    const endpoint = 'mydb.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com';
    await withEnv({ PGHOST: endpoint, PGPORT: '6543' }, {}, async () => {
      const c = new AwsPGClient({ ...extra }, { services: new WrapperServices() });
      const raw = new pg.Client();
      assert.equal([c.host, c.port], [raw.host, raw.port]);
      assert.equal(
        [c.core.props.driver.host, c.core.props.driver.port],
        [endpoint, 6543],
        'what the plugins and dialects see',
      );
      assert.ok(isRdsClusterDns(String(c.core.props.driver.host)));
    });
  });

  test(`[${variant}] a connection string wins over explicit keys, as in pg`, async () => {
    const url = `postgres://${config.user}:${config.password}@${config.host}:${config.port}/${config.database}`;
    await same(extra, async (make) => {
      const c = make({ connectionString: url, host: 'ignored.invalid', port: 1, password: 'ignored too' });
      const before = [c.host, c.port, c.user, c.database];
      await c.connect();
      const r = await c.query('SELECT 1 AS one');
      await c.end();
      return { before, rows: r.rows };
    });
  });

  test(`[${variant}] a connection string with another scheme (pg://) is read as postgres://, as in pg`, async () => {
    const url = `pg://${config.user}:${config.password}@${config.host}:${config.port}/${config.database}`;
    await same(extra, async (make) => {
      const c = make({ connectionString: url });
      await c.connect();
      const r = await c.query('SELECT 1 AS one');
      await c.end();
      return r.rows;
    });
  });

  test(`[${variant}] pg's (deprecated) Promise option: connect(), query() and end() return that class`, async () => {
    class OtherPromise<T> extends Promise<T> {}
    await same(extra, async (make) => {
      const c = make({ ...config, Promise: OtherPromise });
      const connecting = c.connect();
      const querying = c.query('SELECT 1 AS one');
      const kinds = [connecting instanceof OtherPromise, querying instanceof OtherPromise];
      await connecting;
      const r = await querying;
      const ending = c.end();
      kinds.push(ending instanceof OtherPromise);
      await ending;
      return { kinds, rows: r.rows };
    });
  });

  test(`[${variant}] a non-enumerable password (as pg.Pool and Knex pass it) is used`, async () => {
    await same(extra, async (make) => {
      const cfg: Record<string, unknown> = {
        host: config.host,
        port: config.port,
        user: config.user,
        database: config.database,
      };
      Object.defineProperty(cfg, 'password', { value: config.password, enumerable: false });
      const c = make(cfg);
      await c.connect();
      const r = await c.query('SELECT 1 AS one');
      await c.end();
      return r.rows;
    });
  });

  test(`[${variant}] 'drain' is emitted once when the queue empties, before the caller's continuation`, async () => {
    await same(extra, async (make) => {
      const c = make();
      const events: string[] = [];
      c.on('drain', () => events.push('drain'));
      c.on('connect', () => events.push('connect'));
      await new Promise<void>((resolve, reject) =>
        c.connect((err: Error | null) => (err ? reject(err) : (events.push('connect callback'), resolve()))),
      );
      c.query('SELECT 1', () => events.push('cb1'));
      c.query('SELECT 2', () => events.push('cb2'));
      await c.query('SELECT 3').then(() => events.push('p3'));
      events.push('|');
      await c.query('SELECT 4');
      events.push('after 4');
      await c.end();
      return [...events];
    });
  });

  test(`[${variant}] end(): queries issued before it end as in pg (terminated, or finished when pipelining); later ones are refused`, async () => {
    for (const pipeline of [false, true]) {
      await same(extra, async (make) => {
        const c = make({ ...config, pipeline });
        const events: string[] = [];
        c.on('end', () => events.push('end'));
        await c.connect();
        const q1 = settle(c.query('SELECT 1'));
        const q2 = settle(c.query('SELECT 2'));
        await c.end();
        const late = await settle(c.query('SELECT 3'));
        return { pipeline, events: [...events], q1: await q1, q2: await q2, late };
      });
    }
  });

  test(`[${variant}] a query issued before connect() and end() is terminated, 'end' is emitted`, async () => {
    await same(extra, async (make) => {
      const c = make();
      const events: string[] = [];
      const endSeen = new Promise<void>((resolve) =>
        c.on('end', () => {
          events.push('end');
          resolve();
        }),
      );
      c.connect().catch(() => undefined);
      const q = settle(c.query('SELECT 1'));
      const ended = c.end();
      const result = await q;
      await ended;
      await endSeen;
      return { result, events: [...events] };
    });
  });

  test(`[${variant}] a failed connect: pg's error, 'end', and queued queries terminated`, async () => {
    const refused = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    for (const cfg of [
      { ...config, password: 'wrong password' },
      { ...config, port: refused },
    ]) {
      await same(extra, async (make) => {
        const c = make(cfg);
        const events: string[] = [];
        c.on('end', () => events.push('end'));
        c.on('error', (e: Error) => events.push(`error ${e.message}`));
        const queued = c.query('SELECT 1').then(
          () => 'ok',
          (e: Error) => events.push(`queued: ${e.message}`),
        );
        await c.connect().catch((e: Error & { code?: string }) => events.push(`connect: ${e.code}`));
        await queued;
        await c.end();
        return [...events];
      });
    }
  });

  test(`[${variant}] a backend killed while idle: the same 'error' event and the same errors afterwards`, async () => {
    await same(extra, async (make) => {
      const c = make();
      const events: string[] = [];
      const errored = new Promise<void>((resolve) =>
        c.on('error', (err: Error & { code?: string }) => {
          // The server's 57P01, or pg's 'Connection terminated unexpectedly' when the socket close wins the race.
          if (events.at(-1) !== 'error') events.push('error');
          assert.ok(
            err.code === '57P01' || err.message === 'Connection terminated unexpectedly',
            `${err.code} ${err.message}`,
          );
          resolve();
        }),
      );
      c.on('end', () => events.push('end'));
      await c.connect();
      const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      await observer.query('SELECT pg_terminate_backend($1)', [pid]);
      await errored;
      const next = await settle(c.query('SELECT 1'));
      await c.end();
      return { events: [...events], next };
    });
  });

  test(`[${variant}] a rejected query's stack leads back to the calling function`, async () => {
    await same(extra, async (make) => {
      const c = make();
      await c.connect();
      async function applicationCallerFn(): Promise<void> {
        await c.query('SELECT * FROM no_such_table_here');
      }
      async function applicationOuterFn(): Promise<void> {
        await applicationCallerFn();
      }
      const err = await applicationOuterFn().then(
        () => undefined,
        (e: Error) => e,
      );
      await c.end();
      return {
        code: (err as { code?: string } | undefined)?.code,
        callerInStack: /applicationCallerFn[^]*applicationOuterFn/.test(err?.stack ?? ''),
      };
    }).then((r) => assert.equal(r, { code: '42P01', callerInStack: true }));
  });

  test(`[${variant}] connect(callback) is called before the 'connect' event; reuse is refused with pg's message`, async () => {
    await same(extra, async (make) => {
      const c = make();
      const events: string[] = [];
      c.on('connect', () => events.push('event'));
      await new Promise<void>((resolve) => c.connect(() => (events.push('callback'), resolve())));
      await new Promise((r) => setImmediate(r));
      const again = await settle(c.connect());
      await c.end();
      const afterEnd = await settle(c.end());
      return { events: [...events], again, afterEnd };
    });
  });

  test(`[${variant}] util.inspect / JSON.stringify of a client never show the password`, async () => {
    const url = `postgres://${config.user}:${config.password}@${config.host}:${config.port}/${config.database}`;
    for (const cfg of [config, { connectionString: url }]) {
      const c = makers(extra)[1][1](cfg);
      const shown = () => [inspect(c, { depth: 6, showHidden: false }), JSON.stringify(c), String(c)].join('\n');
      assert.not.match(shown(), config.password);
      await c.connect();
      await c.query('SELECT 1');
      assert.not.match(inspect(c, { depth: 6 }), config.password);
      await c.end();
    }
  });
}

test('AwsPGClient is a pg.Client for the type checker (pipeline, binary, getters, pauseDrain)', async () => {
  const c = new AwsPGClient(
    { ...config, binary: true, pipeline: true, plugins: '' },
    { services: new WrapperServices() },
  );
  const asPg: pg.Client = c;
  assert.is(asPg.pipeline, true);
  assert.is(c.binary, true);
  await c.connect();
  const events: string[] = [];
  c.on('drain', () => events.push('drain'));
  c.pauseDrain();
  await c.query('SELECT 1');
  assert.equal(events, [], 'held back while paused');
  c.resumeDrain();
  assert.equal(events, ['drain']);
  assert.throws(() => c.copyFrom('COPY t FROM STDIN'), /pg-copy-streams/);
  await c.end();
});

test.run();
