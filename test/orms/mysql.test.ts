// ORMs on MySQL, plugged in their own way with aws-advanced-ts-wrapper/mysql (no subclasses; Drizzle's one type
// assertion is in docs/orms.md), on one aurora-mysql lookalike shared by all: for each ORM, CRUD and a committed and
// a rolled-back transaction through the ORM's own API; a writer failover under two concurrent workers (the statements
// in flight reach the ORM's caller as errors isFailoverError() recognises through the ORM's wrapping,
// withFailoverRetry re-runs each unit on the new writer, no row lost or duplicated, the ORM's pool ends); and
// readerRouting sending the ORM's reads and read-only transactions to the reader while its writes stay on the writer.
import 'reflect-metadata';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import knex from 'knex';
import { Kysely, MysqlDialect, sql as ksql } from 'kysely';
import { drizzle } from 'drizzle-orm/mysql2';
import { mysqlTable, varchar, int } from 'drizzle-orm/mysql-core';
import { sql as dsql, and, eq } from 'drizzle-orm';
import { DrizzleQueryError, TransactionRollbackError } from 'drizzle-orm/errors';
import type { Pool as MySql2Pool } from 'mysql2';
import { DataSource, EntitySchema, QueryFailedError } from 'typeorm';
import { Sequelize, DataTypes, DatabaseError as SequelizeDatabaseError } from 'sequelize';
import * as awsMysql from '../../ts/mysql.js';
import { createPool, isFailoverError, withFailoverRetry, releaseResources } from '../../ts/mysql.js';
import { Lab } from '../support/failover-lab.js';

let lab: Lab;
const SLEEP = 'SELECT SLEEP(30)';
const WHO = 'SELECT @@aurora_server_id AS v';
/** `@@name` (a session variable) keeps a statement on the writer; `@@global.name` may be routed. */
const ROUTED_WHO = 'SELECT @@global.aurora_server_id AS v';
const ROUTING = { plugins: 'read_write_splitting,failover_v2', readerRouting: 'selects', readerRoutingStickMs: 0 };

test.before(async () => {
  lab = await Lab.start('aurora-mysql', 1);
  await lab.direct('writer', (q) => q('CREATE TABLE orm_rows (orm varchar(20) NOT NULL, id int NOT NULL, v int, PRIMARY KEY (orm, id))'));
});

test.after.each(async () => {
  await lab.restore();
});

test.after(async () => {
  await releaseResources();
  await lab?.stop();
});

class Rollback extends Error {}

/** What each case does through its ORM. `orm` column = the case's name, so cases never see each other's rows. */
interface Orm {
  /** A raw statement through the ORM; resolves with the first row's `v` column when there is one. */
  raw(sql: string): Promise<unknown>;
  insert(id: number, v?: number): Promise<unknown>;
  read(id: number): Promise<number | null | undefined>;
  update(id: number, v: number): Promise<unknown>;
  remove(id: number): Promise<unknown>;
  /** Inserts `ids` in one transaction of the ORM's API; throws Rollback inside it when `rollback`. */
  tx(ids: number[], rollback: boolean): Promise<unknown>;
  /** WHO inside a read-only transaction of the ORM's API, where it has one. */
  readOnlyTx?(): Promise<unknown>;
  end(): Promise<void>;
}

interface OrmCase {
  name: string;
  /** Builds the ORM on the writer endpoint with these extra wrapper options. */
  make(options: Record<string, unknown>): Promise<Orm>;
  /** The class the ORM wraps a failover error in. */
  errorCheck?(err: unknown): boolean;
}

/** Connection settings and the wrapper options (the lookalike's DNS names resolve through hostAddressMap). */
function settings(options: Record<string, unknown>): { host: string; port: number; user: string; password: string; database: string; wrapperOptions: Record<string, unknown> } {
  const { host, port, user, password, database, ...wrapperOptions } = { ...(lab.cluster.clientConfig('writer') as unknown as Record<string, unknown>), ...options };
  return { host: String(host), port: Number(port), user: String(user), password: String(password), database: String(database), wrapperOptions };
}

