import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import {
  parseConnectProps,
  monitoringConnectProps,
  mapHostAddress,
  getOption,
  OPTION_TABLE,
  MONITORING_PREFIXES,
} from '../ts/options.js';
import { maxOf, renderOptionsMarkdown, renderReadmeOptions } from '../ts/option-table.js';
import { ConfigurationError } from '../ts/errors.js';

const ALL_WRAPPER_KEYS = new Set<string>(OPTION_TABLE.flatMap((r) => [r.name, ...r.aliases]));

function configError(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ConfigurationError);
    return e as ConfigurationError;
  }
  throw new assert.Assertion({
    message: 'expected a ConfigurationError',
    operator: 'throws',
    generated: true,
    expects: 'throw',
    actual: 'no throw',
  });
}

function assertNoWrapperKeys(driverName: 'pg' | 'mysql2', driver: Record<string, unknown>): void {
  const mirrored = new Set<string>(
    OPTION_TABLE.flatMap((r) => ('driverKey' in r ? [(r.driverKey as Record<string, string>)[driverName] ?? ''] : [])),
  );
  for (const k of Object.keys(driver)) {
    if (mirrored.has(k)) continue; // also the driver's own option (mysql2 connectTimeout)
    assert.not.ok(ALL_WRAPPER_KEYS.has(k), `wrapper key '${k}' reached the driver`);
    assert.not.ok(
      MONITORING_PREFIXES.some((p) => k.startsWith(p)),
      `prefixed key '${k}' reached the driver`,
    );
  }
}

test('defaults from the table; driver keys untouched', () => {
  for (const driver of ['pg', 'mysql2'] as const) {
    const { driver: d, options } = parseConnectProps(driver, {
      host: 'h',
      port: 5432,
      user: 'u',
      password: 'p',
      database: 'db',
      ssl: { rejectUnauthorized: false },
    });
    assert.equal(d, {
      host: 'h',
      port: 5432,
      user: 'u',
      password: 'p',
      database: 'db',
      ssl: { rejectUnauthorized: false },
    });
    assert.is(options.plugins, undefined);
    assert.is(options.autoSortWrapperPluginOrder, true);
    assert.is(options.auxiliaryQueryTimeoutSec, 5);
    assert.is(options.topologyRefreshMs, 30000);
    assert.is(options.clusterTopologyHighRefreshRateMs, 100);
    assert.is(options.transferSessionStateOnSwitch, true);
    assert.is(options.resetSessionStateOnClose, true);
    assert.is(options.rollbackOnSwitch, true);
    assert.is(options.connectTimeout, undefined);
    assert.is(options.socketTimeout, undefined);
    assert.is(options.hostAddressMap, undefined);
    for (const p of MONITORING_PREFIXES) assert.equal(options.monitoringOverrides[p], {});
  }
});

test('camelCase names and snake_case aliases; wrapper keys removed from the driver config', () => {
  const snake = parseConnectProps('pg', {
    host: 'h',
    wrapper_dialect: 'aurora-pg',
    wrapper_driver_dialect: 'pg',
    auxiliary_query_timeout_sec: 2,
    topology_refresh_ms: 1000,
    cluster_id: 'c1',
    cluster_instance_host_pattern: '?.xyz.us-east-1.rds.amazonaws.com',
    transfer_session_state_on_switch: 'false',
    reset_session_state_on_close: false,
    rollback_on_switch: '0',
    auto_sort_wrapper_plugin_order: 'False',
    profile_name: 'prof',
    tcp_keepalive: 'true',
    tcp_keepalive_probes: '3',
    cluster_topology_high_refresh_rate_ms: 50,
    host_address_map: 'a=b',
  });
  const camel = parseConnectProps('pg', {
    host: 'h',
    wrapperDialect: 'aurora-pg',
    wrapperDriverDialect: 'pg',
    auxiliaryQueryTimeoutSec: 2,
    topologyRefreshMs: 1000,
    clusterId: 'c1',
    clusterInstanceHostPattern: '?.xyz.us-east-1.rds.amazonaws.com',
    transferSessionStateOnSwitch: false,
    resetSessionStateOnClose: false,
    rollbackOnSwitch: false,
    autoSortWrapperPluginOrder: false,
    profileName: 'prof',
    tcpKeepalive: true,
    tcpKeepaliveProbes: 3,
    clusterTopologyHighRefreshRateMs: 50,
    hostAddressMap: { a: 'b' },
  });
  assert.equal(snake.options, camel.options);
  assert.equal(snake.driver, { host: 'h' });
  assert.equal(camel.driver, { host: 'h' });
  assert.is(camel.options.autoSortWrapperPluginOrder, false, "the string 'False' is false, not truthy");
});

