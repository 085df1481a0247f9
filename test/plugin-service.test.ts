import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { ConfigurationError } from '../ts/errors.js';
import { HostAvailability, HostChange, HostInfo, HostRole } from '../ts/host-info.js';
import {
  AVAILABILITY_ENTRY_TTL_MS,
  availabilityStrategyFromOptions,
  HostAvailabilityTracker,
  PASS_THROUGH,
} from '../ts/host-availability.js';
import {
  OldConnectionSuggestedAction,
  PIPELINE,
  type ConnectionChange,
  type ConnectionPlugin,
  type ConnectProps,
  type HostListProvider,
  type HostListProviderService,
  type PluginFactory,
  type PluginService,
} from '../ts/plugin.js';
import { connectionChanges } from '../ts/plugin-service.js';
import { SessionStateTracker } from '../ts/session-state.js';
import { WrapperServices } from '../ts/services.js';
import { pluginRegistry } from '../ts/plugins/registry.js';

const pgConfig = {
  host: process.env.TEST_PG_HOST,
  port: Number(process.env.TEST_PG_PORT),
  user: process.env.TEST_PG_USER,
  password: process.env.TEST_PG_PASSWORD,
  database: process.env.TEST_PG_DATABASE,
};

/** A host list provider whose topology the test sets (the hosts are names only; connections go to the test PG). */
class SettableHostListProvider implements HostListProvider<pg.Client> {
  readonly clusterId = 'test-cluster';
  readonly isDynamic = true;
  hostList: readonly HostInfo[];
  constructor(readonly initialHostInfo: HostInfo) {
    this.hostList = [initialHostInfo];
  }
  async refresh(): Promise<readonly HostInfo[]> {
    return this.hostList;
  }
  async forceRefresh(): Promise<readonly HostInfo[]> {
    return this.hostList;
  }
  async getHostRole(): Promise<HostRole> {
    return HostRole.WRITER;
  }
  async identifyConnection(): Promise<HostInfo | undefined> {
    return undefined;
  }
  release(): void {}
}

/** Installs a SettableHostListProvider in initHostProvider and records notifications. */
class ObserverPlugin implements ConnectionPlugin<pg.Client> {
  readonly code = 'observer';
  readonly subscribedMethods = new Set<string>([
    PIPELINE.initHostProvider,
    PIPELINE.notifyHostListChanged,
    PIPELINE.notifyConnectionChanged,
  ]);
  readonly hostListChanges: Map<string, Set<HostChange>>[] = [];
  readonly connectionChanges: ReadonlySet<ConnectionChange>[] = [];
  provider: SettableHostListProvider | undefined;
  action = OldConnectionSuggestedAction.NO_OPINION;
  constructor(
    readonly service: PluginService<pg.Client>,
    private readonly installProvider: boolean,
  ) {}
  async initHostProvider(
    _props: ConnectProps,
    hlps: HostListProviderService<pg.Client>,
    next: () => Promise<void>,
  ): Promise<void> {
    if (this.installProvider) {
      this.provider = new SettableHostListProvider(hlps.hostListProvider.initialHostInfo);
      hlps.hostListProvider = this.provider;
    }
    return next();
  }
  notifyHostListChanged(changes: ReadonlyMap<string, ReadonlySet<HostChange>>): void {
    this.hostListChanges.push(new Map([...changes].map(([k, v]) => [k, new Set(v)])));
  }
  notifyConnectionChanged(changes: ReadonlySet<ConnectionChange>): OldConnectionSuggestedAction {
    this.connectionChanges.push(changes);
    return this.action;
  }
}

function observerFactory(installProvider = false): PluginFactory {
  return {
    code: 'observer',
    weight: 10,
    create: <C>(service: PluginService<C>) =>
      new ObserverPlugin(service as unknown as PluginService<pg.Client>, installProvider),
  };
}

function newCore(
  config: Record<string, unknown> = {},
  services = new WrapperServices(),
  installProvider = false,
): ClientCore<pg.Client> {
  if (!pluginRegistry(services).isAvailable('observer'))
    pluginRegistry(services).registerPlugin(observerFactory(installProvider));
  return new ClientCore<pg.Client>({
    driver: 'pg',
    driverDialect: new PgDriverDialect(),
    config: { ...pgConfig, plugins: ['observer'], ...config },
    services,
  });
}

