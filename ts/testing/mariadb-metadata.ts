/**
 * What each MySQL flavour's metadata looks like on the lookalike: the tables the wrapper's dialect SQL reads
 * (created and written on the writer, replicated to the readers) and the rewrite rules of each instance's front.
 *
 *  - aurora-mysql: `information_schema.replica_host_status` is served from the view
 *    `aurora_lookalike.replica_host_status` over a plain table, with LAST_UPDATE_TIMESTAMP = NOW(6) so rows never
 *    go stale; `@@aurora_server_id` / `@@innodb_read_only` / `aurora_version` are rewritten by the front.
 *    No `mysql.rds_topology` and an empty `report_host`, so it is never taken for Multi-AZ.
 *  - multi-az-mysql: `mysql.rds_topology(id, endpoint, port, role, status, version)` — id is the numeric server id
 *    (the dialect matches it with `@@server_id`), port the instance's public port; role/status/version stay
 *    NULL for the Multi-AZ rows; they are there for Blue/Green metadata later. `report_host` = the DNS name.
 *  - mysql: no metadata. `version_comment` reads "MySQL Community Server - GPL" (MariaDB cannot set it, the
 *    front answers it); aurora/multi-az read "Source distribution" as RDS and Aurora do, and so does `mysql`
 *    once it has a Blue/Green deployment (it then plays RDS for MySQL).
 *  - Blue/Green (aurora-mysql, mysql): `mysql.rds_topology` with role/status/version set, written on each side's
 *    writer (green receives blue's rows by replication until it is promoted). A green copy keeps its Aurora
 *    metadata in its own schema (`aurora_lookalike_<suffix>`), written in its own GTID domain, so what blue
 *    replicates to it never overwrites green's own topology.
 *  - Global database (aurora-mysql): each region keeps its `replica_host_status` in its own schema (the secondary
 *    region's writer replicates the primary's, whose metadata must not overwrite its own), written in the region's
 *    own GTID domain while it is a secondary. A secondary region's writer is reported without MASTER_SESSION_ID (it
 *    replicates, it does not take writes). `information_schema.aurora_global_db_instance_status` /
 *    `aurora_global_db_status` are answered by each instance's front from the global view (no rows outside a
 *    global database), and `information_schema.tables` lists both, as on Aurora MySQL 3.04+.
 */
import type mysql from 'mysql2/promise';
import type { Flavour, GlobalDocument, TopologySnapshot } from './engine.js';
import { sqlString, type SqlRewriteRules } from './mariadb-sql-rewrite.js';
import type { BlueGreenRow } from './state.js';

export const AURORA_MYSQL_VERSION = '3.08.0';
export const AURORA_SCHEMA = 'aurora_lookalike';
export type MysqlFlavour = Extract<Flavour, 'aurora-mysql' | 'multi-az-mysql' | 'mysql'>;

export function isMysqlFlavour(flavour: Flavour): flavour is MysqlFlavour {
  return flavour === 'aurora-mysql' || flavour === 'multi-az-mysql' || flavour === 'mysql';
}

export function versionComment(flavour: MysqlFlavour): string {
  return flavour === 'mysql' ? 'MySQL Community Server - GPL' : 'Source distribution';
}

/** Semi-synchronous replication (acknowledged commits survive failover) for the HA flavours. */
export function usesSemiSync(flavour: MysqlFlavour): boolean {
  return flavour !== 'mysql';
}

/** `report_host` for an instance: the DNS name, except on aurora-mysql (keeps Multi-AZ detection false). */
export function reportHost(flavour: MysqlFlavour, dnsName: string): string {
  return flavour === 'aurora-mysql' ? '' : dnsName;
}

export interface FrontOptions {
  /** Schema of the Aurora metadata (default AURORA_SCHEMA). */
  readonly schema?: string;
  /** `mysql` flavour playing RDS for MySQL (version_comment "Source distribution"). */
  readonly rds?: boolean;
  /** Global database: the view the global status tables report. */
  readonly global?: GlobalDocument;
}

const GLOBAL_INSTANCE_STATUS = 'information_schema.aurora_global_db_instance_status';
const GLOBAL_STATUS = 'information_schema.aurora_global_db_status';

/**
 * `aurora_global_db_instance_status` as a derived table. As on Aurora, the writer is live: an instance that takes
 * writes (read_only off) reports itself as MASTER_SESSION_ID, every other one the global view's writer.
 */
