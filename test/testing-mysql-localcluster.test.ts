// The MariaDB engine under the real orchestration (LocalCluster + supervisor + proxies): aurora-mysql through
// the public addresses — endpoints, crash failover, rejoin, restart, add-reader — and nothing left after stop.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { LocalCluster } from '../ts/testing/index.js';
import { rows, SQL } from './testing-mysql-support.js';

let cluster: LocalCluster;

function open(endpoint: string): Promise<mysql.Connection> {
  return mysql.createConnection(cluster.directConfig(endpoint));
}

async function query(endpoint: string, sql: string): Promise<unknown[][]> {
  const conn = await open(endpoint);
  try {
    return await rows(conn, sql);
  } finally {
    await conn.end();
  }
}

/** mariadbd processes whose command line mentions the cluster directory. */
function serversOf(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.startsWith('mariadbd') && cmd.includes(dir)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

test('aurora-mysql LocalCluster comes up with the Aurora metadata on public addresses', async () => {
  cluster = await LocalCluster.start({ flavour: 'aurora-mysql', readers: 2 });
  console.log(`LocalCluster aurora-mysql with 2 readers up in ${cluster.upMs} ms`);
  assert.is(serversOf(cluster.dir).length, 3);
  assert.equal(await query('writer', SQL.auroraWriterId), [[cluster.writer.name]]);
  assert.equal(await query('writer', SQL.auroraIsReader), [[0]]);
  for (const r of cluster.readers) {
    assert.equal(await query(r.name, SQL.auroraHostId), [[r.name, r.name]]);
    assert.equal(await query(r.name, SQL.auroraIsReader), [[1]]);
  }
  assert.equal(
    (await query('reader', SQL.auroraTopology)).map((r) => [r[0], Number(r[1])]).sort(),
    cluster.instances.map((i) => [i.name, i.name === cluster.writer.name ? 1 : 0]).sort(),
  );
});

test('crash failover through the writer endpoint keeps committed rows; the old writer rejoins', async () => {
  const oldWriter = cluster.writer.name;
  const conn = await open('writer');
  await conn.query('CREATE TABLE orders (id INT PRIMARY KEY)');
  for (let id = 1; id <= 30; id++) await conn.query('INSERT INTO orders VALUES (?)', [id]);
  await conn.end();
  const result = await cluster.failover({ mode: 'immediate' });
  console.log(
    `failover: ${JSON.stringify({ fenceMs: result.fenceMs, promoteMs: result.promoteMs, totalMs: result.totalMs })}`,
  );
  assert.is.not(result.newWriter, oldWriter);
  assert.equal(await query('writer', 'SELECT COUNT(*) FROM orders'), [[30]]);
  assert.equal(await query('writer', SQL.auroraWriterId), [[result.newWriter]]);
  await cluster.rejoin(oldWriter);
  assert.equal(await query(oldWriter, SQL.auroraIsReader), [[1]]);
  assert.equal(await query(oldWriter, SQL.auroraWriterId), []);
  const conn2 = await open('writer');
  await conn2.query('INSERT INTO orders VALUES (31)');
  const pos = String((await rows(conn2, 'SELECT @@gtid_binlog_pos'))[0][0]);
  await conn2.end();
  assert.equal(await query(oldWriter, `SELECT MASTER_GTID_WAIT('${pos}', 30), (SELECT COUNT(*) FROM orders)`), [
    [0, 31],
  ]);
});

test('restart and add-reader keep the reader replicating', async () => {
  const reader = cluster.readers[0].name;
  await cluster.restart(reader, 'immediate');
  const added = await cluster.addReader();
  const conn = await open('writer');
  await conn.query('INSERT INTO orders VALUES (32)');
  const pos = String((await rows(conn, 'SELECT @@gtid_binlog_pos'))[0][0]);
  await conn.end();
  for (const name of [reader, added]) {
    assert.equal(
      await query(name, `SELECT MASTER_GTID_WAIT('${pos}', 30), (SELECT COUNT(*) FROM orders)`),
      [[0, 32]],
      name,
    );
    assert.equal(await query(name, SQL.auroraHostId), [[name, name]]);
  }
  assert.ok((await query('writer', SQL.auroraTopology)).some((r) => r[0] === added));
});

test('stop leaves no mariadbd running', async () => {
  const dir = cluster.dir;
  await cluster.stop();
  assert.equal(serversOf(dir), []);
});

test.run();
