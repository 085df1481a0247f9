// The MySQL-protocol front of the MariaDB lookalike: SQL rewrite rules, and byte-exact pass-through of
// everything else (prepared statements, multi-statement results, multi-megabyte and >16 MiB queries), on a
// one-instance plain `mysql` cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RowDataPacket } from 'mysql2/promise';
import { createSqlRewriter } from '../ts/testing/mariadb-sql-rewrite.js';
import { frontRules } from '../ts/testing/mariadb-metadata.js';
import { ClientPacketRewriter, GreetingRewriter } from '../ts/testing/aurora-mysql-front.js';
import { detect, makeCluster, rows, SQL, type TestCluster } from './testing-mysql-support.js';

const aurora = createSqlRewriter(frontRules('aurora-mysql', 'instance-2'));

test('aurora rules rewrite the dialect SQL', () => {
  assert.is(aurora(SQL.auroraVersion), "SELECT 'aurora_version' AS Variable_name, '3.08.0' AS Value");
  assert.is(
    aurora(SQL.auroraHostId),
    "SELECT 'instance-2' AS `@@aurora_server_id`, 'instance-2' AS `@@aurora_server_id`",
  );
  assert.is(aurora(SQL.auroraIsReader), 'SELECT @@global.read_only AS `@@innodb_read_only`');
  assert.is(
    aurora(SQL.auroraWriterId),
    "SELECT SERVER_ID FROM aurora_lookalike.replica_host_status WHERE SESSION_ID = 'MASTER_SESSION_ID' AND SERVER_ID = 'instance-2'",
  );
  assert.ok(aurora(SQL.auroraTopology)!.includes('FROM aurora_lookalike.replica_host_status WHERE time_to_sec('));
  assert.is(
    aurora('select * from `INFORMATION_SCHEMA`.`REPLICA_HOST_STATUS`'),
    'select * from aurora_lookalike.replica_host_status',
  );
  assert.is(aurora('SELECT aurora_version()'), "SELECT '3.08.0'");
  assert.is(aurora('SELECT CONCAT(@@aurora_server_id, 1)'), "SELECT CONCAT('instance-2', 1)");
  assert.is(aurora('SELECT @@aurora_server_id AS me'), "SELECT 'instance-2' AS me");
});

test('global status tables: derived tables from the global view, aliased unless the statement names one; information_schema.tables lists them only for statements that ask', () => {
  const view = {
    instances: [
      { server_id: 'instance-1', aws_region: 'us-east-1', writer: true, session_id: 's1' },
      { server_id: 'instance-101', aws_region: 'us-west-2', writer: false, session_id: 's2' },
    ],
    regions: [
      { aws_region: 'us-east-1', primary: true },
      { aws_region: 'us-west-2', primary: false },
    ],
  };
  const global = createSqlRewriter(frontRules('aurora-mysql', 'instance-101', { global: view }));
  const topology = global(
    'SELECT SERVER_ID, AWS_REGION FROM information_schema.aurora_global_db_instance_status WHERE SERVER_ID = 1',
  )!;
  assert.match(topology, /^SELECT SERVER_ID, AWS_REGION FROM \(SELECT g\.SERVER_ID, /);
  assert.match(topology, /SELECT 'instance-101' AS SERVER_ID, 's2' AS SESSION_ID, 'us-west-2' AS AWS_REGION/);
  assert.match(topology, /IF\(@@global\.read_only, 'instance-1', 'instance-101'\)/, 'the live writer');
  assert.match(topology, /\) AS `aurora_global_db_instance_status` WHERE SERVER_ID = 1$/);
  assert.match(global('SELECT count(1) FROM information_schema.AURORA_GLOBAL_DB_STATUS s')!, /\) s$/);
  assert.match(global('SELECT 1 FROM information_schema.aurora_global_db_status AS s')!, /\) AS s$/);
  const catalog = global(
    "SELECT 1 AS tmp FROM information_schema.tables WHERE upper(table_name) = 'AURORA_GLOBAL_DB_STATUS'",
  )!;
  assert.match(catalog, /'AURORA_GLOBAL_DB_STATUS', 'SYSTEM VIEW'\) AS `tables` WHERE/);
  assert.is(global("SELECT table_name FROM information_schema.tables WHERE table_schema = 'app'"), undefined);
  // Outside a global database: the tables exist and are empty.
  assert.match(aurora('SELECT count(1) FROM information_schema.aurora_global_db_status')!, /WHERE FALSE\) AS r\)/);
});