async function one(conn: pg.Client, sql: string): Promise<unknown> {
  const r = await conn.query(sql);
  return Object.values(r.rows[0] ?? {})[0];
}

/** Opens a second connection through the client's connect pipeline and switches the client to it. */
async function switchConnection(
  core: ClientCore<pg.Client>,
  host = core.currentHost!,
): Promise<{ old: pg.Client; next: pg.Client }> {
  const old = core.connection;
  const next = await core.pluginService.connect(host, core.props);
  await core.pluginService.setCurrentConnection(next, host);
  return { old, next };
}

// ---- session state --------------------------------------------------------------------------------------------

test('session state is applied, recorded and transferred to the new connection on a switch', async () => {
  const core = newCore();
  await core.connect();
  try {
    await core.setReadOnly(true);
    await core.setSessionState({ schema: 'pg_catalog', isolationLevel: 'SERIALIZABLE' });
    assert.ok(core.isReadOnly());
    assert.equal(core.pluginService.sessionState, {
      readOnly: true,
      schema: 'pg_catalog',
      isolationLevel: 'SERIALIZABLE',
    });
    const { next } = await switchConnection(core);
    assert.is(await one(next, 'SHOW transaction_read_only'), 'on');
    assert.is(await one(next, 'SHOW search_path'), 'pg_catalog');
    assert.is(await one(next, 'SHOW default_transaction_isolation'), 'serializable');
  } finally {
    await core.end();
  }
});

test('transferSessionStateOnSwitch false: the new connection keeps its defaults', async () => {
  const core = newCore({ transferSessionStateOnSwitch: false });
  await core.connect();
  try {
    await core.setReadOnly(true);
    const { next } = await switchConnection(core);
    assert.is(await one(next, 'SHOW transaction_read_only'), 'off');
  } finally {
    await core.end();
  }
});

test('invalid session state is a ConfigurationError naming the field', async () => {
  const core = newCore();
  const err = await core.setSessionState({ isolationLevel: 'CHAOS' as never }).catch((e: Error) => e);
  assert.instance(err, ConfigurationError);
  assert.match((err as Error).message, "'isolationLevel' must be one of");
  assert.throws(() => core.recordSessionState({ readOnly: 'yes' as never }), /'readOnly' must be a boolean/);
});

test('SessionStateTracker keeps pristine values and builds the reset patch', () => {
  const t = new SessionStateTracker();
  assert.ok(t.isEmpty);
  t.record({ readOnly: true, schema: 'a' });
  t.record({ readOnly: false });
  t.record({ autoCommit: false });
  assert.equal(t.current, { readOnly: false, schema: 'a', autoCommit: false });
  assert.equal(t.pristineValues, { readOnly: false, autoCommit: true });
  assert.equal(t.resetPatch(), { autoCommit: true });
  t.reset();
  assert.ok(t.isEmpty);
});

// ---- switching ------------------------------------------------------------------------------------------------

test('switch: connectionChanged(new, old) is emitted while the old connection is open; the old one is then closed', async () => {
  const core = newCore();
  const events: [pg.Client, pg.Client | undefined, boolean][] = [];
  core.on('connectionChanged', (n: pg.Client, o: pg.Client | undefined) =>
    events.push([n, o, o === undefined ? false : core.driverDialect.isClosed(o)]),
  );
  await core.connect();
  try {
    assert.is(events.length, 1);
    assert.is(events[0][0], core.connection);
    assert.is(events[0][1], undefined);
    const { old, next } = await switchConnection(core);
    assert.is(events.length, 2);
    assert.is(events[1][0], next);
    assert.is(events[1][1], old);
    assert.is(events[1][2], false, 'old connection still open when the event fires');
    await core.pluginService.settleDisposals();
    assert.ok(core.driverDialect.isClosed(old));
    const observer = core.getPlugin<ObserverPlugin>('observer')!;
    assert.equal(
      observer.connectionChanges.map((c) => [...c]),
      [['INITIAL_CONNECTION'], ['CONNECTION_OBJECT_CHANGED']],
    );
  } finally {
    await core.end();
  }
});

