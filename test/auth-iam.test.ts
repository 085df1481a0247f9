import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { format } from 'node:util';
import type pg from 'pg';
import type mysql from 'mysql2/promise';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { Mysql2DriverDialect } from '../ts/dialects/driver/mysql2.js';
import { AwsWrapperError, ConfigurationError } from '../ts/errors.js';
import { HostInfo } from '../ts/host-info.js';
import { parseConnectProps } from '../ts/options.js';
import { IamCredentialSource } from '../ts/auth/iam-source.js';
import { tokenExpiresAt } from '../ts/auth/iam-token.js';
import { WrapperServices } from '../ts/services.js';
import { setLogger } from '../ts/logger.js';
import { sigV4Signature, verifyIamToken, parseIamToken, EMPTY_PAYLOAD_SHA256 } from './support/aws-sigv4.js';
import { IamGate } from './support/aws-iam-gate.js';
import { pluginRegistry } from '../ts/plugins/registry.js';
import { authState } from '../ts/auth/auth-state.js';
import { PG, MY } from './support/test-servers.js';

// Test credentials of the default provider chain (environment). Nothing here talks to AWS.
const KEY_ID = 'AKIATESTDEFAULTCHAIN';
const SECRET = 'defaultChainSecretKey/For+Tests0000000000';
process.env.AWS_ACCESS_KEY_ID = KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = SECRET;
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;
// No shared files from the machine: a profile test writes its own.
const awsDir = mkdtempSync(path.join(tmpdir(), 'auth-iam-'));
process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(awsDir, 'credentials');
process.env.AWS_CONFIG_FILE = path.join(awsDir, 'config');
writeFileSync(process.env.AWS_CONFIG_FILE, '');
writeFileSync(process.env.AWS_SHARED_CREDENTIALS_FILE, '');

const logLines: string[] = [];
const capture = (...args: unknown[]) => void logLines.push(format(...args));
setLogger({ debug: capture, info: capture, warn: capture, error: capture }, { levels: '*:debug' });

const INSTANCE = 'db-1.abcdefghijkl.eu-west-3.rds.amazonaws.com';

// ---- the verifier against the AWS SigV4 test suite -------------------------------------------------------------

const SUITE = {
  secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  date: '20150830T123600Z',
  region: 'us-east-1',
  service: 'service',
};
const SUITE_VECTORS: { name: string; method: string; query: [string, string][]; signature: string }[] = [
  {
    name: 'get-vanilla',
    method: 'GET',
    query: [],
    signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  },
  {
    name: 'get-vanilla-query-order-key-case',
    method: 'GET',
    query: [
      ['Param2', 'value2'],
      ['Param1', 'value1'],
    ],
    signature: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
  },
  {
    name: 'get-vanilla-query-unreserved',
    method: 'GET',
    query: [
      [
        '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
        '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
      ],
    ],
    signature: '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
  },
  {
    name: 'post-vanilla',
    method: 'POST',
    query: [],
    signature: '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
  },
];

test('the test SigV4 verifier reproduces the AWS SigV4 test suite vectors', () => {
  for (const v of SUITE_VECTORS) {
    const sig = sigV4Signature({
      method: v.method,
      path: '/',
      query: v.query,
      headers: { host: 'example.amazonaws.com', 'x-amz-date': SUITE.date },
      payloadSha256: EMPTY_PAYLOAD_SHA256,
      amzDate: SUITE.date,
      region: SUITE.region,
      service: SUITE.service,
      secretAccessKey: SUITE.secret,
    });
    assert.is(sig, v.signature, v.name);
  }
});

// ---- tokens ------------------------------------------------------------------------------------------------------

function source(services: WrapperServices, driver: 'pg' | 'mysql2' = 'pg', defaultPort = 5432): IamCredentialSource {
  return new IamCredentialSource({ services, driver, defaultPort: () => defaultPort });
}

const host = (h: string, port = -1) => new HostInfo({ host: h, port });

