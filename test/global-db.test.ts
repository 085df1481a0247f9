// Global Database on the lookalike (two aurora-pg regions): the global dialect and topology, gdb_rw's home-region
// rules, gdb_failover in every mode with the home region active and inactive across an unplanned global failover,
// and a planned switchover back through the global- endpoint. One global database for the whole file.
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalGlobalDatabase } from '../ts/testing/index.js';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { WrapperServices } from '../ts/services.js';
import { ConfigurationError, FailoverSuccessError } from '../ts/errors.js';
import { ReadWriteSplittingError } from '../ts/plugins/rw-common.js';
import { IamCredentialSource } from '../ts/auth/iam-source.js';
import { HostInfo } from '../ts/host-info.js';
import { parseConnectProps } from '../ts/options.js';
import {
  A,
  B,
  GlobalDbClients,
  MODES,
  assertFailoverOutcomes,
  regionOf,
  rejection,
  type Mode,
} from './support/gdb-lab.js';

const run = promisify(execFile);
let gdb: LocalGlobalDatabase;
let dir: string;
const lab = new GlobalDbClients(
  (endpoint, options, services) => new AwsPGClient({ ...gdb.clientConfig(endpoint), ...options }, { services }),
);

/** Instance name and role as the server reports them; the region follows from the name (instance-1xx: second region). */
async function whoami(c: AwsPGClient): Promise<{ name: string; reader: boolean; region: string }> {
  const r = await c.query(
    'SELECT pg_catalog.aurora_db_instance_identifier() AS name, pg_catalog.pg_is_in_recovery() AS reader',
  );
  const row = r.rows[0] as { name: string; reader: boolean };
  return { ...row, region: regionOf(row.name) };
}

const SLEEP = 'SELECT pg_catalog.pg_sleep(60)';

