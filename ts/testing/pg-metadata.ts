/**
 * The RDS / Aurora metadata the lookalike installs in its PostgreSQL instances, with the names and result shapes
 * of the real services, so the wrapper's unmodified dialect SQL runs against it.
 * The functions live in the replicated catalog (installed in template1 and postgres, so every database has
 * them). The cluster's membership comes from a small JSON file the supervisor writes into every instance's data
 * directory (read by a SECURITY DEFINER function, so it is the same in every database and needs no commit on
 * the writer); what differs per instance (its own name and resource id) comes from per-instance settings; roles
 * are live: the writer is whichever node is not in recovery.
 * Blue/Green status rows (`get_blue_green_fast_switchover_metadata` on Aurora, `rds_tools.show_topology` on RDS)
 * come from a second file the supervisor writes into every blue and green data directory, so both sides answer
 * the same rows at once, whether or not green still replicates from blue. Without a deployment there is no file
 * and the functions return no rows, as on a real service.
 */
import type { Flavour } from './engine.js';

/** Per-instance settings (custom GUCs in the instance's own config file, which replication does not copy). */
export const INSTANCE_NAME_GUC = 'aws_lookalike.instance_name';
export const RESOURCE_ID_GUC = 'aws_lookalike.resource_id';
/** File in each data directory with the published topology (JSON array of TopologyRow). */
export const TOPOLOGY_FILE = 'lookalike-topology.json';
/**
 * File in each data directory of a global database member with the global view (GlobalDocument); absent in a
 * standalone cluster, whose global status functions then return no row (so it is not detected as global).
 */
export const GLOBAL_FILE = 'lookalike-global.json';

export type { GlobalDocument } from './engine.js';
/** File in each data directory with the Blue/Green status rows (JSON array of BlueGreenRow). */
export const BLUE_GREEN_FILE = 'lookalike-blue-green.json';

export interface TopologyRow {
  readonly name: string;
  readonly server_id: number;
  readonly resource_id: string;
  readonly dns_name: string;
  readonly port: number;
  readonly role: 'writer' | 'reader';
  readonly running: boolean;
  /** Aurora session id of a reader (the writer's is always MASTER_SESSION_ID). */
  readonly session_id: string;
  /** ISO time of the last change of role or running state. */
  readonly updated_at: string;
}

const AURORA_EXTENSIONS = [
  'address_standardizer',
  'amcheck',
  'aurora_stat_utils',
  'aws_commons',
  'aws_lambda',
  'aws_s3',
  'bloom',
  'btree_gin',
  'btree_gist',
  'citext',
  'cube',
  'dblink',
  'dict_int',
  'fuzzystrmatch',
  'hll',
  'hstore',
  'intarray',
  'isn',
  'log_fdw',
  'ltree',
  'orafce',
  'pg_buffercache',
  'pg_hint_plan',
  'pg_partman',
  'pg_stat_statements',
  'pg_trgm',
  'pgcrypto',
  'pglogical',
  'pgvector',
  'plpgsql',
  'postgis',
  'postgres_fdw',
  'rds_tools',
  'tablefunc',
  'tds_fdw',
  'unaccent',
  'uuid-ossp',
].join(', ');

const RDS_EXTENSIONS = AURORA_EXTENSIONS.split(', ')
  .filter((e) => e !== 'aurora_stat_utils')
  .join(', ');

export function hasMetadata(flavour: Flavour): boolean {
  return flavour === 'aurora-pg' || flavour === 'multi-az-pg';
}

function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** The pg_settings view, plus a row for `rds.extensions` (a placeholder GUC never shows in pg_settings). */
function settingsViewSql(extensions: string): string {
  const cols =
    'name, setting, unit, category, short_desc, extra_desc, context, vartype, source, min_val, max_val, enumvals, boot_val, reset_val, sourcefile, sourceline, pending_restart';
  return `CREATE OR REPLACE VIEW pg_catalog.pg_settings AS
  SELECT ${cols
    .split(', ')
    .map((c) => `a.${c}`)
    .join(', ')}
    FROM pg_catalog.pg_show_all_settings() a
  UNION ALL
  SELECT 'rds.extensions', ${literal(extensions)}, NULL, 'Customized Options', 'List of installed extensions',
         NULL, 'sighup', 'string', 'configuration file', NULL, NULL, NULL, ${literal(extensions)},
         ${literal(extensions)}, NULL, NULL, false`;
}