/** The callback pool of aws-advanced-ts-wrapper/mysql, as Knex, Kysely and Drizzle take it. */
function awsPool(options: Record<string, unknown>): ReturnType<typeof createPool> {
  const s = settings(options);
  return createPool({ ...s, ...s.wrapperOptions, connectionLimit: 2 }, { services: lab.newServices() });
}

function endPool(pool: ReturnType<typeof createPool>): Promise<void> {
  return new Promise<void>((resolve, reject) => pool.end((e) => (e ? reject(e) : resolve())));
}

function firstV(rows: unknown): unknown {
  return Array.isArray(rows) ? (rows[0] as { v?: unknown } | undefined)?.v : undefined;
}

async function expectRollback(run: Promise<unknown>): Promise<void> {
  try {
    await run;
    assert.unreachable('the transaction committed');
  } catch (err) {
    if (!(err instanceof Rollback) && !(err instanceof TransactionRollbackError)) throw err;
  }
}

async function ids(name: string): Promise<number[]> {
  const rows = await lab.direct('writer', (q) => q(`SELECT id FROM orm_rows WHERE orm = '${name}' ORDER BY id`));
  return rows.map((r) => Number(r.id));
}

async function crudAndTransactions(name: string, orm: Orm): Promise<void> {
  await orm.insert(1, 10);
  assert.is(Number(await orm.read(1)), 10, `${name}: read back`);
  await orm.update(1, 11);
  assert.is(Number(await orm.read(1)), 11, `${name}: updated`);
  await orm.remove(1);
  assert.not.ok(await orm.read(1), `${name}: deleted`);
  await orm.tx([2, 3], false);
  await expectRollback(orm.tx([4, 5], true));
  assert.equal(await ids(name), [2, 3], `${name}: committed transaction kept, rolled-back one gone`);
}

/** Waits until `n` statements starting with `prefix` run on instance `name`. */
async function waitRunningCount(name: string, prefix: string, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  await lab.direct(name, async (q) => {
    while (Date.now() < deadline) {
      const [row] = await q(`SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info LIKE '${prefix}%'`);
      if (Number(row!.n) >= n) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`fewer than ${n} '${prefix}…' running on ${name} within 10 s`);
  });
}

/**
 * Two workers each insert three rows, one unit of work per row through withFailoverRetry; the first unit of each is
 * in flight (pg_sleep) when the writer fails, so both are retried once on the new writer.
 */
async function failoverTwoWorkers(c: OrmCase, orm: Orm): Promise<void> {
  const before = String(await orm.raw(WHO));
  const seen: unknown[] = [];
  const worker = async (w: number): Promise<void> => {
    for (let u = 0; u < 3; u++) {
      await withFailoverRetry(
        async (attempt) => {
          if (u === 0 && attempt === 1) await orm.raw(SLEEP);
          await orm.insert(100 + 10 * w + u, w);
        },
        { onRetry: (err) => seen.push(err) },
      );
    }
  };
  const work = Promise.all([worker(0), worker(1)]);
  await waitRunningCount(before, SLEEP, 2);
  const { newWriter } = await lab.cluster.failover({ mode: 'immediate' });
  assert.is.not(newWriter, before);
  await work;
  assert.is(seen.length, 2, `${c.name}: one retry per worker`);
  for (const err of seen) {
    assert.ok(isFailoverError(err), `${c.name}: the ORM's error is recognised: ${String(err)}`);
    if (c.errorCheck) assert.ok(c.errorCheck(err), `${c.name}: wrapped by the ORM: ${String(err)}`);
  }
  assert.is(String(await orm.raw(WHO)), newWriter);
  assert.equal((await ids(c.name)).filter((id) => id >= 100 && id < 200), [100, 101, 102, 110, 111, 112], `${c.name}: no row lost or duplicated`);
  await orm.end();
}

