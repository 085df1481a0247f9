// The multi-az-pg lookalike answers the Multi-AZ dialect's exact SQL (the Python wrapper's: rds_tools functions,
// with and without the show_topology argument) with real roles before and after failover; the plain `pg`
// flavour has none of the RDS metadata, so the dialects see plain PostgreSQL.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { LocalCluster } from '../ts/testing/index.js';

const SQL = {
  rdsPg:
    "SELECT (setting LIKE '%rds_tools%') AS rds_tools, (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'rds.extensions'",
  auroraExt:
    "SELECT (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'rds.extensions'",
  auroraStatus: 'SELECT 1 FROM pg_catalog.aurora_replica_status() LIMIT 1',
  writer:
    'SELECT multi_az_db_cluster_source_dbi_resource_id FROM rds_tools.multi_az_db_cluster_source_dbi_resource_id()',
  topology: "SELECT id, endpoint, port FROM rds_tools.show_topology('aws_python_driver-3.0.0')",
  topologyNoArg: 'SELECT id, endpoint, port FROM rds_tools.show_topology()',
  hostId:
    "SELECT id, SUBSTRING(endpoint FROM 0 FOR POSITION('.' IN endpoint)) FROM rds_tools.show_topology() WHERE id OPERATOR(pg_catalog.=) rds_tools.dbi_resource_id()",
  ownId: 'SELECT dbi_resource_id FROM rds_tools.dbi_resource_id()',
  routineExists:
    "SELECT 1 AS tmp FROM information_schema.routines WHERE routine_schema OPERATOR(pg_catalog.=) 'rds_tools' AND routine_name OPERATOR(pg_catalog.=) 'multi_az_db_cluster_source_dbi_resource_id'",
  isReader: 'SELECT pg_catalog.pg_is_in_recovery()',
};

async function query(cluster: LocalCluster, target: string, sql: string, rowMode?: 'array'): Promise<unknown[]> {
  const c = new pg.Client(cluster.directConfig(target));
  c.on('error', () => {});
  await c.connect();
  try {
    return (rowMode ? await c.query({ text: sql, rowMode }) : await c.query(sql)).rows as unknown[];
  } finally {
    await c.end();
  }
}

test('multi-az-pg: detection, topology, writer and host-id SQL; roles follow a failover', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lookalike-maz-'));
  const cluster = await LocalCluster.start({ flavour: 'multi-az-pg', dir }).catch((e: Error) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  try {
    assert.is(cluster.instances.length, 3);
    const ids = new Map(cluster.instances.map((i) => [i.name, i.resourceId]));
    const writerId = ids.get('instance-1')!;
    const expectedTopology = cluster.instances.map((i) => [i.resourceId, i.dnsName, i.port]);
    for (const i of cluster.instances) {
      assert.match(i.resourceId, /^db-[A-Z2-7]{26}$/);
      assert.equal(await query(cluster, i.name, SQL.rdsPg), [{ rds_tools: true, aurora_stat_utils: false }]);
      assert.equal(await query(cluster, i.name, SQL.auroraExt), [{ aurora_stat_utils: false }], 'not Aurora');
      await query(cluster, i.name, SQL.auroraStatus).then(
        () => assert.unreachable('aurora_replica_status must not exist'),
        (e: Error) => assert.match(e.message, /aurora_replica_status/),
      );
      assert.equal(await query(cluster, i.name, SQL.writer, 'array'), [[writerId]], `writer id seen from ${i.name}`);
      assert.equal(await query(cluster, i.name, SQL.topology, 'array'), expectedTopology);
      assert.equal(await query(cluster, i.name, SQL.topologyNoArg, 'array'), expectedTopology);
      assert.equal(await query(cluster, i.name, SQL.hostId, 'array'), [[i.resourceId, i.name]]);
      assert.equal(await query(cluster, i.name, SQL.ownId, 'array'), [[i.resourceId]]);
      assert.equal(await query(cluster, i.name, SQL.routineExists, 'array'), [[1]]);
      assert.equal(await query(cluster, i.name, SQL.isReader, 'array'), [[i.role === 'reader']]);
    }
    const result = await cluster.failover({ target: 'instance-3', mode: 'immediate' });
    assert.is(result.newWriter, 'instance-3');
    for (const name of ['instance-2', 'instance-3']) {
      assert.equal(
        await query(cluster, name, SQL.writer, 'array'),
        [[ids.get('instance-3')]],
        `new writer id seen from ${name}`,
      );
      assert.equal(await query(cluster, name, SQL.isReader, 'array'), [[name === 'instance-2']]);
    }
    assert.equal(
      await query(cluster, 'writer', SQL.ownId, 'array'),
      [[ids.get('instance-3')]],
      'the writer endpoint moved',
    );
  } finally {
    await cluster.stop({ keepLogs: false });
  }
});

test('pg: plain PostgreSQL without RDS metadata; a single instance serves both endpoints', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lookalike-pg-'));
  const cluster = await LocalCluster.start({ flavour: 'pg', dir }).catch((e: Error) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  try {
    assert.equal(
      cluster.instances.map((i) => [i.name, i.role]),
      [['instance-1', 'writer']],
    );
    assert.equal(await query(cluster, 'instance-1', SQL.rdsPg), [], 'no rds.extensions setting');
    await query(cluster, 'instance-1', SQL.writer).then(
      () => assert.unreachable('no rds_tools'),
      (e: Error) => assert.match(e.message, /rds_tools/),
    );
    await query(cluster, 'instance-1', SQL.auroraStatus).then(
      () => assert.unreachable('no aurora functions'),
      (e: Error) => assert.match(e.message, /aurora_replica_status/),
    );
    assert.equal(
      await query(cluster, 'reader', SQL.isReader, 'array'),
      [[false]],
      'the reader endpoint falls back to the writer',
    );
    // restart: an open session sees the admin shutdown (57P01), then the instance serves again.
    const open = new pg.Client(cluster.directConfig('instance-1'));
    await open.connect();
    const ended = new Promise<string>((resolve) =>
      open.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message)),
    );
    await cluster.restart('instance-1');
    assert.is(await ended, '57P01');
    assert.equal(await query(cluster, 'instance-1', 'SELECT 1 AS one'), [{ one: 1 }]);
  } finally {
    await cluster.stop({ keepLogs: false });
  }
});

test.run();
