// read_write_splitting and srw with mysql2 on the aurora-mysql lookalike (MariaDB): AwsMySQLClient switches between
// writer and reader, session state is carried, and an AwsMySQLPool shares its pooled reader connections.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { AwsMySQLPool } from '../ts/mysql.js';
import { WrapperServices } from '../ts/services.js';
import { LocalCluster } from '../ts/testing/index.js';

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'rw-mysql-'));

interface Where {
  id: string;
  ro: number;
  conn: number;
}

async function where(c: { query: AwsMySQLClient['query'] }): Promise<Where> {
  const [rows] = await c.query<RowDataPacket[]>(
    'SELECT @@aurora_server_id AS id, @@innodb_read_only AS ro, CONNECTION_ID() AS conn',
  );
  return { ...rows[0] } as Where;
}

test.before(async () => {
  cluster = await LocalCluster.start({ flavour: 'aurora-mysql', readers: 2, dir });
});

test.after(async () => {
  await cluster?.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
});

test('read_write_splitting: setReadOnly switches an AwsMySQLClient between writer and reader, state carried', async () => {
  const c = new AwsMySQLClient(
    { ...cluster.clientConfig('writer'), plugins: 'read_write_splitting' },
    { services: new WrapperServices() },
  );
  await c.connect();
  const w = await where(c);
  assert.equal([w.id, w.ro], ['instance-1', 0]);
  await c.setTransactionIsolation('READ COMMITTED');
  await c.setReadOnly(true);
  const r = await where(c);
  assert.ok(['instance-2', 'instance-3'].includes(r.id));
  assert.is(r.ro, 1);
  const [iso] = await c.query<RowDataPacket[]>('SELECT @@session.tx_isolation AS iso, @@session.tx_read_only AS txro');
  assert.equal({ ...iso[0] }, { iso: 'READ-COMMITTED', txro: 1 });
  await c.setReadOnly(false);
  assert.equal(await where(c), w, 'the cached writer connection');
  await c.beginTransaction();
  await c.setReadOnly(true);
  assert.is((await where(c)).conn, w.conn, 'no switch inside a transaction');
  await c.commit();
  await c.end();
});

test('srw: reader and writer endpoints with verification', async () => {
  const c = new AwsMySQLClient(
    {
      ...cluster.clientConfig('writer'),
      plugins: 'srw',
      srwReadEndpoint: `${cluster.readerEndpoint.dnsName}:${cluster.readerEndpoint.port}`,
      srwWriteEndpoint: `${cluster.writerEndpoint.dnsName}:${cluster.writerEndpoint.port}`,
    },
    { services: new WrapperServices() },
  );
  await c.connect();
  await c.setReadOnly(true);
  assert.is((await where(c)).ro, 1);
  await c.setReadOnly(false);
  assert.equal([(await where(c)).id, (await where(c)).ro], ['instance-1', 0]);
  await c.end();
});

test('AwsMySQLPool with read/write splitting: reader connections pooled per instance and reused', async () => {
  const p = new AwsMySQLPool(
    {
      ...cluster.clientConfig('writer'),
      plugins: 'read_write_splitting',
      connectionLimit: 2,
      readerHostSelectorStrategy: 'least_connections',
    },
    { services: new WrapperServices() },
  );
  const seen = new Set<number>();
  for (let i = 0; i < 6; i++) {
    const c = await p.getConnection();
    await c.setReadOnly(true);
    const r = await where(c);
    assert.is(r.ro, 1);
    seen.add(r.conn);
    c.release();
  }
  assert.ok(seen.size <= 2, `pooled reader connections reused (${seen.size} distinct for 6 checkouts)`);
  const [rows] = await p.query<RowDataPacket[]>('SELECT @@innodb_read_only AS ro');
  assert.is(rows[0].ro, 0, 'pool.query runs on the writer');
  await p.end();
});

test.run();
