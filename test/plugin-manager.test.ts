import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { ConfigurationError, UnsupportedOperationError } from '../ts/errors.js';
import { HostInfo, HostRole } from '../ts/host-info.js';
import {
  ALL_METHODS,
  ConnectionChange,
  OldConnectionSuggestedAction,
  PIPELINE,
  RELATIVE_TO_PRIOR_PLUGIN,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type ExecuteContext,
  type PluginFactory,
  type PluginService,
} from '../ts/plugin.js';
import { boundedSqlPrefix, LazyExecuteContext, SQL_PREFIX_LENGTH, statementText } from '../ts/plugin-manager.js';
import {
  BUILTIN_PLUGINS,
  DEFAULT_PLUGIN_CODES,
  PluginRegistry,
  pluginRegistry,
  sortByWeight,
} from '../ts/plugins/registry.js';
import { topologyCache } from '../ts/host-list-providers/cluster-state.js';
import { registerPlugin, registerProfile, releaseResources, unregisterPlugin, unregisterProfile } from '../ts/index.js';
import { sharedServices, WrapperServices } from '../ts/services.js';

const pgConfig = {
  host: process.env.TEST_PG_HOST,
  port: Number(process.env.TEST_PG_PORT),
  user: process.env.TEST_PG_USER,
  password: process.env.TEST_PG_PASSWORD,
  database: process.env.TEST_PG_DATABASE,
};

/** A test plugin recording which pipelines ran through it, in order, into a shared journal. */
class RecordingPlugin implements ConnectionPlugin<pg.Client> {
  readonly subscribedMethods: ReadonlySet<string>;
  action = OldConnectionSuggestedAction.NO_OPINION;
  constructor(
    readonly code: string,
    private readonly journal: string[],
    subscribed: readonly string[],
    readonly service: PluginService<pg.Client>,
  ) {
    this.subscribedMethods = new Set(subscribed);
  }
  async connect(host: HostInfo, _p: ConnectProps, isInitial: boolean, next: ConnectFn<pg.Client>): Promise<pg.Client> {
    this.journal.push(`${this.code}:connect:${isInitial}`);
    return next();
  }
  async forceConnect(_h: HostInfo, _p: ConnectProps, _i: boolean, next: ConnectFn<pg.Client>): Promise<pg.Client> {
    this.journal.push(`${this.code}:forceConnect`);
    return next();
  }
  async execute<T>(ctx: ExecuteContext, next: () => Promise<T>): Promise<T> {
    this.journal.push(`${this.code}:${ctx.method}`);
    return next();
  }
  notifyConnectionChanged(changes: ReadonlySet<ConnectionChange>): OldConnectionSuggestedAction {
    this.journal.push(`${this.code}:changed:${[...changes].join('+')}`);
    return this.action;
  }
}

function recordingFactory(
  code: string,
  weight: number,
  journal: string[],
  subscribed: readonly string[] = [ALL_METHODS],
): PluginFactory {
  return {
    code,
    weight,
    create: <C>(service: PluginService<C>) =>
      new RecordingPlugin(
        code,
        journal,
        subscribed,
        service as unknown as PluginService<pg.Client>,
      ) as unknown as ConnectionPlugin<C>,
  };
}

const noopFactory = (code: string, weight: number, aliases?: string[]): PluginFactory => ({
  code,
  weight,
  aliases,
  create: () => ({ code, subscribedMethods: new Set<string>() }),
});

function newCore(config: Record<string, unknown>, services = new WrapperServices()): ClientCore<pg.Client> {
  return new ClientCore<pg.Client>({
    driver: 'pg',
    driverDialect: new PgDriverDialect(),
    config: { ...pgConfig, ...config },
    services,
  });
}

// ---- registry: codes, aliases, errors --------------------------------------------------------------------------

