import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { Mysql2DriverDialect } from '../ts/dialects/driver/mysql2.js';
import { AwsWrapperError, ConfigurationError } from '../ts/errors.js';
import { HostInfo } from '../ts/host-info.js';
import { parseConnectProps } from '../ts/options.js';
import { regionFromSecretArn, SecretsManagerCredentialSource } from '../ts/auth/secrets-manager-source.js';
import { WrapperServices } from '../ts/services.js';
import { AwsApiServer } from './support/aws-api-server.js';
import { PG, MY } from './support/test-servers.js';

const KEY_ID = 'AKIATESTSECRETSMGR01';
const SECRET_KEY = 'secretsManagerTestKey/000000000000000000';
process.env.AWS_ACCESS_KEY_ID = KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = SECRET_KEY;
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
process.env.AWS_CONFIG_FILE = '/nonexistent/config';

const aws = new AwsApiServer();
aws.accessKeys[KEY_ID] = SECRET_KEY;
const host = new HostInfo({ host: 'db', port: 5432 });

test.before(async () => {
  await aws.start();
});

test.after(async () => {
  await aws.stop();
});

const smProps = (extra: Record<string, unknown>) =>
  parseConnectProps('pg', { secretsManagerEndpoint: aws.endpoint, ...extra });
const sourceOf = (services = new WrapperServices()) =>
  new SecretsManagerCredentialSource({ services, driver: 'pg', defaultPort: () => 5432 });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );

test('region from the secret ARN (partitions too); required settings are clear errors', async () => {
  assert.is(regionFromSecretArn('arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf'), 'eu-central-1');
  assert.is(regionFromSecretArn('arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x'), 'us-gov-west-1');
  assert.is(regionFromSecretArn('my-secret'), undefined);
  const s = sourceOf();
  let err = await failure(s.resolve(host, parseConnectProps('pg', {}), false));
  assert.instance(err, ConfigurationError);
  assert.is((err as ConfigurationError).key, 'secretsManagerSecretId');
  err = await failure(s.resolve(host, parseConnectProps('pg', { secrets_manager_secret_id: 'by-name' }), false));
  assert.is((err as ConfigurationError).key, 'secretsManagerRegion');
  assert.match(err!.message, /cannot tell the region of secret 'by-name'/);
  err = await failure(
    s.resolve(
      host,
      parseConnectProps('pg', {
        secretsManagerSecretId: 'x',
        secretsManagerRegion: 'us-east-1',
        secretsManagerEndpoint: 'not a url',
      }),
      false,
    ),
  );
  assert.is((err as ConfigurationError).key, 'secretsManagerEndpoint');
});

test('fetch: signed with the default chain for the region from the ARN; custom JSON keys; cached', async () => {
  const arn = 'arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:orders-db-AbCdEf';
  aws.putSecret('orders-db', JSON.stringify({ login: 'orders', pw: 'Orders-Pw-1', host: 'ignored' }), arn);
  const services = new WrapperServices();
  const s = sourceOf(services);
  const props = smProps({
    secretsManagerSecretId: arn,
    secrets_manager_secret_username_key: 'login',
    secretsManagerSecretPasswordKey: 'pw',
  });
  const before = aws.requests.length;
  const c = await s.resolve(host, props, false);
  assert.equal([c.user, c.password, c.fromCache], ['orders', 'Orders-Pw-1', false]);
  const req = aws.requests[before];
  assert.equal(
    [req.api, req.action, req.accessKeyId, req.region, req.params.SecretId],
    ['secretsmanager', 'GetSecretValue', KEY_ID, 'ap-northeast-1', arn],
  );
  const again = await s.resolve(host, props, false);
  assert.is(again.fromCache, true);
  assert.is(aws.requests.length, before + 1);
  // Concurrent first fetches share one request.
  const fresh = sourceOf();
  await Promise.all(Array.from({ length: 8 }, () => fresh.resolve(host, props, false)));
  assert.is(aws.requests.length, before + 2);
});

test('fetch errors name the secret, never its value', async () => {
  const s = sourceOf();
  aws.putSecret('not-json', 'S3cretPlainText');
  aws.putSecret('no-user', JSON.stringify({ password: 'Pw-only-9' }));
  aws.putSecret('array', JSON.stringify(['a', 'b']));
  const base = { secretsManagerRegion: 'us-east-1' };
  let err = await failure(s.resolve(host, smProps({ ...base, secretsManagerSecretId: 'not-json' }), false));
  assert.instance(err, AwsWrapperError);
  assert.match(err!.message, /secret 'not-json' is not JSON/);
  assert.not.match(err!.message + String(err!.stack) + String(err!.cause), /S3cretPlainText/);
  err = await failure(s.resolve(host, smProps({ ...base, secretsManagerSecretId: 'no-user' }), false));
  assert.match(err!.message, /no non-empty string under the key 'username'.*secretsManagerSecretUsernameKey/);
  err = await failure(s.resolve(host, smProps({ ...base, secretsManagerSecretId: 'array' }), false));
  assert.match(err!.message, /not a JSON object/);
  err = await failure(s.resolve(host, smProps({ ...base, secretsManagerSecretId: 'missing' }), false));
  assert.match(
    err!.message,
    /could not fetch secret 'missing' \(region us-east-1, endpoint http:\/\/127\.0\.0\.1:\d+\): ResourceNotFoundException/,
  );
  assert.is((err!.cause as { name?: string }).name, 'ResourceNotFoundException');
  // A wrong signing key is refused by the server.
  const saved = process.env.AWS_SECRET_ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = 'another';
  try {
    err = await failure(sourceOf().resolve(host, smProps({ ...base, secretsManagerSecretId: 'no-user' }), false));
    assert.match(err!.message, /UnrecognizedClientException/);
  } finally {
    process.env.AWS_SECRET_ACCESS_KEY = saved;
  }
  // Nothing listening at the endpoint.
  err = await failure(
    sourceOf().resolve(
      host,
      parseConnectProps('pg', { ...base, secretsManagerSecretId: 'x', secretsManagerEndpoint: 'http://127.0.0.1:1' }),
      false,
    ),
  );
  assert.match(err!.message, /could not fetch secret 'x'.*ECONNREFUSED/);
});