const TOPOLOGY_COLUMNS =
  'name text, server_id integer, resource_id text, dns_name text, port integer, role text, running boolean, session_id text, updated_at timestamptz';

const BLUE_GREEN_COLUMNS = 'id text, endpoint text, port integer, role text, status text, version text';

const COMMON_SQL = [
  `CREATE SCHEMA aws_lookalike`,
  `GRANT USAGE ON SCHEMA aws_lookalike TO PUBLIC`,
  `CREATE FUNCTION aws_lookalike.topology() RETURNS TABLE (${TOPOLOGY_COLUMNS})
     LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
     AS $$ SELECT * FROM pg_catalog.jsonb_to_recordset(pg_catalog.pg_read_file('${TOPOLOGY_FILE}')::jsonb)
             AS t(${TOPOLOGY_COLUMNS}) $$`,
  // pg_read_file(file, 0, max, missing_ok): no deployment, no file, no rows.
  `CREATE FUNCTION aws_lookalike.blue_green_status() RETURNS TABLE (${BLUE_GREEN_COLUMNS})
     LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
     AS $$ SELECT * FROM pg_catalog.jsonb_to_recordset(pg_catalog.pg_read_file('${BLUE_GREEN_FILE}', 0, 16777216, true)::jsonb)
             AS t(${BLUE_GREEN_COLUMNS}) $$`,
  `CREATE FUNCTION aws_lookalike.instance_name() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT pg_catalog.current_setting('${INSTANCE_NAME_GUC}', true) $$`,
  `CREATE FUNCTION aws_lookalike.global() RETURNS jsonb
     LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
     AS $$ SELECT pg_catalog.pg_read_file('${GLOBAL_FILE}', true)::jsonb $$`,
  // Live role: a node out of recovery is the writer, whatever the last published topology says. In a global
  // database the writer is the primary region's (the head of a secondary region replicates, it does not write).
  `CREATE FUNCTION aws_lookalike.writer_name() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT CASE WHEN NOT pg_catalog.pg_is_in_recovery() THEN aws_lookalike.instance_name()
                       ELSE COALESCE(
                         (SELECT g->>'server_id' FROM pg_catalog.jsonb_array_elements(aws_lookalike.global()->'instances') g
                           WHERE (g->>'writer')::boolean LIMIT 1),
                         (SELECT name FROM aws_lookalike.topology() WHERE role = 'writer' LIMIT 1)) END $$`,
];