test('every seed plugin code is known with its seed weight', () => {
  const weights = new Map(BUILTIN_PLUGINS.map((p) => [p.code, p.weight]));
  const expected: Record<string, number> = {
    custom_endpoint: 40,
    initial_connection: 50,
    aurora_connection_tracker: 100,
    stale_dns: 200,
    read_write_splitting: 300,
    srw: 310,
    gdb_rw: 320,
    failover: 400,
    failover_v2: 410,
    gdb_failover: 420,
    host_monitoring: 500,
    host_monitoring_v2: 510,
    bg: 550,
    fastest_response_strategy: 600,
    iam: 700,
    aws_secrets_manager: 800,
    federated_auth: 900,
    limitless: 950,
    okta: 1000,
    connect_time: RELATIVE_TO_PRIOR_PLUGIN,
    execute_time: RELATIVE_TO_PRIOR_PLUGIN,
    dev: RELATIVE_TO_PRIOR_PLUGIN,
  };
  for (const [code, w] of Object.entries(expected)) assert.is(weights.get(code), w, code);
});

test('Node peer camelCase codes are aliases of the seed codes', () => {
  const r = new PluginRegistry();
  const aliases: Record<string, string> = {
    failover2: 'failover_v2',
    efm: 'host_monitoring',
    efm2: 'host_monitoring_v2',
    secretsManager: 'aws_secrets_manager',
    readWriteSplitting: 'read_write_splitting',
    auroraConnectionTracker: 'aurora_connection_tracker',
    staleDns: 'stale_dns',
    initialConnection: 'initial_connection',
    fastestResponseStrategy: 'fastest_response_strategy',
    customEndpoint: 'custom_endpoint',
    federatedAuth: 'federated_auth',
  };
  for (const [alias, code] of Object.entries(aliases)) {
    assert.ok(r.isAvailable(alias), alias);
    assert.is(r.getFactory(alias).code, code, alias);
  }
  assert.is(r.getFactory('connectTime').code, 'connect_time');
  assert.is(r.getFactory('executeTime').code, 'execute_time');
  assert.is(r.getFactory('dev').code, 'dev');
});

test('unknown code: names it, suggests the closest, lists the known codes', () => {
  const r = new PluginRegistry();
  const err = catchError(() => r.resolve({ plugins: ['execute_tme'], autoSortWrapperPluginOrder: true }));
  assert.instance(err, ConfigurationError);
  assert.match(err.message, "Unknown plugin code 'execute_tme'");
  assert.match(err.message, "did you mean 'execute_time'");
  assert.match(err.message, 'known codes: custom_endpoint, initial_connection');
  assert.is((err as ConfigurationError).key, 'plugins');
  const err2 = catchError(() => r.getFactory('Failover_V2'));
  assert.match(err2.message, "did you mean 'failover_v2'");
  const err3 = catchError(() => r.getFactory('zzzzzzzz'));
  assert.not.match(err3.message, 'did you mean');
});

test('incompatible combinations and duplicates are rejected', () => {
  const r = new PluginRegistry();
  r.registerPlugin(noopFactory('failover', 400), { replace: true });
  r.registerPlugin(noopFactory('failover_v2', 410, ['failover2']), { replace: true });
  r.registerPlugin(noopFactory('read_write_splitting', 300, ['readWriteSplitting']), { replace: true });
  r.registerPlugin(noopFactory('srw', 310), { replace: true });
  assert.match(
    catchError(() => r.resolve({ plugins: ['failover', 'failover2'], autoSortWrapperPluginOrder: true })).message,
    "'failover' and 'failover_v2' cannot be used together",
  );
  assert.match(
    catchError(() => r.resolve({ plugins: ['srw', 'readWriteSplitting'], autoSortWrapperPluginOrder: true })).message,
    "'read_write_splitting' and 'srw' cannot be used together",
  );
  assert.match(
    catchError(() => r.resolve({ plugins: ['dev', 'dev'], autoSortWrapperPluginOrder: true })).message,
    "'dev' is listed more than once",
  );
  assert.equal(
    r.resolve({ plugins: ['failover2', 'srw'], autoSortWrapperPluginOrder: true }).map((f) => f.code),
    ['srw', 'failover_v2'],
  );
});

// ---- ordering ---------------------------------------------------------------------------------------------------

