// The aurora-pg lookalike: one 3-instance cluster answers the wrapper dialects' exact SQL,
// shows real roles and topology before and after failover, loses no acknowledged commit, and its kill / hang /
// latency faults are what a plain pg driver sees. The Node peer aws-advanced-nodejs-wrapper detects it as Aurora.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { LocalCluster } from '../ts/testing/index.js';

const SQL = {
  pg: 'SELECT 1 FROM pg_catalog.pg_proc LIMIT 1',
  rdsPg:
    "SELECT (setting LIKE '%rds_tools%') AS rds_tools, (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'rds.extensions'",
  auroraExt:
    "SELECT (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'rds.extensions'",
  auroraStatus: 'SELECT 1 FROM pg_catalog.aurora_replica_status() LIMIT 1',
  globalStatus: "select 'pg_catalog.aurora_global_db_status'::regproc",
  multiAz:
    'SELECT multi_az_db_cluster_source_dbi_resource_id FROM rds_tools.multi_az_db_cluster_source_dbi_resource_id()',
  topology:
    "SELECT SERVER_ID, CASE WHEN SESSION_ID OPERATOR(pg_catalog.=) 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, CPU, COALESCE(REPLICA_LAG_IN_MSEC, 0), LAST_UPDATE_TIMESTAMP FROM pg_catalog.aurora_replica_status() WHERE EXTRACT(EPOCH FROM(pg_catalog.NOW() OPERATOR(pg_catalog.-) LAST_UPDATE_TIMESTAMP)) OPERATOR(pg_catalog.<=) 300 OR SESSION_ID OPERATOR(pg_catalog.=) 'MASTER_SESSION_ID' OR LAST_UPDATE_TIMESTAMP IS NULL",
  writerId:
    "SELECT SERVER_ID FROM pg_catalog.aurora_replica_status() WHERE SESSION_ID OPERATOR(pg_catalog.=) 'MASTER_SESSION_ID' AND SERVER_ID OPERATOR(pg_catalog.=) pg_catalog.aurora_db_instance_identifier()",
  hostId: 'SELECT pg_catalog.aurora_db_instance_identifier(), pg_catalog.aurora_db_instance_identifier()',
  isReader: 'SELECT pg_catalog.pg_is_in_recovery()',
  pgHostId:
    "SELECT pg_catalog.inet_server_addr() AS host, pg_catalog.CONCAT(pg_catalog.inet_server_addr(), ':', pg_catalog.inet_server_port()) AS host_id",
  version: "SELECT 'version', pg_catalog.VERSION()",
};

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'lookalike-aurora-'));
const clients: pg.Client[] = [];

async function connect(target: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ ...cluster.directConfig(target), ...extra });
  c.on('error', () => {});
  clients.push(c);
  await c.connect();
  return c;
}

async function rows(target: string, sql: string, rowMode?: 'array'): Promise<unknown[]> {
  const c = await connect(target);
  try {
    const r = rowMode ? await c.query({ text: sql, rowMode }) : await c.query(sql);
    return r.rows as unknown[];
  } finally {
    await c.end();
  }
}

async function fails(target: string, sql: string): Promise<string> {
  return rows(target, sql).then(
    () => 'no error',
    (e: Error) => e.message,
  );
}

test.before(async () => {
  cluster = await LocalCluster.start({
    flavour: 'aurora-pg',
    readers: 2,
    dir,
    database: 'app',
  });
  console.log(`cluster up in ${cluster.upMs} ms`);
});

test.after(async () => {
  for (const c of clients) await c.end().catch(() => {});
  await cluster?.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
});

