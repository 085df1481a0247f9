// Blue/Green on the lookalike: `cluster.blueGreen()` makes a green copy replicating from blue, the status rows
// answer the dialects' exact status SQL on both sides, and a switchover walks the phases the way RDS does (blue
// read-only, green promoted, names moved, `-old1`), or rolls back. PostgreSQL (aurora-pg, pg as RDS for
// PostgreSQL) and MariaDB (aurora-mysql, mysql as RDS for MySQL) engines.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { lookup } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { LocalCluster, type BlueGreenStatus } from '../ts/testing/index.js';

const STATUS_SQL = {
  auroraPg:
    "SELECT version, endpoint, port, role, status FROM pg_catalog.get_blue_green_fast_switchover_metadata('aws_advanced_python_wrapper-3.0.0')",
  auroraPgAvailable: "SELECT 'pg_catalog.get_blue_green_fast_switchover_metadata'::regproc",
  rdsPg:
    "SELECT version, endpoint, port, role, status FROM rds_tools.show_topology('aws_advanced_python_wrapper-3.0.0')",
  rdsPgAvailable: "SELECT 'rds_tools.show_topology'::regproc",
  rdsPgExtensions:
    "SELECT (setting LIKE '%rds_tools%') AS rds_tools, (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'rds.extensions'",
  rdsPgHostId:
    "SELECT id, SUBSTRING(endpoint FROM 0 FOR POSITION('.' IN endpoint)) FROM rds_tools.show_topology() WHERE id OPERATOR(pg_catalog.=) rds_tools.dbi_resource_id()",
  mysql: 'SELECT version, endpoint, port, role, status FROM mysql.rds_topology',
  mysqlAvailable:
    "SELECT 1 AS tmp FROM information_schema.tables WHERE table_schema = 'mysql' AND table_name = 'rds_topology'",
};

const SWITCHOVER: BlueGreenStatus[] = [
  'SWITCHOVER_INITIATED',
  'SWITCHOVER_IN_PROGRESS',
  'SWITCHOVER_IN_POST_PROCESSING',
  'SWITCHOVER_COMPLETED',
];
const ROLLBACK: BlueGreenStatus[] = [
  'SWITCHOVER_INITIATED',
  'SWITCHOVER_IN_PROGRESS',
  'SWITCHOVER_INITIATED',
  'AVAILABLE',
];

type Row = Record<string, unknown>;

/** A plain driver connection to a DNS name, resolved through the cluster's current name table (DNS as it is now). */
function addressOf(cluster: LocalCluster, dnsName: string): { host: string; port: number } {
  const address = cluster.hostAddressMap[dnsName];
  if (!address) throw new Error(`${dnsName} does not resolve`);
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

async function pgQuery(cluster: LocalCluster, dnsName: string, sql: string): Promise<Row[]> {
  const c = new pg.Client({ ...cluster.credentials, ...addressOf(cluster, dnsName) });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(sql)).rows as Row[];
  } finally {
    await c.end();
  }
}

async function myQuery(cluster: LocalCluster, dnsName: string, sql: string): Promise<Row[]> {
  const c = await mysql.createConnection({ ...cluster.credentials, ...addressOf(cluster, dnsName) });
  try {
    const [rows] = await c.query(sql);
    return rows as Row[];
  } finally {
    await c.end();
  }
}

function tmpDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