test('sorting: ascending weight, stable, relative = previous in the user order + 1', () => {
  const a = noopFactory('a', 400);
  const b = noopFactory('b', 100);
  const rel1 = noopFactory('rel1', RELATIVE_TO_PRIOR_PLUGIN);
  const rel2 = noopFactory('rel2', RELATIVE_TO_PRIOR_PLUGIN);
  const c = noopFactory('c', 100);
  // user order: a(400) rel1(401) b(100) rel2(101) c(100) -> b, c, rel2, a, rel1
  assert.equal(
    sortByWeight([a, rel1, b, rel2, c]).map((f) => f.code),
    ['b', 'c', 'rel2', 'a', 'rel1'],
  );
  // a relative plugin first in the list gets weight 1
  assert.equal(
    sortByWeight([rel1, b]).map((f) => f.code),
    ['rel1', 'b'],
  );
});

test('autoSortWrapperPluginOrder false keeps the user order', () => {
  const r = new PluginRegistry();
  r.registerPlugin(noopFactory('late', 900));
  r.registerPlugin(noopFactory('early', 10));
  assert.equal(
    r.resolve({ plugins: ['late', 'dev', 'early'], autoSortWrapperPluginOrder: false }).map((f) => f.code),
    ['late', 'dev', 'early'],
  );
  assert.equal(
    r.resolve({ plugins: ['late', 'dev', 'early'], autoSortWrapperPluginOrder: true }).map((f) => f.code),
    ['early', 'late', 'dev'],
  );
});

test('default list is the seed default filtered to implemented plugins; empty list means none', () => {
  assert.equal(DEFAULT_PLUGIN_CODES, [
    'initial_connection',
    'aurora_connection_tracker',
    'failover_v2',
    'host_monitoring_v2',
  ]);
  const r = new PluginRegistry();
  const implemented = DEFAULT_PLUGIN_CODES.filter((c) => r.isAvailable(c));
  assert.equal(
    r.resolve({ plugins: undefined, autoSortWrapperPluginOrder: true }).map((f) => f.code),
    implemented,
  );
  r.registerPlugin(noopFactory('failover_v2', 410, ['failover2']), { replace: true });
  assert.ok(r.resolve({ plugins: undefined, autoSortWrapperPluginOrder: true }).some((f) => f.code === 'failover_v2'));
  assert.equal(r.resolve({ plugins: [], autoSortWrapperPluginOrder: true }), []);
});

// ---- custom registration & profiles ------------------------------------------------------------------------------

test('registerPlugin: validation, duplicates, replace, unregister', () => {
  const r = new PluginRegistry();
  assert.match(catchError(() => r.registerPlugin(noopFactory('dev', 5))).message, "'dev' is already registered");
  assert.match(catchError(() => r.registerPlugin(noopFactory('bad code', 5))).message, 'must be a word');
  assert.match(catchError(() => r.registerPlugin(noopFactory('w', -7))).message, 'weight must be');
  assert.match(
    catchError(() => r.registerPlugin({ code: 'nocreate', weight: 1 } as unknown as PluginFactory)).message,
    'no create()',
  );
  r.registerPlugin(noopFactory('mine', 5, ['myAlias']));
  assert.is(r.getFactory('myAlias').code, 'mine');
  assert.ok(r.codes.includes('mine'));
  assert.ok(r.unregisterPlugin('mine'));
  assert.not.ok(r.unregisterPlugin('dev'), 'built-ins cannot be unregistered');
  assert.match(catchError(() => r.getFactory('myAlias')).message, 'Unknown plugin code');
});

test('custom plugin through ClientCore: registered on the services object, runs in the pipeline', async () => {
  const services = new WrapperServices();
  const journal: string[] = [];
  pluginRegistry(services).registerPlugin(recordingFactory('recorder', 10, journal));
  const core = newCore({ plugins: ['recorder'] }, services);
  try {
    await core.connect();
    await core.execute('Client.query', ['SELECT 1'], (c) => c.query('SELECT 1'));
    assert.equal(journal, ['recorder:connect:true', 'recorder:changed:INITIAL_CONNECTION', 'recorder:Client.query']);
  } finally {
    await core.end();
  }
  assert.equal(journal.slice(3), ['recorder:Client.end']);
});