test('durations: camelCase in ms, seed snake_case aliases in seconds converted, unit-suffixed names kept', () => {
  const a = parseConnectProps('pg', {
    connect_timeout: 10,
    socket_timeout: '2.5',
    tcp_keepalive_time: 60,
    tcp_keepalive_interval: '5',
    auxiliary_query_timeout_sec: 3,
    topology_refresh_ms: 700,
  });
  assert.is(a.options.connectTimeout, 10000);
  assert.is(a.options.socketTimeout, 2500);
  assert.is(a.options.tcpKeepaliveTime, 60000);
  assert.is(a.options.tcpKeepaliveInterval, 5000);
  assert.is(a.options.auxiliaryQueryTimeoutSec, 3);
  assert.is(a.options.topologyRefreshMs, 700);
  const b = parseConnectProps('pg', {
    connectTimeout: 10,
    socketTimeout: '2500',
    tcpKeepaliveTime: 60,
    tcpKeepaliveInterval: 5,
  });
  assert.is(b.options.connectTimeout, 10);
  assert.is(b.options.socketTimeout, 2500);
  assert.is(b.options.tcpKeepaliveTime, 60);
  assert.is(b.options.tcpKeepaliveInterval, 5);
  assert.not.ok('connectTimeout' in b.driver, 'pg driver config does not get connectTimeout');
});

test('mysql2: connectTimeout is both a wrapper option and a driver option (in ms)', () => {
  assert.equal(parseConnectProps('mysql2', { host: 'h', connectTimeout: 3000 }).driver, {
    host: 'h',
    connectTimeout: 3000,
  });
  const snake = parseConnectProps('mysql2', { host: 'h', connect_timeout: 3 });
  assert.equal(snake.driver, { host: 'h', connectTimeout: 3000 });
  assert.is(snake.options.connectTimeout, 3000);
});

test('pg driver options pass through untouched', () => {
  const cfg = {
    host: 'h',
    connectionTimeoutMillis: 5,
    query_timeout: 7,
    statement_timeout: 9,
    keepAlive: true,
    keepAliveInitialDelayMillis: 1,
    application_name: 'app',
    options: '-c search_path=x',
    max: 3,
  };
  assert.equal(parseConnectProps('pg', cfg).driver, cfg);
});

test('booleans: true/false and "true"/"false"/"1"/"0" in any case, nothing else', () => {
  for (const [v, expected] of [
    [true, true],
    [false, false],
    ['TRUE', true],
    ['False', false],
    ['1', true],
    ['0', false],
    [1, true],
    [0, false],
    [' true ', true],
  ] as const) {
    assert.is(parseConnectProps('pg', { rollbackOnSwitch: v }).options.rollbackOnSwitch, expected, String(v));
  }
  for (const bad of ['yes', 'no', '', 2, {}, []]) {
    const e = configError(() => parseConnectProps('pg', { rollback_on_switch: bad }));
    assert.is(e.key, 'rollback_on_switch');
    assert.match(e.message, /^Option 'rollback_on_switch' expects true or false/);
  }
});

