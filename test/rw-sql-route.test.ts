// The readerRouting classifier: statements → route, table-driven. Anything it cannot settle must be a write.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classifyStatement, ROUTE_PREFIX_CHARS, type StatementRoute } from '../ts/sql-route.js';

const CASES: ReadonlyArray<readonly [string, StatementRoute]> = [
  // plain reads
  ['SELECT 1', 'read'],
  ['  select * from users where id = $1', 'read'],
  ['SELECT a, b FROM t WHERE x = 1;', 'read'],
  ['SELECT a FROM t;  -- trailing comment', 'read'],
  ['(SELECT 1) UNION (SELECT 2)', 'read'],
  ['-- a comment\nSELECT 1', 'read'],
  ['/* orm: users.findMany */ SELECT "id" FROM "users" LIMIT 10', 'read'],
  ['WITH r AS (SELECT id FROM t) SELECT * FROM r', 'read'],
  ['VALUES (1), (2)', 'read'],
  ['TABLE users', 'read'],
  ["SELECT replace(name, 'a', 'b') FROM t", 'read'],
  ['SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id GROUP BY u.id', 'read'],
  // hint
  ['/* aws:reader */ SELECT * FROM report', 'hinted-read'],
  ['/*aws:reader*/SELECT 1', 'hinted-read'],
  ['  /* AWS:READER */ with a as (select 1) select * from a', 'hinted-read'],
  ['/* aws:reader */ UPDATE t SET a = 1', 'write'],
  ['/* aws:reader */ SELECT * FROM t FOR UPDATE', 'write'],
  ['SELECT 1 /* aws:reader */', 'read'],
  // read-only transactions
  ['BEGIN READ ONLY', 'begin-read-only'],
  ['begin transaction read only', 'begin-read-only'],
  ['BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY', 'begin-read-only'],
  ['BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE', 'begin-read-only'],
  ['START TRANSACTION READ ONLY', 'begin-read-only'],
  ['START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT', 'begin-read-only'],
  ['start transaction isolation level repeatable read read only', 'begin-read-only'],
  ['BEGIN', 'begin'],
  ['begin;', 'begin'],
  ['BEGIN WORK', 'begin'],
  ['BEGIN TRANSACTION', 'begin'],
  ['START TRANSACTION', 'begin'],
  ['BEGIN ISOLATION LEVEL SERIALIZABLE', 'write'],
  ['START TRANSACTION WITH CONSISTENT SNAPSHOT', 'write'],
  ['BEGIN READ WRITE', 'write'],
  ['START TRANSACTION READ WRITE', 'write'],
  ['BEGIN READ ONLY; INSERT INTO t VALUES (1)', 'write'],
  ['SET TRANSACTION READ ONLY', 'set-transaction-read-only'],
  ['set transaction isolation level serializable, read only', 'set-transaction-read-only'],
  ['SET TRANSACTION READ WRITE', 'write'],
  ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'write'],
  ['SET SESSION TRANSACTION READ ONLY', 'write'],
  ['SET TRANSACTION READ ONLY; DELETE FROM t', 'write'],
  ['COMMIT', 'write'],
  ['ROLLBACK', 'write'],
  // writes and DDL
  ['INSERT INTO t VALUES (1)', 'write'],
  ['UPDATE t SET a = 1', 'write'],
  ['DELETE FROM t', 'write'],
  ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'write'],
  ['REPLACE INTO t VALUES (1)', 'write'],
  ['CREATE TABLE t (id int)', 'write'],
  ['SET search_path TO app', 'write'],
  ['CALL proc()', 'write'],
  ['EXPLAIN ANALYZE SELECT 1', 'write'],
  ['SHOW TABLES', 'write'],
  ['', 'write'],
  ['   ', 'write'],
  ['/* unterminated', 'write'],
  // writable CTEs
  ['WITH moved AS (DELETE FROM a RETURNING *) SELECT * FROM moved', 'write'],
  ['WITH n AS (INSERT INTO a VALUES (1) RETURNING id) SELECT id FROM n', 'write'],
  ['with u as (update a set x = 1 returning *) select * from u', 'write'],
  // locking reads
  ['SELECT * FROM t WHERE id = 1 FOR UPDATE', 'write'],
  ['SELECT * FROM t FOR UPDATE SKIP LOCKED', 'write'],
  ['SELECT * FROM t FOR SHARE', 'write'],
  ['SELECT * FROM t FOR NO KEY UPDATE', 'write'],
  ['SELECT * FROM t FOR KEY SHARE', 'write'],
  ['SELECT * FROM t LOCK IN SHARE MODE', 'write'],
  // SELECT … INTO
  ['SELECT * INTO new_t FROM t', 'write'],
  ["SELECT * FROM t INTO OUTFILE '/tmp/x'", 'write'],
  ['SELECT a INTO @v FROM t', 'write'],
  // side effects and per-connection results
  ["SELECT nextval('seq')", 'write'],
  ["select setval('seq', 5)", 'write'],
  ["SELECT currval('seq')", 'write'],
  ['SELECT lastval()', 'write'],
  ['SELECT pg_advisory_lock(1)', 'write'],
  ['SELECT pg_try_advisory_xact_lock(1)', 'write'],
  ["SELECT pg_notify('c', 'x')", 'write'],
  ["SELECT set_config('a.b', 'c', false)", 'write'],
  ['SELECT txid_current()', 'write'],
  ["SELECT GET_LOCK('x', 10)", 'write'],
  ["SELECT RELEASE_LOCK('x')", 'write'],
  ['SELECT LAST_INSERT_ID()', 'write'],
  ['SELECT FOUND_ROWS()', 'write'],
  ['SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1', 'write'],
  ['SELECT @@session.autocommit', 'write'],
  ['SELECT @a := 1', 'write'],
  ["SELECT lo_import('/tmp/x')", 'write'],
  // several statements
  ['SELECT 1; SELECT 2', 'write'],
  ['SELECT 1; DELETE FROM t', 'write'],
  // a keyword inside a literal keeps it on the writer (literals are not parsed: safe side)
  ["SELECT * FROM t WHERE note = 'please update'", 'write'],
];

test('classifyStatement: statement → route', () => {
  for (const [sql, expected] of CASES) assert.is(classifyStatement(sql), expected, JSON.stringify(sql));
});

test('only a bounded prefix is read: a read longer than the prefix is inconclusive (writer)', () => {
  const cols = Array.from({ length: 2000 }, (_, i) => `c${i}`).join(', ');
  const long = `SELECT ${cols} FROM t`;
  assert.ok(long.length > ROUTE_PREFIX_CHARS);
  assert.is(classifyStatement(long), 'write');
  assert.is(classifyStatement(`SELECT ${'x'.repeat(ROUTE_PREFIX_CHARS - 20)} FROM t`), 'read');
  // a write beyond the prefix is never seen, which is why such statements are not routed
  assert.is(
    classifyStatement(`WITH a AS (SELECT ${'1, '.repeat(3000)}1) , d AS (DELETE FROM t RETURNING 1) SELECT 1`),
    'write',
  );
  // a 10 MB statement: only the prefix is looked at
  assert.is(classifyStatement(`SELECT ${'x, '.repeat(3_500_000)} 1`), 'write');
});

test.run();
