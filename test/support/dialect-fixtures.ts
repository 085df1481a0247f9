/**
 * Test-side helpers for the dialect and host-list-provider tests: raw pg / mysql2 connections to the shared test
 * servers, tiny QueryRows adapters (row arrays + column names, server-side statement timeouts mapped to
 * QueryTimeoutError), and single-node emulations of Aurora PG / Multi-AZ PG metadata installed in scratch
 * databases, so the dialects' verbatim SQL runs against a real server.
 */
import pg from 'pg';
import mysql from 'mysql2/promise';
import { QueryTimeoutError } from '../../ts/errors.js';
import type { DriverDialect, QueryRows, RowsWithColumns } from '../../ts/dialects/types.js';

export function pgConfig(database = process.env.TEST_PG_DATABASE): pg.ClientConfig {
  return {
    host: process.env.TEST_PG_HOST,
    port: Number(process.env.TEST_PG_PORT),
    user: process.env.TEST_PG_USER,
    password: process.env.TEST_PG_PASSWORD,
    database,
  };
}

export async function pgConnect(database?: string): Promise<pg.Client> {
  const c = new pg.Client(pgConfig(database));
  await c.connect();
  return c;
}

export async function mysqlConnect(): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: process.env.TEST_MYSQL_HOST,
    port: Number(process.env.TEST_MYSQL_PORT),
    user: process.env.TEST_MYSQL_USER,
    password: process.env.TEST_MYSQL_PASSWORD,
    database: process.env.TEST_MYSQL_DATABASE,
  });
}

function withColumns(rows: unknown[][], columns: readonly string[]): RowsWithColumns {
  return Object.assign(rows, { columns });
}

/** Runs `sql` on a pg client with rowMode array; a server-side statement timeout (57014) is a QueryTimeoutError. */
export async function pgRows(c: pg.Client, sql: string): Promise<RowsWithColumns> {
  try {
    const r = await c.query({ text: sql, rowMode: 'array' });
    return withColumns(
      r.rows as unknown[][],
      r.fields.map((f) => f.name),
    );
  } catch (err) {
    if ((err as { code?: string }).code === '57014')
      throw new QueryTimeoutError(`query timed out: ${sql}`, { cause: err });
    throw err;
  }
}

export async function mysqlRows(c: mysql.Connection, sql: string): Promise<RowsWithColumns> {
  const [rows, fields] = await c.query({ sql, rowsAsArray: true });
  const names = Array.isArray(fields) ? fields.map((f) => f.name) : [];
  return withColumns(Array.isArray(rows) ? (rows as unknown as unknown[][]) : [], names);
}

export const pgQuery =
  (c: pg.Client): QueryRows =>
  (sql) =>
    pgRows(c, sql);
export const mysqlQuery =
  (c: mysql.Connection): QueryRows =>
  (sql) =>
    mysqlRows(c, sql);

/** The one DriverDialect method the providers use, over raw pg clients (timeouts via statement_timeout). */
export const pgQueryRowsDriver: Pick<DriverDialect<pg.Client>, 'queryRows'> = {
  queryRows: (c, sql) => pgRows(c, sql),
};
export const mysqlQueryRowsDriver: Pick<DriverDialect<mysql.Connection>, 'queryRows'> = {
  queryRows: (c, sql) => mysqlRows(c, sql),
};

/**
 * Aurora PG metadata on one real server: `rds.extensions` in pg_settings, aurora_db_instance_identifier() from the
 * per-session setting `emul.instance`, and aurora_replica_status() from the table emul.replica_status (which
 * sleeps when the session sets `emul.slow = 'on'`, to exercise probe timeouts).
 */
const AURORA_PG_SQL = [
  'SET allow_system_table_mods = on',
  `CREATE OR REPLACE VIEW pg_catalog.pg_settings AS
     SELECT a.name, a.setting, a.unit, a.category, a.short_desc, a.extra_desc, a.context, a.vartype, a.source,
            a.min_val, a.max_val, a.enumvals, a.boot_val, a.reset_val, a.sourcefile, a.sourceline, a.pending_restart
       FROM pg_catalog.pg_show_all_settings() a
     UNION ALL
     SELECT 'rds.extensions', 'aurora_stat_utils, plpgsql, rds_tools', NULL, 'Customized Options', '', NULL, 'sighup',
            'string', 'configuration file', NULL, NULL, NULL, '', '', NULL, NULL, false`,
  'CREATE SCHEMA emul',
  `CREATE TABLE emul.replica_status (server_id text, session_id text, cpu double precision,
     replica_lag_in_msec double precision, last_update_timestamp timestamptz)`,
  `CREATE FUNCTION pg_catalog.aurora_db_instance_identifier() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT pg_catalog.current_setting('emul.instance', true) $$`,
  `CREATE FUNCTION pg_catalog.aurora_replica_status()
     RETURNS TABLE (server_id text, session_id text, cpu double precision, replica_lag_in_msec double precision,
                    last_update_timestamp timestamptz)
     LANGUAGE plpgsql VOLATILE AS $$
     BEGIN
       IF pg_catalog.current_setting('emul.slow', true) = 'on' THEN PERFORM pg_catalog.pg_sleep(5); END IF;
       RETURN QUERY SELECT r.server_id, r.session_id, r.cpu, r.replica_lag_in_msec, r.last_update_timestamp
                      FROM emul.replica_status r;
     END $$`,
];

/** Multi-AZ PG metadata: rds_tools functions over emul.topology; own id from the session setting `emul.resource_id`. */
const MULTI_AZ_PG_SQL = [
  'CREATE SCHEMA emul',
  'CREATE TABLE emul.topology (id text, endpoint text, port integer, is_writer boolean)',
  'CREATE SCHEMA rds_tools',
  `CREATE FUNCTION rds_tools.dbi_resource_id() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT pg_catalog.current_setting('emul.resource_id', true) $$`,
  `CREATE FUNCTION rds_tools.multi_az_db_cluster_source_dbi_resource_id() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT id FROM emul.topology WHERE is_writer LIMIT 1 $$`,
  `CREATE FUNCTION rds_tools.show_topology(product text DEFAULT NULL)
     RETURNS TABLE (id text, endpoint text, port integer) LANGUAGE sql STABLE
     AS $$ SELECT t.id, t.endpoint, t.port FROM emul.topology t $$`,
];

export type Emulation = 'aurora-pg' | 'multi-az-pg';

/** Creates a scratch database `name` with the emulation installed; returns a function that drops it. */
export async function createEmulatedDatabase(name: string, kind: Emulation): Promise<() => Promise<void>> {
  const admin = await pgConnect();
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  const c = await pgConnect(name);
  try {
    for (const sql of kind === 'aurora-pg' ? AURORA_PG_SQL : MULTI_AZ_PG_SQL) await c.query(sql);
  } finally {
    await c.end();
  }
  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  };
}