test('numbers: NaN, fractions for integers, negatives and garbage rejected with key and expectation', () => {
  let e = configError(() => parseConnectProps('pg', { socketTimeout: 'abc' }));
  assert.is(e.message, "Option 'socketTimeout' expects a non-negative number of milliseconds, got 'abc'");
  assert.is(e.key, 'socketTimeout');
  assert.is(e.code, 'WRAPPER_CONFIG');
  e = configError(() => parseConnectProps('pg', { socket_timeout: -1 }));
  assert.is(e.message, "Option 'socket_timeout' expects a non-negative number of seconds, got -1");
  e = configError(() => parseConnectProps('pg', { topologyRefreshMs: 1.5 }));
  assert.is(e.message, "Option 'topologyRefreshMs' expects a positive integer of milliseconds, got 1.5");
  e = configError(() => parseConnectProps('pg', { topologyRefreshMs: 0 }));
  assert.is(e.key, 'topologyRefreshMs');
  configError(() => parseConnectProps('pg', { topologyRefreshMs: Number.NaN }));
  configError(() => parseConnectProps('pg', { topologyRefreshMs: Infinity }));
  configError(() => parseConnectProps('pg', { topologyRefreshMs: '' }));
  configError(() => parseConnectProps('pg', { topologyRefreshMs: '10ms' }));
  configError(() => parseConnectProps('pg', { tcpKeepaliveProbes: 0 }));
  e = configError(() => parseConnectProps('pg', { auxiliaryQueryTimeoutSec: 0 }));
  assert.match(e.message, /positive number of seconds/);
  assert.is(parseConnectProps('pg', { topologyRefreshMs: ' 250 ' }).options.topologyRefreshMs, 250);
  assert.is(parseConnectProps('pg', { auxiliaryQueryTimeoutSec: '0.5' }).options.auxiliaryQueryTimeoutSec, 0.5);
  e = configError(() => parseConnectProps('pg', { clusterId: 42 }));
  assert.is(e.message, "Option 'clusterId' expects a string, got 42");
});

test('undefined and null mean "not given"', () => {
  const { options, driver } = parseConnectProps('pg', { host: 'h', socketTimeout: undefined, topologyRefreshMs: null });
  assert.is(options.socketTimeout, undefined);
  assert.is(options.topologyRefreshMs, 30000);
  assert.equal(driver, { host: 'h' });
});

test('plugins: comma string or array, trimmed; empty string = none', () => {
  assert.equal(parseConnectProps('pg', { plugins: 'failover_v2, host_monitoring_v2 ,' }).options.plugins, [
    'failover_v2',
    'host_monitoring_v2',
  ]);
  assert.equal(parseConnectProps('pg', { plugins: [' iam', 'failover '] }).options.plugins, ['iam', 'failover']);
  assert.equal(parseConnectProps('pg', { plugins: '' }).options.plugins, []);
  assert.equal(parseConnectProps('pg', { plugins: [] }).options.plugins, []);
  assert.equal(parseConnectProps('pg', { wrapper_plugins: 'dev' }).options.plugins, ['dev']);
  const e = configError(() => parseConnectProps('pg', { plugins: ['failover', 3] }));
  assert.is(e.key, 'plugins');
  assert.match(e.message, /comma-separated string or an array of strings/);
  configError(() => parseConnectProps('pg', { plugins: 5 }));
});

test('the same option under two names is an error', () => {
  const e = configError(() => parseConnectProps('pg', { topologyRefreshMs: 1000, topology_refresh_ms: 2 }));
  assert.match(e.message, /'topologyRefreshMs' is given twice, as 'topologyRefreshMs' and as 'topology_refresh_ms'/);
});

test('unknown key close to a wrapper option: error with a suggestion; other unknown keys go to the driver', () => {
  let e = configError(() => parseConnectProps('pg', { topologyRefreshMS: 5 }));
  assert.is(e.message, "Unknown option 'topologyRefreshMS'. Did you mean 'topologyRefreshMs'?");
  assert.is(e.key, 'topologyRefreshMS');
  e = configError(() => parseConnectProps('mysql2', { plugin: 'failover' }));
  assert.is(e.message, "Unknown option 'plugin'. Did you mean 'plugins'?");
  e = configError(() => parseConnectProps('pg', { 'topology-refresh-ms': 5 }));
  assert.match(e.message, /Did you mean 'topologyRefreshMs'\?/);
  e = configError(() => parseConnectProps('pg', { socketTimout: 5 }));
  assert.match(e.message, /Did you mean 'socketTimeout'\?/);
  e = configError(() => parseConnectProps('pg', { clusterInstanceHostPatern: '?.x' }));
  assert.match(e.message, /Did you mean 'clusterInstanceHostPattern'\?/);
  // Known driver options and far-away names pass through.
  assert.equal(parseConnectProps('pg', { keepAlive: true, someAppKey: 1 }).driver, { keepAlive: true, someAppKey: 1 });
  assert.equal(parseConnectProps('mysql2', { enableKeepAlive: true, timezone: 'Z', flags: ['-FOUND_ROWS'] }).driver, {
    enableKeepAlive: true,
    timezone: 'Z',
    flags: ['-FOUND_ROWS'],
  });
});