/** readerRouting 'selects': the ORM's reads and read-only transactions run on the reader, its writes on the writer. */
async function routing(c: OrmCase): Promise<void> {
  const orm = await c.make(ROUTING);
  try {
    const { instances } = await lab.cluster.status();
    const readers = instances.filter((i) => i.role === 'reader').map((i) => i.name);
    const writer = instances.find((i) => i.role === 'writer')!.name;
    assert.ok(readers.includes(String(await orm.raw(ROUTED_WHO))), `${c.name}: a plain read on a reader`);
    if (orm.readOnlyTx) assert.ok(readers.includes(String(await orm.readOnlyTx())), `${c.name}: a read-only transaction on a reader`);
    await orm.insert(200, 1); // the reader would refuse it: it ran on the writer
    assert.is(String(await orm.raw(`${ROUTED_WHO} FROM orm_rows WHERE id = 200 FOR UPDATE`)), writer, `${c.name}: a locking read on the writer`);
    assert.ok(readers.includes(String(await orm.raw(ROUTED_WHO))), `${c.name}: back on a reader (no stick window)`);
  } finally {
    await orm.end();
  }
}

function defineCase(c: OrmCase): void {
  test(`${c.name}: CRUD, a committed and a rolled-back transaction, a failover under two workers`, async () => {
    const orm = await c.make({});
    await crudAndTransactions(c.name, orm);
    await failoverTwoWorkers(c, orm);
  });
  test(`${c.name}: readerRouting sends its reads and read-only transactions to the reader`, () => routing(c));
}

defineCase({
  name: 'knex',
  async make(options) {
    // Knex: connectionPool takes the callback pool of aws-advanced-ts-wrapper/mysql.
    const pool = awsPool(options);
    const db = knex({ client: 'mysql2', connectionPool: pool });
    const rows = () => db('orm_rows').where({ orm: 'knex' });
    return {
      raw: async (s) => firstV((await db.raw(s))[0]),
      insert: (id, v) => db('orm_rows').insert({ orm: 'knex', id, v }),
      read: async (id) => (await rows().andWhere({ id }).first('v'))?.v,
      update: (id, v) => rows().andWhere({ id }).update({ v }),
      remove: (id) => rows().andWhere({ id }).del(),
      tx: (ids, rollback) =>
        db.transaction(async (trx) => {
          for (const id of ids) await trx('orm_rows').insert({ orm: 'knex', id });
          if (rollback) throw new Rollback();
        }),
      readOnlyTx: () => db.transaction(async (trx) => firstV((await trx.raw(ROUTED_WHO))[0]), { readOnly: true }),
      end: async () => {
        await db.destroy();
        await endPool(pool);
      },
    };
  },
});

type KyselyDb = { orm_rows: { orm: string; id: number; v: number | null } };

defineCase({
  name: 'kysely',
  async make(options) {
    // Kysely: MysqlDialect({ pool: createPool(...) }).
    const pool = awsPool(options);
    const db = new Kysely<KyselyDb>({ dialect: new MysqlDialect({ pool }) });
    return {
      raw: async (s) => firstV((await ksql.raw(s).execute(db)).rows),
      insert: (id, v) => db.insertInto('orm_rows').values({ orm: 'kysely', id, v: v ?? null }).execute(),
      read: async (id) => (await db.selectFrom('orm_rows').select('v').where('orm', '=', 'kysely').where('id', '=', id).executeTakeFirst())?.v,
      update: (id, v) => db.updateTable('orm_rows').set({ v }).where('orm', '=', 'kysely').where('id', '=', id).execute(),
      remove: (id) => db.deleteFrom('orm_rows').where('orm', '=', 'kysely').where('id', '=', id).execute(),
      tx: (ids, rollback) =>
        db.transaction().execute(async (trx) => {
          for (const id of ids) await trx.insertInto('orm_rows').values({ orm: 'kysely', id, v: null }).execute();
          if (rollback) throw new Rollback();
        }),
      readOnlyTx: () => db.transaction().setAccessMode('read only').execute(async (trx) => firstV((await ksql.raw(ROUTED_WHO).execute(trx)).rows)),
      end: () => db.destroy(),
    };
  },
});

const drizzleRows = mysqlTable('orm_rows', { orm: varchar('orm', { length: 20 }).notNull(), id: int('id').notNull(), v: int('v') });

