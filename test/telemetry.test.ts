// Telemetry against a real PostgreSQL server: the span and duration of a call (semantic conventions, parent/child,
// nothing of the statement but its keyword), the IAM token fetch (AWS mocked by the verifying gate), the
// diagnostics_channel events, nothing loaded when off, and an OTLP/HTTP exporter delivering to a local collector.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { trace } from '@opentelemetry/api';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { ConfigurationError } from '../ts/errors.js';
import { WrapperServices } from '../ts/services.js';
import { CHANNEL_NAMES, type AuthFetchMessage, type ConnectionSwitchMessage } from '../ts/telemetry/channels.js';
import { IamGate } from './support/aws-iam-gate.js';
import { AwsApiServer } from './support/aws-api-server.js';
import { HostInfo } from '../ts/host-info.js';
import { parseConnectProps } from '../ts/options.js';
import { SecretsManagerCredentialSource } from '../ts/auth/secrets-manager-source.js';
import { pluginRegistry } from '../ts/plugins/registry.js';
import { attributeTexts, OtelMemory, type MetricPoint } from './support/otel-memory.js';
import { AwsPGPool } from '../ts/pools/pg-pool.js';
import { AwsMySQLPool } from '../ts/pools/mysql-pool.js';
import { PG, MY } from './support/test-servers.js';

// Test credentials of the default provider chain (environment). Nothing here talks to AWS.
const KEY_ID = 'AKIATESTTELEMETRY000';
const SECRET = 'telemetryTestSecretKey/For+Tests000000000';
process.env.AWS_ACCESS_KEY_ID = KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = SECRET;
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;
const awsDir = mkdtempSync(path.join(tmpdir(), 'telemetry-'));
process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(awsDir, 'credentials');
process.env.AWS_CONFIG_FILE = path.join(awsDir, 'config');
writeFileSync(process.env.AWS_CONFIG_FILE, '');
writeFileSync(process.env.AWS_SHARED_CREDENTIALS_FILE, '');

const INSTANCE = 'db-1.abcdefghijkl.eu-west-3.rds.amazonaws.com';
const BOUND = 'bound-value-never-in-telemetry';

// ---- a local OTLP/HTTP collector and the SDK ------------------------------------------------------------------

