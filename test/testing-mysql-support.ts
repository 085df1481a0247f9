// Shared helpers of the MySQL-flavour lookalike tests: a cluster built directly on the MariaDB engine (no
// LocalCluster), and the wrapper's dialect SQL verbatim (as the Python wrapper sends it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { EngineContext, Flavour, InstanceSpec } from '../ts/testing/engine.js';
import { createMariaDbEngine, type MariaDbFronts } from '../ts/testing/mariadb.js';
import { isServerRunning } from '../ts/testing/mariadb-process.js';
import { freeLoopbackPort } from '../ts/testing/names.js';

export const SQL = {
  versionComment: "SHOW VARIABLES LIKE 'version_comment'",
  reportHost: "SHOW VARIABLES LIKE 'report_host'",
  auroraVersion: "SHOW VARIABLES LIKE 'aurora_version'",
  globalStatusTable:
    "SELECT 1 AS tmp FROM information_schema.tables WHERE upper(table_schema) = 'INFORMATION_SCHEMA' AND upper(table_name) = 'AURORA_GLOBAL_DB_STATUS'",
  globalInstanceTable:
    "SELECT 1 AS tmp FROM information_schema.tables WHERE upper(table_schema) = 'INFORMATION_SCHEMA' AND upper(table_name) = 'AURORA_GLOBAL_DB_INSTANCE_STATUS'",
  rdsTopology: 'SELECT id, endpoint, port FROM mysql.rds_topology',
  mysqlHostId: "SELECT @@hostname AS host, CONCAT(@@hostname, ':', @@port) AS host_id",
  mysqlAlias: "SELECT CONCAT(@@hostname, ':', @@port)",
  mysqlIsReader: 'SELECT @@read_only',
  rdsHostId: "SELECT id, SUBSTRING_INDEX(endpoint, '.', 1) FROM mysql.rds_topology WHERE id = @@server_id",
  auroraTopology:
    "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, CPU, REPLICA_LAG_IN_MILLISECONDS, LAST_UPDATE_TIMESTAMP FROM information_schema.replica_host_status WHERE time_to_sec(timediff(now(), LAST_UPDATE_TIMESTAMP)) <= 300 OR SESSION_ID = 'MASTER_SESSION_ID' ",
  auroraWriterId:
    "SELECT SERVER_ID FROM information_schema.replica_host_status WHERE SESSION_ID = 'MASTER_SESSION_ID' AND SERVER_ID = @@aurora_server_id",
  auroraHostId: 'SELECT @@aurora_server_id, @@aurora_server_id',
  auroraIsReader: 'SELECT @@innodb_read_only',
  multiAzTopology: 'SELECT id, endpoint, port FROM mysql.rds_topology',
  multiAzWriter: 'SHOW REPLICA STATUS',
  multiAzHostId: "SELECT id, SUBSTRING_INDEX(endpoint, '.', 1) FROM mysql.rds_topology WHERE id = @@server_id",
} as const;

export async function rows(conn: mysql.Connection, sql: string): Promise<unknown[][]> {
  const [result] = (await conn.query({ sql, rowsAsArray: true })) as unknown as [unknown[][]];
  return result;
}

async function probe(fn: () => Promise<boolean>): Promise<boolean> {
  try {
    return await fn();
  } catch {
    return false;
  }
}

/** Each dialect's is_dialect() check, as the Python wrapper runs it. */
export async function detect(
  conn: mysql.Connection,
): Promise<Record<'mysql' | 'rdsMysql' | 'aurora' | 'globalAurora' | 'multiAz', boolean>> {
  const comment = async (): Promise<string[]> =>
    (await rows(conn, SQL.versionComment)).map((r) => String(r[1]).toLowerCase());
  const reportHostSet = async (): Promise<boolean> => (await rows(conn, SQL.reportHost)).some((r) => Boolean(r[1]));
  return {
    mysql: await probe(async () => (await comment()).some((c) => c.includes('mysql'))),
    rdsMysql: await probe(
      async () => (await comment()).some((c) => c === 'source distribution') && (await reportHostSet()),
    ),
    aurora: await probe(async () => (await rows(conn, SQL.auroraVersion)).length > 0),
    globalAurora: await probe(
      async () =>
        (await rows(conn, SQL.globalStatusTable)).length > 0 &&
        (await rows(conn, SQL.globalInstanceTable)).length > 0 &&
        Number((await rows(conn, 'SELECT count(1) FROM information_schema.aurora_global_db_status'))[0]?.[0]) > 1,
    ),
    multiAz: await probe(async () => (await rows(conn, SQL.rdsTopology)).length > 0 && (await reportHostSet())),
  };
}

export interface TestCluster {
  readonly engine: ReturnType<typeof createMariaDbEngine>;
  readonly ctx: EngineContext;
  readonly instances: InstanceSpec[];
  readonly logs: string[];
  fronts?: MariaDbFronts;
  connect(instance: InstanceSpec, extra?: mysql.ConnectionOptions): Promise<mysql.Connection>;
  spec(name: string, serverId: number): Promise<InstanceSpec>;
  /** Destroys the cluster (every mariadbd killed) and removes its files; returns instances still running. */
  cleanup(): Promise<string[]>;
}

export async function makeCluster(flavour: Flavour, count: number): Promise<TestCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), `lookalike-${flavour}-`));
  const logs: string[] = [];
  const t0 = Date.now();
  const ctx: EngineContext = {
    flavour,
    clusterId: 'abc123xyz',
    dir,
    user: 'app',
    password: 'app-secret-pw',
    database: 'appdb',
    publicPort: 3306,
    log: (m) => logs.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${m}`),
  };
  const spec = async (name: string, serverId: number): Promise<InstanceSpec> => ({
    name,
    serverId,
    dataDir: path.join(dir, name),
    logFile: path.join(dir, `${name}.log`),
    port: await freeLoopbackPort(),
    dnsName: `${name}.abc123xyz.us-east-1.rds.amazonaws.com`,
  });
  const instances: InstanceSpec[] = [];
  for (let i = 1; i <= count; i++) instances.push(await spec(`instance-${i}`, 100 + i));
  const engine = createMariaDbEngine();
  const cluster: TestCluster = {
    engine,
    ctx,
    instances,
    logs,
    spec,
    connect: (instance, extra = {}) =>
      mysql.createConnection({
        host: '127.0.0.1',
        port: instance.port,
        user: ctx.user,
        password: ctx.password,
        database: ctx.database,
        ...extra,
      }),
    async cleanup() {
      await cluster.fronts?.close();
      const all = [...instances];
      await engine.destroy(ctx, all);
      const left = all.filter((i) => isServerRunning(i)).map((i) => i.name);
      rmSync(dir, { recursive: true, force: true });
      return left;
    },
  };
  return cluster;
}