test('profiles: plugins and config defaults; user config wins; unknown profile is an error', async () => {
  const services = new WrapperServices();
  const journal: string[] = [];
  pluginRegistry(services).registerProfile('recorded', {
    plugins: [recordingFactory('prof', 10, journal), 'execute_time'],
    config: { application_name: 'from-profile', statement_timeout: 1234 },
  });
  const core = newCore({ profileName: 'recorded', plugins: ['dev'], statement_timeout: 4321 }, services);
  assert.equal(
    core.plugins.map((p) => p.code),
    ['prof', 'execute_time'],
  );
  assert.is(core.props.driver.application_name, 'from-profile');
  assert.is(core.props.driver.statement_timeout, 4321);
  await core.connect();
  try {
    const r = await core.execute('Client.query', [], (c) => c.query('SHOW application_name'));
    assert.is(r.rows[0].application_name, 'from-profile');
  } finally {
    await core.end();
  }
  const err = catchError(() => newCore({ profileName: 'nope' }, services));
  assert.instance(err, ConfigurationError);
  assert.match(err.message, "Unknown configuration profile 'nope'; registered profiles: recorded");
  assert.match(
    catchError(() => pluginRegistry(services).registerProfile('recorded', {})).message,
    'already registered',
  );
});

test('package-level registerPlugin / registerProfile target the shared services', async () => {
  const journal: string[] = [];
  registerPlugin(recordingFactory('sharedRecorder', 10, journal, ['Client.query']));
  registerProfile('sharedProfile', { plugins: ['sharedRecorder'] });
  try {
    assert.ok(pluginRegistry(sharedServices()).isAvailable('sharedRecorder'));
    const core = new ClientCore<pg.Client>({
      driver: 'pg',
      driverDialect: new PgDriverDialect(),
      config: { ...pgConfig, profileName: 'sharedProfile' },
    });
    await core.connect();
    try {
      await core.execute('Client.query', ['select 1'], (c) => c.query('select 1'));
    } finally {
      await core.end();
    }
    assert.equal(journal, ['sharedRecorder:Client.query']);
    assert.is(sharedServices().referenceCount, 0);
  } finally {
    assert.ok(unregisterProfile('sharedProfile'));
    assert.ok(unregisterPlugin('sharedRecorder'));
  }
  assert.not.ok(pluginRegistry(sharedServices()).isAvailable('sharedRecorder'));
});

test('registered plugins and profiles survive releaseResources (they are configuration); caches do not', async () => {
  registerPlugin(recordingFactory('keptRecorder', 10, [], ['Client.query']));
  registerProfile('keptProfile', { plugins: ['keptRecorder'] });
  const before = sharedServices();
  topologyCache(before).set('some-cluster', { hosts: [], updatedAt: Date.now() });
  try {
    await releaseResources();
    const after = sharedServices();
    assert.is.not(after, before, 'a fresh services object');
    assert.is(topologyCache(after).size, 0, 'caches start empty');
    assert.ok(pluginRegistry(after).isAvailable('keptRecorder'));
  } finally {
    assert.ok(unregisterProfile('keptProfile'));
    assert.ok(unregisterPlugin('keptRecorder'));
  }
});

// ---- sqlPrefix --------------------------------------------------------------------------------------------------

test('sqlPrefix: skips whitespace and comments, lower-cases, bounded', () => {
  assert.is(boundedSqlPrefix('  \n\t-- hello\n /* multi\nline */ SET Search_Path TO x'), 'set search_path to x');
  assert.is(boundedSqlPrefix('SELECT 1'), 'select 1');
  const big = 'SELECT ' + 'x'.repeat(1 << 20);
  assert.is(boundedSqlPrefix(big).length, SQL_PREFIX_LENGTH);
  // A statement that is all comment within the scan limit yields an empty prefix instead of scanning 1 MB.
  assert.is(boundedSqlPrefix('/*' + ' '.repeat(1 << 20) + '*/ select 1'), '');
  assert.is(boundedSqlPrefix('--' + 'c'.repeat(1 << 20)), '');
  assert.is(statementText([{ text: 'select 2' }]), 'select 2');
  assert.is(statementText([{ sql: 'select 3' }]), 'select 3');
  assert.is(statementText([42]), undefined);
});

test('sqlPrefix is lazy: computed on first access only, once', () => {
  const args = [{ text: 'BEGIN READ ONLY' }];
  const ctx = new LazyExecuteContext('Client.query', args);
  assert.not.ok(ctx.sqlPrefixComputed);
  assert.is(ctx.sqlPrefix, 'begin read only');
  assert.ok(ctx.sqlPrefixComputed);
  args[0].text = 'changed';
  assert.is(ctx.sqlPrefix, 'begin read only', 'cached');
  assert.is(new LazyExecuteContext('Client.ping', []).sqlPrefix, undefined);
});

