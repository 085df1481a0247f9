// multi-az-mysql lookalike on the MariaDB engine: the multi-az-mysql dialect SQL verbatim, a clean-stop
// failover, a diverged former writer re-cloned on rejoin, add/remove reader, cleanup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RowDataPacket } from 'mysql2/promise';
import type mysql from 'mysql2/promise';
import type { InstanceSpec, TopologySnapshot } from '../ts/testing/engine.js';
import { detect, makeCluster, rows, SQL, type TestCluster } from './testing-mysql-support.js';

let cluster: TestCluster;
let i1: InstanceSpec;
let i2: InstanceSpec;
let i3: InstanceSpec;

async function withConn<T>(instance: InstanceSpec, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await cluster.connect(instance);
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

/** Waits (MASTER_GTID_WAIT, an event, not a sleep) until `reader` applied everything `writer` has. */
async function caughtUp(writer: InstanceSpec, reader: InstanceSpec): Promise<void> {
  const pos = await withConn(writer, async (c) => String((await rows(c, 'SELECT @@gtid_binlog_pos'))[0][0]));
  assert.equal(
    await withConn(reader, (c) => rows(c, `SELECT MASTER_GTID_WAIT('${pos}', 30)`)),
    [[0]],
    `${reader.name} caught up`,
  );
}

async function replicaSource(instance: InstanceSpec): Promise<number | undefined> {
  const [status] = await withConn(instance, (c) => c.query<RowDataPacket[]>(SQL.multiAzWriter));
  // MariaDB names MySQL's Source_Server_Id (index 39 there) Master_Server_Id: read it by name.
  return status.length === 0 ? undefined : Number(status[0].Master_Server_Id);
}

async function expectRoles(writer: InstanceSpec, readers: InstanceSpec[], listed: InstanceSpec[]): Promise<void> {
  const expected = listed.map((i) => [i.serverId, i.dnsName, 3306]).sort();
  for (const instance of [writer, ...readers]) {
    await withConn(instance, async (c) => {
      assert.equal(
        (await rows(c, SQL.multiAzTopology)).map((r) => [Number(r[0]), r[1], Number(r[2])]).sort(),
        expected,
        instance.name,
      );
      assert.equal(
        (await rows(c, SQL.multiAzHostId)).map((r) => [Number(r[0]), r[1]]),
        [[instance.serverId, instance.name]],
      );
      assert.equal(await rows(c, SQL.mysqlIsReader), [[instance === writer ? 0 : 1]]);
    });
    assert.is(
      await replicaSource(instance),
      instance === writer ? undefined : writer.serverId,
      `${instance.name} replicates from`,
    );
  }
}

test('create 3 instances; detected as multi-az-mysql, not aurora', async () => {
  cluster = await makeCluster('multi-az-mysql', 3);
  [i1, i2, i3] = cluster.instances as [InstanceSpec, InstanceSpec, InstanceSpec];
  const started = Date.now();
  await cluster.engine.create(cluster.ctx, cluster.instances);
  console.log(`create (multi-az-mysql, 3 instances): ${Date.now() - started} ms`);
  cluster.fronts = await cluster.engine.serve(cluster.ctx, cluster.instances);
  for (const instance of cluster.instances) {
    // rds-mysql also matches (as on RDS); the refinement order tries multi-az-mysql first.
    assert.equal(
      await withConn(instance, detect),
      { mysql: false, rdsMysql: true, aurora: false, globalAurora: false, multiAz: true },
      instance.name,
    );
    assert.equal(await withConn(instance, (c) => rows(c, SQL.reportHost)), [['report_host', instance.dnsName]]);
  }
  const [status] = await withConn(i2, (c) => c.query({ sql: SQL.multiAzWriter, rowsAsArray: false }));
  console.log(
    `MariaDB SHOW REPLICA STATUS: Master_Server_Id at index ${Object.keys((status as RowDataPacket[])[0]).indexOf('Master_Server_Id')}`,
  );
});

test('topology, host-id, writer and is-reader before failover', async () => {
  await expectRoles(i1, [i2, i3], [i1, i2, i3]);
});

test('clean-stop failover to instance-3 keeps committed rows', async () => {
  await withConn(i1, async (c) => {
    await c.query('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40))');
    for (let id = 1; id <= 20; id++) await c.query('INSERT INTO t VALUES (?, ?)', [id, 'before']);
  });
  const busy = await cluster.connect(i1);
  busy.on('error', () => undefined);
  const sleeping = busy.query('SELECT SLEEP(60)').then(
    () => undefined,
    (e: Error & { errno?: number; code?: string }) => e,
  );
  await withConn(i1, async (c) => {
    // Wait until the SLEEP is running (an observable state, not a timed pause).
    for (;;) {
      const n = await rows(c, "SELECT COUNT(*) FROM information_schema.processlist WHERE info = 'SELECT SLEEP(60)'");
      if (Number(n[0][0]) > 0) break;
    }
  });
  await cluster.engine.stop(cluster.ctx, i1, 'fast');
  const shutdownError = await sleeping;
  console.log(
    `client of a clean shutdown sees: ${shutdownError?.code} ${shutdownError?.errno} ${shutdownError?.message}`,
  );
  // MariaDB closes connections at shutdown without an error packet (MySQL may send 1053 first); either way a
  // network-class failure, never a hang or a successful result.
  assert.ok(shutdownError?.code === 'PROTOCOL_CONNECTION_LOST' || shutdownError?.errno === 1053, String(shutdownError));
  busy.destroy();
  const started = Date.now();
  await cluster.engine.promote(cluster.ctx, i3, { writer: i3, readers: [i2] });
  console.log(`promotion (multi-az-mysql): ${Date.now() - started} ms`);
  await expectRoles(i3, [i2], [i3, i2]);
  assert.equal(await withConn(i3, (c) => rows(c, 'SELECT COUNT(*) FROM t')), [[20]]);
});

test('a former writer with unreplicated commits is re-cloned when it rejoins', async () => {
  // instance-3 (writer) commits while no replica is connected, then crashes: that commit exists nowhere else.
  await cluster.engine.stop(cluster.ctx, i2, 'immediate');
  await withConn(i3, (c) => c.query('INSERT INTO t VALUES (1000, ?)', ['lost']));
  await cluster.engine.stop(cluster.ctx, i3, 'immediate');
  await cluster.engine.start(cluster.ctx, i2);
  await cluster.engine.promote(cluster.ctx, i2, { writer: i2, readers: [i1, i3] });
  await withConn(i2, (c) => c.query('INSERT INTO t VALUES (1001, ?)', ['new writer']));
  const topology: TopologySnapshot = { writer: i2, readers: [i1, i3] };
  await cluster.engine.rejoin(cluster.ctx, i3, topology);
  await cluster.engine.rejoin(cluster.ctx, i1, topology);
  assert.ok(
    cluster.logs.some((l) => l.includes('instance-3 diverged')),
    cluster.logs.join('\n'),
  );
  for (const reader of [i1, i3]) {
    await caughtUp(i2, reader);
    assert.equal(await withConn(reader, (c) => rows(c, 'SELECT id, v FROM t WHERE id >= 1000 ORDER BY id')), [
      [1001, 'new writer'],
    ]);
    assert.equal(await withConn(reader, (c) => rows(c, 'SELECT COUNT(*) FROM t WHERE id <= 20')), [[20]]);
  }
  await expectRoles(i2, [i1, i3], [i2, i1, i3]);
});

test('add and remove a reader', async () => {
  const i4 = await cluster.spec('instance-4', 104);
  cluster.instances.push(i4);
  await cluster.engine.addReader(cluster.ctx, i4, { writer: i2, readers: [i1, i3, i4] });
  assert.ok(cluster.fronts!.listening().has('instance-4'));
  await caughtUp(i2, i4);
  await expectRoles(i2, [i1, i3, i4], [i2, i1, i3, i4]);
  assert.equal(await withConn(i4, (c) => rows(c, 'SELECT COUNT(*) FROM t')), [[21]]);
  await cluster.engine.removeReader(cluster.ctx, i4, { writer: i2, readers: [i1, i3] });
  await cluster.fronts!.refresh();
  assert.not.ok(cluster.fronts!.listening().has('instance-4'));
  await expectRoles(i2, [i1, i3], [i2, i1, i3]);
});

test('destroy leaves no server running', async () => {
  console.log(cluster.logs.join('\n'));
  assert.equal(await cluster.cleanup(), []);
});

test.run();