const AURORA_SQL = [
  `CREATE FUNCTION pg_catalog.aurora_db_instance_identifier() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT aws_lookalike.instance_name() $$`,
  `CREATE FUNCTION pg_catalog.aurora_version() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT pg_catalog.current_setting('server_version_num')::int / 10000 || '.'
                  || pg_catalog.current_setting('server_version_num')::int % 100 || '.0' $$`,
  `CREATE FUNCTION pg_catalog.aurora_replica_status()
     RETURNS TABLE (server_id text, session_id text, durable_lsn numeric, highest_lsn_rcvd numeric,
                    current_read_lsn numeric, cur_replay_latency_in_usec numeric, active_txns bigint,
                    is_current boolean, last_transport_error integer, last_error_timestamp timestamptz,
                    last_update_timestamp timestamptz, feedback_xmin bigint, feedback_epoch integer,
                    replica_lag_in_msec double precision, log_stream_speed_in_kib_per_second double precision,
                    log_buffer_sequence_number bigint, oldest_read_view_trx_id bigint,
                    oldest_read_view_lsn numeric, pending_read_ios bigint, read_ios bigint,
                    iops double precision, cpu double precision)
     LANGUAGE sql STABLE
   AS $$
     WITH me AS (
       SELECT aws_lookalike.instance_name() AS name, pg_catalog.pg_is_in_recovery() AS standby,
              aws_lookalike.writer_name() AS writer
     ), own_lag AS (
       -- A reader's own lag: how far replay trails what it has received.
       SELECT CASE WHEN NOT pg_catalog.pg_is_in_recovery() THEN 0::double precision
                   WHEN pg_catalog.pg_last_wal_receive_lsn() IS NULL
                        OR pg_catalog.pg_last_wal_receive_lsn() OPERATOR(pg_catalog.<=) pg_catalog.pg_last_wal_replay_lsn()
                   THEN 0::double precision
                   ELSE EXTRACT(EPOCH FROM pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.pg_last_xact_replay_timestamp())::double precision * 1000
              END AS ms
     )
     SELECT i.name,
            CASE WHEN i.name = me.writer THEN 'MASTER_SESSION_ID' ELSE i.session_id END,
            (r.flush_lsn OPERATOR(pg_catalog.-) '0/0'::pg_lsn),
            (r.write_lsn OPERATOR(pg_catalog.-) '0/0'::pg_lsn),
            (r.replay_lsn OPERATOR(pg_catalog.-) '0/0'::pg_lsn),
            (EXTRACT(EPOCH FROM r.replay_lag) * 1000000)::numeric,
            0::bigint,
            true,
            0,
            NULL::timestamptz,
            CASE WHEN i.name = me.writer THEN pg_catalog.now()
                 WHEN NOT i.running THEN i.updated_at
                 ELSE COALESCE(r.reply_time, pg_catalog.now()) END,
            NULL::bigint,
            NULL::integer,
            CASE WHEN i.name = me.writer THEN NULL::double precision
                 WHEN NOT i.running THEN NULL::double precision
                 WHEN i.name = me.name THEN own_lag.ms
                 ELSE COALESCE(EXTRACT(EPOCH FROM r.replay_lag)::double precision * 1000, 0) END,
            0::double precision,
            NULL::bigint,
            NULL::bigint,
            NULL::numeric,
            0::bigint,
            0::bigint,
            0::double precision,
            0::double precision
       FROM aws_lookalike.topology() i
       CROSS JOIN me
       CROSS JOIN own_lag
       LEFT JOIN pg_catalog.pg_stat_replication r ON r.application_name = i.name
      ORDER BY i.server_id
   $$`,
];

/** Aurora Global Database status functions, answering from the global file (no row outside a global database). */
const GLOBAL_SQL = [
  `CREATE FUNCTION pg_catalog.aurora_global_db_instance_status()
     RETURNS TABLE (server_id text, session_id text, aws_region text, durable_lsn bigint, highest_lsn_rcvd bigint,
                    feedback_epoch integer, feedback_xmin integer, oldest_read_view_lsn bigint,
                    visibility_lag_in_msec bigint)
     LANGUAGE sql STABLE
   AS $$
     SELECT g.server_id,
            CASE WHEN g.server_id = aws_lookalike.writer_name() THEN 'MASTER_SESSION_ID' ELSE g.session_id END,
            g.aws_region,
            NULL::bigint, NULL::bigint, NULL::integer, NULL::integer, NULL::bigint,
            CASE WHEN g.server_id = aws_lookalike.writer_name() THEN NULL::bigint ELSE 0::bigint END
       FROM pg_catalog.jsonb_to_recordset(COALESCE(aws_lookalike.global()->'instances', '[]'::jsonb))
            AS g(server_id text, aws_region text, writer boolean, session_id text)
   $$`,
  `CREATE FUNCTION pg_catalog.aurora_global_db_status()
     RETURNS TABLE (aws_region text, highest_lsn_written bigint, durability_lag_in_msec bigint,
                    rpo_lag_in_msec bigint, last_lag_calculation_time timestamptz, feedback_epoch integer,
                    feedback_xmin integer)
     LANGUAGE sql STABLE
   AS $$
     SELECT r.aws_region,
            (CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
                  ELSE pg_catalog.pg_current_wal_lsn() END OPERATOR(pg_catalog.-) '0/0'::pg_lsn)::bigint,
            CASE WHEN r."primary" THEN -1::bigint ELSE 0::bigint END,
            CASE WHEN r."primary" THEN -1::bigint ELSE 0::bigint END,
            pg_catalog.now(), 0, 0
       FROM pg_catalog.jsonb_to_recordset(COALESCE(aws_lookalike.global()->'regions', '[]'::jsonb))
            AS r(aws_region text, "primary" boolean)
   $$`,
];

