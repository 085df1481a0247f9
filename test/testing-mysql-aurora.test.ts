// aurora-mysql lookalike on the MariaDB engine: 3 instances, the aurora-mysql dialect SQL verbatim through each
// instance's front, a crash failover that keeps every acknowledged commit, rejoin of the old writer, cleanup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RowDataPacket } from 'mysql2/promise';
import type mysql from 'mysql2/promise';
import type { InstanceSpec } from '../ts/testing/engine.js';
import { detect, makeCluster, rows, SQL, type TestCluster } from './testing-mysql-support.js';

let cluster: TestCluster;
let w: InstanceSpec;
let r1: InstanceSpec;
let r2: InstanceSpec;

async function withConn<T>(instance: InstanceSpec, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await cluster.connect(instance);
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

/** Topology as the wrapper reads it: (server id, is writer) sorted, with the other columns type-checked. */
async function topology(instance: InstanceSpec): Promise<Array<[string, number]>> {
  return withConn(instance, async (c) => {
    const result = await rows(c, SQL.auroraTopology);
    for (const row of result) {
      assert.is(row.length, 5);
      assert.type(row[2], 'number');
      assert.type(row[3], 'number');
      assert.instance(row[4], Date);
      assert.ok(Math.abs(Date.now() - (row[4] as Date).getTime()) < 300_000);
    }
    return result.map((r) => [String(r[0]), Number(r[1])] as [string, number]).sort();
  });
}

async function roles(
  instance: InstanceSpec,
): Promise<{ writerId: unknown[][]; hostId: unknown[][]; isReader: unknown[][] }> {
  return withConn(instance, async (c) => ({
    writerId: await rows(c, SQL.auroraWriterId),
    hostId: await rows(c, SQL.auroraHostId),
    isReader: await rows(c, SQL.auroraIsReader),
  }));
}

test('create 3 instances and serve their fronts', async () => {
  cluster = await makeCluster('aurora-mysql', 3);
  [w, r1, r2] = cluster.instances as [InstanceSpec, InstanceSpec, InstanceSpec];
  const started = Date.now();
  await cluster.engine.create(cluster.ctx, cluster.instances);
  console.log(`create (aurora-mysql, 3 instances): ${Date.now() - started} ms`);
  cluster.fronts = await cluster.engine.serve(cluster.ctx, cluster.instances);
  assert.equal([...cluster.fronts.listening().values()].sort(), cluster.instances.map((i) => i.port).sort());
});

test('every instance is detected as aurora-mysql and nothing else', async () => {
  for (const instance of cluster.instances) {
    const found = await withConn(instance, detect);
    assert.equal(
      found,
      { mysql: false, rdsMysql: false, aurora: true, globalAurora: false, multiAz: false },
      instance.name,
    );
  }
  const [version] = await withConn(w, (c) => rows(c, SQL.auroraVersion));
  assert.equal(version, ['aurora_version', '3.08.0']);
});

test('topology, writer-id, host-id and is-reader before failover', async () => {
  for (const instance of cluster.instances) {
    assert.equal(await topology(instance), [
      ['instance-1', 1],
      ['instance-2', 0],
      ['instance-3', 0],
    ]);
    const got = await roles(instance);
    assert.equal(got.hostId, [[instance.name, instance.name]]);
    assert.equal(got.writerId, instance === w ? [['instance-1']] : []);
    assert.equal(got.isReader, [[instance === w ? 0 : 1]]);
  }
  const [named] = await withConn(r1, (c) => c.query<RowDataPacket[]>('SELECT @@aurora_server_id, @@innodb_read_only'));
  assert.equal(named[0], { '@@aurora_server_id': 'instance-2', '@@innodb_read_only': 1 });
});

test('readers refuse writes the way RDS does', async () => {
  const err = await withConn(r1, (c) =>
    c.query('CREATE TABLE nope (id INT)').then(
      () => undefined,
      (e: Error & { errno?: number }) => e,
    ),
  );
  assert.ok(err, 'write on a reader must fail');
  assert.is(err.errno, 1290);
  assert.match(err.message, 'running with the --read-only option so it cannot execute this statement');
});

test('a crash failover keeps every acknowledged commit', async () => {
  const app = await cluster.connect(w);
  await app.query('CREATE TABLE acked (id INT PRIMARY KEY, v VARCHAR(40))');
  const acked: number[] = [];
  let crashed = false;
  const writes = (async () => {
    for (let id = 1; ; id++) {
      try {
        await app.query('INSERT INTO acked VALUES (?, ?)', [id, `row ${id}`]);
      } catch {
        return;
      }
      acked.push(id);
      if (acked.length === 100 && !crashed) {
        crashed = true;
        // No await: inserts keep going until the kill lands.
        void cluster.engine.stop(cluster.ctx, w, 'immediate');
      }
    }
  })();
  await writes;
  app.destroy();
  assert.ok(acked.length >= 100);
  const started = Date.now();
  await cluster.engine.promote(cluster.ctx, r1, { writer: r1, readers: [r2] });
  console.log(
    `promotion (aurora-mysql): ${Date.now() - started} ms; ${acked.length} commits acknowledged before the crash`,
  );
  await withConn(r1, async (c) => {
    const [ids] = (await c.query({ sql: 'SELECT id FROM acked ORDER BY id', rowsAsArray: true })) as unknown as [
      number[][],
    ];
    const present = new Set(ids.map((r) => r[0]));
    assert.equal(
      acked.filter((id) => !present.has(id)),
      [],
      'acknowledged commits missing on the new writer',
    );
  });
  await withConn(r2, async (c) => {
    const [[count]] = (await c.query({ sql: 'SELECT COUNT(*) FROM acked', rowsAsArray: true })) as unknown as [
      [[number]],
    ];
    assert.ok(Number(count[0]) >= acked.length);
  });
});

test('semi-synchronous replication acknowledged those commits', async () => {
  const [[yes]] = await withConn(r1, async (c) => {
    // The new writer's counters start at 0; one write with a connected replica must be acknowledged.
    await c.query('INSERT INTO acked VALUES (100000, ?)', ['after failover']);
    return (await c.query({
      sql: "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_yes_tx'",
      rowsAsArray: true,
    })) as unknown as [[[string, string]]];
  });
  assert.ok(Number(yes[1]) >= 1, `Rpl_semi_sync_master_yes_tx = ${yes[1]}`);
});

test('after failover the metadata names the new writer everywhere', async () => {
  for (const instance of [r1, r2]) {
    assert.equal(await topology(instance), [
      ['instance-2', 1],
      ['instance-3', 0],
    ]);
    const got = await roles(instance);
    assert.equal(got.writerId, instance === r1 ? [['instance-2']] : []);
    assert.equal(got.isReader, [[instance === r1 ? 0 : 1]]);
  }
});

test('the old writer rejoins as a reader of the new writer', async () => {
  await cluster.engine.rejoin(cluster.ctx, w, { writer: r1, readers: [r2, w] });
  const pos = await withConn(r1, async (c) => {
    await c.query('INSERT INTO acked VALUES (100001, ?)', ['after rejoin']);
    return String((await rows(c, 'SELECT @@gtid_binlog_pos'))[0][0]);
  });
  for (const instance of [w, r2]) {
    await withConn(instance, async (c) => {
      assert.equal(await rows(c, `SELECT MASTER_GTID_WAIT('${pos}', 30)`), [[0]]);
      assert.equal(await rows(c, 'SELECT v FROM acked WHERE id = 100001'), [['after rejoin']]);
    });
  }
  const got = await roles(w);
  assert.equal(got.writerId, []);
  assert.equal(got.isReader, [[1]]);
  assert.equal(await topology(w), [
    ['instance-1', 0],
    ['instance-2', 1],
    ['instance-3', 0],
  ]);
  console.log(`engine log: ${cluster.logs.join(' | ')}`);
});

test('destroy leaves no server running', async () => {
  assert.equal(await cluster.cleanup(), []);
});

test.run();
