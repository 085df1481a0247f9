// aws_secrets_manager end to end on the aurora-pg lookalike: the secret's credentials work for the first
// connection and for the connections failover opens; a rotated secret is picked up on the next login failure.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalCluster } from '../ts/testing/index.js';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { FailoverSuccessError } from '../ts/errors.js';
import { WrapperServices } from '../ts/services.js';
import { AwsApiServer } from './support/aws-api-server.js';

const KEY_ID = 'AKIATESTLOCALCLUSTER';
const SECRET = 'localClusterTestSecretKey/0000000000000';
process.env.AWS_ACCESS_KEY_ID = KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = SECRET;
for (const k of ['AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[k];
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
process.env.AWS_CONFIG_FILE = '/nonexistent/config';

const dir = mkdtempSync(path.join(tmpdir(), 'auth-lookalike-'));
const aws = new AwsApiServer();
aws.accessKeys[KEY_ID] = SECRET;
let cluster: LocalCluster;
let admin: AwsPGClient;
const role = `app_${randomBytes(4).toString('hex')}`;
const SECRET_ID = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:lookalike-app-AbCdEf';

test.before(async () => {
  await aws.start();
  cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 1, dir, database: 'app' });
  admin = new AwsPGClient({ ...cluster.clientConfig('writer'), plugins: '' });
  await admin.connect();
  await admin.query(`create role ${role} login password 'first-${role}'`);
  aws.putSecret(SECRET_ID, JSON.stringify({ username: role, password: `first-${role}` }));
});

test.after(async () => {
  await admin?.end().catch(() => undefined);
  await cluster?.stop({ keepLogs: false }).catch(() => undefined);
  await aws.stop();
  rmSync(dir, { recursive: true, force: true });
});

function appClient(services: WrapperServices): AwsPGClient {
  const { user: _u, password: _p, ...cfg } = cluster.clientConfig('writer');
  const c = new AwsPGClient(
    {
      ...cfg,
      plugins: 'aws_secrets_manager,failover_v2',
      secretsManagerSecretId: SECRET_ID,
      secretsManagerEndpoint: aws.endpoint,
    },
    { services },
  );
  c.on('error', () => undefined);
  return c;
}

const fetches = () => aws.requests.filter((r) => r.params.SecretId === SECRET_ID).length;

test('secret credentials on the lookalike: login, rotation picked up after the refused login, failover reconnects with them', async () => {
  const services = new WrapperServices();
  const a = appClient(services);
  await a.connect();
  try {
    assert.is((await a.query('select current_user as u')).rows[0].u, role);
    assert.is(fetches(), 1);

    // Rotation on the cluster (replicated to the reader) and in the secret.
    await admin.query(`alter role ${role} password 'second-${role}'`);
    aws.putSecret(SECRET_ID, JSON.stringify({ username: role, password: `second-${role}` }));
    const b = appClient(services);
    await b.connect();
    assert.is((await b.query('select current_user as u')).rows[0].u, role);
    assert.is(fetches(), 2, 'fetched again after the refused cached password');

    // Failover: the new connection is opened with the (new, cached) secret credentials.
    const before = (await b.query('select pg_catalog.aurora_db_instance_identifier() as v')).rows[0].v;
    await cluster.failover();
    // The old writer's connections are gone: the next statement fails over.
    const err = await b.query('select 1').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, FailoverSuccessError);
    const after = await b.query('select current_user as u, pg_catalog.aurora_db_instance_identifier() as v');
    assert.is(after.rows[0].u, role);
    assert.is.not(after.rows[0].v, before);
    assert.is(fetches(), 2, 'failover reused the cached credentials');
    await b.end();
  } finally {
    await a.end();
  }
});

test.run();