/** Aurora PostgreSQL 17.5 / 16.9 / 15.13 … and later: the Blue/Green status (the argument is a metrics tag). */
const AURORA_BLUE_GREEN_SQL = [
  `CREATE FUNCTION pg_catalog.get_blue_green_fast_switchover_metadata(product text DEFAULT NULL)
     RETURNS TABLE (version text, endpoint text, port integer, role text, status text) LANGUAGE sql STABLE
     AS $$ SELECT version, endpoint, port, role, status FROM aws_lookalike.blue_green_status() $$`,
];

/**
 * RDS for PostgreSQL (single instance, rds_tools 1.7+): `show_topology` answers the Blue/Green status rows; no
 * `multi_az_db_cluster_source_dbi_resource_id` (that would make it look like a Multi-AZ DB cluster).
 */
const RDS_PG_SQL = [
  `CREATE SCHEMA rds_tools`,
  `GRANT USAGE ON SCHEMA rds_tools TO PUBLIC`,
  `CREATE FUNCTION rds_tools.dbi_resource_id() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT pg_catalog.current_setting('${RESOURCE_ID_GUC}', true) $$`,
  `CREATE FUNCTION rds_tools.show_topology(product text DEFAULT NULL)
     RETURNS TABLE (${BLUE_GREEN_COLUMNS}) LANGUAGE sql STABLE
     AS $$ SELECT * FROM aws_lookalike.blue_green_status() $$`,
];

const MULTI_AZ_SQL = [
  `CREATE SCHEMA rds_tools`,
  `GRANT USAGE ON SCHEMA rds_tools TO PUBLIC`,
  `CREATE FUNCTION rds_tools.dbi_resource_id() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT pg_catalog.current_setting('${RESOURCE_ID_GUC}', true) $$`,
  `CREATE FUNCTION rds_tools.multi_az_db_cluster_source_dbi_resource_id() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT resource_id FROM aws_lookalike.topology() WHERE name = aws_lookalike.writer_name() $$`,
  // The argument is only a metrics tag of the caller (e.g. 'aws_python_driver-3.0.0'); it may be omitted.
  `CREATE FUNCTION rds_tools.show_topology(product text DEFAULT NULL)
     RETURNS TABLE (id text, endpoint text, port integer) LANGUAGE sql STABLE
     AS $$ SELECT resource_id, dns_name, port FROM aws_lookalike.topology() ORDER BY server_id $$`,
];

/** Statements that install the flavour's metadata (run once on the first writer, as superuser). */
export function installSql(flavour: Flavour): string[] {
  if (!hasMetadata(flavour)) return [];
  const head = ['SET allow_system_table_mods = on', ...COMMON_SQL];
  if (flavour === 'aurora-pg')
    return [...head, settingsViewSql(AURORA_EXTENSIONS), ...AURORA_SQL, ...GLOBAL_SQL, ...AURORA_BLUE_GREEN_SQL];
  return [...head, settingsViewSql(RDS_EXTENSIONS), ...MULTI_AZ_SQL];
}

/** Statements that make a plain `pg` cluster answer as RDS for PostgreSQL (run on the writer in every database). */
export function rdsPgSql(): string[] {
  return ['SET allow_system_table_mods = on', ...COMMON_SQL, settingsViewSql(RDS_EXTENSIONS), ...RDS_PG_SQL];
}