test('switch inside a transaction: the old connection is rolled back (rollbackOnSwitch), unless disabled', async () => {
  for (const rollbackOnSwitch of [true, false]) {
    const core = newCore({ rollbackOnSwitch });
    await core.connect();
    try {
      core.getPlugin<ObserverPlugin>('observer')!.action = OldConnectionSuggestedAction.PRESERVE;
      await core.execute('Client.query', ['BEGIN'], (c) => c.query('BEGIN'));
      assert.ok(core.isInTransaction);
      const { old } = await switchConnection(core);
      await core.pluginService.settleDisposals();
      assert.not.ok(core.driverDialect.isClosed(old), 'preserved');
      assert.is(core.driverDialect.isInTransaction(old), !rollbackOnSwitch);
      assert.not.ok(core.isInTransaction, 'the new connection is not in a transaction');
      await old.end();
    } finally {
      await core.end();
    }
  }
});

test('connectionChanges: hostname, role and availability changes', () => {
  const w = new HostInfo({ host: 'a', port: 1, role: HostRole.WRITER });
  const r = new HostInfo({ host: 'b', port: 1, role: HostRole.READER });
  assert.equal([...connectionChanges(w, r, true)], ['CONNECTION_OBJECT_CHANGED', 'HOSTNAME', 'PROMOTED_TO_READER']);
  assert.equal([...connectionChanges(r, w, false)], ['HOSTNAME', 'PROMOTED_TO_WRITER']);
  assert.equal([...connectionChanges(w, w.with({ availability: HostAvailability.UNAVAILABLE }), false)], ['WENT_DOWN']);
  assert.equal([...connectionChanges(w, w, false)], []);
});

// ---- host lists & availability ----------------------------------------------------------------------------------

test('host list changes are delivered to plugins as per-url diffs', async () => {
  const core = newCore({}, new WrapperServices(), true);
  await core.connect();
  try {
    const observer = core.getPlugin<ObserverPlugin>('observer')!;
    const provider = observer.provider!;
    assert.is(core.pluginService.hostListProvider, provider, 'a plugin swapped the provider in initHostProvider');
    const writer = provider.initialHostInfo;
    const r1 = new HostInfo({ host: 'r1.example', port: 5432, role: HostRole.READER });
    const r2 = new HostInfo({ host: 'r2.example', port: 5432, role: HostRole.READER });
    observer.hostListChanges.length = 0;
    provider.hostList = [writer, r1, r2];
    await core.pluginService.refreshHostList();
    assert.equal(
      core.pluginService.allHosts.map((h) => h.host),
      [writer.host, 'r1.example', 'r2.example'],
    );
    assert.is(observer.hostListChanges.length, 1);
    assert.equal([...observer.hostListChanges[0].keys()], ['r1.example:5432/', 'r2.example:5432/']);
    assert.equal([...observer.hostListChanges[0].get('r1.example:5432/')!], [HostChange.HOST_ADDED]);

    provider.hostList = [writer.with({ role: HostRole.READER }), r1.with({ role: HostRole.WRITER })];
    await core.pluginService.refreshHostList();
    const diff = observer.hostListChanges[1];
    assert.equal([...diff.get('r2.example:5432/')!], [HostChange.HOST_DELETED]);
    assert.equal([...diff.get('r1.example:5432/')!], [HostChange.CONVERTED_TO_WRITER, HostChange.HOST_CHANGED]);
    assert.equal([...diff.get(writer.url)!], [HostChange.CONVERTED_TO_READER, HostChange.HOST_CHANGED]);

    await core.pluginService.refreshHostList();
    assert.is(observer.hostListChanges.length, 2, 'no notification without a change');
    assert.ok(await core.pluginService.forceRefreshHostList(false, 1000));
  } finally {
    await core.end();
  }
});