test('monitoring prefixes: all five collected and stripped from the driver config', () => {
  const { driver, options } = parseConnectProps('pg', {
    host: 'h',
    'monitoring-connect_timeout': 10,
    'topology-monitoring-socketTimeout': 5000,
    'frt-connectTimeout': '1000',
    'blue-green-monitoring-connect_timeout': 10,
    'limitless-router-monitor-user': 'mon',
  });
  assert.equal(driver, { host: 'h' });
  assert.equal(options.monitoringOverrides['monitoring-'], { connect_timeout: 10 });
  assert.equal(options.monitoringOverrides['topology-monitoring-'], { socketTimeout: 5000 });
  assert.equal(options.monitoringOverrides['frt-'], { connectTimeout: '1000' });
  assert.equal(options.monitoringOverrides['blue-green-monitoring-'], { connect_timeout: 10 });
  assert.equal(options.monitoringOverrides['limitless-router-monitor-'], { user: 'mon' });
});

test('monitoringConnectProps: defaults, then user overrides (converted), wrapper vs driver keys', () => {
  const props = parseConnectProps('mysql2', {
    host: 'h',
    user: 'app',
    connectTimeout: 30000,
    socketTimeout: 60000,
    'topology-monitoring-connect_timeout': 2,
    'topology-monitoring-user': 'monitor',
    'topology-monitoring-charset': 'utf8mb4',
  });
  const mon = monitoringConnectProps('mysql2', props, 'topology-monitoring-', {
    connectTimeout: 5000,
    socketTimeout: 5000,
    user: 'ignored',
  });
  assert.is(mon.options.connectTimeout, 2000, 'user override (seconds alias) wins over the default');
  assert.is(mon.options.socketTimeout, 5000, 'default applies where the user gave no override');
  assert.is(mon.driver.connectTimeout, 2000, 'mysql2 mirror follows');
  assert.is(mon.driver.user, 'monitor');
  assert.is(mon.driver.charset, 'utf8mb4');
  assert.is(mon.driver.host, 'h');
  assert.is(props.options.connectTimeout, 30000, 'the client props are not changed');
  assert.is(props.driver.user, 'app');
  const efm = monitoringConnectProps('mysql2', props, 'monitoring-', { connect_timeout: 10 });
  assert.is(efm.options.connectTimeout, 10000);
  const e = configError(() =>
    monitoringConnectProps('pg', parseConnectProps('pg', { 'frt-socketTimeout': 'x' }), 'frt-'),
  );
  assert.is(e.key, 'frt-socketTimeout');
});

test('pg connectionString: postgres:// and postgresql://, decoding, IPv6, wrapper options from the query', () => {
  for (const scheme of ['postgres', 'postgresql']) {
    const { driver, options } = parseConnectProps('pg', {
      connectionString: `${scheme}://us%40er:p%40ss%2Fw@db.example.com:6543/my%20db?application_name=app&plugins=failover_v2,efm&topologyRefreshMs=5000&socket_timeout=3&monitoring-connect_timeout=4`,
    });
    assert.equal(driver, {
      host: 'db.example.com',
      port: 6543,
      user: 'us@er',
      password: 'p@ss/w',
      database: 'my db',
      application_name: 'app',
    });
    assert.equal(options.plugins, ['failover_v2', 'efm']);
    assert.is(options.topologyRefreshMs, 5000);
    assert.is(options.socketTimeout, 3000);
    assert.equal(options.monitoringOverrides['monitoring-'], { connect_timeout: '4' });
  }
  const v6 = parseConnectProps('pg', { connectionString: 'postgres://u@[::1]:5433/db' });
  assert.is(v6.driver.host, '::1');
  assert.is(v6.driver.port, 5433);
  const ssl = parseConnectProps('pg', { connectionString: 'postgres://u@h/db?ssl=true' });
  assert.is(ssl.driver.ssl, true);
});

