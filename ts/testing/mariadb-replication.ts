/**
 * GTID replication steps of the MySQL-flavour lookalike (MariaDB, one GTID domain, gtid_strict_mode, binlogs
 * never purged so a replica can always replay the writer's history from the start).
 *
 * Re-cloning: an instance whose GTID history diverged from the writer's (a former writer holding transactions
 * nobody acknowledged, or a stopped reader that received more than the promoted one) is re-initialised
 * (mariadb-install-db) and replays the writer's whole binlog. Every instance was initialised identically and
 * every change since is in the binlog (log_slave_updates on all), so the replay rebuilds it exactly.
 */
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { InstanceSpec } from './engine.js';
import { delay, withAdmin } from './mariadb-process.js';

export const REPLICATION_USER = 'lookalike_repl';
const CATCH_UP_TIMEOUT_S = 60;

/** `d-s-n,...` → Map("d-s" → n). */
export function parseGtidState(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(part);
    if (!m) throw new Error(`unexpected GTID '${part}' in '${text}'`);
    out.set(`${m[1]}-${m[2]}`, Number(m[3]));
  }
  return out;
}

/** Highest sequence number in a GTID list (one domain in use). */
export function gtidSeq(text: string): number {
  let max = 0;
  for (const seq of parseGtidState(text).values()) max = Math.max(max, seq);
  return max;
}

/** True when `replica` binlogged a transaction `source` never had (strict mode: no silent catch-up possible). */
export function hasDiverged(replicaState: string, sourceState: string): boolean {
  const source = parseGtidState(sourceState);
  for (const [key, seq] of parseGtidState(replicaState)) if ((source.get(key) ?? -1) < seq) return true;
  return false;
}

async function variable(conn: mysql.Connection, name: string): Promise<string> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT @@GLOBAL.${name} AS v`);
  return String(rows[0]?.v ?? '');
}

export function binlogState(conn: mysql.Connection): Promise<string> {
  return variable(conn, 'gtid_binlog_state');
}

export function currentPos(conn: mysql.Connection): Promise<string> {
  return variable(conn, 'gtid_current_pos');
}

export async function replicaStatus(conn: mysql.Connection): Promise<RowDataPacket | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>('SHOW SLAVE STATUS');
  return rows[0];
}

/** Runs a statement carrying a password; a failure is rethrown without mysql2's `sql` (which would show it). */
export async function querySecret(conn: mysql.Connection, sql: string, values: unknown[]): Promise<void> {
  try {
    await conn.query(sql, values);
  } catch (err) {
    const e = err as Error & { code?: string; errno?: number };
    throw Object.assign(new Error(`${sql.split(/\s+/).slice(0, 3).join(' ')} failed: ${e.message}`), {
      code: e.code,
      errno: e.errno,
    });
  }
}

/** Creates the replication account (on the writer; replicates). */
export async function createReplicationUser(conn: mysql.Connection, password: string): Promise<void> {
  await querySecret(conn, 'CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [REPLICATION_USER, '127.0.0.1', password]);
  await conn.query('GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO ?@?', [REPLICATION_USER, '127.0.0.1']);
}

/** Points `conn`'s server at the source on `sourcePort` from its own current GTID position and starts it. */
export async function replicateFrom(conn: mysql.Connection, sourcePort: number, password: string): Promise<void> {
  await conn.query('STOP SLAVE');
  await conn.query('SET GLOBAL read_only = 1');
  await conn.query('SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos');
  await querySecret(
    conn,
    `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?,
    MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1`,
    [sourcePort, REPLICATION_USER, password],
  );
  await conn.query('START SLAVE');
}

/** Waits until `conn`'s server has applied `gtidPos` (MASTER_GTID_WAIT); throws with the replica's error if not. */
export async function waitApplied(conn: mysql.Connection, gtidPos: string, what: string): Promise<void> {
  if (!gtidPos) return;
  const [rows] = await conn.query<RowDataPacket[]>('SELECT MASTER_GTID_WAIT(?, ?) AS r', [gtidPos, CATCH_UP_TIMEOUT_S]);
  if (Number(rows[0]?.r) !== 0) {
    const st = await replicaStatus(conn);
    const detail = st
      ? `IO: ${String(st.Last_IO_Error ?? '')} SQL: ${String(st.Last_SQL_Error ?? '')}`
      : 'no replication configured';
    throw new Error(`${what} did not reach GTID ${gtidPos} within ${CATCH_UP_TIMEOUT_S} s (${detail})`);
  }
}

/**
 * Stops receiving from the (fenced) source and applies everything already received; returns the applied
 * position. Nothing acknowledged under AFTER_SYNC semi-sync is lost: it is in some replica's relay log.
 */
export async function drainRelayLog(conn: mysql.Connection, what: string): Promise<string> {
  const status = await replicaStatus(conn);
  if (status) {
    await conn.query('STOP SLAVE IO_THREAD');
    const received = String((await replicaStatus(conn))?.Gtid_IO_Pos ?? '');
    if (received && status.Slave_SQL_Running !== 'Yes') await conn.query('START SLAVE SQL_THREAD');
    await waitApplied(conn, received, what);
  }
  return currentPos(conn);
}

/** Waits until the writer has a connected semi-sync replica (commits from then on wait for its ack). */
export async function waitSemiSyncActive(spec: InstanceSpec, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  return withAdmin(spec, async (conn) => {
    for (;;) {
      const [rows] = await conn.query<RowDataPacket[]>(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_status', 'Rpl_semi_sync_master_clients')",
      );
      const status = new Map(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
      if (status.get('Rpl_semi_sync_master_status') === 'ON' && Number(status.get('Rpl_semi_sync_master_clients')) > 0)
        return true;
      if (Date.now() > deadline) return false;
      await delay(50);
    }
  });
}