test('names, addresses and the host address map are RDS-shaped and loopback only', () => {
  const id = cluster.clusterId;
  assert.match(id, /^[a-z][a-z0-9]{11}$/);
  assert.is(cluster.writerEndpoint.dnsName, `lookalike.cluster-${id}.us-east-1.rds.amazonaws.com`);
  assert.is(cluster.readerEndpoint.dnsName, `lookalike.cluster-ro-${id}.us-east-1.rds.amazonaws.com`);
  assert.is(cluster.clusterInstanceHostPattern, `?.${id}.us-east-1.rds.amazonaws.com`);
  assert.equal(
    cluster.instances.map((i) => [i.name, i.role]),
    [
      ['instance-1', 'writer'],
      ['instance-2', 'reader'],
      ['instance-3', 'reader'],
    ],
  );
  const map = cluster.hostAddressMap;
  assert.is(Object.keys(map).length, 5);
  for (const i of cluster.instances) assert.is(map[`${i.name}.${id}.us-east-1.rds.amazonaws.com`], i.address);
  for (const address of Object.values(map)) assert.match(address, /^127\.\d+\.\d+\.\d+:\d+$/);
  const cfg = cluster.clientConfig('reader');
  assert.is(cfg.host, cluster.readerEndpoint.dnsName);
  assert.equal(cfg.hostAddressMap, map);
  assert.is(cfg.database, 'app');
});

test('dialect detection SQL: pg yes, aurora-pg yes, rds-pg no, multi-az no, global no — on every instance', async () => {
  for (const i of cluster.instances) {
    assert.equal(await rows(i.name, SQL.pg, 'array'), [[1]]);
    assert.equal(await rows(i.name, SQL.auroraExt), [{ aurora_stat_utils: true }]);
    assert.equal(await rows(i.name, SQL.auroraStatus, 'array'), [[1]]);
    const rds = (await rows(i.name, SQL.rdsPg)) as { rds_tools: boolean; aurora_stat_utils: boolean }[];
    assert.ok(!(rds[0].rds_tools && !rds[0].aurora_stat_utils), 'rds-pg must not match Aurora');
    assert.match(await fails(i.name, SQL.multiAz), /rds_tools/);
    // The global status functions exist (as on Aurora) but a cluster outside a global database reports no region.
    assert.equal(await rows(i.name, SQL.globalStatus, 'array'), [['aurora_global_db_status']]);
    assert.equal(await rows(i.name, 'SELECT count(1)::int AS n FROM pg_catalog.aurora_global_db_status()'), [{ n: 0 }]);
  }
});

test('topology, writer-id, host-id and is-reader SQL reflect the real roles', async () => {
  for (const i of cluster.instances) {
    const topo = (await rows(i.name, SQL.topology, 'array')) as [string, boolean, number, number, Date][];
    assert.equal(
      topo.map((r) => [r[0], r[1]]),
      [
        ['instance-1', true],
        ['instance-2', false],
        ['instance-3', false],
      ],
      `topology seen from ${i.name}`,
    );
    for (const r of topo) {
      assert.type(r[2], 'number');
      assert.type(r[3], 'number');
      assert.ok(r[4] instanceof Date && Math.abs(Date.now() - r[4].getTime()) < 60_000, 'fresh LAST_UPDATE_TIMESTAMP');
    }
    assert.equal(await rows(i.name, SQL.hostId, 'array'), [[i.name, i.name]]);
    assert.equal(await rows(i.name, SQL.writerId, 'array'), i.role === 'writer' ? [[i.name]] : []);
    assert.equal(await rows(i.name, SQL.isReader, 'array'), [[i.role === 'reader']]);
    const [pgHost] = (await rows(i.name, SQL.pgHostId)) as { host: string; host_id: string }[];
    assert.match(pgHost.host_id, /^127\.0\.0\.1:\d+$/);
    assert.match(String(((await rows(i.name, SQL.version, 'array')) as string[][])[0][1]), /^PostgreSQL/);
  }
  // Readers carry session ids other than the writer's, as Aurora reports them.
  const sessions = (await rows('writer', 'SELECT server_id, session_id FROM pg_catalog.aurora_replica_status()')) as {
    server_id: string;
    session_id: string;
  }[];
  assert.is(sessions.find((s) => s.server_id === 'instance-1')!.session_id, 'MASTER_SESSION_ID');
  assert.ok(
    sessions
      .filter((s) => s.server_id !== 'instance-1')
      .every((s) => s.session_id && s.session_id !== 'MASTER_SESSION_ID'),
  );
  // A database created later has the metadata too (it is in template1).
  const admin = await connect('writer');
  await admin.query('CREATE DATABASE later_db');
  const later = await connect('writer', { database: 'later_db' });
  assert.equal((await later.query({ text: SQL.hostId, rowMode: 'array' })).rows, [['instance-1', 'instance-1']]);
  await later.end();
  await admin.query('DROP DATABASE later_db');
  await admin.end();
});