test('availability is real: shared by clients, filters hosts, notifies plugins, reset by a successful connect', async () => {
  const services = new WrapperServices();
  const a = newCore({}, services, true);
  const b = newCore({}, services, true);
  await a.connect();
  await b.connect();
  try {
    const pa = a.getPlugin<ObserverPlugin>('observer')!;
    const writer = pa.provider!.initialHostInfo;
    const reader = new HostInfo({ host: 'reader.example', port: 5432, role: HostRole.READER });
    for (const c of [a, b]) {
      c.getPlugin<ObserverPlugin>('observer')!.provider!.hostList = [writer, reader];
      await c.pluginService.refreshHostList();
    }
    pa.hostListChanges.length = 0;
    a.pluginService.setAvailability(['reader.example:5432'], HostAvailability.UNAVAILABLE);
    assert.equal(
      [...pa.hostListChanges[0].get('reader.example:5432/')!],
      [HostChange.WENT_DOWN, HostChange.HOST_CHANGED],
    );
    for (const c of [a, b]) {
      assert.equal(
        c.pluginService.hosts.map((h) => h.host),
        [writer.host],
        'down host filtered',
      );
      assert.is(c.pluginService.allHosts[1].availability, HostAvailability.UNAVAILABLE);
      assert.throws(
        () => c.pluginService.getHostInfoByStrategy(HostRole.READER, 'random'),
        /No available host with role 'reader'/,
      );
    }
    // Any alias of the host counts.
    a.pluginService.setAvailability(['reader.example:5432'], HostAvailability.AVAILABLE);
    assert.equal(
      [...pa.hostListChanges[1].get('reader.example:5432/')!],
      [HostChange.WENT_UP, HostChange.HOST_CHANGED],
    );
    assert.is(b.pluginService.getHostInfoByStrategy(HostRole.READER, 'random').host, 'reader.example');

    // A successful connect to a host marks it available again.
    a.pluginService.setAvailability(writer.allAliases, HostAvailability.UNAVAILABLE);
    assert.is(b.pluginService.hosts.length, 1);
    const extra = await a.pluginService.connect(writer, a.props);
    assert.is(b.pluginService.hosts.length, 2);
    await extra.end();
  } finally {
    await a.end();
    await b.end();
  }
});

test('exponential backoff: a down host is offered again after 2^failures × initial backoff, up to maxRetries', () => {
  let now = 1_000_000;
  const t = new HostAvailabilityTracker(() => now);
  const strategy = availabilityStrategyFromOptions({
    defaultHostAvailabilityStrategy: 'exponential_backoff',
    hostAvailabilityStrategyMaxRetries: 3,
    hostAvailabilityStrategyInitialBackoffTime: 10_000,
  });
  assert.equal(strategy, { kind: 'exponential_backoff', maxRetries: 3, initialBackoffMs: 10_000 });
  const h = ['h:1'];
  t.set(h, HostAvailability.UNAVAILABLE); // 1 failure: 20 s
  assert.is(t.get(h, strategy), HostAvailability.UNAVAILABLE);
  now += 19_999;
  assert.is(t.get(h, strategy), HostAvailability.UNAVAILABLE);
  now += 1;
  assert.is(t.get(h, strategy), HostAvailability.AVAILABLE);
  t.set(h, HostAvailability.UNAVAILABLE); // 2 failures: 40 s
  now += 39_999;
  assert.is(t.get(h, strategy), HostAvailability.UNAVAILABLE);
  now += 1;
  assert.is(t.get(h, strategy), HostAvailability.AVAILABLE);
  t.set(h, HostAvailability.UNAVAILABLE); // 3 failures = maxRetries: down for good
  now += 10 * AVAILABILITY_ENTRY_TTL_MS;
  assert.is(t.get(h, strategy), HostAvailability.UNAVAILABLE);
  t.set(h, HostAvailability.AVAILABLE);
  assert.is(t.get(h, strategy), HostAvailability.AVAILABLE);
  // pass-through: down until reported up, or until the report is older than the TTL
  t.set(h, HostAvailability.UNAVAILABLE);
  now += AVAILABILITY_ENTRY_TTL_MS;
  assert.is(t.get(h, PASS_THROUGH), HostAvailability.UNAVAILABLE);
  now += 1;
  assert.is(t.get(h, PASS_THROUGH), HostAvailability.AVAILABLE);
});

