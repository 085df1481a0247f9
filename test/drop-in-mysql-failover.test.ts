// The mysql2 callback API runs the wrapper's plugins: on the aurora-mysql lookalike, a writer failover under a callback
// pool (the objects Kysely, TypeORM and Knex drive) reaches the callback as FailoverSuccessError, and the same
// callback connection then works on the new writer, statements, streams and pool included.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { QueryError } from 'mysql2';
import {
  createConnection,
  createPool,
  type AwsMySQLCallbackConnection,
  type AwsMySQLCallbackPoolConnection,
} from '../ts/mysql.js';
import { FailoverSuccessError } from '../ts/errors.js';
import { Lab } from './support/failover-lab.js';

let lab: Lab;

test.before(async () => {
  lab = await Lab.start('aurora-mysql', 1);
});

test.after.each(async () => {
  await lab.restore();
});

test.after(async () => {
  await lab?.stop();
});

function run(conn: AwsMySQLCallbackConnection, sql: string): Promise<{ err: QueryError | null; rows?: unknown }> {
  return new Promise((resolve) => conn.query(sql, [], (err, rows) => resolve({ err, rows })));
}

async function serverName(conn: AwsMySQLCallbackConnection): Promise<string> {
  const { err, rows } = await run(conn, 'SELECT @@aurora_server_id AS name');
  if (err) throw err;
  return String((rows as { name: string }[])[0].name);
}

test('callback pool: failover reaches the callback, the connection goes on on the new writer', async () => {
  const services = lab.newServices();
  const pool = createPool({ ...lab.cluster.clientConfig('writer'), connectionLimit: 2 }, { services });
  const conn = await new Promise<AwsMySQLCallbackPoolConnection>((resolve, reject) =>
    pool.getConnection((err, c) => (err ? reject(err) : resolve(c))),
  );
  const before = await serverName(conn);
  const result = await lab.cluster.failover({ mode: 'immediate' });
  assert.is.not(result.newWriter, before);
  const { err } = await run(conn, 'SELECT 1');
  assert.instance(err, FailoverSuccessError, 'the callback gets the failover outcome, not the lost connection');
  assert.is((err as unknown as { code: string }).code, '08S02');
  assert.is(await serverName(conn), result.newWriter);
  const streamed: unknown[] = [];
  for await (const row of conn.query('SELECT ? AS a UNION SELECT ?', [1, 2]).stream())
    streamed.push({ ...(row as object) });
  assert.equal(streamed, [{ a: 1 }, { a: 2 }]);
  conn.release();
  const rows = await new Promise((resolve, reject) =>
    pool.query('SELECT @@aurora_server_id AS name', (e, r) => (e ? reject(e) : resolve(r))),
  );
  assert.equal(
    (rows as { name: string }[]).map((r) => r.name),
    [result.newWriter],
  );
  await new Promise<void>((resolve, reject) => pool.end((e) => (e ? reject(e) : resolve())));
});

test('callback connection (Knex): event-mode statement during failover gets the error event, then works', async () => {
  const services = lab.newServices();
  const conn = createConnection({ ...lab.cluster.clientConfig('writer') }, { services });
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  const before = await serverName(conn);
  const result = await lab.cluster.failover({ mode: 'immediate' });
  assert.is.not(result.newWriter, before);
  const error = await new Promise<unknown>((resolve) => conn.query('SELECT 1').on('error', resolve));
  assert.instance(error, FailoverSuccessError);
  assert.is(await serverName(conn), result.newWriter);
  await new Promise<void>((resolve, reject) => conn.end((e) => (e ? reject(e) : resolve())));
});

test.run();