test('rules leave literals, comments and unrelated SQL alone', () => {
  assert.is(aurora('SELECT \'@@aurora_server_id\', "information_schema.replica_host_status"'), undefined);
  assert.is(aurora('SELECT 1 /* @@aurora_server_id */ -- @@innodb_read_only\n'), undefined);
  assert.is(aurora('SELECT @@server_id, @@read_only'), undefined);
  assert.is(aurora("SHOW VARIABLES LIKE 'aurora%'"), undefined);
  assert.is(aurora("SELECT 'it''s \\' @@aurora_server_id'"), undefined);
  const mysqlRules = createSqlRewriter(frontRules('mysql', 'instance-1'));
  assert.is(mysqlRules(SQL.auroraHostId), undefined);
  assert.is(
    mysqlRules(SQL.versionComment),
    "SELECT 'version_comment' AS Variable_name, 'MySQL Community Server - GPL' AS Value",
  );
});

function packet(seq: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = seq;
  return Buffer.concat([header, payload]);
}

function feedBytewise(push: (b: Buffer) => Buffer[], data: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i++) out.push(...push(data.subarray(i, i + 1)));
  return Buffer.concat(out);
}

test('greeting loses SSL, compression and query attributes, even when split', () => {
  const caps = 0xffffffff;
  const payload = Buffer.concat([
    Buffer.from([10]),
    Buffer.from('5.5.5-10.11.0-MariaDB\0', 'latin1'),
    Buffer.alloc(4),
    Buffer.alloc(8),
    Buffer.alloc(1),
    Buffer.from([caps & 0xff, (caps >> 8) & 0xff]),
    Buffer.from([33, 2, 0]),
    Buffer.from([0xff, 0xff]),
    Buffer.alloc(11),
  ]);
  const rest = Buffer.from('after the greeting');
  const g = new GreetingRewriter();
  const got = feedBytewise((b) => g.push(b), Buffer.concat([packet(0, payload), rest]));
  const capsAt = 4 + 1 + 22 + 4 + 8 + 1;
  const low = got.readUInt16LE(capsAt);
  const high = got.readUInt16LE(capsAt + 5);
  assert.is(low & 0x800, 0);
  assert.is(low & 0x20, 0);
  assert.is(high & (1 << 11), 0);
  assert.is(low | 0x820, 0xffff);
  assert.equal(got.subarray(4 + payload.length), rest);
});

test('client packets: rewritten when whole, streamed when continued, intact otherwise', () => {
  const r = new ClientPacketRewriter(createSqlRewriter(frontRules('aurora-mysql', 'instance-7')));
  const handshake = packet(1, Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  const hs = feedBytewise((b) => r.push(b), handshake);
  assert.is(hs.readUInt16LE(4) & 0x20, 0);
  assert.equal(hs.subarray(8), handshake.subarray(8));
  const query = packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(SQL.auroraHostId)]));
  const rewritten = feedBytewise((b) => r.push(b), query);
  assert.is(
    rewritten.toString('latin1', 5),
    "SELECT 'instance-7' AS `@@aurora_server_id`, 'instance-7' AS `@@aurora_server_id`",
  );
  assert.is(rewritten.readUIntLE(0, 3), rewritten.length - 4);
  const prepare = packet(0, Buffer.concat([Buffer.from([0x16]), Buffer.from(SQL.auroraIsReader)]));
  assert.is(Buffer.concat(r.push(prepare)).toString('latin1', 5), 'SELECT @@global.read_only AS `@@innodb_read_only`');
  const ping = packet(0, Buffer.from([0x0e]));
  const other = packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('SELECT 1')]));
  assert.equal(Buffer.concat(r.push(Buffer.concat([ping, other]))), Buffer.concat([ping, other]));
  // A 16 MiB - 1 first packet and its continuation mentioning a rule name: streamed untouched.
  const first = packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.alloc(0xffffff - 1, 0x61)]));
  const cont = packet(1, Buffer.from(' @@aurora_server_id'));
  const chunks = [first.subarray(0, 3), first.subarray(3, 70000), first.subarray(70000), cont];
  assert.equal(Buffer.concat(chunks.flatMap((c) => r.push(c))), Buffer.concat([first, cont]));
  // A sequence-0 packet right after the continuation ends is a new command again.
  assert.is(Buffer.concat(r.push(query)).toString('latin1', 5).startsWith("SELECT 'instance-7'"), true);
});

let cluster: TestCluster;

