// ORMs on MySQL, plugged in their own way (no casts, no subclasses) with aws-advanced-ts-wrapper/mysql, through a
// writer failover on the aurora-mysql lookalike: the statement in flight when the writer dies reaches the ORM's caller
// as an error isFailoverError() recognises through the ORM's wrapping, withFailoverRetry re-runs the unit on the new
// writer, no row is lost or duplicated, and the ORM's pool ends.
import 'reflect-metadata';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import knex from 'knex';
import { Kysely, MysqlDialect, sql as ksql } from 'kysely';
import { drizzle } from 'drizzle-orm/mysql2';
import { mysqlTable, varchar, int } from 'drizzle-orm/mysql-core';
import { sql as dsql } from 'drizzle-orm';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import type { Pool as MySql2Pool } from 'mysql2';
import { DataSource, QueryFailedError } from 'typeorm';
import { Sequelize, DatabaseError as SequelizeDatabaseError } from 'sequelize';
import * as awsMysql from '../ts/mysql.js';
import { createPool, isFailoverError, withFailoverRetry, releaseResources } from '../ts/mysql.js';
import { Lab } from './support/failover-lab.js';

let lab: Lab;
const SLEEP = 'SELECT SLEEP(30)';
const WHO = 'SELECT @@aurora_server_id AS v';

test.before(async () => {
  lab = await Lab.start('aurora-mysql', 1);
  await lab.direct('writer', (q) => q('CREATE TABLE orm_rows (orm varchar(20) NOT NULL, id int NOT NULL, PRIMARY KEY (orm, id))'));
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

/** Connection settings and the wrapper options the lookalike needs (its DNS names resolve through hostAddressMap). */
function settings(): { host: string; port: number; user: string; password: string; database: string; wrapperOptions: Record<string, unknown> } {
  const { host, port, user, password, database, ...wrapperOptions } = lab.cluster.clientConfig('writer') as unknown as Record<string, unknown>;
  return { host: String(host), port: Number(port), user: String(user), password: String(password), database: String(database), wrapperOptions };
}

function firstV(rows: unknown): unknown {
  return Array.isArray(rows) ? (rows[0] as { v?: unknown } | undefined)?.v : undefined;
}

async function throughFailover(name: string, orm: Orm): Promise<unknown[]> {
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
  assert.equal(rows.map((r) => Number(r.id)), [1, 2], `${name}: no row lost or duplicated`);
  await orm.end();
  return seen;
}

test('Knex: connectionPool takes the callback pool of aws-advanced-ts-wrapper/mysql', async () => {
  const s = settings();
  const pool = createPool({ ...s, ...s.wrapperOptions, connectionLimit: 2 }, { services: lab.newServices() });
  const db = knex({ client: 'mysql2', connectionPool: pool });
  await throughFailover('knex', {
    raw: async (q) => firstV((await db.raw(q))[0]),
    insert: (id) => db('orm_rows').insert({ orm: 'knex', id }),
    end: async () => {
      await db.destroy();
      await new Promise<void>((resolve, reject) => pool.end((e) => (e ? reject(e) : resolve())));
    },
  });
});

test('Kysely: MysqlDialect({ pool: createPool(...) })', async () => {
  const s = settings();
  const pool = createPool({ ...s, ...s.wrapperOptions, connectionLimit: 2 }, { services: lab.newServices() });
  const db = new Kysely<{ orm_rows: { orm: string; id: number } }>({ dialect: new MysqlDialect({ pool }) });
  await throughFailover('kysely', {
    raw: async (q) => firstV((await ksql.raw(q).execute(db)).rows),
    insert: (id) => db.insertInto('orm_rows').values({ orm: 'kysely', id }).execute(),
    end: () => db.destroy(),
  });
});

test('Drizzle: drizzle(createPool(...)); the error arrives as DrizzleQueryError', async () => {
  const s = settings();
  const pool = createPool({ ...s, ...s.wrapperOptions, connectionLimit: 2 }, { services: lab.newServices() });
  // Drizzle's types ask for mysql2's own Pool class, internals included: the one type assertion (docs/orms.md).
  const db = drizzle(pool as unknown as MySql2Pool);
  const ormRows = mysqlTable('orm_rows', { orm: varchar('orm', { length: 20 }).notNull(), id: int('id').notNull() });
  const seen = await throughFailover('drizzle', {
    raw: async (q) => firstV((await db.execute(dsql.raw(q)))[0]),
    insert: (id) => db.insert(ormRows).values({ orm: 'drizzle', id }),
    end: () => new Promise<void>((resolve, reject) => pool.end((e) => (e ? reject(e) : resolve()))),
  });
  assert.instance(seen[0], DrizzleQueryError);
});

test('TypeORM: driver is the aws-advanced-ts-wrapper/mysql module, wrapper options in extra', async () => {
  const s = settings();
  const ds = new DataSource({
    type: 'mysql',
    driver: awsMysql,
    host: s.host,
    port: s.port,
    username: s.user,
    password: s.password,
    database: s.database,
    poolSize: 2,
    extra: s.wrapperOptions,
  });
  await ds.initialize();
  const seen = await throughFailover('typeorm', {
    raw: async (q) => firstV(await ds.query(q)),
    insert: (id) => ds.query('INSERT INTO orm_rows (orm, id) VALUES (?, ?)', ['typeorm', id]),
    end: () => ds.destroy(),
  });
  assert.instance(seen[0], QueryFailedError);
});

test('Sequelize: dialectModule is the aws-advanced-ts-wrapper/mysql module, wrapper options in dialectOptions', async () => {
  const s = settings();
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
  const seen = await throughFailover('sequelize', {
    raw: async (q) => ((await seq.query(q, { plain: true })) as { v?: unknown } | null)?.v,
    insert: (id) => seq.getQueryInterface().bulkInsert('orm_rows', [{ orm: 'sequelize', id }]),
    end: () => seq.close(),
  });
  assert.instance(seen[0], SequelizeDatabaseError);
});

test.run();
