// ORMs on MySQL, plugged in their own way with aws-advanced-ts-wrapper/mysql (no subclasses, no casts), on one
// aurora-mysql lookalike shared by all: for each ORM, CRUD and a committed and
// a rolled-back transaction through the ORM's own API; a writer failover under two concurrent workers (the statements
// in flight reach the ORM's caller as errors isFailoverError() recognises through the ORM's wrapping,
// withFailoverRetry re-runs each unit on the new writer, no row lost or duplicated, the ORM's pool ends); and
// readerRouting sending the ORM's reads and read-only transactions to the reader while its writes stay on the writer.
import 'reflect-metadata';
import { test } from 'uvu';
import knex, { type Knex } from 'knex';
import { Kysely, MysqlDialect, sql as ksql } from 'kysely';
import { drizzle } from 'drizzle-orm/mysql2';
import { mysqlTable, varchar, int, type MySqlTransactionConfig } from 'drizzle-orm/mysql-core';
import { sql as dsql, and, eq } from 'drizzle-orm';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { DataSource, EntitySchema, QueryFailedError } from 'typeorm';
import { Sequelize, DataTypes, DatabaseError as SequelizeDatabaseError } from 'sequelize';
import {
  MikroORM,
  EntitySchema as MikroEntitySchema,
  DriverException,
  MySqlKnexDialect,
  knex as mikroKnex,
} from '@mikro-orm/mysql';
import * as awsMysql from '../../ts/mysql.js';
import { createPool, releaseResources } from '../../ts/mysql.js';
import { Lab } from '../support/failover-lab.js';
import { ormSuite, Rollback } from '../support/orm-suite.js';

let lab: Lab;
const SLEEP = 'SELECT SLEEP(30)';
const WHO = 'SELECT @@aurora_server_id AS v';
/** `@@name` (a session variable) keeps a statement on the writer; `@@global.name` may be routed. */
const ROUTED_WHO = 'SELECT @@global.aurora_server_id AS v';

const defineCase = ormSuite({
  lab: () => lab,
  sleep: SLEEP,
  who: WHO,
  routedWho: ROUTED_WHO,
  runningSql: (prefix) => `SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info LIKE '${prefix}%'`,
});

test.before(async () => {
  lab = await Lab.start('aurora-mysql', 1);
  await lab.direct('writer', (q) =>
    q('CREATE TABLE orm_rows (orm varchar(20) NOT NULL, id int NOT NULL, v int, PRIMARY KEY (orm, id))'),
  );
});

test.after.each(async () => {
  await lab.restore();
});

test.after(async () => {
  await releaseResources();
  await lab?.stop();
});

