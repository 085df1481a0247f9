// Bad configurations a careless user (or an attacker reading logs) would try: every one fails at construction with
// the key and what was expected, secrets never in the message; monitors that cannot log in say so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConnectProps, OPTION_TABLE } from '../ts/options.js';
import { maxOf, maxIn, NATIVE_MAX_MS, MAX_TIMER_MS } from '../ts/option-table.js';
import { ConfigurationError } from '../ts/errors.js';
import { getLogger, redactUrl, setLogger, type LogSink } from '../ts/logger.js';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { AwsPGPool } from '../ts/pools/pg-pool.js';
import { AwsMySQLPool } from '../ts/pools/mysql-pool.js';
import { WrapperServices, type MonitorErrorEvent } from '../ts/services.js';
import { PIPELINE, type PluginFactory } from '../ts/plugin.js';
import { releaseResources } from '../ts/native/index.js';
import { TopologyLab, monitorOf } from './support/topology-monitor-lab.js';
import { pluginRegistry } from '../ts/plugins/registry.js';

function configError(fn: () => unknown, what = ''): ConfigurationError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ConfigurationError, `${what}: ${String(e)}`);
    return e as ConfigurationError;
  }
  throw new assert.Assertion({
    message: `expected a ConfigurationError ${what}`,
    operator: 'throws',
    generated: true,
    expects: 'throw',
    actual: 'no throw',
  });
}

/** No run of 3+ characters of the secret appears in the text (a partial mask leaks too). */
function assertNoPart(text: string, secret: string, what: string): void {
  for (let i = 0; i + 3 <= secret.length; i++) {
    const part = secret.slice(i, i + 3);
    assert.not.ok(text.includes(part), `${what}: '${part}' of the password is in: ${text}`);
  }
}

// Passwords with the characters that end a URL's userinfo when unencoded.
const PASSWORDS = ['Zq/8#kV?w@X3', 'Hx@9/Yt#r', 'Mw#Qp?Jv/7', 'Kd?Rf@Lz#2', 'Ty/Ub/Ic@', 'Pn@Qm@Ro'];