// ---- execute chain ----------------------------------------------------------------------------------------------

test('execute chain: none without subscribers (direct call), cached per method, order = plugin order', async () => {
  const services = new WrapperServices();
  const journal: string[] = [];
  pluginRegistry(services).registerPlugin(recordingFactory('outer', 10, journal, ['Client.query']));
  pluginRegistry(services).registerPlugin(recordingFactory('inner', 20, journal, ['Client.query', 'Client.ping']));
  const bare = newCore({ plugins: [] }, services);
  assert.is(bare.pluginManager.getExecuteChain('Client.query'), undefined);
  const core = newCore({ plugins: ['inner', 'outer'] }, services);
  const chain = core.pluginManager.getExecuteChain('Client.query');
  assert.type(chain, 'function');
  assert.is(core.pluginManager.getExecuteChain('Client.query'), chain, 'same function object on the second call');
  assert.is(core.pluginManager.getExecuteChain('Client.commit'), undefined, 'no subscriber: direct call');
  await bare.connect();
  await core.connect();
  try {
    journal.length = 0;
    const r = await core.execute('Client.query', ['select 1 as one'], (c) => c.query('select 1 as one'));
    assert.is(r.rows[0].one, 1);
    await core.execute('Client.ping', [], (c) => c.query('select 1'));
    await core.execute('Client.commit', [], (c) => c.query('select 1'));
    assert.equal(journal, ['outer:Client.query', 'inner:Client.query', 'inner:Client.ping']);
    const direct = await bare.execute('Client.query', [], (c) => c.query('select 2 as two'));
    assert.is(direct.rows[0].two, 2);
  } finally {
    await core.end();
    await bare.end();
  }
  const err = await core.execute('Client.query', [], async () => 1).catch((e: Error) => e);
  assert.instance(err, Error);
  assert.match((err as Error).message, 'not connected');
});

test('a plugin that inspects sqlPrefix sees a bounded prefix of a 1 MB statement', async () => {
  const services = new WrapperServices();
  const seen: (string | undefined)[] = [];
  pluginRegistry(services).registerPlugin({
    code: 'peek',
    weight: 10,
    create: () => ({
      code: 'peek',
      subscribedMethods: new Set(['Client.query']),
      execute: <T>(ctx: ExecuteContext, next: () => Promise<T>) => {
        seen.push(ctx.sqlPrefix);
        return next();
      },
    }),
  });
  const core = newCore({ plugins: ['peek'] }, services);
  await core.connect();
  try {
    const sql = `/* big */ SELECT '${'x'.repeat(1 << 20)}' AS big`;
    const r = await core.execute('Client.query', [sql], (c) => c.query(sql));
    assert.is(r.rows[0].big.length, 1 << 20);
    assert.is(seen.length, 1);
    assert.is(seen[0]!.length, SQL_PREFIX_LENGTH);
    assert.ok(seen[0]!.startsWith("select 'xxx"));
  } finally {
    await core.end();
  }
});

// ---- connect / forceConnect / notifications -----------------------------------------------------------------------

test('connect pipeline with skipPlugin; forceConnect pipeline; switch notifications', async () => {
  const services = new WrapperServices();
  const journal: string[] = [];
  pluginRegistry(services).registerPlugin(recordingFactory('a', 10, journal));
  pluginRegistry(services).registerPlugin(
    recordingFactory('b', 20, journal, [PIPELINE.connect, PIPELINE.notifyConnectionChanged]),
  );
  const core = newCore({ plugins: ['a', 'b'] }, services);
  await core.connect();
  try {
    assert.equal(journal, [
      'a:connect:true',
      'b:connect:true',
      'a:changed:INITIAL_CONNECTION',
      'b:changed:INITIAL_CONNECTION',
    ]);
    journal.length = 0;
    const a = core.getPlugin<RecordingPlugin>('a')!;
    const host = core.currentHost!;
    const c2 = await a.service.connect(host, core.props, a);
    assert.equal(journal, ['b:connect:false'], 'a skipped');
    journal.length = 0;
    const c3 = await a.service.forceConnect(host, core.props);
    assert.equal(journal, ['a:forceConnect'], 'b does not subscribe to forceConnect');
    journal.length = 0;
    await a.service.setCurrentConnection(c2, host, a);
    assert.equal(journal, ['b:changed:CONNECTION_OBJECT_CHANGED']);
    await c3.end();
  } finally {
    await core.end();
  }
});