function globalInstanceStatusSql(instanceName: string, view: GlobalDocument | undefined): string {
  const rows = view?.instances ?? [];
  const viewWriter = rows.find((r) => r.writer)?.server_id;
  const writer = `IF(@@global.read_only, ${viewWriter === undefined ? 'NULL' : sqlString(viewWriter)}, ${sqlString(instanceName)})`;
  const source =
    rows.length === 0
      ? 'SELECT NULL AS SERVER_ID, NULL AS SESSION_ID, NULL AS AWS_REGION FROM DUAL WHERE FALSE'
      : rows
          .map(
            (r) =>
              `SELECT ${sqlString(r.server_id)} AS SERVER_ID, ${sqlString(r.session_id)} AS SESSION_ID, ${sqlString(r.aws_region)} AS AWS_REGION`,
          )
          .join(' UNION ALL ');
  return `(SELECT g.SERVER_ID, IF(g.SERVER_ID = ${writer}, 'MASTER_SESSION_ID', g.SESSION_ID) AS SESSION_ID, g.AWS_REGION,
    CAST(0 AS UNSIGNED) AS DURABLE_LSN, CAST(0 AS UNSIGNED) AS HIGHEST_LSN_RCVD, CAST(0 AS UNSIGNED) AS OLDEST_READ_VIEW_TRX_ID,
    CAST(0 AS UNSIGNED) AS OLDEST_READ_VIEW_LSN, IF(g.SERVER_ID = ${writer}, NULL, 0) AS VISIBILITY_LAG_IN_MSEC
    FROM (${source}) AS g)`;
}

/** `aurora_global_db_status` as a derived table: one row per region (lags -1 for the primary region, as on Aurora). */
function globalStatusSql(view: GlobalDocument | undefined): string {
  const rows = view?.regions ?? [];
  const source =
    rows.length === 0
      ? 'SELECT NULL AS AWS_REGION, FALSE AS IS_PRIMARY FROM DUAL WHERE FALSE'
      : rows
          .map((r) => `SELECT ${sqlString(r.aws_region)} AS AWS_REGION, ${r.primary ? 'TRUE' : 'FALSE'} AS IS_PRIMARY`)
          .join(' UNION ALL ');
  return `(SELECT r.AWS_REGION, CAST(0 AS UNSIGNED) AS HIGHEST_LSN_WRITTEN,
    IF(r.IS_PRIMARY, -1, 0) AS DURABILITY_LAG_IN_MILLISECONDS, IF(r.IS_PRIMARY, -1, 0) AS RPO_LAG_IN_MILLISECONDS,
    NOW(6) AS LAST_LAG_CALCULATION_TIME, CAST(0 AS UNSIGNED) AS OLDEST_READ_VIEW_TRX_ID FROM (${source}) AS r)`;
}

/** `information_schema.tables` with Aurora's own tables added (only read by statements that ask about them). */
const AURORA_CATALOG_TABLES = `(SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.tables
    UNION ALL SELECT 'def', 'information_schema', 'AURORA_GLOBAL_DB_INSTANCE_STATUS', 'SYSTEM VIEW'
    UNION ALL SELECT 'def', 'information_schema', 'AURORA_GLOBAL_DB_STATUS', 'SYSTEM VIEW')`;

/** The front's rewrite rules for one instance. */
export function frontRules(flavour: MysqlFlavour, instanceName: string, options: FrontOptions = {}): SqlRewriteRules {
  const schema = options.schema ?? AURORA_SCHEMA;
  const comment = sqlString(options.rds ? 'Source distribution' : versionComment(flavour));
  if (flavour !== 'aurora-mysql') {
    return {
      variables: new Map([['version_comment', comment]]),
      showVariables: new Map([['version_comment', comment]]),
      tables: new Map(),
      functions: new Map(),
    };
  }
  const serverId = sqlString(instanceName);
  const version = sqlString(AURORA_MYSQL_VERSION);
  return {
    variables: new Map([
      ['aurora_server_id', serverId],
      ['aurora_version', version],
      // Aurora readers run innodb_read_only=1; lookalike readers run read_only=1.
      ['innodb_read_only', '@@global.read_only'],
      ['version_comment', comment],
    ]),
    showVariables: new Map([
      ['aurora_server_id', serverId],
      ['aurora_version', version],
      ['innodb_read_only', "IF(@@global.read_only, 'ON', 'OFF')"],
      ['version_comment', comment],
    ]),
    tables: new Map([
      ['information_schema.replica_host_status', `${schema}.replica_host_status`],
      [GLOBAL_INSTANCE_STATUS, globalInstanceStatusSql(instanceName, options.global)],
      [GLOBAL_STATUS, globalStatusSql(options.global)],
    ]),
    functions: new Map([['aurora_version', version]]),
    catalog: {
      names: ['aurora_global_db_instance_status', 'aurora_global_db_status'],
      tables: AURORA_CATALOG_TABLES,
    },
  };
}

