// Shared by the failover tests: one uniform client over AwsPGClient / AwsMySQLClient, the server's own view of
// which instance a connection is on, and cluster restoration between cases (faults healed, every instance back).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { LocalCluster, type Flavour } from '../../ts/testing/index.js';
import { AwsPGClient } from '../../ts/clients/pg-client.js';
import { AwsMySQLClient } from '../../ts/clients/mysql-client.js';
import { WrapperServices } from '../../ts/services.js';
import type { HostInfo } from '../../ts/host-info.js';
import type { FailoverEvent } from '../../ts/plugins/failover-common.js';

export type Engine = 'pg' | 'mysql';

export function engineOf(flavour: Flavour): Engine {
  return flavour.endsWith('pg') ? 'pg' : 'mysql';
}

/** SQL that tells, on the server, which instance a connection is on and whether it is read-only. */
const WHO: Record<string, { name: string; reader: string }> = {
  'aurora-pg': {
    name: 'SELECT pg_catalog.aurora_db_instance_identifier() AS v',
    reader: 'SELECT pg_catalog.pg_is_in_recovery() AS v',
  },
  'multi-az-pg': {
    name: "SELECT SUBSTRING(endpoint FROM 0 FOR POSITION('.' IN endpoint)) AS v FROM rds_tools.show_topology() WHERE id = rds_tools.dbi_resource_id()",
    reader: 'SELECT pg_catalog.pg_is_in_recovery() AS v',
  },
  'aurora-mysql': { name: 'SELECT @@aurora_server_id AS v', reader: 'SELECT @@innodb_read_only AS v' },
  'multi-az-mysql': {
    name: "SELECT SUBSTRING_INDEX(endpoint, '.', 1) AS v FROM mysql.rds_topology WHERE id = @@server_id",
    reader: 'SELECT @@read_only AS v',
  },
};

/** One client API for both drivers, as the failover tests need it. */
export class Db {
  readonly events: FailoverEvent[] = [];
  private waiters: Array<(e: FailoverEvent) => void> = [];

  constructor(
    readonly flavour: Flavour,
    readonly raw: AwsPGClient | AwsMySQLClient,
  ) {
    raw.on('failover', (e: FailoverEvent) => {
      this.events.push(e);
      for (const w of this.waiters.splice(0)) w(e);
    });
    raw.on('error', () => {});
  }

  get engine(): Engine {
    return engineOf(this.flavour);
  }

  async query(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    if (this.raw instanceof AwsPGClient) return (await this.raw.query(sql, params)).rows;
    const [rows] = await this.raw.query(sql, params);
    return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
  }

  begin(): Promise<unknown> {
    return this.raw instanceof AwsPGClient ? this.raw.query('BEGIN') : this.raw.beginTransaction();
  }

  commit(): Promise<unknown> {
    return this.raw instanceof AwsPGClient ? this.raw.query('COMMIT') : this.raw.commit();
  }

  sleepSql(seconds: number): string {
    return this.engine === 'pg' ? `SELECT pg_catalog.pg_sleep(${seconds})` : `SELECT SLEEP(${seconds})`;
  }

  /** Instance name and role as the server reports them (not the wrapper's view). */
  async whoami(): Promise<{ name: string; reader: boolean }> {
    const sql = WHO[this.flavour];
    const name = String((await this.query(sql.name))[0].v);
    const r = (await this.query(sql.reader))[0].v;
    return { name, reader: r === true || r === 1 || r === '1' || r === 'ON' };
  }

  get currentHost(): HostInfo | undefined {
    return this.raw.getCurrentHost();
  }

  /** Instance name of the wrapper's current host. */
  get currentName(): string | undefined {
    return this.currentHost?.host.split('.')[0];
  }

  /** Resolves with the next 'failover' event. */
  nextFailover(): Promise<FailoverEvent> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  end(): Promise<void> {
    return this.raw.end();
  }
}

/** A cluster for one test file; `restore()` brings it back to all instances running, no faults, no DNS lag. */
export class Lab {
  readonly services: WrapperServices[] = [];
  readonly clients: Db[] = [];

  private constructor(
    readonly cluster: LocalCluster,
    private readonly dir: string,
  ) {}

  static async start(flavour: Flavour, readers = 2): Promise<Lab> {
    const dir = mkdtempSync(path.join(tmpdir(), `failover-${flavour}-`));
    let cluster: LocalCluster;
    try {
      cluster = await LocalCluster.start({ flavour, readers, dir, database: 'app' });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return new Lab(cluster, dir);
  }

  get flavour(): Flavour {
    return this.cluster.flavour;
  }

  get engine(): Engine {
    return engineOf(this.flavour);
  }

  newServices(): WrapperServices {
    const s = new WrapperServices();
    this.services.push(s);
    return s;
  }

  /** A connected wrapper client on `endpoint` ('writer', 'reader' or an instance name). */
  async client(
    endpoint: string,
    options: Record<string, unknown> = {},
    services: WrapperServices = this.newServices(),
  ): Promise<Db> {
    const cfg = { ...this.cluster.clientConfig(endpoint), ...options };
    const raw = this.engine === 'pg' ? new AwsPGClient(cfg, { services }) : new AwsMySQLClient(cfg, { services });
    const db = new Db(this.flavour, raw);
    this.clients.push(db);
    await raw.connect();
    return db;
  }

  /** A plain driver connection to an endpoint or instance (loopback address), for checks outside the wrapper. */
  async direct<T>(
    endpoint: string,
    fn: (query: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>,
  ): Promise<T> {
    const cfg = this.cluster.directConfig(endpoint);
    if (this.engine === 'pg') {
      const c = new pg.Client({ ...cfg, connectionTimeoutMillis: 5000 });
      c.on('error', () => {});
      await c.connect();
      try {
        return await fn(async (sql) => (await c.query(sql)).rows);
      } finally {
        await c.end().catch(() => {});
      }
    }
    const c = await mysql.createConnection({ ...cfg, connectTimeout: 5000 });
    c.on('error', () => {});
    try {
      return await fn(async (sql) => {
        const [rows] = await c.query(sql);
        return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
      });
    } finally {
      c.destroy();
    }
  }

  /** Waits until a statement starting with `prefix` runs on instance `name` (polls the server's process list). */
  async waitRunning(name: string, prefix: string, timeoutMs = 10_000): Promise<void> {
    const sql =
      this.engine === 'pg'
        ? `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '${prefix.replace(/'/g, "''")}%'`
        : `SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info LIKE '${prefix.replace(/'/g, "''")}%'`;
    const deadline = Date.now() + timeoutMs;
    await this.direct(name, async (q) => {
      while (Date.now() < deadline) {
        if (Number((await q(sql))[0].n) > 0) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no statement '${prefix}…' started on ${name} within ${timeoutMs} ms`);
    });
  }

  /** Ends this case's clients and services, heals faults, rejoins stopped instances, removes DNS lag. */
  async restore(): Promise<void> {
    for (const c of this.clients.splice(0)) await c.end().catch(() => {});
    for (const s of this.services.splice(0)) await s.close();
    await this.cluster.heal();
    await this.cluster.setDnsLag(0);
    const state = await this.cluster.status();
    for (const i of state.instances) if (!i.running) await this.cluster.rejoin(i.name);
  }

  async stop(): Promise<void> {
    for (const c of this.clients.splice(0)) await c.end().catch(() => {});
    for (const s of this.services.splice(0)) await s.close();
    try {
      await this.cluster.stop({ keepLogs: false });
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Runs `fn`, returns its rejection (fails when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; cause?: unknown }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string; cause?: unknown };
  }
  throw new Error('expected a rejection');
}