test('token: signed for host, port, region and user with the default chain; verifies; tampering is detected', async () => {
  const services = new WrapperServices();
  const props = parseConnectProps('pg', { user: 'iam_user', plugins: 'iam' });
  const c = await source(services).resolve(host(INSTANCE, 5433), props, false);
  assert.is(c.user, 'iam_user');
  assert.is(c.fromCache, false);
  const t = parseIamToken(c.password);
  assert.is(t.host, INSTANCE);
  assert.is(t.port, 5433);
  assert.is(t.region, 'eu-west-3');
  assert.is(t.user, 'iam_user');
  assert.is(t.accessKeyId, KEY_ID);
  assert.is(t.service, 'rds-db');
  assert.is(t.expiresSec, 900);
  assert.ok(c.password.startsWith(`${INSTANCE}:5433/?`), 'no scheme, host:port first');
  assert.is(verifyIamToken(c.password, SECRET), undefined);
  assert.is(verifyIamToken(c.password, 'wrong-secret'), 'signature does not match');
  assert.is(verifyIamToken(c.password.replace('DBUser=iam_user', 'DBUser=admin'), SECRET), 'signature does not match');
  assert.is(verifyIamToken(c.password.replace(':5433/', ':5434/'), SECRET), 'signature does not match');
  assert.is(verifyIamToken(c.password, SECRET, Date.now() + 901_000), 'expired');
});

test('token: iamHost, iamRegion and iamDefaultPort override; port falls back to host, config, then dialect default', async () => {
  const services = new WrapperServices();
  const s = source(services, 'pg', 5432);
  const overridden = parseConnectProps('pg', {
    user: 'u',
    port: 6000,
    iam_host: 'my-db.cluster-xyz.us-west-2.rds.amazonaws.com',
    iam_region: 'ap-south-1',
    iam_default_port: 7000,
  });
  let t = parseIamToken((await s.resolve(host('127.0.0.1', 5555), overridden, false)).password);
  assert.equal([t.host, t.port, t.region], ['my-db.cluster-xyz.us-west-2.rds.amazonaws.com', 7000, 'ap-south-1']);
  t = parseIamToken(
    (await s.resolve(host(INSTANCE, 5555), parseConnectProps('pg', { user: 'u', port: 6000 }), false)).password,
  );
  assert.is(t.port, 5555);
  t = parseIamToken(
    (await s.resolve(host(INSTANCE), parseConnectProps('pg', { user: 'u', port: 6000 }), false)).password,
  );
  assert.is(t.port, 6000);
  t = parseIamToken((await s.resolve(host(INSTANCE), parseConnectProps('pg', { user: 'u' }), false)).password);
  assert.is(t.port, 5432);
  t = parseIamToken(
    (await source(services, 'mysql2', 3306).resolve(host(INSTANCE), parseConnectProps('mysql2', { user: 'u' }), false))
      .password,
  );
  assert.is(t.port, 3306);
});

test('token: a host without a region is a clear error naming iamHost / iamRegion; a missing user names user', async () => {
  const s = source(new WrapperServices());
  for (const [h, expected] of [
    ['127.0.0.1', /IP address.*iamHost/],
    ['db.example.com', /not an RDS endpoint.*iamHost/],
  ] as const) {
    const err = await s.resolve(host(h), parseConnectProps('pg', { user: 'u' }), false).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, ConfigurationError, h);
    assert.match((err as Error).message, expected);
  }
  const ok = await s.resolve(
    host('10.0.0.5', 5432),
    parseConnectProps('pg', { user: 'u', iamRegion: 'us-east-2' }),
    false,
  );
  assert.is(parseIamToken(ok.password).region, 'us-east-2');
  const noUser = await s.resolve(host(INSTANCE), parseConnectProps('pg', {}), false).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(noUser, ConfigurationError);
  assert.is((noUser as ConfigurationError).key, 'user');
});