test('availability strategy options are validated', () => {
  assert.is(availabilityStrategyFromOptions({}), PASS_THROUGH);
  assert.throws(
    () => availabilityStrategyFromOptions({ defaultHostAvailabilityStrategy: 'sometimes' }),
    /defaultHostAvailabilityStrategy must be 'exponential_backoff'/,
  );
  assert.throws(
    () =>
      availabilityStrategyFromOptions({
        defaultHostAvailabilityStrategy: 'exponential_backoff',
        hostAvailabilityStrategyMaxRetries: 0,
      }),
    /hostAvailabilityStrategyMaxRetries must be an integer ≥ 1/,
  );
});

// ---- identity, roles, errors ---------------------------------------------------------------------------------------

test('host role, aliases and error classification on a real server', async () => {
  const core = newCore();
  await core.connect();
  const svc = core.pluginService;
  try {
    assert.is(svc.dialect.code, 'pg', 'dialect refined after connect');
    assert.is(await svc.getHostRole(core.connection), HostRole.WRITER);
    // The server is known as 127.0.0.1; a host named `localhost` gets the server's own address as an alias.
    const host = new HostInfo({ host: 'localhost', port: pgConfig.port });
    await svc.fillAliases(core.connection, host);
    assert.equal([...host.aliases].sort(), [`127.0.0.1:${pgConfig.port}`, `localhost:${pgConfig.port}`]);

    await core.execute('Client.query', [], (c) => c.query('BEGIN READ ONLY'));
    const roErr = await core
      .execute('Client.query', [], (c) => c.query('CREATE TEMP TABLE ro_test (x int)'))
      .catch((e: unknown) => e);
    assert.ok(svc.isReadOnlyError(roErr), 'read-only transaction error');
    assert.not.ok(svc.isNetworkError(roErr));
    await core.execute('Client.query', [], (c) => c.query('ROLLBACK'));
  } finally {
    await core.end();
  }
  const bad = newCore({ password: 'definitely-wrong' });
  const loginErr = await bad.connect().catch((e: unknown) => e);
  assert.ok(bad.pluginService.isLoginError(loginErr), `login error: ${String(loginErr)}`);
  assert.not.ok(String((loginErr as Error).message).includes('definitely-wrong'));
});

// ---- lifecycle ------------------------------------------------------------------------------------------------

test('services reference released exactly once: normal end, double end, failed connect', async () => {
  const services = new WrapperServices();
  services.acquire(); // the test's own reference: must survive everything below
  const ok = newCore({}, services);
  await ok.connect();
  assert.is(services.referenceCount, 2);
  await Promise.all([ok.end(), ok.end()]);
  await ok.end();
  assert.is(services.referenceCount, 1);

  const failing = newCore({ port: await closedPort() }, services);
  const err = await failing.connect().catch((e: unknown) => e);
  assert.ok(failing.pluginService.isNetworkError(err), `refused connect is a network error: ${String(err)}`);
  assert.is(services.referenceCount, 1);
  await failing.end();
  assert.is(services.referenceCount, 1);
  const again = await failing.connect().catch((e: Error) => e);
  assert.match((again as Error).message, 'ended');
  await services.release();
  assert.is(services.referenceCount, 0);
});

test('end() while connecting: connect rejects, the new connection is closed, services released once', async () => {
  const services = new WrapperServices();
  const core = newCore({}, services);
  const opened: pg.Client[] = [];
  core.on('connectionChanged', (c: pg.Client) => opened.push(c));
  const connecting = core.connect().catch((e: Error) => e);
  await core.end();
  assert.is(services.referenceCount, 0);
  const err = await connecting;
  assert.match((err as Error).message, 'ended while connecting');
  assert.is(opened.length, 0, 'the connection never became current');
  assert.is(services.referenceCount, 0);
});

test('end() closes the connection and rejects later calls', async () => {
  const core = newCore();
  await core.connect();
  const conn = core.connection;
  await core.end();
  assert.ok(core.driverDialect.isClosed(conn));
  assert.is(core.connectionOrUndefined, undefined);
  const err = await core.execute('Client.query', [], (c) => c.query('select 1')).catch((e: Error) => e);
  assert.match((err as Error).message, 'ended');
});

async function closedPort(): Promise<number> {
  const net = await import('node:net');
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test.run();