/** Connection settings and the wrapper options (the lookalike's DNS names resolve through hostAddressMap). */
function settings(options: Record<string, unknown>): {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  wrapperOptions: Record<string, unknown>;
} {
  const { host, port, user, password, database, ...wrapperOptions } = {
    ...(lab.cluster.clientConfig('writer') as unknown as Record<string, unknown>),
    ...options,
  };
  return {
    host: String(host),
    port: Number(port),
    user: String(user),
    password: String(password),
    database: String(database),
    wrapperOptions,
  };
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

const MikroRow = new MikroEntitySchema<{ orm: string; id: number; v?: number | null }>({
  name: 'MikroOrmRow',
  tableName: 'orm_rows',
  properties: {
    orm: { type: 'string', primary: true },
    id: { type: 'number', primary: true },
    v: { type: 'number', nullable: true },
  },
});

// MikroORM declares its Knex dialect classes without the static EventEmitter members Knex's `typeof Client` has (a
// typing gap between the two packages; at run time the dialect is a Knex client class).
defineCase({
  name: 'mikro-orm',
  async make(options) {
    // MikroORM 6: driverOptions takes a Knex instance (its own Knex, 3.3+ through an npm override), built with
    // MikroORM's Knex dialect and connectionPool: the callback pool, given the options MikroORM sets on its own.
    const pool = awsPool({ ...options, dateStrings: true, supportBigNumbers: true });
    const driverOptions = mikroKnex({
      client: MySqlKnexDialect as unknown as typeof Knex.Client,
      connectionPool: pool,
    });
    const orm = await MikroORM.init({ dbName: settings(options).database, entities: [MikroRow], driverOptions });
    const em = () => orm.em.fork();
    return {
      raw: async (s) => firstV(await em().execute(s)),
      insert: (id, v) => em().insert(MikroRow, { orm: 'mikro-orm', id, v: v ?? null }),
      read: async (id) => (await em().findOne(MikroRow, { orm: 'mikro-orm', id }))?.v,
      update: (id, v) => em().nativeUpdate(MikroRow, { orm: 'mikro-orm', id }, { v }),
      remove: (id) => em().nativeDelete(MikroRow, { orm: 'mikro-orm', id }),
      tx: (ids, rollback) =>
        em().transactional(async (t) => {
          for (const id of ids) await t.insert(MikroRow, { orm: 'mikro-orm', id });
          if (rollback) throw new Rollback();
        }),
      readOnlyTx: () => em().transactional(async (t) => firstV(await t.execute(ROUTED_WHO)), { readOnly: true }),
      end: async () => {
        await orm.close();
        await endPool(pool);
      },
    };
  },
  errorCheck: (err) => err instanceof DriverException,
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
      insert: (id, v) =>
        db
          .insertInto('orm_rows')
          .values({ orm: 'kysely', id, v: v ?? null })
          .execute(),
      read: async (id) =>
        (
          await db
            .selectFrom('orm_rows')
            .select('v')
            .where('orm', '=', 'kysely')
            .where('id', '=', id)
            .executeTakeFirst()
        )?.v,
      update: (id, v) =>
        db.updateTable('orm_rows').set({ v }).where('orm', '=', 'kysely').where('id', '=', id).execute(),
      remove: (id) => db.deleteFrom('orm_rows').where('orm', '=', 'kysely').where('id', '=', id).execute(),
      tx: (ids, rollback) =>
        db.transaction().execute(async (trx) => {
          for (const id of ids) await trx.insertInto('orm_rows').values({ orm: 'kysely', id, v: null }).execute();
          if (rollback) throw new Rollback();
        }),
      readOnlyTx: () =>
        db
          .transaction()
          .setAccessMode('read only')
          .execute(async (trx) => firstV((await ksql.raw(ROUTED_WHO).execute(trx)).rows)),
      end: () => db.destroy(),
    };
  },
});

const drizzleRows = mysqlTable('orm_rows', {
  orm: varchar('orm', { length: 20 }).notNull(),
  id: int('id').notNull(),
  v: int('v'),
});

defineCase({
  name: 'drizzle',
  errorCheck: (err) => err instanceof DrizzleQueryError,
  async make(options) {
    const pool = awsPool(options);
    // Drizzle: the callback pool as it is (its types are mysql2's Pool: test/fixtures/mysql-types.ts).
    const db = drizzle(pool);
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
      // Drizzle's type requires isolationLevel, which would add a SET TRANSACTION: `start transaction read only` alone.
      readOnlyTx: () =>
        db.transaction(async (trx) => firstV((await trx.execute(dsql.raw(ROUTED_WHO)))[0]), {
          accessMode: 'read only',
        } as MySqlTransactionConfig),
      end: () => endPool(pool),
    };
  },
});

const TypeOrmRow = new EntitySchema<{ orm: string; id: number; v: number | null }>({
  name: 'OrmRow',
  tableName: 'orm_rows',
  columns: {
    orm: { type: String, length: 20, primary: true },
    id: { type: Number, primary: true },
    v: { type: Number, nullable: true },
  },
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
    const Row = seq.define(
      'OrmRow',
      {
        orm: { type: DataTypes.STRING(20), primaryKey: true },
        id: { type: DataTypes.INTEGER, primaryKey: true },
        v: DataTypes.INTEGER,
      },
      { tableName: 'orm_rows', timestamps: false },
    );
    return {
      raw: async (q) => ((await seq.query(q, { plain: true })) as { v?: unknown } | null)?.v,
      insert: (id, v) => Row.create({ orm: 'sequelize', id, v }),
      read: async (id) =>
        ((await Row.findOne({ where: { orm: 'sequelize', id }, raw: true })) as { v?: number } | null)?.v,
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