test('notifyConnectionChanged: PRESERVE wins over DISPOSE; old connection kept or closed accordingly', async () => {
  const services = new WrapperServices();
  const journal: string[] = [];
  pluginRegistry(services).registerPlugin(recordingFactory('a', 10, journal));
  pluginRegistry(services).registerPlugin(recordingFactory('b', 20, journal));
  const core = newCore({ plugins: ['a', 'b'] }, services);
  const dd = core.driverDialect;
  await core.connect();
  try {
    const a = core.getPlugin<RecordingPlugin>('a')!;
    const b = core.getPlugin<RecordingPlugin>('b')!;
    const host = core.currentHost!;
    const first = core.connection;

    a.action = OldConnectionSuggestedAction.DISPOSE;
    b.action = OldConnectionSuggestedAction.PRESERVE;
    const second = await a.service.connect(host, core.props);
    assert.is(
      core.pluginManager.notifyConnectionChanged(new Set([ConnectionChange.HOSTNAME])),
      OldConnectionSuggestedAction.PRESERVE,
    );
    await a.service.setCurrentConnection(second, host);
    await settle(core);
    assert.not.ok(dd.isClosed(first), 'preserved');
    assert.is(core.connection, second);

    b.action = OldConnectionSuggestedAction.NO_OPINION;
    const third = await a.service.connect(host, core.props);
    await a.service.setCurrentConnection(third, host);
    await settle(core);
    assert.ok(dd.isClosed(second), 'disposed');
    assert.is(
      core.pluginManager.notifyConnectionChanged(new Set([ConnectionChange.HOSTNAME])),
      OldConnectionSuggestedAction.DISPOSE,
    );
    await first.end();
  } finally {
    await core.end();
  }
});

// ---- strategies ---------------------------------------------------------------------------------------------------

test('getHostInfoByStrategy: first plugin answer wins, UnsupportedOperationError passes, default = built-in selectors', () => {
  const services = new WrapperServices();
  const special = new HostInfo({ host: 'special', role: HostRole.READER });
  const mk = (code: string, weight: number, answer: () => HostInfo | undefined): PluginFactory => ({
    code,
    weight,
    create: () => ({
      code,
      subscribedMethods: new Set([PIPELINE.getHostInfoByStrategy, PIPELINE.acceptsStrategy]),
      acceptsStrategy: (_r: HostRole, s: string) => s === 'mine',
      getHostInfoByStrategy: (_r: HostRole, s: string) => (s === 'mine' ? answer() : undefined),
    }),
  });
  pluginRegistry(services).registerPlugin(
    mk('unsupported', 10, () => {
      throw new UnsupportedOperationError('no');
    }),
  );
  pluginRegistry(services).registerPlugin(mk('answers', 20, () => special));
  const core = newCore({ plugins: ['unsupported', 'answers'] }, services);
  const svc = core.pluginService;
  assert.ok(svc.acceptsStrategy(HostRole.READER, 'mine'));
  assert.ok(svc.acceptsStrategy(HostRole.READER, 'round_robin'));
  assert.not.ok(svc.acceptsStrategy(HostRole.READER, 'least_connections'));
  assert.is(svc.getHostInfoByStrategy(HostRole.READER, 'mine'), special);
  const hosts = [
    new HostInfo({ host: 'w', role: HostRole.WRITER }),
    new HostInfo({ host: 'r1', role: HostRole.READER }),
  ];
  assert.is(svc.getHostInfoByStrategy(HostRole.READER, 'random', hosts).host, 'r1');
  assert.throws(
    () => svc.getHostInfoByStrategy(HostRole.READER, 'nope', hosts),
    (e: Error) => e instanceof UnsupportedOperationError && /nope/.test(e.message),
  );
});

function settle(core: ClientCore<pg.Client>): Promise<void> {
  return core.pluginService.settleDisposals();
}

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

test.run();
