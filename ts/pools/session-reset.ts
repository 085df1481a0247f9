/** Session reset of a physical connection going back to a pool (resetSessionStateOnClose). */
import type { DriverDialect, SessionState } from '../dialects/types.js';

/**
 * Puts the session of `conn` back to what a fresh connection has, for the fields in `changed` (set through the
 * wrapper). PostgreSQL: `RESET ALL` (every setting back to its session default, prepared statements untouched).
 * MySQL: read-write, autocommit on, the server's default isolation, the configured database.
 */
export async function resetSession<C>(
  dialect: DriverDialect<C>,
  conn: C,
  changed: Readonly<SessionState>,
  database: unknown,
  timeoutMs: number,
): Promise<void> {
  if (Object.keys(changed).length === 0) return;
  if (dialect.code === 'pg') {
    await dialect.queryRows(conn, 'RESET ALL', timeoutMs);
    return;
  }
  const patch: SessionState = {};
  if (changed.readOnly !== undefined) patch.readOnly = false;
  if (changed.autoCommit !== undefined) patch.autoCommit = true;
  if (changed.isolationLevel !== undefined) patch.isolationLevel = 'REPEATABLE READ';
  if (changed.catalog !== undefined && typeof database === 'string' && database !== '') patch.catalog = database;
  if (Object.keys(patch).length > 0) await dialect.applySessionState(conn, patch);
}
