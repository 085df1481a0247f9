import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { ConfigurationError } from '../ts/errors.js';
import type { ConnectTimePlugin } from '../ts/plugins/connect-time.js';
import type { ExecuteTimePlugin } from '../ts/plugins/execute-time.js';
import { WrapperServices } from '../ts/services.js';

const pgConfig = {
  host: process.env.TEST_PG_HOST,
  port: Number(process.env.TEST_PG_PORT),
  user: process.env.TEST_PG_USER,
  password: process.env.TEST_PG_PASSWORD,
  database: process.env.TEST_PG_DATABASE,
};

function newCore(plugins: string[], services = new WrapperServices()): ClientCore<pg.Client> {
  return new ClientCore<pg.Client>({
    driver: 'pg',
    driverDialect: new PgDriverDialect(),
    config: { ...pgConfig, plugins },
    services,
  });
}

const query = (core: ClientCore<pg.Client>, sql: string) => core.execute('Client.query', [sql], (c) => c.query(sql));

test('connect_time measures connect and forceConnect (camelCase alias accepted)', async () => {
  const core = newCore(['connectTime']);
  const plugin = core.getPlugin<ConnectTimePlugin<pg.Client>>('connect_time')!;
  assert.is(plugin.count, 0);
  await core.connect();
  try {
    assert.is(plugin.count, 1);
    assert.ok(plugin.totalMs > 0);
    const before = plugin.totalMs;
    const extra = await core.pluginService.forceConnect(core.currentHost!, core.props);
    assert.is(plugin.count, 2);
    assert.ok(plugin.totalMs > before);
    await extra.end();
    await query(core, 'select 1');
    assert.is(plugin.count, 2, 'queries are not counted');
    plugin.reset();
    assert.is(plugin.count, 0);
    assert.is(plugin.totalMs, 0);
  } finally {
    await core.end();
  }
});

test('execute_time measures every method through the pipeline, failed calls too', async () => {
  const core = newCore(['execute_time']);
  const plugin = core.getPlugin<ExecuteTimePlugin<pg.Client>>('execute_time')!;
  await core.connect();
  try {
    await query(core, 'select pg_sleep(0.02)');
    assert.is(plugin.count, 1);
    assert.ok(plugin.totalMs >= 20, `measured ${plugin.totalMs} ms for a 20 ms statement`);
    await query(core, 'select nonsense_column').catch(() => undefined);
    assert.is(plugin.count, 2);
  } finally {
    await core.end();
  }
  assert.is(plugin.count, 3, 'Client.end went through the pipeline');
});

test('dev: raise on the next call of a method, once, without reaching the driver', async () => {
  const core = newCore(['dev']);
  await core.connect();
  try {
    const injected = new Error('injected');
    core.devTools.raiseOnNextCall(injected, 'Client.query');
    assert.is(core.devTools.pending, 1);
    let reached = false;
    const err = await core
      .execute('Client.query', ['select 1'], async (c) => {
        reached = true;
        return c.query('select 1');
      })
      .catch((e: unknown) => e);
    assert.is(err, injected);
    assert.not.ok(reached);
    assert.is(core.devTools.pending, 0);
    const r = await query(core, 'select 1 as one');
    assert.is(r.rows[0].one, 1, 'one-shot');
    // A fault for another method does not fire on queries.
    core.devTools.raiseOnNextCall(new Error('ping fault'), 'Client.ping');
    await query(core, 'select 1');
    assert.is(core.devTools.pending, 1);
    const pingErr = await core.execute('Client.ping', [], (c) => c.query('select 1')).catch((e: Error) => e);
    assert.match((pingErr as Error).message, 'ping fault');
  } finally {
    await core.end();
  }
});

test('dev: N times, any method, fresh errors from a function, callbacks, clear()', async () => {
  const core = newCore(['dev']);
  await core.connect();
  try {
    let made = 0;
    core.devTools.raiseOnNextCall(() => new Error(`fault ${++made}`), '*', { times: 2 });
    const e1 = await query(core, 'select 1').catch((e: Error) => e);
    const e2 = await core.execute('Client.commit', [], (c) => c.query('select 1')).catch((e: Error) => e);
    assert.is((e1 as Error).message, 'fault 1');
    assert.is((e2 as Error).message, 'fault 2');
    await query(core, 'select 1');

    const seen: string[] = [];
    core.devTools.setMethodCallback((ctx) => {
      seen.push(`${ctx.method}:${ctx.sqlPrefix}`);
      return ctx.sqlPrefix?.startsWith('delete') ? new Error('no deletes today') : undefined;
    });
    await query(core, 'SELECT 1');
    const del = await query(core, '  DELETE FROM nothing').catch((e: Error) => e);
    assert.is((del as Error).message, 'no deletes today');
    assert.equal(seen, ['Client.query:select 1', 'Client.query:delete from nothing']);
    core.devTools.clear();
    const after = await query(core, 'DELETE FROM nothing').catch((e: Error) => e);
    assert.match((after as Error).message, 'relation "nothing" does not exist', 'callback removed: the driver answers');
    assert.throws(
      () => core.devTools.raiseOnNextCall(new Error('x'), '*', { times: 0 }),
      /times must be an integer ≥ 1/,
    );
  } finally {
    await core.end();
  }
});

test('dev: raise on the next connect (initial and later connects through the pipeline)', async () => {
  const services = new WrapperServices();
  const core = newCore(['dev'], services);
  const refused = Object.assign(new Error('connect refused by test'), { code: 'ECONNREFUSED' });
  core.devTools.raiseOnNextConnect(refused);
  const err = await core.connect().catch((e: unknown) => e);
  assert.is(err, refused);
  assert.is(services.referenceCount, 0, 'failed connect released the services');

  const core2 = newCore(['dev'], services);
  await core2.connect();
  try {
    const hosts: string[] = [];
    core2.devTools.setConnectCallback((host, isInitial) => {
      hosts.push(`${host.host}:${isInitial}`);
      return undefined;
    });
    core2.devTools.raiseOnNextConnect(new Error('second connect fails'), { times: 1 });
    const e2 = await core2.pluginService.connect(core2.currentHost!, core2.props).catch((e: Error) => e);
    assert.match((e2 as Error).message, 'second connect fails');
    const ok = await core2.pluginService.forceConnect(core2.currentHost!, core2.props);
    assert.equal(hosts, [`${pgConfig.host}:false`], 'queued faults first, then the callback');
    await ok.end();
  } finally {
    await core2.end();
  }
});

test('devTools without the dev plugin is a clear error', () => {
  const core = newCore([]);
  assert.throws(
    () => core.devTools,
    (e: Error) => e instanceof ConfigurationError && /add 'dev' to the plugins option/.test(e.message),
  );
});

test.run();
