/**
 * PostgreSQL-family database dialects: pg, rds-pg, aurora-pg, global-aurora-pg, multi-az-pg.
 * SQL is copied verbatim from the Python wrapper, `OPERATOR(pg_catalog.=)` forms included (they keep the queries
 * safe from user-defined operators on search_path).
 */
import type { DatabaseDialect, ErrorKind, QueryRows } from '../types.js';
import { asNumber, asText, firstValue, isTrueValue } from './values.js';

const RDS_EXTENSIONS =
  "SELECT (setting LIKE '%rds_tools%') AS rds_tools, (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'rds.extensions'";
const AURORA_STAT_UTILS =
  "SELECT (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'rds.extensions'";
const RDS_TOOLS_HOST_ID =
  "SELECT id, SUBSTRING(endpoint FROM 0 FOR POSITION('.' IN endpoint)) FROM rds_tools.show_topology() WHERE id OPERATOR(pg_catalog.=) rds_tools.dbi_resource_id()";
const MULTI_AZ_WRITER_ID =
  'SELECT multi_az_db_cluster_source_dbi_resource_id FROM rds_tools.multi_az_db_cluster_source_dbi_resource_id()';

/** Aurora Limitless: router endpoints and their load (used by the limitless plugin). */
export const AURORA_PG_LIMITLESS_ROUTER_QUERY =
  'SELECT router_endpoint, load FROM pg_catalog.aurora_limitless_router_endpoints()';

async function isPg(query: QueryRows): Promise<boolean> {
  return (await query('SELECT 1 FROM pg_catalog.pg_proc LIMIT 1')).length > 0;
}

async function hasAuroraStatUtils(query: QueryRows): Promise<boolean> {
  return isTrueValue(firstValue(await query(AURORA_STAT_UTILS)));
}

export const pgDialect: DatabaseDialect = {
  code: 'pg',
  engine: 'pg',
  defaultPort: 5432,
  updateCandidates: ['aurora-pg', 'global-aurora-pg', 'multi-az-pg', 'rds-pg'],
  hostIdQuery:
    "SELECT pg_catalog.inet_server_addr() AS host, pg_catalog.CONCAT(pg_catalog.inet_server_addr(), ':', pg_catalog.inet_server_port()) AS host_id",
  isReaderQuery: 'SELECT pg_catalog.pg_is_in_recovery()',
  aliasQuery: "SELECT pg_catalog.CONCAT(pg_catalog.inet_server_addr(), ':', pg_catalog.inet_server_port())",
  serverVersionQuery: "SELECT 'version', pg_catalog.VERSION()",
  topology: undefined,
  isDialect: isPg,
};

export const rdsPgDialect: DatabaseDialect = {
  ...pgDialect,
  code: 'rds-pg',
  updateCandidates: ['aurora-pg', 'global-aurora-pg', 'multi-az-pg'],
  hostIdQuery: RDS_TOOLS_HOST_ID,
  async isDialect(query) {
    if (!(await isPg(query))) return false;
    const row = (await query(RDS_EXTENSIONS))[0];
    return row !== undefined && isTrueValue(row[0]) && !isTrueValue(row[1]);
  },
};

export const auroraPgDialect: DatabaseDialect = {
  ...pgDialect,
  code: 'aurora-pg',
  updateCandidates: ['global-aurora-pg', 'multi-az-pg'],
  hostIdQuery: 'SELECT pg_catalog.aurora_db_instance_identifier(), pg_catalog.aurora_db_instance_identifier()',
  topology: {
    kind: 'aurora',
    topologyQuery:
      "SELECT SERVER_ID, CASE WHEN SESSION_ID OPERATOR(pg_catalog.=) 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, CPU, COALESCE(REPLICA_LAG_IN_MSEC, 0), LAST_UPDATE_TIMESTAMP FROM pg_catalog.aurora_replica_status() WHERE EXTRACT(EPOCH FROM(pg_catalog.NOW() OPERATOR(pg_catalog.-) LAST_UPDATE_TIMESTAMP)) OPERATOR(pg_catalog.<=) 300 OR SESSION_ID OPERATOR(pg_catalog.=) 'MASTER_SESSION_ID' OR LAST_UPDATE_TIMESTAMP IS NULL",
    writerIdQuery:
      "SELECT SERVER_ID FROM pg_catalog.aurora_replica_status() WHERE SESSION_ID OPERATOR(pg_catalog.=) 'MASTER_SESSION_ID' AND SERVER_ID OPERATOR(pg_catalog.=) pg_catalog.aurora_db_instance_identifier()",
    writerIdMeaning: 'row-means-writer',
    hostIdColumn: 1,
  },
  async isDialect(query) {
    if (!(await isPg(query))) return false;
    if (!(await hasAuroraStatUtils(query))) return false;
    return (await query('SELECT 1 FROM pg_catalog.aurora_replica_status() LIMIT 1')).length > 0;
  },
};

export const globalAuroraPgDialect: DatabaseDialect = {
  ...auroraPgDialect,
  code: 'global-aurora-pg',
  updateCandidates: [],
  topology: {
    ...auroraPgDialect.topology!,
    kind: 'global-aurora',
    topologyQuery:
      "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, VISIBILITY_LAG_IN_MSEC, AWS_REGION FROM pg_catalog.aurora_global_db_instance_status()",
    regionQuery: 'SELECT AWS_REGION FROM pg_catalog.aurora_global_db_instance_status() WHERE SERVER_ID = %s',
  },
  async isDialect(query) {
    if (!(await hasAuroraStatUtils(query))) return false;
    if ((await query("select 'pg_catalog.aurora_global_db_status'::regproc")).length === 0) return false;
    if ((await query("select 'pg_catalog.aurora_global_db_instance_status'::regproc")).length === 0) return false;
    const count = await query('SELECT count(1) FROM pg_catalog.aurora_global_db_status()');
    return (asNumber(firstValue(count)) ?? 0) > 1;
  },
};

export const multiAzPgDialect: DatabaseDialect = {
  ...pgDialect,
  code: 'multi-az-pg',
  updateCandidates: [],
  hostIdQuery: RDS_TOOLS_HOST_ID,
  topology: {
    kind: 'multi-az',
    // The argument is only a metrics tag; kept as the Python wrapper sends it.
    topologyQuery: "SELECT id, endpoint, port FROM rds_tools.show_topology('aws_python_driver-3.0.0')",
    writerIdQuery: MULTI_AZ_WRITER_ID,
    writerIdMeaning: 'returns-writer-id',
    ownIdQuery: 'SELECT rds_tools.dbi_resource_id()',
    hostIdColumn: 0,
  },
  async isDialect(query) {
    // "Truthy" as in Python: a non-empty resource id.
    const id = asText(firstValue(await query(MULTI_AZ_WRITER_ID)));
    return id !== undefined && id !== '';
  },
  /** Multi-AZ clusters answer 28000 while a node is being replaced: transient, so network (as Python). */
  classifyError(err: unknown, driverKind: ErrorKind | undefined): ErrorKind | undefined {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === '28000') return 'network';
    return driverKind;
  },
};

export const PG_DIALECTS: readonly DatabaseDialect[] = [
  pgDialect,
  rdsPgDialect,
  auroraPgDialect,
  globalAuroraPgDialect,
  multiAzPgDialect,
];
