// IAM tokens end to end through a PostgreSQL front that checks them as RDS does, for the client (pg) and for the
// native monitors, which ask TypeScript for credentials each time they open a connection.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { parseConnectProps } from '../ts/options.js';
import { WrapperServices } from '../ts/services.js';
import { resolveMonitorCredentials } from '../ts/auth/monitor-credentials.js';
import { releaseResources, setParamsProvider, startProbeMonitor, type ProbeMonitorEvent } from '../ts/native/index.js';
import { AwsApiServer } from './support/aws-api-server.js';
import { IamGate } from './support/aws-iam-gate.js';
import { IamPgFront } from './support/aws-iam-pg-front.js';
import { PG } from './support/test-servers.js';

const KEY_ID = 'AKIATESTMONITORCREDS';
const SECRET = 'monitorCredentialsTestSecret/00000000000';
process.env.AWS_ACCESS_KEY_ID = KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = SECRET;
for (const k of ['AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[k];
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
process.env.AWS_CONFIG_FILE = '/nonexistent/config';

const INSTANCE = 'db-mon-1.abcdefghijkl.eu-north-1.rds.amazonaws.com';
/** Tokens older than this are refused by the front: a short stand-in for the 15-minute lifetime. */
const TOKEN_MAX_AGE_MS = 2500;

let gate: IamGate;
let front: IamPgFront;

test.before(async () => {
  gate = new IamGate({
    secrets: { [KEY_ID]: SECRET },
    realPassword: PG.password,
    expectHost: INSTANCE,
    expectRegion: 'eu-north-1',
    maxTokenAgeMs: TOKEN_MAX_AGE_MS,
  });
  front = await new IamPgFront(gate, { host: PG.host, port: PG.port, password: PG.password }).start();
});

test.after(async () => {
  setParamsProvider(null);
  await releaseResources();
  await front.stop();
});

test('pg through the IAM-checking front: the token logs in; a password does not', async () => {
  const client = new AwsPGClient(
    {
      host: INSTANCE,
      port: front.port,
      user: PG.user,
      database: PG.database,
      hostAddressMap: { [INSTANCE]: '127.0.0.1' },
      plugins: 'iam',
    },
    { services: new WrapperServices() },
  );
  await client.connect();
  try {
    const r = await client.query('select current_user as u, 1 + 1 as two');
    assert.equal(r.rows[0], { u: PG.user, two: 2 });
  } finally {
    await client.end();
  }
  const plain = new pg.Client({
    host: '127.0.0.1',
    port: front.port,
    user: PG.user,
    password: PG.password,
    database: PG.database,
  });
  const err = await plain.connect().then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  );
  assert.is(err?.code, '28P01', 'the front refuses anything but a valid token');
  await plain.end().catch(() => undefined);
});

/** Runs a native monitor (new connection every tick) until `ticks` events, asking `credentials` for each login. */
async function monitorRun(
  ticks: number,
  credentials: () => Promise<{ user?: string; password?: string }>,
): Promise<ProbeMonitorEvent[]> {
  setParamsProvider(async () => ({ ...(await credentials()), database: PG.database }));
  const events: ProbeMonitorEvent[] = [];
  await new Promise<void>((resolve) => {
    const monitor = startProbeMonitor(
      { kind: 'postgres', host: '127.0.0.1', port: front.port },
      { intervalMs: 250, timeoutMs: 2000, keepConnection: false },
      (e) => {
        events.push(e);
        if (events.length === ticks) {
          monitor.stop();
          resolve();
        }
      },
    );
  });
  setParamsProvider(null);
  return events;
}

test('native monitor: credentials from resolveMonitorCredentials keep authenticating after tokens expire', async () => {
  const services = new WrapperServices();
  const props = parseConnectProps('pg', {
    host: INSTANCE,
    port: front.port,
    user: PG.user,
    database: PG.database,
    plugins: 'iam',
    iam_expiration: 1,
  });
  const seenBefore = gate.seen.length;
  const events = await monitorRun(18, () =>
    resolveMonitorCredentials({ services, props, driver: 'pg', host: INSTANCE, port: front.port }),
  );
  const failures = events.filter((e) => !e.ok);
  assert.equal(failures, [], 'every login of the monitor succeeded');
  const span = events.at(-1)!.at - events[0].at;
  assert.ok(span > TOKEN_MAX_AGE_MS, `the run (${span} ms) outlived a token`);
  const tokens = new Set(gate.seen.slice(seenBefore).map((s) => s.raw));
  assert.ok(tokens.size >= 2, `the monitor got fresh tokens (${tokens.size} distinct)`);
});

test('control: a monitor that keeps its first token is refused once the token is too old', async () => {
  const services = new WrapperServices();
  const props = parseConnectProps('pg', {
    host: INSTANCE,
    port: front.port,
    user: PG.user,
    database: PG.database,
    plugins: 'iam',
  });
  const first = await resolveMonitorCredentials({ services, props, driver: 'pg', host: INSTANCE, port: front.port });
  const events = await monitorRun(16, async () => first);
  assert.ok(events[0].ok);
  const last = events.at(-1)!;
  assert.is(last.ok, false);
  assert.is(!last.ok && last.errorClass, 'auth');
});

test('native monitor with aws_secrets_manager: a rotated secret is fetched again after the refused login', async () => {
  const aws = await new AwsApiServer().start();
  aws.accessKeys[KEY_ID] = SECRET;
  const admin = new pg.Client(PG);
  await admin.connect();
  const role = `mon_${randomBytes(4).toString('hex')}`;
  await admin.query(`create role ${role} login password 'first-${role}'`);
  aws.putSecret('monitor-secret', JSON.stringify({ username: role, password: `first-${role}` }));
  try {
    const services = new WrapperServices();
    const props = parseConnectProps('pg', {
      host: PG.host,
      port: PG.port,
      database: PG.database,
      plugins: 'secretsManager',
      secretsManagerSecretId: 'monitor-secret',
      secretsManagerRegion: 'us-east-1',
      secretsManagerEndpoint: aws.endpoint,
    });
    let refresh = false;
    setParamsProvider(async () => {
      const c = await resolveMonitorCredentials({
        services,
        props,
        driver: 'pg',
        host: PG.host,
        port: PG.port,
        refresh,
      });
      refresh = false;
      return { ...c, database: PG.database };
    });
    const events: ProbeMonitorEvent[] = [];
    let rotated = false;
    await new Promise<void>((resolve) => {
      const monitor = startProbeMonitor(
        { kind: 'postgres', host: PG.host, port: PG.port },
        { intervalMs: 150, timeoutMs: 2000, keepConnection: false },
        (e) => {
          events.push(e);
          // What a monitor owner does: a refused login makes the next login fetch new credentials.
          if (!e.ok && e.errorClass === 'auth') refresh = true;
          if (events.length === 3 && !rotated) {
            rotated = true;
            void admin
              .query(`alter role ${role} password 'second-${role}'`)
              .then(() =>
                aws.putSecret('monitor-secret', JSON.stringify({ username: role, password: `second-${role}` })),
              );
          }
          if (events.filter((x) => x.ok).length >= 3 && events.some((x) => !x.ok) && events.at(-1)!.ok) {
            monitor.stop();
            resolve();
          }
        },
      );
    });
    const failures = events.filter((e) => !e.ok);
    assert.ok(
      failures.length >= 1 && failures.length <= 2,
      `one or two refused logins around the rotation (${failures.length})`,
    );
    assert.ok(failures.every((e) => !e.ok && e.errorClass === 'auth'));
    assert.ok(events.at(-1)!.ok);
    // One fetch at the start, then one per refused login (a login can race the secret's update by a tick).
    const fetches = aws.requests.filter((r) => r.params.SecretId === 'monitor-secret').length;
    assert.ok(fetches >= 2 && fetches <= 1 + failures.length, `fetched again after the rotation (${fetches} fetches)`);
  } finally {
    setParamsProvider(null);
    await admin.query(`drop role if exists ${role}`);
    await admin.end();
    await aws.stop();
  }
});

test.run();