test('expiration: secretsManagerExpirationSec bounds the cache', async () => {
  aws.putSecret('short', JSON.stringify({ username: 'a', password: 'b' }));
  const services = new WrapperServices();
  const s = sourceOf(services);
  const props = smProps({
    secretsManagerSecretId: 'short',
    secretsManagerRegion: 'us-east-1',
    secrets_manager_expiration: 1,
  });
  await s.resolve(host, props, false);
  assert.is((await s.resolve(host, props, false)).fromCache, true);
  await new Promise((r) => setTimeout(r, 1050)); // the cache lifetime is wall-clock time
  assert.is((await s.resolve(host, props, false)).fromCache, false);
});

function pgCore(services: WrapperServices, secretId: string): ClientCore<pg.Client> {
  return new ClientCore<pg.Client>({
    driver: 'pg',
    driverDialect: new PgDriverDialect(),
    services,
    config: {
      host: PG.host,
      port: PG.port,
      database: PG.database,
      plugins: 'aws_secrets_manager',
      secretsManagerSecretId: secretId,
      secretsManagerRegion: 'us-east-1',
      secretsManagerEndpoint: aws.endpoint,
    },
  });
}

test('pg end to end: credentials from the secret log in; a rotated secret is fetched again after the login failure', async () => {
  const admin = new pg.Client(PG);
  await admin.connect();
  const role = `sm_${randomBytes(4).toString('hex')}`;
  const pw1 = `Pw1-${randomBytes(6).toString('hex')}`;
  const pw2 = `Pw2-${randomBytes(6).toString('hex')}`;
  await admin.query(`create role ${role} login password '${pw1}'`);
  const secretId = `pg-${role}`;
  aws.putSecret(secretId, JSON.stringify({ username: role, password: pw1 }));
  const services = new WrapperServices();
  const fetches = () => aws.requests.filter((r) => r.params.SecretId === secretId).length;
  try {
    const a = pgCore(services, secretId);
    await a.connect();
    const who = await a.execute('Client.query', [], (c) => c.query('select current_user as u'));
    assert.is(who.rows[0].u, role);
    assert.is(a.props.driver.password, undefined, "the client's config never holds the secret");
    assert.is(fetches(), 1);
    // `a` stays connected: the cache lives as long as some client holds the services.

    // Rotation: the database and the secret change; the cache still has the old password.
    await admin.query(`alter role ${role} password '${pw2}'`);
    aws.putSecret(secretId, JSON.stringify({ username: role, password: pw2 }));
    const b = pgCore(services, secretId);
    await b.connect();
    await b.end();
    assert.is(fetches(), 2, 'one fetch after the refused login');

    const c = pgCore(services, secretId);
    await c.connect();
    await c.end();
    assert.is(fetches(), 2, 'the new credentials are cached');
    await a.end();

    // A secret that is simply wrong (not from the cache) fails with the server's own login error.
    aws.putSecret(secretId, JSON.stringify({ username: role, password: 'wrong' }));
    const d = pgCore(new WrapperServices(), secretId);
    const err = await failure(d.connect());
    assert.is((err as { code?: string }).code, '28P01');
    assert.not.instance(err, AwsWrapperError, 'driver login errors reach the user unchanged');
  } finally {
    await admin.query(`drop role if exists ${role}`);
    await admin.end();
  }
});

test('mysql2 end to end: credentials from the secret, rotation picked up', async () => {
  const admin = await mysql.createConnection(MY);
  const user = `sm_${randomBytes(4).toString('hex')}`;
  const pw1 = `Pw1-${randomBytes(6).toString('hex')}`;
  const pw2 = `Pw2-${randomBytes(6).toString('hex')}`;
  await admin.query(`create user '${user}'@'%' identified by '${pw1}'`);
  const secretId = `my-${user}`;
  aws.putSecret(secretId, JSON.stringify({ username: user, password: pw1 }));
  const services = new WrapperServices();
  const core = () =>
    new ClientCore<mysql.Connection>({
      driver: 'mysql2',
      driverDialect: new Mysql2DriverDialect(),
      services,
      config: {
        host: MY.host,
        port: MY.port,
        plugins: 'secretsManager',
        secretsManagerSecretId: secretId,
        secretsManagerRegion: 'us-east-1',
        secretsManagerEndpoint: aws.endpoint,
      },
    });
  try {
    const a = core();
    await a.connect();
    const [rows] = await a.execute('Client.query', [], (c) => c.query('select current_user() as u'));
    assert.match(String((rows as { u: string }[])[0].u), new RegExp(`^${user}@`));
    await admin.query(`alter user '${user}'@'%' identified by '${pw2}'`);
    aws.putSecret(secretId, JSON.stringify({ username: user, password: pw2 }));
    const b = core();
    await b.connect();
    await b.end();
    await a.end();
    assert.is(aws.requests.filter((r) => r.params.SecretId === secretId).length, 2);
  } finally {
    await admin.query(`drop user if exists '${user}'@'%'`);
    await admin.end();
  }
});

test.run();
