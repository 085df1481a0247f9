// ORMs on PostgreSQL, plugged in their own way (no casts, no subclasses), on one aurora-pg lookalike shared by all:
// for each ORM, CRUD and a committed and a rolled-back transaction through the ORM's own API; a writer failover
// under two concurrent workers (the statements in flight reach the ORM's caller as errors isFailoverError()
// recognises through the ORM's wrapping, withFailoverRetry re-runs each unit on the new writer, no row lost or
// duplicated, the ORM's pool ends with no connection left); and readerRouting sending the ORM's reads and read-only
// transactions to the reader while its writes stay on the writer.
import 'reflect-metadata';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import knex, { type Knex } from 'knex';
import { Kysely, PostgresDialect, sql as ksql } from 'kysely';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, text, integer } from 'drizzle-orm/pg-core';
import { sql as dsql, and, eq } from 'drizzle-orm';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { Sequelize, DataTypes, DatabaseError as SequelizeDatabaseError } from 'sequelize';
import { DataSource, EntitySchema, QueryFailedError } from 'typeorm';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  MikroORM,
  EntitySchema as MikroEntitySchema,
  DriverException,
  PostgreSqlKnexDialect,
  knex as mikroKnex,
} from '@mikro-orm/postgresql';
import * as awsPg from '../../ts/pg.js';
import { AwsPGPool, releaseResources } from '../../ts/pg.js';
import { Lab } from '../support/failover-lab.js';
import { ormSuite, Rollback } from '../support/orm-suite.js';

let lab: Lab;
const SLEEP = 'SELECT pg_catalog.pg_sleep(30)';
const WHO = 'SELECT pg_catalog.aurora_db_instance_identifier() AS v';