test('token cache: per (region, host, port, user); concurrent fetches share one; refresh replaces; expiry honoured', async () => {
  const services = new WrapperServices();
  const s = source(services);
  const props = parseConnectProps('pg', { user: 'u1' });
  logLines.length = 0;
  const all = await Promise.all(Array.from({ length: 10 }, () => s.resolve(host(INSTANCE, 5432), props, false)));
  assert.is(new Set(all.map((c) => c.password)).size, 1);
  assert.is(
    logLines.filter((l) => l.includes('Generated an IAM token')).length,
    1,
    'ten connects at once sign one token',
  );
  const again = await s.resolve(host(INSTANCE, 5432), props, false);
  assert.is(again.fromCache, true);
  assert.is(again.password, all[0].password);
  const otherUser = await s.resolve(host(INSTANCE, 5432), parseConnectProps('pg', { user: 'u2' }), false);
  assert.is(otherUser.fromCache, false);
  const otherPort = await s.resolve(host(INSTANCE, 5433), props, false);
  assert.is(otherPort.fromCache, false);
  assert.is(authState(services).tokens.size, 3);
  const refreshed = await s.resolve(host(INSTANCE, 5432), props, true);
  assert.is(refreshed.fromCache, false);
  // Cache lifetime: the configured expiration capped at the token's 15 minutes, less a margin.
  assert.is(tokenExpiresAt(0, 900_000), 870_000);
  assert.is(tokenExpiresAt(0, 3_600_000), 870_000);
  assert.is(tokenExpiresAt(0, 1000), 900);
  authState(services).tokens.set('x', 't', Date.now() - 1);
  assert.is(authState(services).tokens.get('x'), undefined);
  await services.close();
  assert.is(authState(services).tokens.size, 0, 'closing the services drops the tokens');
});

test('awsProfile: tokens are signed with the named profile from the shared credentials file', async () => {
  writeFileSync(
    process.env.AWS_SHARED_CREDENTIALS_FILE!,
    '[reporting]\naws_access_key_id = AKIAPROFILEREPORTING\naws_secret_access_key = profileSecret/Reporting000000000000\n',
  );
  const c = await source(new WrapperServices()).resolve(
    host(INSTANCE, 5432),
    parseConnectProps('pg', { user: 'u', aws_profile: 'reporting' }),
    false,
  );
  const t = parseIamToken(c.password);
  assert.is(t.accessKeyId, 'AKIAPROFILEREPORTING');
  assert.is(verifyIamToken(c.password, 'profileSecret/Reporting000000000000'), undefined);
  const missing = await source(new WrapperServices())
    .resolve(host(INSTANCE, 5432), parseConnectProps('pg', { user: 'u', awsProfile: 'nope' }), false)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.instance(missing, AwsWrapperError);
  assert.match(
    (missing as Error).message,
    /^iam: could not generate an IAM token for user 'u' at .*Could not load credentials/,
  );
});

// ---- end to end through the client ---------------------------------------------------------------------------

const gateFor = (realPassword: string, port: number) =>
  new IamGate({
    secrets: { [KEY_ID]: SECRET },
    realPassword,
    expectHost: INSTANCE,
    expectPort: port,
    expectRegion: 'eu-west-3',
  });

function pgCore(services: WrapperServices, extra: Record<string, unknown> = {}): ClientCore<pg.Client> {
  return new ClientCore<pg.Client>({
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
      ...extra,
    },
  });
}

