import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';

test('shared PostgreSQL fixture answers', async () => {
  const c = new pg.Client({
    host: process.env.TEST_PG_HOST,
    port: Number(process.env.TEST_PG_PORT),
    user: process.env.TEST_PG_USER,
    password: process.env.TEST_PG_PASSWORD,
    database: process.env.TEST_PG_DATABASE,
  });
  await c.connect();
  const r = await c.query('SELECT 1 AS one');
  assert.is(r.rows[0].one, 1);
  await c.end();
});

test.run();