test('pg connectionString: explicit keys override URL ones; connectionString not passed on', () => {
  const { driver, options } = parseConnectProps('pg', {
    connectionString: 'postgres://u:pw@urlhost:5432/db?topologyRefreshMs=5000&application_name=url',
    host: 'explicit',
    application_name: 'explicit',
    topology_refresh_ms: 700,
    password: undefined,
  });
  assert.equal(driver, {
    host: 'explicit',
    port: 5432,
    user: 'u',
    password: 'pw',
    database: 'db',
    application_name: 'explicit',
  });
  assert.is(options.topologyRefreshMs, 700);
});

test('pg connectionString errors: multi-host, bad scheme, bad values in the query; no password in messages', () => {
  let e = configError(() => parseConnectProps('pg', { connectionString: 'postgres://u:hunter2@a,b:5432/db' }));
  assert.is(e.key, 'connectionString');
  assert.match(e.message, /several hosts/);
  assert.not.match(e.message, /hunter2/);
  assert.match(e.message, /u:\*\*\*@/);
  e = configError(() => parseConnectProps('pg', { connectionString: 'mysql://u:hunter2@h/db' }));
  assert.match(e.message, /postgres:\/\//);
  assert.not.match(e.message, /hunter2/);
  e = configError(() => parseConnectProps('pg', { connectionString: 'postgres://u:hunter2@h:99999/db' }));
  assert.not.match(e.message, /hunter2/);
  e = configError(() => parseConnectProps('pg', { connectionString: 'postgres://u:hunter2@h/db?socketTimeout=abc' }));
  assert.is(e.message, "Option 'socketTimeout' expects a non-negative number of milliseconds, got 'abc'");
  e = configError(() => parseConnectProps('pg', { connectionString: 'postgres://u:hunter2@h/db?topologyRefreshMS=1' }));
  assert.match(e.message, /Did you mean 'topologyRefreshMs'/);
  e = configError(() => parseConnectProps('pg', { connectionString: 42 }));
  assert.is(e.key, 'connectionString');
});

test('mysql2 uri: parts, wrapper options from the query, driver query values as mysql2 reads them', () => {
  const { driver, options } = parseConnectProps('mysql2', {
    uri: 'mysql://r%40ot:p%40ss@db.example.com:3307/shop?charset=utf8mb4&ssl={"rejectUnauthorized":false}&failover_timeout_unknown_to_driver=1&rollback_on_switch=false&connect_timeout=4&frt-connect_timeout=1',
  });
  assert.equal(driver, {
    host: 'db.example.com',
    port: 3307,
    user: 'r@ot',
    password: 'p@ss',
    database: 'shop',
    charset: 'utf8mb4',
    ssl: { rejectUnauthorized: false },
    failover_timeout_unknown_to_driver: 1,
    connectTimeout: 4000,
  });
  assert.is(options.rollbackOnSwitch, false);
  assert.is(options.connectTimeout, 4000);
  assert.equal(options.monitoringOverrides['frt-'], { connect_timeout: '1' });
  const v6 = parseConnectProps('mysql2', { uri: 'mysql://u@[::1]:3306/db', host: undefined });
  assert.is(v6.driver.host, '::1');
  const explicit = parseConnectProps('mysql2', {
    uri: 'mysql://u@h/db?rollbackOnSwitch=false',
    rollbackOnSwitch: true,
    database: 'other',
  });
  assert.is(explicit.options.rollbackOnSwitch, true);
  assert.is(explicit.driver.database, 'other');
  assert.not.ok('uri' in explicit.driver);
});

test('mysql2 uri errors: multi-host, wrong scheme, unparsable; no password in messages', () => {
  let e = configError(() => parseConnectProps('mysql2', { uri: 'mysql://root:hunter2@a,b/db' }));
  assert.is(e.key, 'uri');
  assert.match(e.message, /several hosts/);
  assert.not.match(e.message, /hunter2/);
  e = configError(() => parseConnectProps('mysql2', { uri: 'postgres://root:hunter2@h/db' }));
  assert.not.match(e.message, /hunter2/);
  e = configError(() => parseConnectProps('mysql2', { uri: 'mysql://root:hunter2@h:notaport/db' }));
  assert.not.match(e.message, /hunter2/);
  assert.match(e.message, /root:\*\*\*@/);
});

test('hostAddressMap: object or string, host or host:port keys, validated', () => {
  const fromString = parseConnectProps('pg', {
    host_address_map:
      'db-1.cluster-x.us-east-1.rds.amazonaws.com=127.0.0.1:15432, inst-2:5432=127.0.0.2 ,[::1]:5432=[::1]:6000',
  }).options.hostAddressMap;
  assert.equal(fromString, {
    'db-1.cluster-x.us-east-1.rds.amazonaws.com': '127.0.0.1:15432',
    'inst-2:5432': '127.0.0.2',
    '[::1]:5432': '[::1]:6000',
  });
  const map = parseConnectProps('pg', { hostAddressMap: { 'inst-1': '127.0.0.1:15433', 'inst-1:6000': '127.0.0.9' } })
    .options.hostAddressMap;
  assert.equal(mapHostAddress(map, 'inst-1', 5432), { host: '127.0.0.1', port: 15433 });
  assert.equal(
    mapHostAddress(map, 'INST-1', 6000),
    { host: '127.0.0.9', port: 6000 },
    'host:port entry wins; case-insensitive',
  );
  assert.equal(mapHostAddress(map, 'inst-2', 5432), { host: 'inst-2', port: 5432 });
  assert.equal(mapHostAddress(undefined, 'x', 1), { host: 'x', port: 1 });
  assert.equal(mapHostAddress(fromString, '::1', 5432), { host: '::1', port: 6000 });
  for (const bad of ['a', 'a=b:0', 'a=b:65536', '=b', 'a:x=b', 'a=b c', 42, ['a=b'], { a: {} }]) {
    const e = configError(() => parseConnectProps('pg', { hostAddressMap: bad }));
    assert.is(e.key, 'hostAddressMap', JSON.stringify(bad));
  }
});

test('clusterInstanceHostPattern must contain ? and not be a proxy or custom endpoint', () => {
  assert.is(
    parseConnectProps('pg', { clusterInstanceHostPattern: '?.example.com:5433' }).options.clusterInstanceHostPattern,
    '?.example.com:5433',
  );
  let e = configError(() => parseConnectProps('pg', { cluster_instance_host_pattern: 'db.example.com' }));
  assert.match(
    e.message,
    /^Option 'cluster_instance_host_pattern' expects a host pattern with '\?' in place of the instance name.*'\?' is missing/,
  );
  e = configError(() =>
    parseConnectProps('pg', { clusterInstanceHostPattern: '?.proxy-xyz.us-east-1.rds.amazonaws.com' }),
  );
  assert.match(e.message, /not an RDS Proxy name/);
});

test('getOption is a typed read; the result object exposes every table row', () => {
  const { options } = parseConnectProps('pg', { topologyRefreshMs: 42 });
  const v: number = getOption(options, 'topologyRefreshMs');
  assert.is(v, 42);
  for (const row of OPTION_TABLE) assert.ok(row.name in options, row.name);
});

test('table: unique names and aliases, camelCase names, snake_case aliases, docs present', () => {
  const seen = new Set<string>();
  for (const row of OPTION_TABLE) {
    assert.match(row.name, /^[a-z][a-zA-Z0-9]*$/);
    for (const a of row.aliases) assert.match(a, /^[a-z][a-z0-9_]*$/);
    for (const k of [row.name, ...row.aliases]) {
      assert.not.ok(seen.has(k), `duplicate ${k}`);
      seen.add(k);
    }
    assert.ok(row.doc.length > 10, row.name);
  }
});

test('bad config shapes', () => {
  configError(() => parseConnectProps('pg', null as unknown as Record<string, unknown>));
  configError(() => parseConnectProps('pg', [] as unknown as Record<string, unknown>));
});

test('durations: the option table caps every duration (timer limit, native monitors at one day); the message names key and maximum', () => {
  let e = configError(() => parseConnectProps('pg', { socketTimeout: 1e12 }));
  assert.is(
    e.message,
    "Option 'socketTimeout' expects a non-negative number of milliseconds up to 2147483647 (Node timers fire at once when asked to wait longer), got 1000000000000",
  );
  e = configError(() => parseConnectProps('mysql2', { socket_timeout: 3e6 }));
  assert.match(e.message, /^Option 'socket_timeout' expects a non-negative number of seconds up to 2147483\.647 /);
  e = configError(() => parseConnectProps('pg', { failure_detection_time_ms: 86_400_001 }));
  assert.match(e.message, /up to 86400000 \(the native monitors' limit, one day\)/);
  assert.is(
    parseConnectProps('pg', { failureDetectionTimeMs: 86_400_000, socketTimeout: 2 ** 31 - 1 }).options
      .failureDetectionTimeMs,
    86_400_000,
  );
  // Monitoring overrides go through the same rows.
  e = configError(() => parseConnectProps('pg', { 'topology-monitoring-socketTimeout': 1e12 }));
  assert.is(e.key, 'topology-monitoring-socketTimeout');
  e = configError(() => parseConnectProps('pg', { 'monitoring-failureDetectionTimeMs': 'abc' }));
  assert.is(e.key, 'monitoring-failureDetectionTimeMs');
});

test("NaN / Infinity / -Infinity are named in the message (JSON would say 'null')", () => {
  assert.match(configError(() => parseConnectProps('pg', { connectTimeout: NaN })).message, /got NaN$/);
  assert.match(configError(() => parseConnectProps('pg', { failoverTimeoutMs: Infinity })).message, /got Infinity$/);
  assert.match(configError(() => parseConnectProps('pg', { tcpKeepaliveProbes: -Infinity })).message, /got -Infinity$/);
});

test('wrapperDriverDialect names the driver in use; connection URLs with an unencoded password are rejected, masked', () => {
  assert.is(parseConnectProps('pg', { wrapperDriverDialect: 'pg' }).options.wrapperDriverDialect, 'pg');
  assert.is(configError(() => parseConnectProps('pg', { wrapperDriverDialect: 'mysql2' })).key, 'wrapperDriverDialect');
  assert.is(
    configError(() => parseConnectProps('mysql2', { connectionString: 'x', wrapperDriverDialect: 'pg' })).key,
    'wrapperDriverDialect',
  );
  const e = configError(() => parseConnectProps('pg', { connectionString: 'postgres://u:ab/cd@h/db' }));
  assert.match(e.message, /percent-encoded/);
  assert.not.match(e.message, /ab\/cd|cd@/);
  assert.ok(e.message.includes("'postgres://u:***@h/db'"), e.message);
});

test("docs: 'What is rejected and why' lists every duration with its maximum and the row checks", () => {
  const doc = renderOptionsMarkdown();
  const section = doc.slice(doc.indexOf('## What is rejected and why'));
  assert.ok(section.length > 100, 'section missing');
  for (const row of OPTION_TABLE) {
    if (!('unit' in row)) continue;
    const line = section.split('\n').find((l) => l.startsWith(`| \`${row.name}\` |`));
    assert.ok(line, `${row.name} missing`);
    assert.ok(line.includes(`above ${maxOf(row)}`), line);
  }
  for (const name of [
    'clusterInstanceHostPattern',
    'hostAddressMap',
    'failoverMode',
    'wrapperDriverDialect',
    'failoverReaderHostSelectorStrategy',
  ]) {
    assert.ok(section.includes(`\`${name}\``), name);
  }
});

test('docs/options.md is up to date (node --import tsx scripts/gen-options-doc.mjs)', () => {
  const current = readFileSync(path.join(__dirname, '..', 'docs', 'options.md'), 'utf8');
  assert.ok(
    current === renderOptionsMarkdown(),
    'docs/options.md is out of date: run node --import tsx scripts/gen-options-doc.mjs',
  );
  for (const row of OPTION_TABLE) assert.ok(current.includes(`\`${row.name}\``), row.name);
});

test('README.md options section is up to date (node --import tsx scripts/gen-options-doc.mjs)', () => {
  const current = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  assert.ok(
    current === renderReadmeOptions(current),
    'README.md options section is out of date: run node --import tsx scripts/gen-options-doc.mjs',
  );
});

test('real pg accepts the driver config parsed from a connectionString with wrapper options', async () => {
  const {
    TEST_PG_HOST: host,
    TEST_PG_PORT: port,
    TEST_PG_USER: user,
    TEST_PG_PASSWORD: password,
    TEST_PG_DATABASE: db,
  } = process.env;
  assert.ok(host && port && user && db, 'TEST_PG_* env (run through test/run.mjs)');
  const url = `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password ?? '')}@${host}:${port}/${db}?application_name=opt-test&plugins=&socket_timeout=5&topology-monitoring-connect_timeout=1&frt-connect_timeout=1`;
  const props = parseConnectProps('pg', { connectionString: url });
  assertNoWrapperKeys('pg', props.driver);
  assert.equal(props.options.plugins, []);
  assert.is(props.options.socketTimeout, 5000);
  const client = new pg.Client(props.driver);
  await client.connect();
  try {
    const r = await client.query<{ app: string }>("SELECT current_setting('application_name') AS app");
    assert.is(r.rows[0].app, 'opt-test');
  } finally {
    await client.end();
  }
});

test('real mysql2 accepts the driver config parsed from a uri (no invalid-option warning)', async () => {
  const {
    TEST_MYSQL_HOST: host,
    TEST_MYSQL_PORT: port,
    TEST_MYSQL_USER: user,
    TEST_MYSQL_PASSWORD: password,
    TEST_MYSQL_DATABASE: db,
  } = process.env;
  assert.ok(host && port && user && db, 'TEST_MYSQL_* env (run through test/run.mjs)');
  const uri = `mysql://${encodeURIComponent(user)}:${encodeURIComponent(password ?? '')}@${host}:${port}/${db}?plugins=failover&connect_timeout=5&limitless-router-monitor-connect_timeout=1&blue-green-monitoring-connect_timeout=1`;
  const props = parseConnectProps('mysql2', { uri });
  assertNoWrapperKeys('mysql2', props.driver);
  assert.is(props.driver.connectTimeout, 5000);
  const warnings: unknown[] = [];
  const origError = console.error;
  console.error = (...args: unknown[]) => {
    warnings.push(args);
  };
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection(props.driver as mysql.ConnectionOptions);
  } finally {
    console.error = origError;
  }
  try {
    const [rows] = await conn.query('SELECT DATABASE() AS db');
    assert.is((rows as Array<{ db: string }>)[0].db, db);
    assert.equal(warnings, []);
  } finally {
    await conn.end();
  }
});

test('mapHostAddress (used by every driver dialect) maps host and host:port keys, keeps unmapped hosts, parses IPv6', () => {
  const map = {
    'db.example': '127.0.0.1:6000',
    'other.example:5433': '127.0.0.2',
    'v6.example': '[::1]:7000',
    bare6: '::1',
  };
  assert.equal(mapHostAddress(map, 'db.example', 5432), { host: '127.0.0.1', port: 6000 });
  assert.equal(mapHostAddress(map, 'other.example', 5433), { host: '127.0.0.2', port: 5433 });
  assert.equal(mapHostAddress(map, 'other.example', 5432), { host: 'other.example', port: 5432 });
  assert.equal(mapHostAddress(map, 'v6.example', 5432), { host: '::1', port: 7000 });
  assert.equal(mapHostAddress(map, 'bare6', 5432), { host: '::1', port: 5432 });
  assert.equal(mapHostAddress(undefined, 'db.example', 5432), { host: 'db.example', port: 5432 });
  assert.throws(() => mapHostAddress({ x: 'h:99999' }, 'x', 1), /hostAddressMap/);
});

test.run();