test('1. a password with unencoded / # ? @ in connectionString / uri never reaches the error; the message says to percent-encode', () => {
  for (const pw of PASSWORDS) {
    for (const [make, key, scheme] of [
      [(url: string) => new AwsPGClient({ connectionString: url }), 'connectionString', 'postgres'],
      [(url: string) => new AwsMySQLClient({ uri: url }), 'uri', 'mysql'],
      [(url: string) => new AwsPGPool({ connectionString: url }), 'connectionString', 'postgres'],
    ] as const) {
      const url = `${scheme}://appuser:${pw}@db.example.com:5432/app?plugins=failover_v2`;
      let message: string;
      try {
        make(url);
        // Parsed: the password must have been taken whole (only '@' can be parsed unencoded).
        assert.ok(!/[/#?]/.test(pw), `${key} with '${pw}' was accepted`);
        message = redactUrl(url);
      } catch (e) {
        assert.instance(e, ConfigurationError, String(e));
        const err = e as ConfigurationError;
        assert.is(err.key, key);
        assert.match(err.message, /must be percent-encoded/, err.message);
        message = err.message;
        assert.ok(message.includes(`${scheme}://appuser:***@db.example.com`), message);
      }
      assertNoPart(message, pw, `${key} '${pw}'`);
    }
  }
});

const log = getLogger('hardening-test');

test('1. log lines: the whole userinfo of a URL is masked whatever it contains', () => {
  const lines: string[] = [];
  const sink: LogSink = {
    debug: (m) => lines.push(String(m)),
    info: (m) => lines.push(String(m)),
    warn: (m) => lines.push(String(m)),
    error: (m) => lines.push(String(m)),
  };
  setLogger(sink, { levels: 'hardening-test:debug' });
  try {
    for (const pw of PASSWORDS) {
      const url = `postgres://appuser:${pw}@db.example.com:5432/app`;
      lines.length = 0;
      log.info('connecting to %s', url);
      log.warn(`url ${url} in the message`);
      assert.is(lines.length, 2);
      for (const l of lines) assertNoPart(l, pw, l);
      assert.ok(lines[1].includes('postgres://appuser:***@db.example.com:5432/app'), lines[1]);
    }
  } finally {
    setLogger(undefined);
  }
});

test('1. a URL given as the value of another option is masked in its error, even when the value is cut short', () => {
  const pw = 'Zq/8#kV?w@X3';
  const longUser = 'u'.repeat(70);
  for (const [key, value] of [
    ['clusterInstanceHostPattern', `postgres://${longUser}:${pw}@db.example.com/app`],
    ['srwReadEndpoint', `mysql://me:${pw}@h:3306/db`],
    ['hostAddressMap', { [`postgres://me:${pw}@h`]: 'x y' }],
  ] as const) {
    const e = configError(() => parseConnectProps('pg', { [key]: value }), key);
    assertNoPart(e.message, pw, key);
  }
});

// ---- 3 / 4: durations --------------------------------------------------------------------------------------------

test('3. durations above what a timer can wait are rejected with the key and the maximum', () => {
  for (const [config, key, max] of [
    [{ socketTimeout: 1e12 }, 'socketTimeout', '2147483647'],
    [{ connectTimeout: 3e9 }, 'connectTimeout', '2147483647'],
    [{ failoverTimeoutMs: 1e10 }, 'failoverTimeoutMs', '2147483647'],
    [{ connect_timeout: 3e6 }, 'connect_timeout', '2147483.647'],
    [{ failover_timeout_sec: 1e7 }, 'failover_timeout_sec', '2147483.647'],
  ] as const) {
    const e = configError(() => new AwsPGClient({ host: 'h', ...config }), key);
    assert.is(e.key, key);
    assert.ok(e.message.includes(`up to ${max}`), e.message);
    assert.match(e.message, /Node timers/);
  }
  // Every duration row of the table: its maximum passes, one more is rejected with the maximum in the message.
  let rows = 0;
  for (const row of OPTION_TABLE) {
    const max = maxOf(row);
    if (!('unit' in row) || max === undefined) continue;
    rows++;
    const ok = row.type === 'int' ? Math.floor(max) : max;
    assert.not.throws(() => parseConnectProps('pg', { [row.name]: ok }), row.name);
    const e = configError(() => parseConnectProps('pg', { [row.name]: ok + 1 }), row.name);
    assert.is(e.key, row.name);
    assert.ok(e.message.includes(`up to ${maxIn(row)}`), e.message);
  }
  assert.ok(rows >= 25, `only ${rows} duration rows`);
});

test('3. pool timeouts use the same limit (AwsPGPool connectionTimeoutMillis / idleTimeoutMillis, AwsMySQLPool idleTimeout)', () => {
  for (const [make, key] of [
    [() => new AwsPGPool({ host: 'h', connectionTimeoutMillis: 3e9 }), 'connectionTimeoutMillis'],
    [() => new AwsPGPool({ host: 'h', idleTimeoutMillis: 1e12 }), 'idleTimeoutMillis'],
    [() => new AwsPGPool({ host: 'h', maxLifetimeSeconds: 1e7 }), 'maxLifetimeSeconds'],
    [() => new AwsMySQLPool({ host: 'h', idleTimeout: 3e9 }), 'idleTimeout'],
  ] as const) {
    const e = configError(make, key);
    assert.is(e.key, key);
    assert.ok(e.message.includes(key) && /at most 2147483\.?647/.test(e.message), e.message);
  }
  assert.not.throws(() => new AwsPGPool({ host: 'h', connectionTimeoutMillis: MAX_TIMER_MS, idleTimeoutMillis: 0 }));
});

test('4. monitoring settings past the native one-day limit are ConfigurationErrors at construction', () => {
  let e = configError(
    () => new AwsPGClient({ host: 'h', failureDetectionTimeMs: NATIVE_MAX_MS + 1 }),
    'failureDetectionTimeMs',
  );
  assert.is(e.key, 'failureDetectionTimeMs');
  assert.match(e.message, /up to 86400000.*native monitors' limit/);
  e = configError(
    () => new AwsPGClient({ host: 'h', failureDetectionIntervalMs: 2 * NATIVE_MAX_MS }),
    'failureDetectionIntervalMs',
  );
  assert.is(e.key, 'failureDetectionIntervalMs');
  // socketTimeout bounds the host monitors' probes unless monitoring-socketTimeout is set.
  for (const plugins of ['host_monitoring_v2', 'host_monitoring']) {
    e = configError(() => new AwsPGClient({ host: 'h', plugins, socketTimeout: 2 * NATIVE_MAX_MS }), plugins);
    assert.is(e.key, 'socketTimeout');
    assert.match(e.message, /at most 86400000 ms.*monitoring-socketTimeout/);
    e = configError(
      () => new AwsMySQLClient({ host: 'h', plugins, 'monitoring-connectTimeout': NATIVE_MAX_MS + 1 }),
      plugins,
    );
    assert.is(e.key, 'monitoring-connectTimeout');
    assert.not.throws(
      () => new AwsPGClient({ host: 'h', plugins, socketTimeout: 2 * NATIVE_MAX_MS, 'monitoring-socketTimeout': 5000 }),
    );
    assert.not.throws(
      () => new AwsPGClient({ host: 'h', plugins, socketTimeout: 2 * NATIVE_MAX_MS, failureDetectionEnabled: false }),
    );
  }
  // Without host monitoring a long statement timeout is fine.
  assert.not.throws(() => new AwsPGClient({ host: 'h', plugins: 'failover_v2', socketTimeout: 2 * NATIVE_MAX_MS }));
});

// ---- 5: instance host pattern --------------------------------------------------------------------------------------

test('5. clusterInstanceHostPattern: one validator, at construction', () => {
  for (const [pattern, why] of [
    ['?.example.com:99999', /port must be an integer in 1\.\.65535/],
    [':abc', /host pattern with '\?'/],
    ['a b?.x.com', /only letters, digits/],
    ['?.example.com:0', /port must be/],
    ['db.example.com', /'\?' is missing/],
    ['?.proxy-abc.us-east-1.rds.amazonaws.com', /RDS Proxy/],
  ] as const) {
    const e = configError(() => new AwsPGClient({ host: '10.0.0.1', clusterInstanceHostPattern: pattern }), pattern);
    assert.is(e.key, 'clusterInstanceHostPattern');
    assert.match(e.message, why);
  }
  const e = configError(
    () => new AwsPGClient({ host: 'h', globalClusterInstanceHostPatterns: 'us-east-1:?.a.com,us-west-2:a b?.x.com' }),
  );
  assert.is(e.key, 'globalClusterInstanceHostPatterns');
  assert.match(e.message, /bad entry 'us-west-2:a b\?\.x\.com'/);
  assert.not.throws(() => new AwsPGClient({ host: '10.0.0.1', clusterInstanceHostPattern: '?.example.com:6000' }));
});

// ---- 6: strategies, driver dialect, NaN, custom plugins ---------------------------------------------------------

test("6. failoverReaderHostSelectorStrategy 'bogus' is rejected at construction with the valid ones listed", () => {
  for (const plugins of ['failover_v2', 'failover']) {
    const e = configError(
      () => new AwsPGClient({ host: 'h', plugins, failoverReaderHostSelectorStrategy: 'bogus' }),
      plugins,
    );
    assert.is(e.key, 'failoverReaderHostSelectorStrategy');
    assert.match(
      e.message,
      /random, round_robin, weighted_random, highest_weight, least_connections.*fastest_response.*got 'bogus'/,
    );
  }
  let e = configError(
    () => new AwsPGClient({ host: 'h', plugins: 'read_write_splitting', readerHostSelectorStrategy: 'bogus' }),
  );
  assert.is(e.key, 'readerHostSelectorStrategy');
  e = configError(
    () =>
      new AwsPGClient({
        host: 'h',
        plugins: 'initial_connection',
        readerInitialConnectionHostSelectorStrategy: 'fastest',
      }),
  );
  assert.is(e.key, 'readerInitialConnectionHostSelectorStrategy');
  // Not loaded, not checked; a strategy a loaded plugin accepts is fine.
  assert.not.throws(() => new AwsPGClient({ host: 'h', plugins: [], failoverReaderHostSelectorStrategy: 'bogus' }));
  const services = new WrapperServices();
  pluginRegistry(services).registerPlugin({
    code: 'my_selector',
    weight: 100,
    create: () => ({
      code: 'my_selector',
      subscribedMethods: new Set([PIPELINE.acceptsStrategy]),
      acceptsStrategy: (_r, s) => s === 'mine',
    }),
  });
  assert.not.throws(
    () =>
      new AwsPGClient(
        { host: 'h', plugins: 'failover_v2,my_selector', failoverReaderHostSelectorStrategy: 'mine' },
        { services },
      ),
  );
  assert.not.throws(
    () => new AwsPGClient({ host: 'h', plugins: 'failover_v2', failoverReaderHostSelectorStrategy: 'round_robin' }),
  );
});

test('6. wrapperDriverDialect: the driver in use is accepted, any other value rejected', () => {
  assert.is(parseConnectProps('pg', { wrapperDriverDialect: 'PG' }).options.wrapperDriverDialect, 'pg');
  assert.is(parseConnectProps('mysql2', { wrapper_driver_dialect: 'mysql2' }).options.wrapperDriverDialect, 'mysql2');
  let e = configError(() => new AwsPGClient({ host: 'h', wrapperDriverDialect: 'mysql2' }));
  assert.is(e.key, 'wrapperDriverDialect');
  assert.match(e.message, /expects 'pg'.*got 'mysql2'/);
  e = configError(() => new AwsMySQLClient({ host: 'h', wrapper_driver_dialect: 'psycopg' }));
  assert.is(e.key, 'wrapper_driver_dialect');
  assert.match(e.message, /expects 'mysql2'.*got 'psycopg'/);
});

test("6. NaN and Infinity are shown as such, not as 'null'", () => {
  for (const [key, value, shown] of [
    ['socketTimeout', NaN, 'NaN'],
    ['topologyRefreshMs', Infinity, 'Infinity'],
    ['failureDetectionCount', -Infinity, '-Infinity'],
  ] as const) {
    const e = configError(() => parseConnectProps('pg', { [key]: value }), key);
    assert.ok(e.message.endsWith(`got ${shown}`), e.message);
    assert.not.match(e.message, /null/);
  }
});

test("6. a custom plugin whose create() throws: the error names the plugin's code and keeps the cause", () => {
  const services = new WrapperServices();
  const boom = new Error('needs option fooBar');
  const factory: PluginFactory = {
    code: 'acme_audit',
    weight: 100,
    create: () => {
      throw boom;
    },
  };
  pluginRegistry(services).registerPlugin(factory);
  const e = configError(() => new AwsPGClient({ host: 'h', plugins: 'acme_audit' }, { services }));
  assert.match(e.message, /Plugin 'acme_audit' could not be created: needs option fooBar/);
  assert.is(e.key, 'plugins');
  assert.is(e.cause, boom);
});

// ---- 7: monitors that cannot log in -------------------------------------------------------------------------------

test('7. a wrong topology-monitoring- password: one warning and a monitorError event (reason auth, no password)', async () => {
  const lab = await TopologyLab.start('aurora-pg', 1);
  const services = new WrapperServices();
  const warnings: string[] = [];
  const sink: LogSink = {
    debug: () => {},
    info: () => {},
    warn: (m, ...a) => warnings.push([m, ...a].map(String).join(' ')),
    error: (m) => warnings.push(`ERROR ${String(m)}`),
  };
  setLogger(sink, { levels: 'topology-monitor:warn' });
  try {
    const events: MonitorErrorEvent[] = [];
    const first = new Promise<MonitorErrorEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no monitorError event within 10 s')), 10_000);
      services.on('monitorError', (ev: MonitorErrorEvent) => {
        events.push(ev);
        clearTimeout(timer);
        resolve(ev);
      });
    });
    const client = await lab.client(services, 'writer', { 'topology-monitoring-password': 'Wr0ng-Secret-PW' });
    const monitor = monitorOf(services, client);
    const onMonitor: MonitorErrorEvent[] = [];
    monitor.on('monitorError', (ev: MonitorErrorEvent) => onMonitor.push(ev));
    const ev = await first;
    assert.is(ev.monitor, 'topology');
    assert.is(ev.reason, 'auth');
    assert.is(ev.clusterId, monitor.clusterId);
    assert.match(ev.message, /refused its credentials/);
    assert.not.ok(JSON.stringify(ev).includes('Wr0ng'));
    // The monitor keeps failing (a forced refresh times out); still one warning, one event per host.
    const r = await monitor.forceRefresh(true, 1500).then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    assert.match(r, /not refreshed/);
    assert.is(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /cannot log in to .*refused its credentials/);
    assert.not.ok(warnings[0].includes('Wr0ng'));
    const hosts = events.map((e) => `${e.host}:${e.port}`);
    assert.is(new Set(hosts).size, hosts.length, `one event per host: ${hosts.join(', ')}`);
    await client.end();
  } finally {
    setLogger(undefined);
    await services.close();
    await releaseResources();
    await lab.stop();
  }
});

test.run();