async function withCluster(
  options: Parameters<typeof LocalCluster.start>[0],
  fn: (c: LocalCluster) => Promise<void>,
): Promise<void> {
  const dir = tmpDir('lookalike-bg-');
  const cluster = await LocalCluster.start({ ...options, dir }).catch((e: Error) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const t0 = Date.now();
  try {
    await fn(cluster);
  } finally {
    await cluster.stop({ keepLogs: false });
    console.log(`${options?.flavour}: up ${cluster.upMs} ms, test ${Date.now() - t0} ms`);
  }
}

/** The status rows' (endpoint, role, status) triples, sorted. */
function triples(rows: Row[]): string[] {
  return rows.map((r) => `${String(r.endpoint)} ${String(r.role)} ${String(r.status)}`).sort();
}

// As root the cluster also writes its /etc/hosts block, so the renames are what the system resolver answers.
const asRoot = process.getuid?.() === 0;

test('aurora-pg: green copy, status rows on both sides, rollback, switchover with renames', async () => {
  await withCluster({ flavour: 'aurora-pg', readers: 1, database: 'app', etcHosts: asRoot }, async (cluster) => {
    const blueWriterName = cluster.writerEndpoint.dnsName;
    const blueInstance1 = cluster.instances[0].dnsName;
    await pgQuery(cluster, blueWriterName, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)');
    assert.equal(await pgQuery(cluster, blueWriterName, STATUS_SQL.auroraPg), [], 'no deployment, no rows');

    const bg = await cluster.blueGreen({ suffix: 'abc123' });
    assert.is(bg.status, 'AVAILABLE');
    assert.match(bg.id, /^bgd-[0-9a-f]{16}$/);
    assert.equal(
      bg.green.map((i) => `${i.name} ${i.role}`),
      ['instance-1-green-abc123 writer', 'instance-2-green-abc123 reader'],
    );
    assert.match(
      bg.greenWriterEndpoint.dnsName,
      /^lookalike-green-abc123\.cluster-[a-z0-9]+\.us-east-1\.rds\.amazonaws\.com$/,
    );
    const greenWriterName = bg.greenWriterEndpoint.dnsName;
    const greenInstance1 = bg.green[0].dnsName;

    // The same rows on blue and green, through the dialect's exact SQL.
    const expected = [
      `${blueWriterName} BLUE_GREEN_DEPLOYMENT_SOURCE AVAILABLE`,
      `${cluster.instances[0].dnsName} BLUE_GREEN_DEPLOYMENT_SOURCE AVAILABLE`,
      `${cluster.instances[1].dnsName} BLUE_GREEN_DEPLOYMENT_SOURCE AVAILABLE`,
      `${greenWriterName} BLUE_GREEN_DEPLOYMENT_TARGET AVAILABLE`,
      `${bg.green[0].dnsName} BLUE_GREEN_DEPLOYMENT_TARGET AVAILABLE`,
      `${bg.green[1].dnsName} BLUE_GREEN_DEPLOYMENT_TARGET AVAILABLE`,
    ].sort();
    for (const name of [blueWriterName, greenWriterName, bg.green[1].dnsName]) {
      assert.equal(triples(await pgQuery(cluster, name, STATUS_SQL.auroraPg)), expected, `rows seen at ${name}`);
      assert.equal((await pgQuery(cluster, name, STATUS_SQL.auroraPgAvailable)).length, 1);
    }
    const one = (await pgQuery(cluster, greenWriterName, STATUS_SQL.auroraPg))[0];
    assert.is(one.version, '1.0');
    assert.is(one.port, cluster.writerEndpoint.port);

    // Green is a read-only copy with its own Aurora topology, and receives blue's writes.
    assert.equal(await pgQuery(cluster, greenWriterName, 'SELECT pg_catalog.aurora_db_instance_identifier() AS id'), [
      { id: 'instance-1-green-abc123' },
    ]);
    assert.equal(
      await pgQuery(
        cluster,
        greenWriterName,
        "SELECT server_id FROM pg_catalog.aurora_replica_status() WHERE session_id = 'MASTER_SESSION_ID'",
      ),
      [{ server_id: 'instance-1-green-abc123' }],
    );
    await pgQuery(cluster, blueWriterName, 'INSERT INTO orders VALUES (2)');
    const deadline = Date.now() + 10_000;
    while ((await pgQuery(cluster, bg.green[1].dnsName, 'SELECT count(*)::int AS n FROM orders'))[0].n !== 2) {
      if (Date.now() > deadline) assert.unreachable('blue write did not reach the green reader');
      await new Promise((r) => setTimeout(r, 20));
    }
    await pgQuery(cluster, greenWriterName, 'INSERT INTO orders VALUES (99)').then(
      () => assert.unreachable('green accepts writes'),
      (e: Error & { code?: string }) => assert.is(e.code, '25006'),
    );

    // Rollback: blue is read-only during IN_PROGRESS, writable again after; nothing moves.
    const seen: string[] = [];
    const rolled = await bg.switchover({
      rollback: true,
      phaseMs: 50,
      onPhase: async (status) => {
        seen.push(`${status} ${String((await pgQuery(cluster, greenWriterName, STATUS_SQL.auroraPg))[0].status)}`);
        if (status === 'SWITCHOVER_IN_PROGRESS') {
          await pgQuery(cluster, blueWriterName, 'INSERT INTO orders VALUES (3)').then(
            () => assert.unreachable('blue writable while IN_PROGRESS'),
            (e: Error & { code?: string }) => assert.is(e.code, '25006'),
          );
        }
      },
    });
    assert.equal(
      seen,
      ROLLBACK.map((s) => `${s} ${s}`),
    );
    assert.equal(
      rolled.phases.map((p) => p.status),
      ROLLBACK,
    );
    assert.ok(
      rolled.phases.slice(0, -1).every((p) => p.ms >= 50),
      'each phase held for phaseMs',
    );
    assert.is(bg.status, 'AVAILABLE');
    await pgQuery(cluster, blueWriterName, 'INSERT INTO orders VALUES (3)');
    assert.is(cluster.hostAddressMap[greenWriterName], bg.greenWriterEndpoint.address, 'green names still resolve');

    // Switchover: a write acknowledged on blue while INITIATED is on green after the promotion; connections to
    // both sides are dropped while green is promoted and the names move.
    const held = new pg.Client({ ...cluster.credentials, ...addressOf(cluster, blueInstance1) });
    const heldLost = new Promise<void>((resolve) => held.on('error', () => resolve()));
    await held.connect();
    const greenAddress = cluster.hostAddressMap[greenInstance1];
    const blueAddress = cluster.hostAddressMap[blueInstance1];
    const greenWriterEndpointAddress = bg.greenWriterEndpoint.address;
    const blueWriterEndpointAddress = cluster.writerEndpoint.address;
    const done = await bg.switchover({
      phaseMs: { initiated: 50, inProgress: 100, post: 50 },
      onPhase: async (status) => {
        if (status === 'SWITCHOVER_INITIATED') await pgQuery(cluster, blueWriterName, 'INSERT INTO orders VALUES (4)');
        if (status === 'SWITCHOVER_IN_PROGRESS')
          assert.is(cluster.hostAddressMap[blueWriterName], blueWriterEndpointAddress, 'names not moved yet');
      },
    });
    assert.equal(
      done.phases.map((p) => p.status),
      SWITCHOVER,
    );
    await heldLost;
    await held.end().catch(() => {});
    assert.is(bg.status, 'SWITCHOVER_COMPLETED');
    assert.ok(bg.renamed);
    // DNS: blue names → green addresses, old blue names end in -old1, green names are gone.
    const map = cluster.hostAddressMap;
    assert.is(map[blueWriterName], greenWriterEndpointAddress);
    assert.is(map[blueInstance1], greenAddress);
    assert.is(map[blueInstance1.replace('instance-1.', 'instance-1-old1.')], blueAddress);
    assert.is(
      map[blueWriterName.replace('lookalike.', 'lookalike-old1.')],
      cluster.lastState.blueGreen!.otherWriterEndpoint.address,
    );
    assert.is(map[greenWriterName], undefined);
    assert.is(map[greenInstance1], undefined);
    if (asRoot) {
      const host = (a: string | undefined): string => a!.slice(0, a!.lastIndexOf(':'));
      assert.is(
        (await lookup(blueInstance1, { family: 4 })).address,
        host(greenAddress),
        '/etc/hosts: blue name → green address',
      );
      assert.is(
        (await lookup(blueInstance1.replace('instance-1.', 'instance-1-old1.'), { family: 4 })).address,
        host(blueAddress),
      );
      await lookup(greenInstance1, { family: 4 }).then(
        () => assert.unreachable('green name still resolves'),
        (err: NodeJS.ErrnoException) => assert.ok(['ENOTFOUND', 'EAI_AGAIN'].includes(err.code ?? ''), err.message),
      );
    }
    assert.equal(
      cluster.instances.map((i) => i.name),
      ['instance-1', 'instance-2'],
    );
    assert.equal(
      bg.blue.map((i) => i.name),
      ['instance-1-old1', 'instance-2-old1'],
    );
    // The blue names now reach the promoted green: writable, every acknowledged blue write there, renamed metadata.
    assert.equal(await pgQuery(cluster, blueWriterName, 'SELECT id FROM orders ORDER BY id'), [
      { id: 1 },
      { id: 2 },
      { id: 3 },
      { id: 4 },
    ]);
    await pgQuery(cluster, blueWriterName, 'INSERT INTO orders VALUES (5)');
    assert.equal(await pgQuery(cluster, blueWriterName, 'SELECT pg_catalog.aurora_db_instance_identifier() AS id'), [
      { id: 'instance-1' },
    ]);
    assert.equal(
      (
        await pgQuery(cluster, blueWriterName, 'SELECT server_id FROM pg_catalog.aurora_replica_status() ORDER BY 1')
      ).map((r) => r.server_id),
      ['instance-1', 'instance-2'],
    );
    const after = triples(await pgQuery(cluster, blueWriterName, STATUS_SQL.auroraPg));
    assert.ok(after.includes(`${blueWriterName} BLUE_GREEN_DEPLOYMENT_TARGET SWITCHOVER_COMPLETED`), after.join('\n'));
    assert.ok(
      after.includes(
        `${blueWriterName.replace('lookalike.', 'lookalike-old1.')} BLUE_GREEN_DEPLOYMENT_SOURCE SWITCHOVER_COMPLETED`,
      ),
      after.join('\n'),
    );
    // The old blue stays read-only and keeps what it had.
    const oldWriter = blueInstance1.replace('instance-1.', 'instance-1-old1.');
    assert.equal(await pgQuery(cluster, oldWriter, 'SELECT count(*)::int AS n FROM orders'), [{ n: 4 }]);
    assert.equal(await pgQuery(cluster, oldWriter, 'SELECT pg_catalog.aurora_db_instance_identifier() AS id'), [
      { id: 'instance-1-old1' },
    ]);
    // The cluster's operations act on the new production instances: a failover promotes the former green reader.
    const fo = await cluster.failover();
    assert.equal([fo.oldWriter, fo.newWriter], ['instance-1', 'instance-2']);
    assert.equal(
      await pgQuery(
        cluster,
        blueWriterName,
        'SELECT pg_catalog.aurora_db_instance_identifier() AS id, count(*)::int AS n FROM orders',
      ),
      [{ id: 'instance-2', n: 5 }],
    );
  });
});

interface Engine {
  query(cluster: LocalCluster, dnsName: string, sql: string): Promise<Row[]>;
  statusSql: string;
  availableSql: string;
  /** The instance's own name as its metadata reports it. */
  ownNameSql: string;
  ownName(row: Row): unknown;
  readOnlyError: (e: Error & { code?: string; errno?: number }) => boolean;
  createTable: string;
  count: string;
}

const MYSQL: Omit<Engine, 'ownNameSql' | 'ownName'> = {
  query: myQuery,
  statusSql: STATUS_SQL.mysql,
  availableSql: STATUS_SQL.mysqlAvailable,
  readOnlyError: (e) => e.errno === 1290,
  createTable: 'CREATE TABLE orders (id int PRIMARY KEY)',
  count: 'SELECT CAST(count(*) AS SIGNED) AS n FROM orders',
};

async function until(what: string, fn: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.unreachable(what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Create, rows on both sides, a write replicated to green, then a switchover; checks names, data and metadata. */
async function scenario(cluster: LocalCluster, e: Engine): Promise<void> {
  const instanceName = (i: number): string => cluster.instances[i].dnsName;
  const blue1 = instanceName(0);
  await e.query(cluster, blue1, e.createTable);
  await e.query(cluster, blue1, 'INSERT INTO orders VALUES (1)');
  const bg = await cluster.blueGreen();
  assert.match(bg.suffix, /^[a-z0-9]{6}$/);
  const green1 = bg.green[0].dnsName;
  assert.equal(
    bg.green.map((g) => g.name),
    cluster.instances.map((i) => `${i.name}-green-${bg.suffix}`),
  );
  // RDS (not Aurora): a row per instance, no cluster endpoint rows.
  const expected = (status: string, blue: string[], green: string[]): string[] =>
    [
      ...blue.map((n) => `${n} BLUE_GREEN_DEPLOYMENT_SOURCE ${status}`),
      ...green.map((n) => `${n} BLUE_GREEN_DEPLOYMENT_TARGET ${status}`),
    ].sort();
  const blueNames = cluster.instances.map((i) => i.dnsName);
  const greenNames = bg.green.map((i) => i.dnsName);
  for (const name of [blue1, green1]) {
    assert.equal((await e.query(cluster, name, e.availableSql)).length, 1, `status source at ${name}`);
    assert.equal(
      triples(await e.query(cluster, name, e.statusSql)),
      expected('AVAILABLE', blueNames, greenNames),
      `rows at ${name}`,
    );
  }
  const row = (await e.query(cluster, green1, e.statusSql))[0];
  assert.is(row.version, '1.0');
  assert.is(Number(row.port), cluster.instances[0].port);
  assert.is(e.ownName((await e.query(cluster, green1, e.ownNameSql))[0]), bg.green[0].name);
  await e.query(cluster, blue1, 'INSERT INTO orders VALUES (2)');
  const last = bg.green[bg.green.length - 1].dnsName;
  await until('blue write on green', async () => Number((await e.query(cluster, last, e.count))[0].n) === 2);

  let blockedOnBlue = false;
  await bg.switchover({
    phaseMs: 20,
    onPhase: async (status) => {
      if (status === 'SWITCHOVER_INITIATED') await e.query(cluster, blue1, 'INSERT INTO orders VALUES (3)');
      if (status === 'SWITCHOVER_IN_PROGRESS') {
        await e
          .query(cluster, blue1, 'INSERT INTO orders VALUES (98)')
          .catch((err: Error) => (blockedOnBlue = e.readOnlyError(err)));
        assert.equal(triples(await e.query(cluster, green1, e.statusSql)), expected(status, blueNames, greenNames));
      }
    },
  });
  assert.ok(blockedOnBlue, 'blue refused writes while IN_PROGRESS');
  assert.is(cluster.hostAddressMap[green1], undefined, 'green names removed');
  assert.is(e.ownName((await e.query(cluster, blue1, e.ownNameSql))[0]), cluster.instances[0].name);
  await e.query(cluster, blue1, 'INSERT INTO orders VALUES (4)');
  assert.equal(
    (await e.query(cluster, blue1, 'SELECT id FROM orders ORDER BY id')).map((r) => Number(r.id)),
    [1, 2, 3, 4],
  );
  const oldNames = blueNames.map((n) => n.replace(/^([^.]+)\./, '$1-old1.'));
  assert.equal(
    triples(await e.query(cluster, blue1, e.statusSql)),
    expected('SWITCHOVER_COMPLETED', oldNames, blueNames),
  );
  assert.equal(
    triples(await e.query(cluster, oldNames[0], e.statusSql)),
    expected('SWITCHOVER_COMPLETED', oldNames, blueNames),
  );
  assert.is(e.ownName((await e.query(cluster, oldNames[0], e.ownNameSql))[0]), bg.blue[0].name);
  assert.equal(
    (await e.query(cluster, oldNames[0], 'SELECT id FROM orders ORDER BY id')).map((r) => Number(r.id)),
    [1, 2, 3],
  );
}

test('mysql: answers as RDS for MySQL (mysql.rds_topology, Source distribution) once it has a deployment', async () => {
  await withCluster({ flavour: 'mysql', readers: 0 }, async (cluster) => {
    const comment = async (): Promise<unknown> =>
      (await myQuery(cluster, cluster.writerEndpoint.dnsName, "SHOW VARIABLES LIKE 'version_comment'"))[0].Value;
    assert.is(await comment(), 'MySQL Community Server - GPL');
    await scenario(cluster, {
      ...MYSQL,
      ownNameSql: "SELECT id, SUBSTRING_INDEX(endpoint, '.', 1) AS name FROM mysql.rds_topology WHERE id = @@server_id",
      ownName: (r) => r.name,
    });
    assert.is(await comment(), 'Source distribution');
  });
});

test('aurora-mysql: green keeps its own Aurora topology; rollback leaves blue writable', async () => {
  await withCluster({ flavour: 'aurora-mysql', readers: 1 }, async (cluster) => {
    const e: Engine = { ...MYSQL, ownNameSql: 'SELECT @@aurora_server_id AS id', ownName: (r) => r.id };
    const blue = cluster.writerEndpoint.dnsName;
    await myQuery(cluster, blue, e.createTable);
    const bg = await cluster.blueGreen({ suffix: 'zz9900' });
    const green = bg.greenWriterEndpoint.dnsName;
    assert.equal(
      await myQuery(
        cluster,
        green,
        "SELECT SERVER_ID AS id FROM information_schema.replica_host_status WHERE SESSION_ID = 'MASTER_SESSION_ID'",
      ),
      [{ id: 'instance-1-green-zz9900' }],
    );
    assert.equal(
      await myQuery(
        cluster,
        blue,
        "SELECT SERVER_ID AS id FROM information_schema.replica_host_status WHERE SESSION_ID = 'MASTER_SESSION_ID'",
      ),
      [{ id: 'instance-1' }],
    );
    const rows = triples(await myQuery(cluster, green, e.statusSql));
    assert.ok(
      rows.includes(`${blue} BLUE_GREEN_DEPLOYMENT_SOURCE AVAILABLE`) &&
        rows.includes(`${green} BLUE_GREEN_DEPLOYMENT_TARGET AVAILABLE`),
      rows.join('\n'),
    );
    assert.is(rows.length, 6);
    const result = await bg.switchover({
      rollback: true,
      phaseMs: 20,
      onPhase: async (status) => {
        if (status === 'SWITCHOVER_IN_PROGRESS') {
          await myQuery(cluster, blue, 'INSERT INTO orders VALUES (1)').then(
            () => assert.unreachable('blue writable'),
            (err: Error & { errno?: number }) => assert.is(err.errno, 1290),
          );
        }
      },
    });
    assert.equal(
      result.phases.map((p) => p.status),
      ROLLBACK,
    );
    await myQuery(cluster, blue, 'INSERT INTO orders VALUES (1)');
    assert.equal(triples(await myQuery(cluster, green, e.statusSql)), rows);
    await until(
      'write after rollback on green',
      async () => (await myQuery(cluster, green, 'SELECT id FROM orders')).length === 1,
    );
  });
});

test('pg from the CLI: answers as RDS for PostgreSQL (rds_tools.show_topology) once it has a deployment; rollback, switchover', async () => {
  const run = promisify(execFile);
  const cli = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(
      process.execPath,
      [path.resolve('bin/aws-advanced-ts-wrapper.js'), 'cluster', ...args],
      { timeout: 120_000 },
    );
    return stdout;
  };
  const parent = tmpDir('lookalike-bg-cli-');
  chmodSync(parent, 0o755); // as root the servers run as 'postgres', which must enter it
  const dir = path.join(parent, 'state');
  try {
    // Started through the API (one CLI process less); the CLI finds it by its directory.
    const cluster = await LocalCluster.start({ flavour: 'pg', dir });
    const blue1 = cluster.instances[0].dnsName;
    assert.equal(await pgQuery(cluster, blue1, STATUS_SQL.rdsPgExtensions), [], 'plain PostgreSQL before');
    await pgQuery(cluster, blue1, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)');

    const created = await cli('blue-green', 'create', '--suffix', 'cli001', '--dir', dir);
    assert.match(created, /blue\/green deployment bgd-[0-9a-f]{16} created in \d+ ms/);
    assert.match(created, /green: instance-1-green-cli001\n/);
    assert.match(created, /BLUE_GREEN_DEPLOYMENT_TARGET +AVAILABLE +instance-1-green-cli001\./);
    await cluster.status();
    const bg = cluster.blueGreenDeployment!;
    const green1 = bg.green[0].dnsName;
    for (const name of [blue1, green1]) {
      assert.equal(
        await pgQuery(cluster, name, STATUS_SQL.rdsPgExtensions),
        [{ rds_tools: true, aurora_stat_utils: false }],
        `RDS for PostgreSQL at ${name}`,
      );
      assert.equal((await pgQuery(cluster, name, STATUS_SQL.rdsPgAvailable)).length, 1);
      assert.equal(
        triples(await pgQuery(cluster, name, STATUS_SQL.rdsPg)),
        [`${blue1} BLUE_GREEN_DEPLOYMENT_SOURCE AVAILABLE`, `${green1} BLUE_GREEN_DEPLOYMENT_TARGET AVAILABLE`].sort(),
        `rows at ${name}`,
      );
    }
    assert.equal(await pgQuery(cluster, green1, STATUS_SQL.rdsPgHostId), [
      { id: bg.green[0].resourceId, substring: 'instance-1-green-cli001' },
    ]);
    assert.equal(
      await pgQuery(
        cluster,
        blue1,
        "SELECT count(*)::int AS n FROM pg_catalog.pg_proc WHERE proname = 'multi_az_db_cluster_source_dbi_resource_id'",
      ),
      [{ n: 0 }],
      'not a Multi-AZ DB cluster',
    );

    const rolled = await cli('blue-green', 'switchover', '--rollback', '--phase-ms', '10', '--dir', dir);
    assert.match(rolled, /SWITCHOVER_IN_PROGRESS\n.*SWITCHOVER_INITIATED\n.*AVAILABLE\nrolled back in \d+ ms/);
    await pgQuery(cluster, blue1, 'INSERT INTO orders VALUES (2)');
    await cluster.status();
    assert.is(bg.status, 'AVAILABLE');
    assert.ok(Object.keys(cluster.hostAddressMap).includes(green1));

    const held = new pg.Client({ ...cluster.credentials, ...addressOf(cluster, blue1) });
    await held.connect();
    const done = await cli(
      'blue-green',
      'switchover',
      '--initiated-ms',
      '10',
      '--in-progress-ms',
      '30',
      '--post-ms',
      '10',
      '--keep-connections',
      '--json',
      '--dir',
      dir,
    );
    assert.equal(
      (
        await held.query('SELECT pg_catalog.pg_is_in_recovery() AS r, pg_catalog.current_setting($1) AS ro', [
          'default_transaction_read_only',
        ])
      ).rows,
      [{ r: false, ro: 'on' }],
      '--keep-connections: an open connection stays, on the read-only old blue',
    );
    await held.end();
    const out = JSON.parse(done) as {
      result: { phases: { status: string; ms: number }[] };
      hostAddressMap: Record<string, string>;
    };
    assert.equal(
      out.result.phases.map((p) => p.status),
      SWITCHOVER,
    );
    assert.ok(out.result.phases[1].ms >= 30, 'IN_PROGRESS held for --in-progress-ms');
    assert.equal(
      Object.keys(out.hostAddressMap)
        .filter((n) => n.startsWith('instance-1'))
        .map((n) => n.split('.')[0])
        .sort(),
      ['instance-1', 'instance-1-old1'],
    );
    await cluster.status();
    assert.equal(
      await pgQuery(cluster, blue1, STATUS_SQL.rdsPgHostId),
      [{ id: bg.green[0].resourceId, substring: 'instance-1' }],
      'the blue name reaches the renamed green',
    );
    assert.equal(await pgQuery(cluster, blue1, 'SELECT id FROM orders ORDER BY id'), [{ id: 1 }, { id: 2 }]);
    await pgQuery(cluster, blue1, 'INSERT INTO orders VALUES (3)');
    await cluster.stop({ keepLogs: false });
    assert.not.ok(existsSync(dir), 'nothing left of either side');
  } finally {
    await LocalCluster.attach(dir).then(
      (c) => c.stop({ keepLogs: false }),
      () => {},
    );
    rmSync(parent, { recursive: true, force: true });
  }
});

test.run();
