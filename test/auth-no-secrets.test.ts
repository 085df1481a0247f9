// Runs the success and failure paths of every auth plugin with every log namespace at debug level into a capturing
// sink, then checks that no secret (database password, IAM token, IdP password, SAML assertion, STS secret key or
// session token, secret JSON, AWS secret key) appears in any log line or in any error (message, stack, cause
// chain, or the error as util.inspect shows it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { format, inspect } from 'node:util';
import pg from 'pg';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { setLogger } from '../ts/logger.js';
import { WrapperServices } from '../ts/services.js';
import { AwsApiServer } from './support/aws-api-server.js';
import { IdpServer } from './support/aws-idp-server.js';
import { IamGate } from './support/aws-iam-gate.js';
import { IamPgFront } from './support/aws-iam-pg-front.js';
import { PG } from './support/test-servers.js';

const KEY_ID = 'AKIATESTNOSECRETSLOG';
/** Secrets start with random hex so that a truncated quote of one (JSON.parse quotes 10 characters) is found too. */
const rnd = () => randomBytes(12).toString('hex');
const AWS_SECRET = `${rnd()}-aws-secret`;
process.env.AWS_ACCESS_KEY_ID = KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = AWS_SECRET;
for (const k of ['AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[k];
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
process.env.AWS_CONFIG_FILE = '/nonexistent/config';

const INSTANCE = 'db-1.abcdefghijkl.us-east-2.rds.amazonaws.com';
const IDP_PASSWORD = `${rnd()}-idp-pw`;
const WRONG_IDP_PASSWORD = `${rnd()}-wrong-idp`;
const ROLE_PW_1 = `${rnd()}-role-pw1`;
const ROLE_PW_2 = `${rnd()}-role-pw2`;
const NOT_JSON_SECRET = `${rnd()}-plain-secret`;
/** The random parts: any 8 consecutive characters of one in a text count as a leak. */
const RANDOM_PARTS = [AWS_SECRET, IDP_PASSWORD, WRONG_IDP_PASSWORD, ROLE_PW_1, ROLE_PW_2, NOT_JSON_SECRET].map((x) =>
  x.slice(0, 24),
);

const lines: string[] = [];
const sink = (...args: unknown[]) => void lines.push(format(...args));
setLogger({ debug: sink, info: sink, warn: sink, error: sink }, { levels: '*:debug' });

const errors: unknown[] = [];
async function attempt(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    errors.push(err);
  }
}

/** Every text an error exposes: message, stack, cause chain, and util.inspect (own properties, nested). */
function errorTexts(err: unknown, depth = 0): string[] {
  if (err === null || err === undefined || depth > 6) return [];
  const out = [inspect(err, { depth: 6, showHidden: false })];
  if (err instanceof Error) {
    out.push(err.message, String(err.stack));
    out.push(...errorTexts(err.cause, depth + 1));
    if (err instanceof AggregateError) for (const e of err.errors) out.push(...errorTexts(e, depth + 1));
  }
  return out;
}

const aws = new AwsApiServer();
aws.accessKeys[KEY_ID] = AWS_SECRET;
const idp = new IdpServer((a) => aws.validAssertions.add(a));
idp.users.set('jane@corp.example', { password: IDP_PASSWORD });
idp.users.set('mfa@corp.example', { password: IDP_PASSWORD, mfa: true });
const gate = new IamGate({
  secrets: aws.accessKeys,
  sessionTokens: aws.sessionTokens,
  realPassword: PG.password,
  expectHost: INSTANCE,
  expectRegion: 'us-east-2',
});
let front: IamPgFront;
let admin: pg.Client;
const role = `nosec_${randomBytes(4).toString('hex')}`;

test.before(async () => {
  await aws.start();
  await idp.start();
  process.env.AWS_ENDPOINT_URL_STS = aws.endpoint;
  front = await new IamPgFront(gate, { host: PG.host, port: PG.port, password: PG.password }).start();
  admin = new pg.Client(PG);
  await admin.connect();
  await admin.query(`create role ${role} login password '${ROLE_PW_1}'`);
});

test.after(async () => {
  setLogger(undefined);
  await admin.query(`drop role if exists ${role}`);
  await admin.end();
  await front.stop();
  await idp.stop();
  await aws.stop();
});

function core(services: WrapperServices, config: Record<string, unknown>): ClientCore<pg.Client> {
  return new ClientCore<pg.Client>({
    driver: 'pg',
    driverDialect: new PgDriverDialect(),
    services,
    config: { database: PG.database, ...config },
  });
}

async function connectAndEnd(c: ClientCore<pg.Client>): Promise<void> {
  try {
    await c.connect();
    await c.execute('Client.query', [], (conn) => conn.query('select 1'));
  } finally {
    await c.end();
  }
}

const viaFront = { host: INSTANCE, port: 0, hostAddressMap: { [INSTANCE]: '127.0.0.1' } };

test('every auth plugin, success and failure paths, leaves no secret in logs or errors', async () => {
  viaFront.port = front.port;
  const iam = { ...viaFront, user: PG.user, plugins: 'iam' };
  // iam: success, cached reuse, refused cached token renewed, refused token (wrong user), no credentials at all.
  const iamServices = new WrapperServices();
  const holder = core(iamServices, iam);
  await holder.connect();
  await attempt(() => connectAndEnd(core(iamServices, iam)));
  for (const s of [...gate.seen]) gate.revoked.add(s.raw);
  await new Promise((r) => setTimeout(r, 1100)); // the renewed token must carry a later X-Amz-Date
  await attempt(() => connectAndEnd(core(iamServices, iam)));
  await holder.end();
  await attempt(() =>
    connectAndEnd(core(new WrapperServices(), { ...viaFront, user: 'someone_else', plugins: 'iam' })),
  );
  await attempt(() =>
    connectAndEnd(
      core(new WrapperServices(), { ...viaFront, user: PG.user, plugins: 'iam', awsProfile: 'missing-profile' }),
    ),
  );

  // aws_secrets_manager: success, rotation, wrong password in the secret, not-JSON secret, unknown secret.
  aws.putSecret('nosec', JSON.stringify({ username: role, password: ROLE_PW_1 }));
  aws.putSecret('nosec-plain', NOT_JSON_SECRET);
  aws.putSecret('nosec-wrong', JSON.stringify({ username: role, password: ROLE_PW_2 }));
  const sm = (id: string) => ({
    host: PG.host,
    port: PG.port,
    plugins: 'aws_secrets_manager',
    secretsManagerSecretId: id,
    secretsManagerRegion: 'us-east-1',
    secretsManagerEndpoint: aws.endpoint,
  });
  const smServices = new WrapperServices();
  const smHolder = core(smServices, sm('nosec'));
  await smHolder.connect();
  await admin.query(`alter role ${role} password '${ROLE_PW_2}'`);
  aws.putSecret('nosec', JSON.stringify({ username: role, password: ROLE_PW_2 }));
  await attempt(() => connectAndEnd(core(smServices, sm('nosec'))));
  await smHolder.end();
  await admin.query(`alter role ${role} password '${ROLE_PW_1}'`);
  await attempt(() => connectAndEnd(core(new WrapperServices(), sm('nosec-wrong'))));
  await attempt(() => connectAndEnd(core(new WrapperServices(), sm('nosec-plain'))));
  await attempt(() => connectAndEnd(core(new WrapperServices(), sm('nosec-missing'))));

  // federated_auth and okta: success, wrong IdP password, STS refusal, MFA.
  const fed = {
    ...viaFront,
    dbUser: PG.user,
    idpUsername: 'jane@corp.example',
    idpPassword: IDP_PASSWORD,
    iamRoleArn: 'arn:aws:iam::1:role/r',
    iamIdpArn: 'arn:aws:iam::1:saml-provider/p',
    sslSecure: false,
  };
  const adfs = { ...fed, plugins: 'federated_auth', idpEndpoint: '127.0.0.1', idpPort: idp.portNumber };
  const okta = { ...fed, plugins: 'okta', idpEndpoint: idp.endpoint, appId: idp.oktaAppId };
  for (const cfg of [adfs, okta]) {
    await attempt(() => connectAndEnd(core(new WrapperServices(), cfg)));
    await attempt(() => connectAndEnd(core(new WrapperServices(), { ...cfg, idpPassword: WRONG_IDP_PASSWORD })));
    aws.refuseAssertions = true;
    await attempt(() => connectAndEnd(core(new WrapperServices(), cfg)));
    aws.refuseAssertions = false;
  }
  await attempt(() => connectAndEnd(core(new WrapperServices(), { ...okta, idpUsername: 'mfa@corp.example' })));

  // The paths really ran: tokens were accepted and refused, assertions and credentials were issued, errors seen.
  assert.ok(gate.seen.some((s) => s.accepted) && gate.seen.some((s) => !s.accepted));
  assert.ok(idp.assertions.length >= 4);
  assert.ok(aws.issued.length >= 2);
  assert.ok(errors.length >= 9, `${errors.length} failures collected`);
  assert.ok(lines.length > 20, `${lines.length} log lines collected`);

  const secrets: [string, string][] = [
    ['database password', PG.password],
    ['rotated role password 1', ROLE_PW_1],
    ['rotated role password 2', ROLE_PW_2],
    ['IdP password', IDP_PASSWORD],
    ['wrong IdP password', WRONG_IDP_PASSWORD],
    ['AWS secret key', AWS_SECRET],
    ['not-JSON secret value', NOT_JSON_SECRET],
    ...gate.seen.map((s, i): [string, string] => [`IAM token ${i}`, s.raw]),
    ...gate.seen.map((s, i): [string, string] => [
      `IAM token signature ${i}`,
      s.token.params.get('X-Amz-Signature') ?? '',
    ]),
    ...idp.assertions.map((a, i): [string, string] => [`SAML assertion ${i}`, a.slice(0, 60)]),
    ...aws.issued.flatMap((c, i): [string, string][] => [
      [`STS secret key ${i}`, c.secretAccessKey],
      [`STS session token ${i}`, c.sessionToken],
    ]),
    ...[...aws.secrets.values()].map((v, i): [string, string] => [`secret JSON ${i}`, v]),
  ].filter(([, v]) => v.length >= 8) as [string, string][];

  const texts = [
    ...lines.map((l, i) => [`log line ${i}`, l] as const),
    ...errors.flatMap((e, i) => errorTexts(e).map((t) => [`error ${i}`, t] as const)),
  ];
  const leaks: string[] = [];
  for (const [where, text] of texts) {
    for (const [what, secret] of secrets) {
      if (text.includes(secret)) leaks.push(`${what} in ${where}: ${text.slice(0, 300)}`);
    }
  }
  for (const [where, text] of texts) {
    for (const part of RANDOM_PARTS) {
      for (let i = 0; i + 8 <= part.length; i++) {
        if (text.includes(part.slice(i, i + 8))) {
          leaks.push(`part of a secret in ${where}: ${text.slice(0, 300)}`);
          break;
        }
      }
    }
  }
  assert.equal(leaks, []);
});

test.run();