const received: { path: string; contentType: string; body: string }[] = [];
const collector = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push({
      path: req.url ?? '',
      contentType: String(req.headers['content-type']),
      body: Buffer.concat(chunks).toString('utf8'),
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
// The OTLP processor is made once the collector listens (its URL has the port); until then spans skip it.
let otlpInner: BatchSpanProcessor | undefined;
const otlp: SpanProcessor = {
  onStart: (span, ctx) => otlpInner?.onStart(span, ctx),
  onEnd: (span) => otlpInner?.onEnd(span),
  forceFlush: () => otlpInner?.forceFlush() ?? Promise.resolve(),
  shutdown: () => otlpInner?.shutdown() ?? Promise.resolve(),
};
const otel = new OtelMemory([otlp]);

const aws = new AwsApiServer();
aws.accessKeys[KEY_ID] = SECRET;

test.before(async () => {
  await aws.start();
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  otlpInner = new BatchSpanProcessor(
    new OTLPTraceExporter({ url: `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces` }),
  );
});
const tracer = trace.getTracer('app');

/** Messages published on `name` while `fn` runs. */
async function published<M>(name: string, fn: () => Promise<unknown>): Promise<M[]> {
  const out: M[] = [];
  const listener = (m: unknown): void => void out.push(m as M);
  diagnosticsChannel.subscribe(name, listener);
  try {
    await fn();
  } finally {
    diagnosticsChannel.unsubscribe(name, listener);
  }
  return out;
}

/** Runs `fn` inside an application span (as a request handler would); returns that span's id. */
async function inAppSpan(fn: () => Promise<void>): Promise<string> {
  return tracer.startActiveSpan('app request', async (span) => {
    try {
      await fn();
    } finally {
      span.end();
    }
    return span.spanContext().spanId;
  });
}

test.after(async () => {
  await aws.stop();
  await otel.shutdown();
  await new Promise((resolve) => collector.close(resolve));
});

test('nothing of OpenTelemetry is loaded by a client with telemetry off; it is with enableTelemetry (own process)', () => {
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'telemetry-load-child.ts');
  const out = execFileSync(process.execPath, ['--import', 'tsx', child], {
    env: process.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { off: string[]; on: number };
  assert.equal(r.off, [], 'telemetry off: no @opentelemetry module loaded');
  assert.ok(r.on > 0, 'telemetry on: @opentelemetry/api loaded (the check can see it)');
});

test('enableTelemetry without @opentelemetry/api installed: connect fails with an error naming the package (own process)', () => {
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'telemetry-load-child.ts');
  const out = execFileSync(process.execPath, ['--import', 'tsx', child], {
    env: { ...process.env, TELEMETRY_HIDE_API: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { name?: string; code?: string; message?: string };
  assert.is(r.code, 'WRAPPER_MISSING_DEPENDENCY');
  assert.match(String(r.message), /npm install @opentelemetry\/api/);
});

test('query: an INTERNAL span named by the operation, child of the active span, with db.* / server.* attributes and its duration; no statement text, value or password', async () => {
  otel.spanExporter.reset();
  const services = new WrapperServices();
  const client = new AwsPGClient({ ...PG, enableTelemetry: true }, { services });
  let switches: ConnectionSwitchMessage[] = [];
  try {
    switches = await published<ConnectionSwitchMessage>(CHANNEL_NAMES.connectionSwitch, () => client.connect());
    const appSpanId = await inAppSpan(async () => {
      const r = await client.query('SELECT $1::text AS v', [BOUND]);
      assert.is(r.rows[0].v, BOUND);
    });
    const [span, ...more] = otel.spans('SELECT');
    assert.ok(span !== undefined && more.length === 0, 'one SELECT span');
    assert.is(span.kind, 0 /* INTERNAL */);
    assert.is(span.parentSpanContext?.spanId, appSpanId, "child of the application's span");
    assert.is(span.instrumentationScope.name, 'aws-advanced-ts-wrapper');
    assert.is(span.attributes['db.system'], 'postgresql');
    assert.is(span.attributes['db.system.name'], 'postgresql');
    assert.is(span.attributes['db.namespace'], PG.database);
    assert.is(span.attributes['db.operation.name'], 'SELECT');
    assert.is(span.attributes['server.address'], PG.host);
    assert.is(span.attributes['server.port'], PG.port);
    assert.is(span.attributes['aws_wrapper.client.method'], 'Client.query');

    // Without an active span nothing is traced by default (telemetrySubmitToplevel: false); the duration still is.
    await client.query('SELECT 2');
    assert.is(otel.spans('SELECT').length, 1, 'no top-level span for a call outside any span');
    assert.is(await otel.total('aws_wrapper.operation.duration', { 'db.operation.name': 'SELECT' }), 2);

    // A failing call: error.type from the SQLSTATE, no message (it may quote values).
    await inAppSpan(() =>
      client.query(`SELECT 1/0 AS ${'x'}, $1::text`, [BOUND]).then(
        () => assert.unreachable(),
        () => undefined,
      ),
    );
    const failed = otel.spans('SELECT')[1];
    assert.is(failed.status.code, 2 /* ERROR */);
    assert.is(failed.attributes['error.type'], 'error (22012)');

    const texts = attributeTexts(otel.spans(), await otel.metrics());
    assert.not.ok(
      texts.some((t) => t.includes(BOUND)),
      'bound value nowhere',
    );
    assert.not.ok(
      texts.some((t) => t.includes('$1') || t.includes('1/0')),
      'statement text nowhere',
    );
    assert.not.ok(
      texts.some((t) => t.includes(PG.password)),
      'password nowhere',
    );
  } finally {
    await client.end();
    await services.close();
  }
  assert.is(switches.length, 1, 'connection:switch for the initial connection');
  assert.equal(switches[0].from, undefined);
  assert.equal(switches[0].to, { host: PG.host, port: PG.port, role: switches[0].to.role });
  assert.is(switches[0].driver, 'pg');
});

test('mysql2: the call span has db.system mysql and the operation; execute() and query() alike; no value', async () => {
  otel.spanExporter.reset();
  const services = new WrapperServices();
  const client = new AwsMySQLClient({ ...MY, enableTelemetry: true }, { services });
  try {
    await client.connect();
    const appSpanId = await inAppSpan(async () => {
      await client.query('SELECT ? AS v', [BOUND]);
      await client.execute('INSERT INTO no_such_table VALUES (?)', [BOUND]).then(
        () => assert.unreachable(),
        () => undefined,
      );
    });
    const [select] = otel.spans('SELECT');
    const [insert] = otel.spans('INSERT');
    assert.ok(select && insert, 'a span per call');
    assert.is(select.parentSpanContext?.spanId, appSpanId);
    assert.is(select.attributes['db.system'], 'mysql');
    assert.is(select.attributes['db.namespace'], MY.database);
    assert.is(select.attributes['server.port'], MY.port);
    assert.is(insert.attributes['aws_wrapper.client.method'], 'Client.execute');
    assert.is(insert.status.code, 2 /* ERROR */);
    assert.match(String(insert.attributes['error.type']), /ER_NO_SUCH_TABLE/);
    const texts = attributeTexts(otel.spans(), await otel.metrics());
    assert.not.ok(
      texts.some((t) => t.includes(BOUND) || t.includes('no_such_table') || t.includes(MY.password)),
      'no value, statement text or password',
    );
  } finally {
    await client.end();
    await services.close();
  }
});

test('telemetrySubmitToplevel: a call outside any span starts its own trace; backends none: no spans, no metrics', async () => {
  otel.spanExporter.reset();
  const services = new WrapperServices();
  const top = new AwsPGClient(
    { ...PG, plugins: '', enable_telemetry: true, telemetry_submit_toplevel: true },
    { services },
  );
  const none = new AwsPGClient(
    { ...PG, plugins: '', enableTelemetry: true, telemetryTracesBackend: 'NONE', telemetryMetricsBackend: 'none' },
    { services },
  );
  try {
    await top.connect();
    await none.connect();
    const before = await otel.total('aws_wrapper.operation.duration');
    await none.query('UPDATE pg_catalog.pg_class SET relname = relname WHERE false');
    await inAppSpan(async () => void (await none.query('SELECT 1')));
    assert.is(
      otel.spans('UPDATE').length + otel.spans('SELECT').length,
      0,
      'no span from a client with both backends none',
    );
    assert.is(await otel.total('aws_wrapper.operation.duration'), before, 'and no duration');
    await top.query('WITH x AS (SELECT 1) SELECT * FROM x');
    const [span] = otel.spans('WITH');
    assert.ok(span, 'a top-level span');
    assert.is(span.parentSpanContext, undefined);
  } finally {
    await top.end();
    await none.end();
    await services.close();
  }
});

test('options: telemetry backends are checked and name the key', () => {
  assert.throws(
    () => new AwsPGClient({ ...PG, telemetryTracesBackend: 'zipkin' }),
    (e: unknown) => e instanceof ConfigurationError && /telemetryTracesBackend/.test((e as Error).message),
  );
  assert.throws(
    () => new AwsPGClient({ ...PG, telemetry_metrics_backend: 'xray' }),
    (e: unknown) => e instanceof ConfigurationError && /telemetry_metrics_backend/.test((e as Error).message),
  );
});

test('iam: the token fetch is a span under the connect and an auth:fetch event and metric; the token is in none of them; a cached token is no fetch', async () => {
  otel.spanExporter.reset();
  const services = new WrapperServices();
  const gate = new IamGate({
    secrets: { [KEY_ID]: SECRET },
    realPassword: PG.password,
    expectHost: INSTANCE,
    expectPort: PG.port,
    expectRegion: 'eu-west-3',
  });
  pluginRegistry(services).registerPlugin(gate.factory());
  const core = (): ClientCore<pg.Client> =>
    new ClientCore<pg.Client>({
      driver: 'pg',
      driverDialect: new PgDriverDialect(),
      services,
      config: {
        host: INSTANCE,
        port: PG.port,
        user: PG.user,
        database: PG.database,
        hostAddressMap: { [INSTANCE]: PG.host },
        plugins: 'iam,test_iam_gate',
        enableTelemetry: true,
      },
    });
  const a = core();
  const b = core();
  let appSpanId = '';
  const events = await published<AuthFetchMessage>(CHANNEL_NAMES.authFetch, async () => {
    appSpanId = await inAppSpan(() => a.connect());
    await b.connect();
  });
  try {
    assert.ok(gate.seen[0]?.accepted, 'the gate accepted the token');
    const token = gate.seen[0].raw;
    assert.is(events.length, 1, 'one fetch: the second connect used the cached token');
    assert.equal(
      { ...events[0], durationMs: 0, at: 0 },
      { plugin: 'iam', kind: 'iam-token', outcome: 'success', durationMs: 0, error: undefined, at: 0 },
    );
    const [span, ...more] = otel.spans('fetch authentication token');
    assert.ok(span !== undefined && more.length === 0, 'one fetch span');
    const [connect] = otel.spans('Client.connect');
    assert.ok(connect, 'the connect has its span');
    assert.is(connect.parentSpanContext?.spanId, appSpanId, "child of the application's span");
    assert.is(connect.attributes['server.address'], INSTANCE);
    assert.is(span.parentSpanContext?.spanId, connect.spanContext().spanId, 'the fetch is a child of the connect span');
    assert.is(span.attributes['aws_wrapper.plugin'], 'iam');
    assert.is(span.attributes['aws_wrapper.auth.kind'], 'iam-token');
    assert.is(
      await otel.total('aws_wrapper.auth.fetch.count', {
        'aws_wrapper.plugin': 'iam',
        'aws_wrapper.auth.outcome': 'success',
      }),
      1,
    );
    assert.is(await otel.total('aws_wrapper.auth.fetch.duration', { 'aws_wrapper.plugin': 'iam' }), 1);
    const texts = [...attributeTexts(otel.spans(), await otel.metrics()), JSON.stringify(events)];
    assert.not.ok(
      texts.some(
        (t) => t.includes(token) || t.includes(SECRET) || t.includes(PG.password) || t.includes('X-Amz-Signature'),
      ),
      'no token, key or password',
    );
  } finally {
    await a.end();
    await b.end();
    await services.close();
  }
});

test('secrets manager: fetched and failed fetches are events (error class only), spans and counts; neither the secret nor its message anywhere', async () => {
  otel.spanExporter.reset();
  aws.putSecret('orders-db', JSON.stringify({ username: 'orders', password: 'Orders-Pw-Telemetry-1' }));
  aws.putSecret('not-json', 'PlainSecretText-Telemetry');
  const services = new WrapperServices();
  // The bridge is what a client with enableTelemetry starts; here the credential source is driven directly.
  const { startTelemetry, telemetrySettings } = await import('../ts/telemetry/otel.js');
  await startTelemetry(services, telemetrySettings(parseConnectProps('pg', { enableTelemetry: true }).options)!, {
    system: 'postgresql',
    namespace: undefined,
  });
  const source = new SecretsManagerCredentialSource({ services, driver: 'pg', defaultPort: () => 5432 });
  const props = (id: string) =>
    parseConnectProps('pg', {
      secretsManagerSecretId: id,
      secretsManagerRegion: 'us-east-1',
      secretsManagerEndpoint: aws.endpoint,
    });
  const host = new HostInfo({ host: 'db', port: 5432 });
  const events = await published<AuthFetchMessage>(CHANNEL_NAMES.authFetch, async () => {
    const c = await source.resolve(host, props('orders-db'), false);
    assert.is(c.password, 'Orders-Pw-Telemetry-1');
    await source.resolve(host, props('orders-db'), false); // cached: no fetch
    await source.resolve(host, props('not-json'), false).then(
      () => assert.unreachable(),
      () => undefined,
    );
  });
  await services.close();
  assert.equal(
    events.map((e) => [e.plugin, e.kind, e.outcome]),
    [
      ['aws_secrets_manager', 'secret', 'success'],
      ['aws_secrets_manager', 'secret', 'failed'],
    ],
  );
  assert.is(events[0].error, undefined);
  assert.match(String(events[1].error), /^\w+/);
  const spans = otel.spans('fetch credentials');
  assert.is(spans.length, 2);
  assert.equal(
    spans.map((x) => x.status.code),
    [0, 2],
  );
  assert.is(
    await otel.total('aws_wrapper.auth.fetch.count', {
      'aws_wrapper.plugin': 'aws_secrets_manager',
      'aws_wrapper.auth.outcome': 'failed',
    }),
    1,
  );
  const texts = [...attributeTexts(otel.spans(), await otel.metrics()), JSON.stringify(events)];
  assert.not.ok(
    texts.some(
      (t) =>
        t.includes('Orders-Pw') || t.includes('PlainSecretText') || t.includes('orders-db') || t.includes('not-json'),
    ),
    'no secret, value or secret id',
  );
});

test('channels: nothing is published without a subscriber; a subscriber added later sees the next event', async () => {
  const ch = diagnosticsChannel.channel(CHANNEL_NAMES.connectionSwitch);
  assert.is(ch.hasSubscribers, false, 'no subscriber between tests (the bridge unsubscribed when its services closed)');
  const services = new WrapperServices();
  const client = new AwsPGClient({ ...PG, plugins: '' }, { services });
  try {
    const seen = await published<ConnectionSwitchMessage>(CHANNEL_NAMES.connectionSwitch, () => client.connect());
    assert.is(seen.length, 1);
  } finally {
    await client.end();
    await services.close();
  }
});

test('pools: db.client.connection.count (idle / used), .max and .pending_requests per pool name; a pool without telemetry is not counted, an ended pool is not observed', async () => {
  const services = new WrapperServices();
  const pgName = `${PG.host}:${PG.port}/${PG.database}`;
  const myName = `${MY.host}:${MY.port}/${MY.database}`;
  const pgPool = new AwsPGPool({ ...PG, plugins: '', enableTelemetry: true, max: 2 }, { services });
  // Same name, telemetry off: were it observed, its connection would add to the counts.
  const offPool = new AwsPGPool({ ...PG, plugins: '' }, { services });
  const myPool = new AwsMySQLPool({ ...MY, plugins: '', enableTelemetry: true, connectionLimit: 4 }, { services });
  let next: AwsPGPool | undefined;
  // Checked-out clients, released in `finally` should an assertion fail (pg-pool's end() waits for them).
  const held = new Set<pg.PoolClient>();
  const take = async (): Promise<pg.PoolClient> => {
    const c = await pgPool.connect();
    held.add(c);
    return c;
  };
  const release = (c: pg.PoolClient): void => {
    held.delete(c);
    c.release();
  };
  const sizes = async (name: string): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    const pointsOf = (points: MetricPoint[]) =>
      points.filter((p) => p.attributes['db.client.connection.pool.name'] === name);
    for (const p of pointsOf(await otel.metrics())) {
      const state = p.attributes['db.client.connection.state'];
      out[p.name.replace('db.client.connection.', '') + (state === undefined ? '' : `.${String(state)}`)] = p.value;
    }
    return out;
  };
  try {
    await offPool.query('SELECT 1');
    const c1 = await take();
    const c2 = await take();
    const third = take();
    await myPool.query('SELECT 1');
    assert.equal(await sizes(pgName), { 'count.idle': 0, 'count.used': 2, max: 2, pending_requests: 1 });
    assert.equal(await sizes(myName), { 'count.idle': 1, 'count.used': 0, max: 4, pending_requests: 0 });
    release(c1);
    release(await third);
    release(c2);
    assert.equal(await sizes(pgName), { 'count.idle': 2, 'count.used': 0, max: 2, pending_requests: 0 });
    await pgPool.end();
    await myPool.end();
    const gone = { 'count.idle': 0, 'count.used': 0, max: 0, pending_requests: 0 };
    assert.equal(
      await sizes(pgName),
      gone,
      'an ended pool is reported once with zeros (cumulative SDKs keep the last value)',
    );
    assert.equal(await sizes(myName), gone);
    next = new AwsPGPool({ ...PG, plugins: '', enableTelemetry: true }, { services });
    await next.query('SELECT 1');
    assert.equal(
      await sizes(pgName),
      { 'count.idle': 1, 'count.used': 0, max: 10, pending_requests: 0 },
      'a new pool of the same name counts alone: the ended one is not observed',
    );
  } finally {
    for (const c of held) c.release();
    await next?.end();
    if (!pgPool.ending) await pgPool.end();
    if (!myPool.closed) await myPool.end();
    await offPool.end();
    await services.close();
  }
});

test('OTLP/HTTP: the spans reach a collector over HTTP (the exporter the docs wire up)', async () => {
  received.length = 0;
  const services = new WrapperServices();
  const client = new AwsPGClient({ ...PG, plugins: '', enableTelemetry: true }, { services });
  try {
    await client.connect();
    await inAppSpan(async () => void (await client.query('DELETE FROM pg_catalog.pg_class WHERE false')));
  } finally {
    await client.end();
    await services.close();
  }
  await otlp.forceFlush();
  const traces = received.filter((r) => r.path === '/v1/traces');
  assert.ok(traces.length > 0, 'the collector received an export');
  const body = traces.map((r) => r.body).join('\n');
  assert.match(body, /"name":"DELETE"/);
  assert.match(body, /aws-advanced-ts-wrapper/);
  assert.match(body, /db\.operation\.name/);
  assert.not.match(body, /pg_class/, 'no statement text exported');
});

test.run();
