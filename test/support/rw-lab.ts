// Shared by the read/write splitting tests: where a client's connection is, and its splitting plugin.
import type pg from 'pg';
import type { AwsPGClient } from '../../ts/pg.js';
import type { ReadWriteSplittingPlugin } from '../../ts/plugins/read-write-splitting.js';

export interface Where {
  id: string;
  ro: boolean;
  pid: number;
}

/** The instance, read-only state and backend pid of the client's current connection (aurora-pg lookalike). */
export async function where(c: AwsPGClient): Promise<Where> {
  const r = await c.query(
    'SELECT pg_catalog.aurora_db_instance_identifier() AS id, pg_catalog.pg_is_in_recovery() AS ro, pg_catalog.pg_backend_pid() AS pid',
  );
  return r.rows[0] as Where;
}

export function rwPlugin(c: AwsPGClient): ReadWriteSplittingPlugin<pg.Client> {
  return c.core.getPlugin<ReadWriteSplittingPlugin<pg.Client>>('read_write_splitting')!;
}
