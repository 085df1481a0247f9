// ORMs on PostgreSQL, plugged in their own way (no casts, no subclasses), through a writer failover on the aurora-pg
// lookalike: the statement in flight when the writer dies reaches the ORM's caller as an error isFailoverError()
// recognises through the ORM's wrapping, withFailoverRetry re-runs the unit on the new writer, no row is lost or
// duplicated, and the ORM's pool ends with no connection left.
import 'reflect-metadata';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import knex from 'knex';
import { Kysely, PostgresDialect, sql as ksql } from 'kysely';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, text, integer } from 'drizzle-orm/pg-core';
import { sql as dsql } from 'drizzle-orm';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { Sequelize, DatabaseError as SequelizeDatabaseError } from 'sequelize';
import { DataSource, QueryFailedError } from 'typeorm';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import * as awsPg from '../ts/pg.js';
import { AwsPGPool, isFailoverError, withFailoverRetry, releaseResources } from '../ts/pg.js';
import { Lab } from './support/failover-lab.js';

let lab: Lab;
const SLEEP = 'SELECT pg_catalog.pg_sleep(30)';
const WHO = 'SELECT pg_catalog.aurora_db_instance_identifier() AS v';

test.before(async () => {
  lab = await Lab.start('aurora-pg', 1);
  await lab.direct('writer', (q) => q('CREATE TABLE orm_rows (orm text NOT NULL, id int NOT NULL, PRIMARY KEY (orm, id))'));
});

test.after.each(async () => {
  await lab.restore();
});

test.after(async () => {
  await releaseResources();
  await lab?.stop();
});

interface Orm {
  /** A raw statement through the ORM; resolves with the first row's `v` column when there is one. */
  raw(sql: string): Promise<unknown>;
  insert(id: number): Promise<unknown>;
  end(): Promise<void>;
}

/** Wrapper options the lookalike needs (its DNS names resolve through hostAddressMap). */
function wrapperConfig(): Record<string, unknown> {
  return lab.cluster.clientConfig('writer') as unknown as Record<string, unknown>;
}

async function throughFailover(name: string, orm: Orm, pool?: { totalCount: number }): Promise<unknown[]> {
  await orm.insert(1);
  const before = String(await orm.raw(WHO));
  const seen: unknown[] = [];
  const unit = withFailoverRetry(
    async (attempt) => {
      await orm.raw(attempt === 1 ? SLEEP : 'SELECT 1'); // the first run is in flight when the writer fails
      await orm.insert(2);
    },
    { onRetry: (err) => seen.push(err) },
  );
  await lab.waitRunning(before, SLEEP);
  const { newWriter } = await lab.cluster.failover({ mode: 'immediate' });
  assert.is.not(newWriter, before);
  await unit;
  assert.is(seen.length, 1, `${name}: one retry`);
  assert.ok(isFailoverError(seen[0]), `${name}: the ORM's error is recognised: ${String(seen[0])}`);
  assert.is(String(await orm.raw(WHO)), newWriter);
  const rows = await lab.direct('writer', (q) => q(`SELECT id FROM orm_rows WHERE orm = '${name}' ORDER BY id`));
  assert.equal(rows.map((r) => r.id), [1, 2], `${name}: no row lost or duplicated`);
  await orm.end();
  if (pool) assert.is(pool.totalCount, 0, `${name}: the pool holds no connection after end()`);
  return seen;
}

test('the pg module shape: Client / Pool are ours, types / defaults / DatabaseError are pg\'s; withOptions puts wrapper options under each config', async () => {
  const pg = (await import('pg')).default;
  assert.is(awsPg.Client, awsPg.AwsPGClient);
  assert.is(awsPg.Pool, AwsPGPool);
  assert.is(awsPg.types, pg.types);
  assert.is(awsPg.defaults, pg.defaults);
  assert.is(awsPg.DatabaseError, pg.DatabaseError);
  const mod = awsPg.withOptions({ failoverTimeoutMs: 1234, database: 'fromOptions' });
  const pool = new mod.Pool({ database: 'fromOrm', max: 1 });
  assert.instance(pool, AwsPGPool);
  assert.is((pool.options as Record<string, unknown>).failoverTimeoutMs, 1234);
  assert.is(pool.options.database, 'fromOrm', 'the ORM\'s config wins');
  await pool.end();
  assert.instance(new mod.Client({}), awsPg.AwsPGClient);
  assert.throws(() => awsPg.withOptions(null as never), /withOptions: options must be an object of wrapper options, got null/);
  assert.throws(() => new mod.Pool({ failoverTimeoutMs: 'soon' } as never), /failoverTimeoutMs/);
});