const defineCase = ormSuite({
  lab: () => lab,
  sleep: SLEEP,
  who: WHO,
  routedWho: WHO,
  runningSql: (prefix) =>
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '${prefix}%'`,
});

test.before(async () => {
  lab = await Lab.start('aurora-pg', 1);
  await lab.direct('writer', (q) =>
    q('CREATE TABLE orm_rows (orm text NOT NULL, id int NOT NULL, v int, PRIMARY KEY (orm, id))'),
  );
});

test.after.each(async () => {
  await lab.restore();
});

test.after(async () => {
  await releaseResources();
  await lab?.stop();
});

function wrapperConfig(options: Record<string, unknown>): Record<string, unknown> {
  return { ...(lab.cluster.clientConfig('writer') as unknown as Record<string, unknown>), ...options };
}

function awsPool(options: Record<string, unknown>): AwsPGPool {
  return new AwsPGPool({ ...wrapperConfig(options), max: 2 }, { services: lab.newServices() });
}

test("the pg module shape: Client / Pool are ours, types / defaults / DatabaseError are pg's; withOptions puts wrapper options under each config", async () => {
  const pg = (await import('pg')).default;
  assert.is(awsPg.Client, awsPg.AwsPGClient);
  assert.is(awsPg.Pool, AwsPGPool);
  assert.is(awsPg.types, pg.types);
  assert.is(awsPg.defaults, pg.defaults);
  assert.is(awsPg.DatabaseError, pg.DatabaseError);
  const mod = awsPg.withOptions({ failoverTimeoutMs: 1234, database: 'fromOptions' });
  const pool = new mod.Pool({ database: 'fromOrm', max: 1 });
  assert.instance(pool, AwsPGPool);
  assert.is(Reflect.get(pool.options, 'failoverTimeoutMs'), 1234);
  assert.is(pool.options.database, 'fromOrm', "the ORM's config wins");
  await pool.end();
  assert.instance(new mod.Client({}), awsPg.AwsPGClient);
  assert.throws(
    () => awsPg.withOptions(null as never),
    /withOptions: options must be an object of wrapper options, got null/,
  );
  assert.throws(() => new mod.Pool({ failoverTimeoutMs: 'soon' }), /failoverTimeoutMs/);
});

defineCase({
  name: 'knex',
  async make(options) {
    // Knex: connectionPool takes an AwsPGPool.
    const pool = awsPool(options);
    const db = knex({ client: 'pg', connectionPool: pool });
    const rows = (trx: knex.Knex = db) => trx('orm_rows').where({ orm: 'knex' });
    return {
      pool,
      raw: async (s) => (await db.raw(s)).rows[0]?.v,
      insert: (id, v) => db('orm_rows').insert({ orm: 'knex', id, v }),
      read: async (id) => (await rows().andWhere({ id }).first('v'))?.v,
      update: (id, v) => rows().andWhere({ id }).update({ v }),
      remove: (id) => rows().andWhere({ id }).del(),
      tx: (ids, rollback) =>
        db.transaction(async (trx) => {
          for (const id of ids) await trx('orm_rows').insert({ orm: 'knex', id });
          if (rollback) throw new Rollback();
        }),
      readOnlyTx: () => db.transaction(async (trx) => (await trx.raw(WHO)).rows[0]?.v, { readOnly: true }),
      end: async () => {
        await db.destroy();
        await pool.end();
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
    // MikroORM's Knex dialect and connectionPool: an AwsPGPool.
    const pool = awsPool(options);
    const driverOptions = mikroKnex({
      client: PostgreSqlKnexDialect as unknown as typeof Knex.Client,
      connectionPool: pool,
    });
    const orm = await MikroORM.init({ dbName: 'postgres', entities: [MikroRow], driverOptions });
    const em = () => orm.em.fork();
    return {
      pool,
      raw: async (s) => (await em().execute<{ v?: unknown }[]>(s))[0]?.v,
      insert: (id, v) => em().insert(MikroRow, { orm: 'mikro-orm', id, v: v ?? null }),
      read: async (id) => (await em().findOne(MikroRow, { orm: 'mikro-orm', id }))?.v,
      update: (id, v) => em().nativeUpdate(MikroRow, { orm: 'mikro-orm', id }, { v }),
      remove: (id) => em().nativeDelete(MikroRow, { orm: 'mikro-orm', id }),
      tx: (ids, rollback) =>
        em().transactional(async (t) => {
          for (const id of ids) await t.insert(MikroRow, { orm: 'mikro-orm', id });
          if (rollback) throw new Rollback();
        }),
      readOnlyTx: () =>
        em().transactional(async (t) => (await t.execute<{ v?: unknown }[]>(WHO))[0]?.v, { readOnly: true }),
      end: async () => {
        await orm.close();
        await pool.end();
      },
    };
  },
  errorCheck: (err) => err instanceof DriverException,
});

type KyselyDb = { orm_rows: { orm: string; id: number; v: number | null } };

defineCase({
  name: 'kysely',
  async make(options) {
    // Kysely: PostgresDialect({ pool: AwsPGPool }).
    const pool = awsPool(options);
    const db = new Kysely<KyselyDb>({ dialect: new PostgresDialect({ pool }) });
    return {
      pool,
      raw: async (s) => ((await ksql.raw(s).execute(db)).rows[0] as { v?: unknown } | undefined)?.v,
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
          .execute(async (trx) => ((await ksql.raw(WHO).execute(trx)).rows[0] as { v?: unknown }).v),
      end: () => db.destroy(),
    };
  },
});

const drizzleRows = pgTable('orm_rows', { orm: text('orm').notNull(), id: integer('id').notNull(), v: integer('v') });

defineCase({
  name: 'drizzle',
  errorCheck: (err) => err instanceof DrizzleQueryError,
  async make(options) {
    // Drizzle: drizzle(AwsPGPool).
    const pool = awsPool(options);
    const db = drizzle(pool);
    const t = drizzleRows;
    const row = (id: number) => and(eq(t.orm, 'drizzle'), eq(t.id, id));
    return {
      pool,
      raw: async (s) => (await db.execute(dsql.raw(s))).rows[0]?.v,
      insert: (id, v) => db.insert(t).values({ orm: 'drizzle', id, v }),
      read: async (id) => (await db.select({ v: t.v }).from(t).where(row(id)))[0]?.v,
      update: (id, v) => db.update(t).set({ v }).where(row(id)),
      remove: (id) => db.delete(t).where(row(id)),
      tx: (ids, rollback) =>
        db.transaction(async (trx) => {
          for (const id of ids) await trx.insert(t).values({ orm: 'drizzle', id });
          if (rollback) trx.rollback();
        }),
      readOnlyTx: () =>
        db.transaction(async (trx) => (await trx.execute(dsql.raw(WHO))).rows[0]?.v, { accessMode: 'read only' }),
      end: () => pool.end(),
    };
  },
});

const TypeOrmRow = new EntitySchema<{ orm: string; id: number; v: number | null }>({
  name: 'OrmRow',
  tableName: 'orm_rows',
  columns: {
    orm: { type: String, primary: true },
    id: { type: Number, primary: true },
    v: { type: Number, nullable: true },
  },
});

defineCase({
  name: 'typeorm',
  errorCheck: (err) => err instanceof QueryFailedError,
  async make(options) {
    // TypeORM: driver is the aws-advanced-ts-wrapper/pg module, wrapper options in extra.
    const { host, port, user, password, database, ...extra } = wrapperConfig(options);
    const ds = new DataSource({
      type: 'postgres',
      driver: awsPg,
      host: String(host),
      port: Number(port),
      username: String(user),
      password: String(password),
      database: String(database),
      poolSize: 2,
      entities: [TypeOrmRow],
      extra,
    });
    await ds.initialize();
    const repo = ds.getRepository(TypeOrmRow);
    return {
      raw: async (s) => (await ds.query<Array<{ v?: unknown }>>(s))[0]?.v,
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
    // Sequelize: dialectModule is the aws-advanced-ts-wrapper/pg module (withOptions carries the wrapper options).
    const { host, port, user, password, database, ...wrapperOptions } = wrapperConfig(options);
    const seq = new Sequelize({
      dialect: 'postgres',
      dialectModule: awsPg.withOptions(wrapperOptions),
      host: String(host),
      port: Number(port),
      username: String(user),
      password: String(password),
      database: String(database),
      pool: { max: 2 },
      logging: false,
    });
    const Row = seq.define(
      'OrmRow',
      {
        orm: { type: DataTypes.TEXT, primaryKey: true },
        id: { type: DataTypes.INTEGER, primaryKey: true },
        v: DataTypes.INTEGER,
      },
      { tableName: 'orm_rows', timestamps: false },
    );
    return {
      raw: async (s) => ((await seq.query(s, { plain: true })) as { v?: unknown } | null)?.v,
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

interface PrismaRows {
  create(args: { data: { orm: string; id: number; v?: number } }): Promise<unknown>;
  findFirst(args: { where: { orm: string; id: number } }): Promise<{ v: number | null } | null>;
  updateMany(args: { where: { orm: string; id: number }; data: { v: number } }): Promise<unknown>;
  deleteMany(args: { where: { orm: string; id: number } }): Promise<unknown>;
}

interface PrismaLike {
  $queryRawUnsafe(sql: string): Promise<Array<{ v?: unknown }>>;
  $transaction<T>(fn: (tx: { ormRow: PrismaRows }) => Promise<T>): Promise<T>;
  ormRow: PrismaRows;
  $disconnect(): Promise<void>;
}

let PrismaClient: (new (options: { adapter: PrismaPg }) => PrismaLike) | undefined;

async function prismaClient(): Promise<new (options: { adapter: PrismaPg }) => PrismaLike> {
  if (PrismaClient) return PrismaClient;
  // `prisma generate` offline: the engine-less generator needs no engine, only the download check switched off.
  const schema = path.resolve('test/fixtures/prisma/schema.prisma');
  const cli = createRequire(path.resolve('package.json')).resolve('prisma/build/index.js');
  execFileSync(process.execPath, [cli, 'generate', '--schema', schema], {
    env: {
      ...process.env,
      PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1',
      PRISMA_SCHEMA_ENGINE_BINARY: '/bin/true',
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
    stdio: 'pipe',
  });
  const generated = path.resolve('node_modules/.cache/orm-test-prisma/client.ts');
  PrismaClient = ((await import(generated)) as { PrismaClient: typeof PrismaClient }).PrismaClient!;
  return PrismaClient;
}

defineCase({
  name: 'prisma',
  errorCheck: (err) => /^PrismaClient|DriverAdapterError|FailoverSuccessError/.test((err as Error).name),
  async make(options) {
    // Prisma 7: new PrismaPg(AwsPGPool).
    const Client = await prismaClient();
    const pool = awsPool(options);
    const prisma = new Client({ adapter: new PrismaPg(pool) });
    return {
      pool,
      raw: async (s) => (await prisma.$queryRawUnsafe(s))[0]?.v,
      insert: (id, v) => prisma.ormRow.create({ data: { orm: 'prisma', id, ...(v === undefined ? {} : { v }) } }),
      read: async (id) => (await prisma.ormRow.findFirst({ where: { orm: 'prisma', id } }))?.v,
      update: (id, v) => prisma.ormRow.updateMany({ where: { orm: 'prisma', id }, data: { v } }),
      remove: (id) => prisma.ormRow.deleteMany({ where: { orm: 'prisma', id } }),
      tx: (ids, rollback) =>
        prisma.$transaction(async (trx) => {
          for (const id of ids) await trx.ormRow.create({ data: { orm: 'prisma', id } });
          if (rollback) throw new Rollback();
        }),
      end: async () => {
        await prisma.$disconnect();
        await pool.end();
      },
    };
  },
});

test.run();