test('plain mysql cluster is detected as mysql only', async () => {
  cluster = await makeCluster('mysql', 1);
  const started = Date.now();
  await cluster.engine.create(cluster.ctx, cluster.instances);
  console.log(`create (mysql, 1 instance): ${Date.now() - started} ms`);
  cluster.fronts = await cluster.engine.serve(cluster.ctx, cluster.instances);
  const conn = await cluster.connect(cluster.instances[0]);
  try {
    assert.equal(await detect(conn), {
      mysql: true,
      rdsMysql: false,
      aurora: false,
      globalAurora: false,
      multiAz: false,
    });
    const [host] = await rows(conn, SQL.mysqlHostId);
    assert.ok(String(host[1]).endsWith(`:${String((await rows(conn, 'SELECT @@port'))[0][0])}`));
    assert.equal(await rows(conn, SQL.mysqlIsReader), [[0]]);
    const [named] = await conn.query<RowDataPacket[]>('SELECT @@version_comment');
    assert.equal(named[0], { '@@version_comment': 'MySQL Community Server - GPL' });
  } finally {
    await conn.end();
  }
});

test('the front offers neither TLS nor compression', async () => {
  const err = await cluster.connect(cluster.instances[0], { ssl: { rejectUnauthorized: false } }).then(
    (c) => c.end().then(() => undefined),
    (e: Error) => e,
  );
  assert.ok(err instanceof Error);
  assert.match(err.message, /secure connection/i);
  const conn = await cluster.connect(cluster.instances[0], { compress: true });
  assert.equal(await rows(conn, 'SELECT 1'), [[1]]);
  await conn.end();
});

test('prepared statements pass through (and prepare text is rewritten)', async () => {
  const conn = await cluster.connect(cluster.instances[0]);
  try {
    await conn.query('CREATE TABLE prep (id INT PRIMARY KEY, v VARCHAR(20), b BLOB)');
    const blob = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x03, 0x16]);
    await conn.execute('INSERT INTO prep VALUES (?, ?, ?)', [1, 'één', blob]);
    const [got] = await conn.execute<RowDataPacket[]>('SELECT id, v, b FROM prep WHERE id = ?', [1]);
    assert.is(got[0].v, 'één');
    assert.ok(Buffer.compare(got[0].b as Buffer, blob) === 0);
    const [comment] = await conn.execute<RowDataPacket[]>('SELECT @@version_comment AS c WHERE ? = 1', [1]);
    assert.is(comment[0].c, 'MySQL Community Server - GPL');
  } finally {
    await conn.end();
  }
});

test('multi-statement results pass through', async () => {
  const conn = await cluster.connect(cluster.instances[0], { multipleStatements: true });
  try {
    const [results] = await conn.query<RowDataPacket[][]>(
      "SELECT 1 AS a; SELECT 'x' AS b, 2 AS c; SHOW VARIABLES LIKE 'version_comment'",
    );
    assert.is(results.length, 3);
    assert.equal(results[0], [{ a: 1 }]);
    assert.equal(results[1], [{ b: 'x', c: 2 }]);
    assert.is(results[2][0].Variable_name, 'version_comment');
    // Only a lone SHOW VARIABLES statement is answered by the front; inside a batch the server answers.
    assert.is.not(results[2][0].Value, 'MySQL Community Server - GPL');
  } finally {
    await conn.end();
  }
});

test('multi-megabyte and >16 MiB queries pass through untouched', async () => {
  const conn = await cluster.connect(cluster.instances[0]);
  try {
    await conn.query('CREATE TABLE big (id INT PRIMARY KEY, v LONGTEXT)');
    // 5 MB single packet that the front buffers (it mentions a rewritten name, so it is parsed too).
    const fiveMb = 'a'.repeat(5 * 1024 * 1024);
    await conn.query(`INSERT INTO big VALUES (1, CONCAT('${fiveMb}', @@version_comment))`);
    // 17 MiB: split into two protocol packets, streamed through unparsed.
    const huge = 'b'.repeat(17 * 1024 * 1024);
    await conn.query(`INSERT INTO big VALUES (2, '${huge}')`);
    const [got] = await conn.query<RowDataPacket[]>(
      'SELECT id, LENGTH(v) AS len, RIGHT(v, 28) AS tail, MD5(v) AS md5 FROM big ORDER BY id',
    );
    assert.is(Number(got[0].len), fiveMb.length + 'MySQL Community Server - GPL'.length);
    assert.is(got[0].tail, 'MySQL Community Server - GPL');
    assert.is(Number(got[1].len), huge.length);
    const [[sent]] = (await conn.query({ sql: `SELECT MD5('${huge}')`, rowsAsArray: true })) as unknown as [[[string]]];
    assert.is(got[1].md5, sent[0]);
  } finally {
    await conn.end();
  }
});

test('destroy leaves no server running', async () => {
  assert.equal(await cluster.cleanup(), []);
});

test.run();