test('commits are acknowledged synchronously by a reader, and endpoints route by role', async () => {
  const w = await connect('writer');
  const sync = await w.query('SELECT application_name, sync_state FROM pg_catalog.pg_stat_replication ORDER BY 1');
  assert.equal(sync.rows, [
    { application_name: 'instance-2', sync_state: 'quorum' },
    { application_name: 'instance-3', sync_state: 'quorum' },
  ]);
  assert.equal((await w.query('SELECT pg_catalog.aurora_db_instance_identifier() AS id')).rows, [{ id: 'instance-1' }]);
  await w.end();
  const seen = new Set<string>();
  for (let n = 0; n < 4; n++)
    seen.add(
      ((await rows('reader', 'SELECT pg_catalog.aurora_db_instance_identifier() AS id')) as { id: string }[])[0].id,
    );
  assert.equal(
    [...seen].sort(),
    ['instance-2', 'instance-3'],
    'the reader endpoint spreads connections over the readers',
  );
});

test('kill: a plain driver sees refused connects and reset sessions; heal restores', async () => {
  const open = await connect('instance-2');
  const lost = new Promise<Error>((resolve) => open.once('error', resolve));
  await cluster.kill('instance-2');
  assert.match((await lost).message, /ECONNRESET|Connection terminated/);
  const err = await connect('instance-2').then(
    () => null,
    (e: NodeJS.ErrnoException) => e,
  );
  assert.is(err?.code, 'ECONNREFUSED');
  assert.is(cluster.instances.find((i) => i.name === 'instance-2')!.fault, 'kill');
  await cluster.heal('instance-2');
  assert.equal(await rows('instance-2', 'SELECT 1 AS one'), [{ one: 1 }]);
});

test('hang: open sessions stop answering and new connects never complete; heal lets them finish', async () => {
  const open = await connect('instance-3');
  await cluster.hang('instance-3');
  const pending = open.query('SELECT pg_catalog.aurora_db_instance_identifier() AS id');
  let answered = false;
  void pending.then(
    () => (answered = true),
    () => (answered = true),
  );
  const connectErr = await connect('instance-3', { connectionTimeoutMillis: 400 }).then(
    () => null,
    (e: Error) => e,
  );
  assert.match(connectErr?.message ?? 'connected', /timeout/i);
  assert.not.ok(answered, 'a hung instance must not answer');
  await cluster.heal('instance-3');
  assert.equal((await pending).rows, [{ id: 'instance-3' }]);
  await open.end();
});

test('latency delays every round trip', async () => {
  const c = await connect('instance-2');
  await cluster.latency('instance-2', 100);
  const t0 = Date.now();
  await c.query('SELECT 1');
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 190, `round trip ${elapsed} ms, expected >= 200 (100 each way)`);
  await cluster.heal();
  await c.end();
});