test('pg: connects with a verified token; the next connect reuses it; a refused cached token is renewed once', async () => {
  const services = new WrapperServices();
  const gate = gateFor(PG.password, PG.port);
  pluginRegistry(services).registerPlugin(gate.factory());
  const a = pgCore(services);
  await a.connect();
  const b = pgCore(services);
  try {
    assert.is(gate.seen.length, 1);
    assert.ok(gate.seen[0].accepted, gate.seen[0].reason);
    const rows = await a.execute('Client.query', [], (c) => c.query('select current_user as u'));
    assert.is(rows.rows[0].u, PG.user);
    assert.is(a.props.driver.password, undefined, "the client's own config never receives the token");

    await b.connect();
    assert.is(gate.seen.length, 2);
    assert.is(gate.seen[1].raw, gate.seen[0].raw, 'second client reuses the cached token');

    // The server stops accepting the cached token: the plugin fetches a new one and retries once.
    gate.revoked.add(gate.seen[0].raw);
    const signed = parseIamToken(gate.seen[0].raw).amzDate;
    while (new Date().toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z' <= signed)
      await new Promise((r) => setTimeout(r, 50)); // next token gets a later X-Amz-Date
    const c = pgCore(services);
    await c.connect();
    await c.end();
    assert.is(gate.seen.length, 4);
    assert.is(gate.seen[2].accepted, false);
    assert.is(gate.seen[3].accepted, true);
    assert.is.not(gate.seen[3].raw, gate.seen[2].raw);
  } finally {
    await a.end();
    await b.end();
  }
});

test('pg: a token refused without TLS says that IAM needs TLS (cause: the server error, SQLSTATE kept); warned at creation', async () => {
  const services = new WrapperServices();
  logLines.length = 0;
  const core = new ClientCore<pg.Client>({
    driver: 'pg',
    driverDialect: new PgDriverDialect(),
    services,
    config: {
      host: INSTANCE,
      port: PG.port,
      user: PG.user,
      database: PG.database,
      hostAddressMap: { [INSTANCE]: PG.host },
      plugins: 'iam',
    },
  });
  assert.ok(
    logLines.some((l) => /iam: this client does not use TLS/.test(l)),
    'warning at creation',
  );
  const err = await core.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, AwsWrapperError);
  assert.match((err as Error).message, /does not use TLS, and RDS accepts IAM tokens only over TLS/);
  assert.is((err as AwsWrapperError).code, '28P01');
  assert.is(((err as Error).cause as { code?: string }).code, '28P01');
  assert.ok(core.pluginService.isLoginError(err), 'still classified as a login error');
  // With TLS asked for, the driver error is passed on unchanged (here the server has no TLS at all).
  const tls = new ClientCore<pg.Client>({
    driver: 'pg',
    driverDialect: new PgDriverDialect(),
    services,
    config: {
      host: INSTANCE,
      port: PG.port,
      user: PG.user,
      database: PG.database,
      hostAddressMap: { [INSTANCE]: PG.host },
      plugins: 'iam',
      ssl: { rejectUnauthorized: false },
    },
  });
  const tlsErr = await tls.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.not.instance(tlsErr, AwsWrapperError);
});

test('mysql2: token sent with the cleartext auth plugin enabled; connects through the verifying gate', async () => {
  const services = new WrapperServices();
  const gate = gateFor(MY.password, MY.port);
  pluginRegistry(services).registerPlugin(gate.factory());
  const core = new ClientCore<mysql.Connection>({
    driver: 'mysql2',
    driverDialect: new Mysql2DriverDialect(),
    services,
    config: {
      host: INSTANCE,
      port: MY.port,
      user: MY.user,
      database: MY.database,
      hostAddressMap: { [INSTANCE]: MY.host },
      plugins: 'iam,test_iam_gate',
    },
  });
  await core.connect();
  try {
    assert.ok(gate.seen[0].accepted, gate.seen[0].reason);
    assert.is(gate.seen[0].driver.enableCleartextPlugin, true);
    const [rows] = await core.execute('Client.query', [], (c) => c.query('select 1 as one'));
    assert.is((rows as { one: number }[])[0].one, 1);
  } finally {
    await core.end();
  }
});

test.after(() => {
  setLogger(undefined);
  rmSync(awsDir, { recursive: true, force: true });
});

// Last: the lookup reads the shared credentials file, which the SDK caches per process (the awsProfile case writes it).
test('token: a global- endpoint without iamRegion whose DescribeGlobalClusters lookup fails says to set iamRegion', async () => {
  // The lookup succeeding is in test/global-db.test.ts (the lookalike's RDS API); here no RDS API is reachable.
  const err = await source(new WrapperServices())
    .resolve(
      host('g.global-abcdefghijkl.global.rds.amazonaws.com'),
      parseConnectProps('pg', { user: 'u', iamRdsEndpoint: 'http://127.0.0.1:9' }),
      false,
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.instance(err, AwsWrapperError);
  assert.match(
    (err as Error).message,
    /region of global database endpoint 'g\.global-abcdefghijkl.*DescribeGlobalClusters.*set 'iamRegion'/,
  );
});

test.run();
