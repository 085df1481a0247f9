// Global Database on the lookalike with two aurora-mysql regions: the global dialect (behind the global- endpoint
// and detected on an instance name), gdb_rw's home-region rules, gdb_failover in every mode with the home region
// active and inactive across an unplanned global failover, and a planned switchover back through the global-
// endpoint. One global database (1 writer + 1 reader per region) for the whole file.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalGlobalDatabase } from '../ts/testing/index.js';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { FailoverSuccessError } from '../ts/errors.js';
import { ReadWriteSplittingError } from '../ts/plugins/rw-common.js';
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
  (endpoint, options, services) => new AwsMySQLClient({ ...gdb.clientConfig(endpoint), ...options }, { services }),
);

/** Instance name and role as the server reports them; the region follows from the name (instance-1xx: second region). */
async function whoami(c: AwsMySQLClient): Promise<{ name: string; reader: boolean; region: string }> {
  const [rows] = await c.query<RowDataPacket[]>('SELECT @@aurora_server_id AS name, @@innodb_read_only AS reader');
  const name = String(rows[0].name);
  return { name, reader: Number(rows[0].reader) === 1, region: regionOf(name) };
}

const SLEEP = 'SELECT SLEEP(60)';

/** Waits until `n` clients run SLEEP on the primary region's writer (polls its process list). */
async function waitRunning(n: number): Promise<void> {
  const c = await mysql.createConnection({ ...gdb.primary.directConfig('writer'), connectTimeout: 5000 });
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [rows] = await c.query<RowDataPacket[]>(
        'SELECT count(*) AS n FROM information_schema.processlist WHERE info = ?',
        [SLEEP],
      );
      if (Number(rows[0].n) >= n) return;
      if (Date.now() > deadline) throw new Error(`${n} sleeping statements did not start on the writer within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await c.end();
  }
}

function internals(c: AwsMySQLClient): {
  dialect: { code: string };
  allHosts: readonly { host: string; role: string }[];
} {
  return c.core.pluginService;
}

test.before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'global-db-mysql-'));
  gdb = await LocalGlobalDatabase.start({
    flavour: 'aurora-mysql',
    dir: path.join(dir, 'gdb'),
    regions: [A, B],
    readers: 1,
    database: 'app',
  });
  const w = await mysql.createConnection(gdb.primary.directConfig('writer'));
  await w.query('CREATE TABLE gt (id int PRIMARY KEY, region varchar(20))');
  await w.end();
});

test.after(async () => {
  await lab.endAll();
  await gdb?.stop({ keepLogs: false }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

test.after.each(() => lab.endAll());

test('the global- endpoint: global-aurora-mysql, both regions in the topology; an instance name is detected as global too', async () => {
  assert.is(gdb.flavour, 'aurora-mysql');
  const c = await lab.connected('global', { plugins: 'gdb_failover', failoverHomeRegion: A });
  assert.equal(await whoami(c), { name: 'instance-1', reader: false, region: A });
  assert.is(internals(c).dialect.code, 'global-aurora-mysql');
  const hosts = internals(c)
    .allHosts.map((h) => `${h.host.split('.')[0]}/${h.host.split('.')[2]}/${h.role}`)
    .sort();
  assert.equal(hosts, [
    'instance-1/us-east-1/writer',
    'instance-101/us-west-2/reader',
    'instance-102/us-west-2/reader',
    'instance-2/us-east-1/reader',
  ]);
  // An instance name starts as rds-mysql, is refined to aurora-mysql, then to global-aurora-mysql.
  const byName = await lab.connected('instance-102', { plugins: 'gdb_failover' });
  assert.is(internals(byName).dialect.code, 'global-aurora-mysql');
  assert.is(internals(byName).allHosts.length, 4);
});

test('CLI: global-status shows the flavour; global-up refuses a flavour without global databases', async () => {
  const cli = path.resolve('bin/aws-advanced-ts-wrapper.js');
  const { stdout } = await run(process.execPath, [cli, 'cluster', 'global-status', '--dir', gdb.directory, '--json'], {
    timeout: 60_000,
  });
  const status = JSON.parse(stdout) as { flavour: string; primaryRegion: string; globalEndpoint: string };
  assert.equal([status.flavour, status.primaryRegion, status.globalEndpoint], ['aurora-mysql', A, gdb.globalEndpoint]);
  const refused = await rejection(
    run(process.execPath, [cli, 'cluster', 'global-up', '--flavour', 'mysql', '--dir', path.join(dir, 'other')], {
      timeout: 60_000,
    }),
  );
  assert.match(
    String((refused as Error & { stderr?: string }).stderr),
    /--flavour: global databases are aurora-pg or aurora-mysql; got 'mysql'/,
  );
});

test('the secondary region replicates the primary one, and keeps its own topology (its writer reads as a reader)', async () => {
  const w = await mysql.createConnection(gdb.primary.directConfig('writer'));
  await w.query("INSERT INTO gt VALUES (100, 'us-east-1')");
  await w.end();
  const r = await mysql.createConnection(gdb.secondary.directConfig('instance-102'));
  try {
    const deadline = Date.now() + 10_000;
    let rows: RowDataPacket[] = [];
    while (rows.length === 0 && Date.now() < deadline) {
      [rows] = await r.query<RowDataPacket[]>('SELECT id FROM gt WHERE id = 100');
      if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.is(rows.length, 1, 'the row written in the primary region reached a reader of the secondary region');
    const [status] = await r.query<RowDataPacket[]>(
      'SELECT SERVER_ID, SESSION_ID FROM information_schema.replica_host_status ORDER BY SERVER_ID',
    );
    assert.equal(
      status.map((s) => [s.SERVER_ID, s.SESSION_ID === 'MASTER_SESSION_ID']),
      [
        ['instance-101', false],
        ['instance-102', false],
      ],
    );
  } finally {
    await r.end();
  }
});

test('gdb_rw: readers of the home region only; a writer outside it refused, or kept on the reader with write forwarding', async () => {
  const home = await lab.connected('global', { plugins: 'gdb_rw', gdbRwHomeRegion: A });
  for (let i = 0; i < 2; i++) {
    await home.setReadOnly(true);
    assert.equal(await whoami(home), { name: 'instance-2', reader: true, region: A });
    await home.setReadOnly(false);
    assert.equal(await whoami(home), { name: 'instance-1', reader: false, region: A });
  }
  const away = await lab.connected('instance-101', { plugins: 'gdb_rw' });
  await away.setReadOnly(true);
  const r = await whoami(away);
  assert.is(r.region, B);
  assert.ok(r.reader);
  const refused = await rejection(away.setReadOnly(false));
  assert.instance(refused, ReadWriteSplittingError);
  assert.match(refused.message, /outside the home region us-west-2 \(gdbRwRestrictWriterToHomeRegion\)/);
  assert.is((await whoami(away)).region, B, 'still on the home-region reader');

  const forwarding = await lab.connected('instance-102', { plugins: 'gdb_rw', gdbEnableGlobalWriteForwarding: true });
  await forwarding.setReadOnly(true);
  await forwarding.setReadOnly(false);
  assert.equal(
    await whoami(forwarding),
    { name: 'instance-102', reader: true, region: B },
    'write forwarding keeps the reader',
  );
  const unrestricted = await lab.connected('instance-102', {
    plugins: 'gdb_rw',
    gdbRwRestrictWriterToHomeRegion: false,
  });
  await unrestricted.setReadOnly(false);
  assert.equal(await whoami(unrestricted), { name: 'instance-1', reader: false, region: A }, 'the writer elsewhere');
});

test('unplanned global failover: every gdb_failover mode, home region active (writer moved in) and inactive (writer moved out)', async () => {
  const shared = lab.newServices();
  const cases: { mode: Mode; home: string; c: AwsMySQLClient }[] = [];
  for (const mode of MODES) {
    // The mode that must NOT apply is set to one whose outcome differs, so picking the wrong one fails the case.
    const other = mode === 'strict-writer' ? 'strict-out-of-home-reader' : 'strict-writer';
    for (const home of [A, B]) {
      const c = await lab.connected(
        'writer',
        {
          plugins: 'gdb_failover',
          failoverHomeRegion: home,
          activeHomeFailoverMode: home === B ? mode : other, // the writer ends in B: active for home B
          inactiveHomeFailoverMode: home === B ? other : mode,
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
  const result = await gdb.failover();
  const errors = await Promise.all(running);
  assert.equal([result.oldPrimaryRegion, result.newPrimaryRegion, result.newWriter], [A, B, 'instance-101']);
  await assertFailoverOutcomes(cases, errors, whoami);
  const writer = cases.find((x) => x.mode === 'strict-writer' && x.home === A)!.c;
  await writer.query("INSERT INTO gt VALUES (1, 'us-west-2')");
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
  await c.query("INSERT INTO gt VALUES (2, 'us-west-2')");
  const running = rejection(c.query(SLEEP));
  await waitRunning(1);
  await gdb.switchover();
  assert.instance(await running, FailoverSuccessError);
  assert.equal(await whoami(c), { name: 'instance-1', reader: false, region: A });
  await c.query("INSERT INTO gt VALUES (3, 'us-east-1')");
  const [rows] = await c.query<RowDataPacket[]>('SELECT id FROM gt ORDER BY id');
  assert.equal(
    rows.map((r) => Number(r.id)),
    [1, 2, 3, 100],
    'every row written in either region is in the new primary region',
  );
  const fresh = await lab.connected('global', { plugins: 'gdb_failover', failoverHomeRegion: A });
  assert.is((await whoami(fresh)).name, 'instance-1');
});

test.run();
