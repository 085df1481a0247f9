// Counts the statements a lookalike PostgreSQL instance runs, from its server log (log_statement = 'all'): how
// tests and bench/topology-steady.mjs see the load monitors put on an instance, from the server's side.
import { readFileSync, statSync } from 'node:fs';
import pg from 'pg';
import type { LocalCluster } from '../../ts/testing/index.js';

/** Monitoring statements by kind (matched on the dialect's SQL as the server logs it). */
export interface StatementCounts {
  /** The topology query (aurora_replica_status() with its metrics). */
  topology: number;
  /** The writer-id query. */
  writerId: number;
  /** pg_is_in_recovery(). */
  isReader: number;
  /** `SELECT 1` (liveness pings). */
  ping: number;
  /** Every statement. */
  total: number;
}

const KINDS: [keyof StatementCounts, RegExp][] = [
  ['topology', /statement: SELECT SERVER_ID, CASE WHEN SESSION_ID/],
  ['writerId', /statement: SELECT SERVER_ID FROM pg_catalog\.aurora_replica_status\(\) WHERE SESSION_ID/],
  ['isReader', /statement: SELECT pg_catalog\.pg_is_in_recovery\(\)/],
  ['ping', /statement: SELECT 1\s*$/],
];

export class StatementLog {
  private offset = 0;

  private constructor(
    private readonly cluster: LocalCluster,
    readonly instance: string,
    private readonly logFile: string,
  ) {}

  /** Turns statement logging on for `instance` (ALTER SYSTEM + reload; new and open sessions) and marks the log. */
  static async enable(cluster: LocalCluster, instance: string): Promise<StatementLog> {
    const state = (await cluster.status()).instances.find((i) => i.name === instance);
    if (!state) throw new Error(`no instance ${instance} in the cluster`);
    const log = new StatementLog(cluster, instance, state.logFile);
    await log.set('all');
    log.mark();
    return log;
  }

  /** Counts from here on. */
  mark(): void {
    this.offset = statSync(this.logFile).size;
  }

  /** Statements logged since the last mark. */
  count(): StatementCounts {
    const text = readFileSync(this.logFile).subarray(this.offset).toString('utf8');
    const counts: StatementCounts = { topology: 0, writerId: 0, isReader: 0, ping: 0, total: 0 };
    for (const line of text.split('\n')) {
      if (!line.includes('statement: ')) continue;
      counts.total++;
      for (const [kind, re] of KINDS) if (re.test(line)) counts[kind]++;
    }
    return counts;
  }

  async disable(): Promise<void> {
    await this.set('none');
  }

  private async set(value: 'all' | 'none'): Promise<void> {
    const c = new pg.Client(this.cluster.directConfig(this.instance));
    await c.connect();
    try {
      await c.query(`ALTER SYSTEM SET log_statement = '${value}'`);
      await c.query('SELECT pg_catalog.pg_reload_conf()');
    } finally {
      await c.end();
    }
  }
}