test('Knex: connectionPool takes an AwsPGPool', async () => {
  const pool = new AwsPGPool({ ...wrapperConfig(), max: 2 }, { services: lab.newServices() });
  const db = knex({ client: 'pg', connectionPool: pool });
  await throughFailover('knex', {
    raw: async (s) => (await db.raw(s)).rows[0]?.v,
    insert: (id) => db('orm_rows').insert({ orm: 'knex', id }),
    end: async () => {
      await db.destroy();
      await pool.end();
    },
  }, pool);
});

test('Kysely: PostgresDialect({ pool: AwsPGPool })', async () => {
  const pool = new AwsPGPool({ ...wrapperConfig(), max: 2 }, { services: lab.newServices() });
  const db = new Kysely<{ orm_rows: { orm: string; id: number } }>({ dialect: new PostgresDialect({ pool }) });
  await throughFailover('kysely', {
    raw: async (s) => ((await ksql.raw(s).execute(db)).rows[0] as { v?: unknown } | undefined)?.v,
    insert: (id) => db.insertInto('orm_rows').values({ orm: 'kysely', id }).execute(),
    end: () => db.destroy(),
  }, pool);
});

test('Drizzle: drizzle(AwsPGPool); the error arrives as DrizzleQueryError', async () => {
  const pool = new AwsPGPool({ ...wrapperConfig(), max: 2 }, { services: lab.newServices() });
  const db = drizzle(pool);
  const ormRows = pgTable('orm_rows', { orm: text('orm').notNull(), id: integer('id').notNull() });
  const seen = await throughFailover('drizzle', {
    raw: async (s) => (await db.execute(dsql.raw(s))).rows[0]?.v,
    insert: (id) => db.insert(ormRows).values({ orm: 'drizzle', id }),
    end: () => pool.end(),
  }, pool);
  assert.instance(seen[0], DrizzleQueryError);
});

test('TypeORM: driver is the aws-advanced-ts-wrapper/pg module, wrapper options in extra', async () => {
  const { host, port, user, password, database, ...extra } = wrapperConfig();
  const ds = new DataSource({
    type: 'postgres',
    driver: awsPg,
    host: String(host),
    port: Number(port),
    username: String(user),
    password: String(password),
    database: String(database),
    poolSize: 2,
    extra,
  });
  await ds.initialize();
  const seen = await throughFailover('typeorm', {
    raw: async (s) => ((await ds.query(s)) as Array<{ v?: unknown }>)[0]?.v,
    insert: (id) => ds.query('INSERT INTO orm_rows (orm, id) VALUES ($1, $2)', ['typeorm', id]),
    end: () => ds.destroy(),
  });
  assert.instance(seen[0], QueryFailedError);
});

test('Sequelize: dialectModule is the aws-advanced-ts-wrapper/pg module (withOptions carries the wrapper options)', async () => {
  const { host, port, user, password, database, ...wrapperOptions } = wrapperConfig();
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
  const seen = await throughFailover('sequelize', {
    raw: async (s) => ((await seq.query(s, { plain: true })) as { v?: unknown } | null)?.v,
    insert: (id) => seq.getQueryInterface().bulkInsert('orm_rows', [{ orm: 'sequelize', id }]),
    end: () => seq.close(),
  });
  assert.instance(seen[0], SequelizeDatabaseError);
});

interface PrismaLike {
  $queryRawUnsafe(sql: string): Promise<Array<{ v?: unknown }>>;
  ormRow: { create(args: { data: { orm: string; id: number } }): Promise<unknown> };
  $disconnect(): Promise<void>;
}

test('Prisma 7: new PrismaPg(AwsPGPool); the error arrives as a PrismaClient error', async () => {
  // `prisma generate` offline: the engine-less generator needs no engine, only the download check switched off.
  const schema = path.resolve('test/fixtures/prisma/schema.prisma');
  const cli = createRequire(path.resolve('package.json')).resolve('prisma/build/index.js');
  execFileSync(process.execPath, [cli, 'generate', '--schema', schema], {
    env: { ...process.env, PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1', PRISMA_SCHEMA_ENGINE_BINARY: '/bin/true', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
    stdio: 'pipe',
  });
  const generated = path.resolve('node_modules/.cache/orm-test-prisma/client.ts');
  const { PrismaClient } = (await import(generated)) as { PrismaClient: new (options: { adapter: PrismaPg }) => PrismaLike };
  const pool = new AwsPGPool({ ...wrapperConfig(), max: 2 }, { services: lab.newServices() });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const seen = await throughFailover('prisma', {
    raw: async (s) => (await prisma.$queryRawUnsafe(s))[0]?.v,
    insert: (id) => prisma.ormRow.create({ data: { orm: 'prisma', id } }),
    end: async () => {
      await prisma.$disconnect();
      await pool.end();
    },
  }, pool);
  assert.match((seen[0] as Error).name, /^PrismaClient|DriverAdapterError|FailoverSuccessError/);
});

test.run();