defineCase({
  name: 'drizzle',
  errorCheck: (err) => err instanceof DrizzleQueryError,
  async make(options) {
    const pool = awsPool(options);
    // Drizzle's types ask for mysql2's own Pool class, internals included: the one type assertion (docs/orms.md).
    const db = drizzle(pool as unknown as MySql2Pool);
    const t = drizzleRows;
    const row = (id: number) => and(eq(t.orm, 'drizzle'), eq(t.id, id));
    return {
      raw: async (s) => firstV((await db.execute(dsql.raw(s)))[0]),
      insert: (id, v) => db.insert(t).values({ orm: 'drizzle', id, v }),
      read: async (id) => (await db.select({ v: t.v }).from(t).where(row(id)))[0]?.v,
      update: (id, v) => db.update(t).set({ v }).where(row(id)),
      remove: (id) => db.delete(t).where(row(id)),
      tx: (ids, rollback) =>
        db.transaction(async (trx) => {
          for (const id of ids) await trx.insert(t).values({ orm: 'drizzle', id });
          if (rollback) trx.rollback();
        }),
      readOnlyTx: () => db.transaction(async (trx) => firstV((await trx.execute(dsql.raw(ROUTED_WHO)))[0]), { accessMode: 'read only' }),
      end: () => endPool(pool),
    };
  },
});

const TypeOrmRow = new EntitySchema<{ orm: string; id: number; v: number | null }>({
  name: 'OrmRow',
  tableName: 'orm_rows',
  columns: { orm: { type: String, length: 20, primary: true }, id: { type: Number, primary: true }, v: { type: Number, nullable: true } },
});

defineCase({
  name: 'typeorm',
  errorCheck: (err) => err instanceof QueryFailedError,
  async make(options) {
    // TypeORM: driver is the aws-advanced-ts-wrapper/mysql module, wrapper options in extra.
    const s = settings(options);
    const ds = new DataSource({
      type: 'mysql',
      driver: awsMysql,
      host: s.host,
      port: s.port,
      username: s.user,
      password: s.password,
      database: s.database,
      poolSize: 2,
      entities: [TypeOrmRow],
      extra: s.wrapperOptions,
    });
    await ds.initialize();
    const repo = ds.getRepository(TypeOrmRow);
    return {
      raw: async (q) => firstV(await ds.query(q)),
      insert: (id, v) => repo.insert({ orm: 'typeorm', id, v: v ?? null }),
      read: async (id) => (await repo.findOneBy({ orm: 'typeorm', id }))?.v,
      update: (id, v) => repo.update({ orm: 'typeorm', id }, { v }),
      remove: (id) => repo.delete({ orm: 'typeorm', id }),
      tx: (ids, rollback) =>
        ds.transaction(async (m) => {
          for (const id of ids) await m.insert(TypeOrmRow, { orm: 'typeorm', id, v: null });
          if (rollback) throw new Rollback();
        }),
      end: () => ds.destroy(),
    };
  },
});

defineCase({
  name: 'sequelize',
  errorCheck: (err) => err instanceof SequelizeDatabaseError,
  async make(options) {
    // Sequelize: dialectModule is the aws-advanced-ts-wrapper/mysql module, wrapper options in dialectOptions.
    const s = settings(options);
    const seq = new Sequelize({
      dialect: 'mysql',
      dialectModule: awsMysql,
      dialectOptions: s.wrapperOptions,
      host: s.host,
      port: s.port,
      username: s.user,
      password: s.password,
      database: s.database,
      pool: { max: 2 },
      logging: false,
    });
    const Row = seq.define('OrmRow', { orm: { type: DataTypes.STRING(20), primaryKey: true }, id: { type: DataTypes.INTEGER, primaryKey: true }, v: DataTypes.INTEGER }, { tableName: 'orm_rows', timestamps: false });
    return {
      raw: async (q) => ((await seq.query(q, { plain: true })) as { v?: unknown } | null)?.v,
      insert: (id, v) => Row.create({ orm: 'sequelize', id, v }),
      read: async (id) => ((await Row.findOne({ where: { orm: 'sequelize', id }, raw: true })) as { v?: number } | null)?.v,
      update: (id, v) => Row.update({ v }, { where: { orm: 'sequelize', id } }),
      remove: (id) => Row.destroy({ where: { orm: 'sequelize', id } }),
      tx: (ids, rollback) =>
        seq.transaction(async (transaction) => {
          for (const id of ids) await Row.create({ orm: 'sequelize', id }, { transaction });
          if (rollback) throw new Rollback();
        }),
      end: () => seq.close(),
    };
  },
});

test.run();
