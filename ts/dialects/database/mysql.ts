/**
 * MySQL-family database dialects: mysql, rds-mysql, aurora-mysql, global-aurora-mysql,
 * multi-az-mysql. SQL is copied verbatim from the Python wrapper (trailing spaces included). MariaDB servers are
 * `mysql`: their version_comment is the distribution's text (e.g. "Debian 12"), so `mysql` detection also accepts a
 * server whose `version` contains "mariadb".
 */
import type { DatabaseDialect, QueryRows } from '../types.js';
import { asNumber, asText } from './values.js';

const VERSION_COMMENT = "SHOW VARIABLES LIKE 'version_comment'";
const VERSION = "SHOW VARIABLES LIKE 'version'";
const REPORT_HOST = "SHOW VARIABLES LIKE 'report_host'";

/** Column 2 (the value) of every `SHOW VARIABLES` row, lower-cased. */
async function variableValues(query: QueryRows, sql: string): Promise<string[]> {
  const rows = await query(sql);
  return rows.map((r) => (asText(r[1]) ?? '').toLowerCase());
}

async function hasNonEmptyReportHost(query: QueryRows): Promise<boolean> {
  return (await variableValues(query, REPORT_HOST)).some((v) => v !== '');
}

/** MySQL's "Unknown column" error number. */
const ER_BAD_FIELD_ERROR = 1054;
const MYSQL_HOST_ID = "SELECT @@hostname AS host, CONCAT(@@hostname, ':', @@port) AS host_id";
const MYSQL_ALIAS = "SELECT CONCAT(@@hostname, ':', @@port)";
const RDS_TOPOLOGY_HOST_ID =
  "SELECT id, SUBSTRING_INDEX(endpoint, '.', 1) FROM mysql.rds_topology WHERE id = @@server_id";

export const mysqlDialect: DatabaseDialect = {
  code: 'mysql',
  engine: 'mysql',
  defaultPort: 3306,
  updateCandidates: ['aurora-mysql', 'global-aurora-mysql', 'multi-az-mysql', 'rds-mysql'],
  hostIdQuery: MYSQL_HOST_ID,
  isReaderQuery: 'SELECT @@read_only',
  aliasQuery: MYSQL_ALIAS,
  serverVersionQuery: VERSION_COMMENT,
  topology: undefined,
  async isDialect(query) {
    if ((await variableValues(query, VERSION_COMMENT)).some((v) => v.includes('mysql'))) return true;
    return (await variableValues(query, VERSION)).some((v) => v.includes('mariadb'));
  },
};

export const rdsMysqlDialect: DatabaseDialect = {
  ...mysqlDialect,
  code: 'rds-mysql',
  updateCandidates: ['aurora-mysql', 'global-aurora-mysql', 'multi-az-mysql'],
  hostIdQuery: RDS_TOPOLOGY_HOST_ID,
  async isDialect(query) {
    if (!(await variableValues(query, VERSION_COMMENT)).some((v) => v === 'source distribution')) return false;
    return hasNonEmptyReportHost(query);
  },
};

export const auroraMysqlDialect: DatabaseDialect = {
  ...mysqlDialect,
  code: 'aurora-mysql',
  updateCandidates: ['global-aurora-mysql', 'multi-az-mysql'],
  hostIdQuery: 'SELECT @@aurora_server_id, @@aurora_server_id',
  isReaderQuery: 'SELECT @@innodb_read_only',
  topology: {
    kind: 'aurora',
    topologyQuery:
      "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, CPU, REPLICA_LAG_IN_MILLISECONDS, LAST_UPDATE_TIMESTAMP FROM information_schema.replica_host_status WHERE time_to_sec(timediff(now(), LAST_UPDATE_TIMESTAMP)) <= 300 OR SESSION_ID = 'MASTER_SESSION_ID' ",
    writerIdQuery:
      "SELECT SERVER_ID FROM information_schema.replica_host_status WHERE SESSION_ID = 'MASTER_SESSION_ID' AND SERVER_ID = @@aurora_server_id",
    writerIdMeaning: 'row-means-writer',
    hostIdColumn: 1,
  },
  async isDialect(query) {
    return (await query("SHOW VARIABLES LIKE 'aurora_version'")).length > 0;
  },
};