/** Creates the flavour's metadata objects (on the writer; DDL replicates). */
export async function createMetadata(
  conn: mysql.Connection,
  flavour: MysqlFlavour,
  schema = AURORA_SCHEMA,
): Promise<void> {
  if (flavour === 'multi-az-mysql') {
    await conn.query(RDS_TOPOLOGY_DDL);
  } else if (flavour === 'aurora-mysql') {
    await conn.query(`CREATE DATABASE IF NOT EXISTS ${schema}`);
    await conn.query(`CREATE TABLE IF NOT EXISTS ${schema}.replica_host_status_data (
      SERVER_ID VARCHAR(100) NOT NULL PRIMARY KEY,
      SESSION_ID VARCHAR(100) NOT NULL,
      CPU DOUBLE NOT NULL DEFAULT 0,
      REPLICA_LAG_IN_MILLISECONDS DOUBLE NOT NULL DEFAULT 0) ENGINE=InnoDB`);
    await conn.query(`CREATE OR REPLACE SQL SECURITY INVOKER VIEW ${schema}.replica_host_status AS
      SELECT SERVER_ID, SESSION_ID, CPU, REPLICA_LAG_IN_MILLISECONDS, NOW(6) AS LAST_UPDATE_TIMESTAMP
      FROM ${schema}.replica_host_status_data`);
  }
}

/** Where and how a cluster writes its Aurora topology rows. */
export interface TopologyTarget {
  /** Default AURORA_SCHEMA. */
  readonly schema?: string;
  /** A global database's secondary region: its writer replicates and is reported as a reader. */
  readonly secondary?: boolean;
  /** GTID domain of the writes (a secondary region's writer replicates domain 0 from the primary region). */
  readonly gtidDomain?: number;
}

/** Rewrites the topology rows (on the writer, in one transaction; replicates to the readers). */
export async function writeTopology(
  conn: mysql.Connection,
  flavour: MysqlFlavour,
  topology: TopologySnapshot,
  publicPort: number,
  target: TopologyTarget = {},
): Promise<void> {
  if (flavour === 'mysql') return;
  const schema = target.schema ?? AURORA_SCHEMA;
  const instances = [topology.writer, ...topology.readers];
  if (target.gtidDomain !== undefined) await conn.query(`SET SESSION gtid_domain_id = ${Number(target.gtidDomain)}`);
  await conn.query('START TRANSACTION');
  try {
    if (flavour === 'multi-az-mysql') {
      await conn.query('DELETE FROM mysql.rds_topology WHERE role IS NULL');
      await conn.query('INSERT INTO mysql.rds_topology (id, endpoint, port) VALUES ?', [
        instances.map((i) => [i.serverId, i.dnsName, i.publicPort ?? publicPort]),
      ]);
    } else {
      await conn.query(`DELETE FROM ${schema}.replica_host_status_data`);
      const rows = instances.map(
        (i, n) => `(${conn.escape(i.name)}, ${n === 0 && !target.secondary ? "'MASTER_SESSION_ID'" : 'UUID()'}, 0, 0)`,
      );
      await conn.query(`INSERT INTO ${schema}.replica_host_status_data
        (SERVER_ID, SESSION_ID, CPU, REPLICA_LAG_IN_MILLISECONDS) VALUES ${rows.join(', ')}`);
    }
    await conn.query('COMMIT');
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export const RDS_TOPOLOGY_DDL = `CREATE TABLE IF NOT EXISTS mysql.rds_topology (
      id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
      endpoint VARCHAR(255) NOT NULL,
      port INT NOT NULL,
      role VARCHAR(64) NULL,
      status VARCHAR(64) NULL,
      version VARCHAR(16) NULL) ENGINE=InnoDB`;

/** Replaces the Blue/Green rows of `mysql.rds_topology` (Multi-AZ rows, with a NULL role, are left alone). */
export async function writeBlueGreenRows(conn: mysql.Connection, rows: readonly BlueGreenRow[]): Promise<void> {
  await conn.query(RDS_TOPOLOGY_DDL);
  await conn.query('START TRANSACTION');
  try {
    await conn.query('DELETE FROM mysql.rds_topology WHERE role IS NOT NULL');
    if (rows.length > 0) {
      await conn.query('INSERT INTO mysql.rds_topology (id, endpoint, port, role, status, version) VALUES ?', [
        rows.map((r) => [r.id, r.endpoint, r.port, r.role, r.status, r.version]),
      ]);
    }
    await conn.query('COMMIT');
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