test('failover: old writer fenced, acknowledged commits survive, roles and topology move, rejoin as reader', async () => {
  const w = await connect('writer');
  await w.query('CREATE TABLE orders (id int PRIMARY KEY)');
  for (let i = 1; i <= 50; i++) await w.query('INSERT INTO orders VALUES ($1)', [i]);
  const oldSession = new Promise<Error>((resolve) => w.once('error', resolve));
  const result = await cluster.failover();
  console.log(
    `failover: fence ${result.fenceMs} ms, promote ${result.promoteMs} ms, total ${result.totalMs} ms -> ${result.newWriter}`,
  );
  assert.is(result.oldWriter, 'instance-1');
  assert.ok(['instance-2', 'instance-3'].includes(result.newWriter));
  assert.ok((await oldSession).message.length > 0, 'the old writer session ends');
  assert.is(cluster.writer.name, result.newWriter);
  const old = cluster.instances.find((i) => i.name === 'instance-1')!;
  assert.equal([old.role, old.running], ['reader', false]);
  const refused = await connect('instance-1').then(
    () => null,
    (e: NodeJS.ErrnoException) => e.code,
  );
  assert.is(refused, 'ECONNREFUSED', 'the fenced writer takes no connections');

  // DNS lag 0: the writer endpoint already leads to the new writer, which has every acknowledged commit.
  const nw = await connect('writer');
  assert.equal(
    (await nw.query('SELECT pg_catalog.aurora_db_instance_identifier() AS id, pg_catalog.pg_is_in_recovery() AS r'))
      .rows,
    [{ id: result.newWriter, r: false }],
  );
  assert.equal((await nw.query('SELECT count(*)::int AS n FROM orders')).rows, [{ n: 50 }]);
  await nw.query('INSERT INTO orders VALUES (51)');
  await nw.end();
  const other = result.newWriter === 'instance-2' ? 'instance-3' : 'instance-2';
  for (const seenFrom of [result.newWriter, other]) {
    const topo = (await rows(seenFrom, SQL.topology, 'array')) as [string, boolean][];
    assert.equal(
      topo.filter((r) => r[1]).map((r) => r[0]),
      [result.newWriter],
      `one writer, seen from ${seenFrom}`,
    );
    assert.equal(await rows(seenFrom, SQL.writerId, 'array'), seenFrom === result.newWriter ? [[seenFrom]] : []);
  }
  // The remaining reader follows the new writer's timeline.
  const r = await connect(other);
  let n = 0;
  const deadline = Date.now() + 15_000; // replay on a loaded machine can take a while
  for (;;) {
    n = (await r.query('SELECT count(*)::int AS n FROM orders')).rows[0].n as number;
    if (n >= 51 || Date.now() > deadline) break;
    await new Promise((res) => setTimeout(res, 25));
  }
  assert.is(n, 51);
  await r.end();

  await cluster.rejoin('instance-1');
  assert.equal(await rows('instance-1', SQL.isReader, 'array'), [[true]]);
  assert.equal(await rows('instance-1', SQL.writerId, 'array'), []);
  const topo = (await rows('instance-1', SQL.topology, 'array')) as [string, boolean][];
  assert.equal(topo.map((t) => t[0]).sort(), ['instance-1', 'instance-2', 'instance-3']);
  assert.equal(
    topo.filter((t) => t[1]).map((t) => t[0]),
    [result.newWriter],
  );
});

test('the Node peer aws-advanced-nodejs-wrapper detects the lookalike as Aurora PostgreSQL', async () => {
  const { AwsPGClient } = (await import('aws-advanced-nodejs-wrapper/pg')) as unknown as {
    AwsPGClient: new (config: Record<string, unknown>) => {
      connect(): Promise<unknown>;
      end(): Promise<unknown>;
      query(sql: string): Promise<{ rows: unknown[] }>;
      pluginService: { getDialect(): { constructor: { name: string } }; getHosts(): { host: string; role: string }[] };
    };
  };
  const client = new AwsPGClient({
    ...cluster.directConfig('writer'),
    plugins: '',
    clusterInstanceHostPattern: cluster.clusterInstanceHostPattern,
  });
  await client.connect();
  try {
    assert.is(client.pluginService.getDialect().constructor.name, 'AuroraPgDatabaseDialect');
    const hosts = client.pluginService
      .getHosts()
      .map((h) => [h.host, h.role])
      .sort();
    assert.equal(hosts, cluster.instances.map((i) => [i.dnsName, i.role]).sort());
  } finally {
    await client.end();
  }
});

test('add and remove a reader', async () => {
  const name = await cluster.addReader();
  assert.is(name, 'instance-4');
  assert.equal(await rows(name, SQL.hostId, 'array'), [[name, name]]);
  assert.equal(await rows(name, 'SELECT count(*)::int AS n FROM orders'), [{ n: 51 }]);
  const topo = (await rows('writer', SQL.topology, 'array')) as [string, boolean][];
  assert.ok(topo.some((t) => t[0] === name && t[1] === false));
  await cluster.removeReader(name);
  assert.not.ok(cluster.instances.some((i) => i.name === name));
  const after = (await rows('writer', SQL.topology, 'array')) as [string, boolean][];
  assert.not.ok(after.some((t) => t[0] === name));
});

test.run();