/** Waits until `n` clients run SLEEP on the primary region's writer (polls its activity view). */
async function waitRunning(n: number): Promise<void> {
  const c = new pg.Client({ ...gdb.primary.directConfig('writer'), connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query = $1", [
        SLEEP,
      ]);
      if ((r.rows[0] as { n: number }).n >= n) return;
      if (Date.now() > deadline) throw new Error(`${n} sleeping statements did not start on the writer within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await c.end();
  }
}

function internals(c: AwsPGClient): { dialect: { code: string }; allHosts: readonly { host: string; role: string }[] } {
  return (
    c as unknown as {
      core: { pluginService: { dialect: { code: string }; allHosts: readonly { host: string; role: string }[] } };
    }
  ).core.pluginService;
}

test.before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'global-db-'));
  chmodSync(dir, 0o755); // the servers run as 'postgres' when the tests run as root
  gdb = await LocalGlobalDatabase.start({ dir: path.join(dir, 'gdb'), regions: [A, B], readers: 1, database: 'app' });
  const w = new pg.Client({ ...gdb.primary.directConfig('writer') });
  await w.connect();
  await w.query('CREATE TABLE gt (id int PRIMARY KEY, region text)');
  await w.end();
  // The lookalike's RDS API (first region) checks SigV4 with its own keys; the IAM lookup signs for AWS_REGION.
  const api = gdb.clusters[0].rdsApi;
  process.env.AWS_ACCESS_KEY_ID = api.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = api.credentials.secretAccessKey;
  process.env.AWS_REGION = api.region;
  for (const k of ['AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[k];
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
  process.env.AWS_CONFIG_FILE = '/nonexistent/config';
});

test.after(async () => {
  await lab.endAll();
  await gdb?.stop({ keepLogs: false }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

test.after.each(() => lab.endAll());

test('the global- endpoint: global-aurora-pg dialect, both regions in the topology, the writer in the primary region', async () => {
  const c = await lab.connected('global', { plugins: 'gdb_failover', failoverHomeRegion: A });
  assert.equal(await whoami(c), { name: 'instance-1', reader: false, region: A });
  assert.is(internals(c).dialect.code, 'global-aurora-pg');
  const hosts = internals(c)
    .allHosts.map((h) => `${h.host.split('.')[0]}/${h.host.split('.')[2]}/${h.role}`)
    .sort();
  assert.equal(hosts, [
    'instance-1/us-east-1/writer',
    'instance-101/us-west-2/reader',
    'instance-102/us-west-2/reader',
    'instance-2/us-east-1/reader',
  ]);
});

test('CLI: global-status attaches to the global database by its directory', async () => {
  const { stdout } = await run(
    process.execPath,
    [path.resolve('bin/aws-advanced-ts-wrapper.js'), 'cluster', 'global-status', '--dir', gdb.directory, '--json'],
    { timeout: 60_000 },
  );
  const status = JSON.parse(stdout) as {
    primaryRegion: string;
    globalEndpoint: string;
    globalClusterInstanceHostPatterns: string;
    hostAddressMap: Record<string, string>;
    regions: { credentials: { password?: string } }[];
  };
  assert.is(status.primaryRegion, A);
  assert.is(status.globalEndpoint, gdb.globalEndpoint);
  assert.is(status.globalClusterInstanceHostPatterns, gdb.globalClusterInstanceHostPatterns);
  assert.equal(status.hostAddressMap, gdb.hostAddressMap);
  assert.not.match(stdout, gdb.primary.credentials.password, 'the password is not printed');
  for (const c of gdb.clusters)
    assert.not.ok(stdout.includes(c.rdsApi.credentials.secretAccessKey), "the RDS API's secret key is not printed");
});

test('CLI: without --dir, global-* commands pick the only running global database; stopped ones are skipped', async () => {
  // ./.cluster as a user has it after a test run: a stopped global database (its directory and logs kept) next to
  // the running one.
  const base = path.join(dir, '.cluster');
  const stopped = path.join(base, 'global-stopped');
  mkdirSync(path.join(stopped, A), { recursive: true });
  copyFileSync(path.join(gdb.directory, 'global.json'), path.join(stopped, 'global.json'));
  const region = JSON.parse(readFileSync(path.join(gdb.primary.dir, 'cluster.json'), 'utf8')) as object;
  writeFileSync(path.join(stopped, A, 'cluster.json'), JSON.stringify({ ...region, status: 'down' }));
  symlinkSync(gdb.directory, path.join(base, 'global-running'));
  const env = { ...process.env };
  delete env.AWS_TS_WRAPPER_CLUSTER_DIR;
  const { stdout } = await run(
    process.execPath,
    [path.resolve('bin/aws-advanced-ts-wrapper.js'), 'cluster', 'global-status', '--json'],
    { cwd: dir, env, timeout: 60_000 },
  );
  assert.is((JSON.parse(stdout) as { globalEndpoint: string }).globalEndpoint, gdb.globalEndpoint);
  rmSync(base, { recursive: true });
});

test('configuration errors name the key: no home region behind a global- endpoint, a bad mode, gdb_rw without a home region, two failover plugins', async () => {
  const noHome = await rejection(lab.client('global', { plugins: 'gdb_failover' }).connect());
  assert.instance(noHome, ConfigurationError);
  assert.match(
    noHome.message,
    /failoverHomeRegion: required when connecting to '.*global-.*' \(a global database endpoint, which names no region\)/,
  );
  assert.throws(
    () => lab.client('instance-1', { plugins: 'gdb_failover', activeHomeFailoverMode: 'strict-reader' }),
    (e: Error) => e instanceof ConfigurationError && /activeHomeFailoverMode/.test(e.message),
  );
  assert.throws(
    () => lab.client('instance-1', { plugins: 'gdb_failover', failoverHomeRegion: 'home' }),
    /failoverHomeRegion.*AWS region name/,
  );
  const rwNoHome = await rejection(lab.client('global', { plugins: 'gdb_rw' }).connect());
  assert.instance(rwNoHome, ConfigurationError);
  assert.match(rwNoHome.message, /gdbRwHomeRegion: required/);
  assert.throws(() => lab.client('instance-1', { plugins: 'gdb_failover,failover_v2' }), /gdb_failover/);
});

test('gdb_rw: readers of the home region only; a writer outside it refused, or kept on the reader with write forwarding', async () => {
  // Home = the primary region: reader and writer both at home.
  const home = await lab.connected('global', { plugins: 'gdb_rw', gdbRwHomeRegion: A });
  for (let i = 0; i < 3; i++) {
    await home.setReadOnly(true);
    assert.equal(
      await whoami(home),
      { name: 'instance-2', reader: true, region: A },
      'the only reader of the home region',
    );
    await home.setReadOnly(false);
    assert.equal(await whoami(home), { name: 'instance-1', reader: false, region: A });
  }
  // Home = the secondary region: its reader, and no writer at home. The instance name is detected as global.
  const away = await lab.connected('instance-101', { plugins: 'gdb_rw' });
  await away.setReadOnly(true);
  assert.is(internals(away).dialect.code, 'global-aurora-pg', 'rds-pg → aurora-pg → global-aurora-pg');
  const r = await whoami(away);
  assert.is(r.region, B);
  assert.ok(r.reader);
  const refused = await rejection(away.setReadOnly(false));
  assert.instance(refused, ReadWriteSplittingError);
  assert.match(refused.message, /outside the home region us-west-2 \(gdbRwRestrictWriterToHomeRegion\)/);
  assert.is((await whoami(away)).region, B, 'still on the home-region reader');

  const forwarding = await lab.connected('instance-102', {
    plugins: 'gdb_rw',
    wrapperDialect: 'global-aurora-pg',
    gdbEnableGlobalWriteForwarding: true,
  });
  await forwarding.setReadOnly(true);
  await forwarding.setReadOnly(false);
  assert.equal(
    await whoami(forwarding),
    { name: 'instance-102', reader: true, region: B },
    'write forwarding keeps the reader',
  );

  const unrestricted = await lab.connected('instance-102', {
    plugins: 'gdb_rw',
    wrapperDialect: 'global-aurora-pg',
    gdbRwRestrictWriterToHomeRegion: false,
  });
  await unrestricted.setReadOnly(false);
  assert.equal(
    await whoami(unrestricted),
    { name: 'instance-1', reader: false, region: A },
    'the writer in the other region',
  );
});

/** The region an IAM token for the global- endpoint is signed for (its credential scope), as the iam plugin makes it. */
async function iamTokenRegion(
  s: WrapperServices,
  refresh: boolean,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const props = parseConnectProps('pg', {
    user: 'app',
    plugins: 'iam',
    iamRdsEndpoint: gdb.clusters[0].rdsApi.endpoint,
    ...extra,
  });
  const source = new IamCredentialSource({ services: s, driver: 'pg', defaultPort: () => 5432 });
  const { password } = await source.resolve(new HostInfo({ host: gdb.globalEndpoint, port: 5432 }), props, refresh);
  const scope = /X-Amz-Credential=[^&]*%2F(\d{8})%2F([a-z0-9-]+)%2Frds-db%2Faws4_request/.exec(password);
  assert.ok(scope, `token with a credential scope: ${password.slice(0, 80)}…`);
  return scope[2];
}

test("iam: a global- endpoint names no region; the token is signed for the writer's region, found with DescribeGlobalClusters (SigV4-checked RDS API)", async () => {
  const s = lab.newServices();
  assert.is(await iamTokenRegion(s, false), A);
  // iamRegion wins without a lookup; a refused lookup says what to set.
  assert.is(await iamTokenRegion(lab.newServices(), false, { iamRegion: 'eu-west-1' }), 'eu-west-1');
  const saved = process.env.AWS_SECRET_ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = 'wrong-secret-wrong-secret-wrong-secret00';
  try {
    const err = await rejection(iamTokenRegion(lab.newServices(), false));
    assert.match(
      err.message,
      /cannot find the region of global database endpoint '.*global-.*' with DescribeGlobalClusters .*SignatureDoesNotMatch|cannot find the region.*signature/i,
    );
    assert.match(err.message, /set 'iamRegion'/);
  } finally {
    process.env.AWS_SECRET_ACCESS_KEY = saved;
  }
});

test('unplanned global failover: every gdb_failover mode, home region active (writer moved in) and inactive (writer moved out)', async () => {
  const shared = lab.newServices();
  const cases: { mode: Mode; home: string; c: AwsPGClient }[] = [];
  for (const mode of MODES) {
    // The mode that must NOT apply is set to one whose outcome differs, so picking the wrong one fails the case.
    const other = mode === 'strict-writer' ? 'strict-out-of-home-reader' : 'strict-writer';
    for (const home of [A, B]) {
      const active = home === B ? mode : other; // the writer ends in B: active for home B, inactive for home A
      const inactive = home === B ? other : mode;
      const c = await lab.connected(
        'writer',
        {
          plugins: 'gdb_failover',
          failoverHomeRegion: home,
          activeHomeFailoverMode: active,
          inactiveHomeFailoverMode: inactive,
          failoverTimeoutMs: 60_000,
        },
        shared,
      );
      cases.push({ mode, home, c });
    }
  }
  // Every client is inside a statement on the old writer when it is lost.
  const running = cases.map(({ c }) => rejection(c.query(SLEEP)));
  await waitRunning(cases.length);
  const iam = lab.newServices();
  assert.is(await iamTokenRegion(iam, false), A);
  const result = await gdb.failover();
  const errors = await Promise.all(running);
  assert.equal([result.oldPrimaryRegion, result.newPrimaryRegion, result.newWriter], [A, B, 'instance-101']);
  await assertFailoverOutcomes(cases, errors, whoami);
  const writer = cases.find((x) => x.mode === 'strict-writer' && x.home === A)!.c;
  await writer.query("INSERT INTO gt VALUES (1, 'us-west-2')");
  // The writer's region is cached; after a refused token (refresh) the iam plugin asks again: the writer is in B.
  assert.is(await iamTokenRegion(iam, false), A, 'cached until a token is refused');
  assert.is(await iamTokenRegion(iam, true), B);
});

test('planned switchover back through the global- endpoint: strict-writer by default, writes land in the new primary region, nothing lost', async () => {
  assert.is(gdb.primaryRegion, B);
  const c = await lab.connected('global', {
    plugins: 'gdb_failover',
    failoverHomeRegion: A,
    failoverTimeoutMs: 60_000,
  });
  assert.equal(
    await whoami(c),
    { name: 'instance-101', reader: false, region: B },
    'the global- endpoint follows the primary region',
  );
  const running = rejection(c.query(SLEEP));
  await waitRunning(1);
  await gdb.switchover();
  assert.instance(await running, FailoverSuccessError);
  assert.equal(await whoami(c), { name: 'instance-1', reader: false, region: A });
  await c.query("INSERT INTO gt VALUES (3, 'us-east-1')");
  const rows = (await c.query<{ id: number }>('SELECT id FROM gt ORDER BY id')).rows.map((r) => r.id);
  assert.ok(rows.includes(1) && rows.includes(3), `rows ${JSON.stringify(rows)}`);
  const fresh = await lab.connected('global', { plugins: 'gdb_failover', failoverHomeRegion: A });
  assert.is((await whoami(fresh)).name, 'instance-1');
});

test("enableConnectFailover: an initial connection to a lost instance fails over by the home region's mode; the failover event", async () => {
  assert.is(gdb.primaryRegion, A);
  const shared = lab.newServices();
  // The topology of both regions, cached in `shared` under a cluster id both clients name.
  await lab.connected('writer', { plugins: 'gdb_failover', clusterId: 'gdb' }, shared);
  await gdb.primary.kill('instance-2');
  try {
    const c = lab.client(
      'instance-2',
      {
        plugins: 'gdb_failover',
        clusterId: 'gdb',
        wrapperDialect: 'global-aurora-pg',
        enableConnectFailover: true,
        failoverHomeRegion: A,
        activeHomeFailoverMode: 'strict-out-of-home-reader',
        failoverTimeoutMs: 30_000,
      },
      shared,
    );
    const events: { outcome: string; to?: { host: string } }[] = [];
    c.on('failover', (e: { outcome: string; to?: { host: string } }) => events.push(e));
    await c.connect();
    const who = await whoami(c);
    assert.ok(who.reader && who.region === B, `a reader out of the home region, got ${JSON.stringify(who)}`);
    assert.is(events.length, 1);
    assert.is(events[0].outcome, 'success');
    assert.is(events[0].to?.host.split('.')[0], who.name);
  } finally {
    await gdb.primary.heal('instance-2');
  }
});

test.run();