export const globalAuroraMysqlDialect: DatabaseDialect = {
  ...auroraMysqlDialect,
  code: 'global-aurora-mysql',
  updateCandidates: [],
  topology: {
    ...auroraMysqlDialect.topology!,
    kind: 'global-aurora',
    topologyQuery:
      "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, VISIBILITY_LAG_IN_MSEC, AWS_REGION FROM information_schema.aurora_global_db_instance_status ",
    regionQuery: 'SELECT AWS_REGION FROM information_schema.aurora_global_db_instance_status WHERE SERVER_ID = %s',
  },
  async isDialect(query) {
    const status = await query(
      "SELECT 1 AS tmp FROM information_schema.tables WHERE upper(table_schema) = 'INFORMATION_SCHEMA' AND upper(table_name) = 'AURORA_GLOBAL_DB_STATUS'",
    );
    if (status.length === 0) return false;
    const instanceStatus = await query(
      "SELECT 1 AS tmp FROM information_schema.tables WHERE upper(table_schema) = 'INFORMATION_SCHEMA' AND upper(table_name) = 'AURORA_GLOBAL_DB_INSTANCE_STATUS'",
    );
    if (instanceStatus.length === 0) return false;
    const count = await query('SELECT count(1) FROM information_schema.aurora_global_db_status');
    return (asNumber(count[0]?.[0]) ?? 0) > 1;
  },
};

export const multiAzMysqlDialect: DatabaseDialect = {
  ...mysqlDialect,
  code: 'multi-az-mysql',
  updateCandidates: [],
  hostIdQuery: RDS_TOPOLOGY_HOST_ID,
  isReaderQuery: 'SELECT @@read_only',
  topology: {
    kind: 'multi-az',
    topologyQuery: 'SELECT id, endpoint, port FROM mysql.rds_topology',
    writerIdQuery: 'SHOW REPLICA STATUS',
    writerIdMeaning: 'no-row-means-writer',
    writerIdColumns: ['Source_Server_Id', 'Master_Server_Id'],
    // Position of Source_Server_Id in MySQL 8's SHOW REPLICA STATUS (as Python reads it) when names are missing.
    writerIdColumnIndex: 39,
    ownIdQuery: 'SELECT @@server_id',
    hostIdColumn: 0,
  },
  async isDialect(query) {
    if (!(await hasMultiAzTopologyRows(query))) return false;
    return hasNonEmptyReportHost(query);
  },
};

/**
 * Whether `mysql.rds_topology` lists a Multi-AZ DB cluster's instances. An RDS for MySQL instance with a Blue/Green
 * deployment lists the deployment there too, in rows with a `BLUE_GREEN_DEPLOYMENT_…` role: those do not count.
 * A table without the role column (before Blue/Green existed) holds Multi-AZ rows only.
 */
async function hasMultiAzTopologyRows(query: QueryRows): Promise<boolean> {
  let rows: unknown[][];
  try {
    rows = await query(
      "SELECT count(*) FROM mysql.rds_topology WHERE role IS NULL OR role NOT LIKE 'BLUE\\_GREEN\\_DEPLOYMENT\\_%'",
    );
  } catch (err) {
    if ((err as { errno?: unknown }).errno !== ER_BAD_FIELD_ERROR) throw err;
    return (await query('SELECT id, endpoint, port FROM mysql.rds_topology')).length > 0;
  }
  return (asNumber(rows[0]?.[0]) ?? 0) > 0;
}

export const MYSQL_DIALECTS: readonly DatabaseDialect[] = [
  mysqlDialect,
  rdsMysqlDialect,
  auroraMysqlDialect,
  globalAuroraMysqlDialect,
  multiAzMysqlDialect,
];
