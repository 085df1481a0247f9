/**
 * Per-instance pools of physical connections, used by read/write splitting to take a reader (or writer) connection
 * instead of opening one, and to give it back when the client switches away (the seed's internal pooled connection
 * provider). One InternalConnectionPools object is either private to an AwsPGPool / AwsMySQLPool,
 * or shared by the clients of one WrapperServices (option `internalConnectionPool`); it is never process-wide.
 *
 * A pool is keyed by driver, instance (`host:port`), user and database. Connections are opened through the caller's
 * connect function (the plugin pipeline, so authentication plugins apply) and closed through the driver dialect of
 * the client that opened them.
 */
import { AwsWrapperError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import type { DriverDialect } from '../dialects/types.js';

const log = getLogger('internal-pools');

export interface InternalPoolOptions {
  /** Connections per instance, in use plus idle (default 10). */
  readonly maxPerHost?: number;
  /** An idle connection is closed after this many ms (default 600000). */
  readonly idleTimeoutMs?: number;
  /** How long acquire() waits when the instance's pool is full (default 10000). */
  readonly acquireTimeoutMs?: number;
  /** Bound of the background reset and close of a connection (default 5000). */
  readonly closeTimeoutMs?: number;
}

/** What identifies a pool: the same instance, user and database share connections. */
export interface PoolKeyParts {
  readonly driver: string;
  readonly host: HostInfo;
  readonly user?: unknown;
  readonly database?: unknown;
}

export function poolKey(parts: PoolKeyParts): string {
  return `${parts.driver}|${parts.host.hostAndPort}|${String(parts.user ?? '')}|${String(parts.database ?? '')}`;
}

type AnyDialect = DriverDialect<unknown>;

interface Waiter {
  readonly open: () => Promise<unknown>;
  readonly dialect: AnyDialect;
  readonly resolve: (conn: unknown) => void;
  readonly reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

interface IdleEntry {
  readonly conn: unknown;
  timer: NodeJS.Timeout | undefined;
}

class HostPool {
  readonly idle: IdleEntry[] = [];
  readonly waiters: Waiter[] = [];
  /** Connections that count against the limit: idle, in use and being opened. */
  total = 0;
  inUse = 0;
  /** Released connections whose session reset is still running (they come back to the pool shortly). */
  resetting = 0;
  constructor(
    readonly key: string,
    readonly hostAndPort: string,
  ) {}
}

interface Checkout {
  readonly pool: HostPool;
  readonly dialect: AnyDialect;
}

export class InternalConnectionPools {
  readonly maxPerHost: number;
  readonly idleTimeoutMs: number;
  readonly acquireTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly pools = new Map<string, HostPool>();
  /** Every connection this object owns (idle or checked out) → its pool and the dialect that opened it. */
  private readonly owned = new Map<unknown, Checkout>();
  private readonly closing = new Set<Promise<void>>();
  private ended = false;

  constructor(options: InternalPoolOptions = {}) {
    this.maxPerHost = positive(options.maxPerHost, 10, 'maxPerHost');
    this.idleTimeoutMs = positive(options.idleTimeoutMs, 600_000, 'idleTimeoutMs');
    this.acquireTimeoutMs = positive(options.acquireTimeoutMs, 10_000, 'acquireTimeoutMs');
    this.closeTimeoutMs = positive(options.closeTimeoutMs, 5_000, 'closeTimeoutMs');
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Whether `conn` belongs to these pools (idle or checked out). */
  owns(conn: unknown): boolean {
    return this.owned.has(conn);
  }

  /** Checked-out connections to the instance `host:port` (all users), for least_connections. */
  inUseCount(host: HostInfo): number {
    let n = 0;
    for (const p of this.pools.values()) if (p.hostAndPort === host.hostAndPort) n += p.inUse;
    return n;
  }

  /** Counts for tests and diagnostics. */
  stats(): { hosts: Record<string, { total: number; inUse: number; idle: number; waiting: number }> } {
    const hosts: Record<string, { total: number; inUse: number; idle: number; waiting: number }> = {};
    for (const p of this.pools.values()) {
      const s = (hosts[p.hostAndPort] ??= { total: 0, inUse: 0, idle: 0, waiting: 0 });
      s.total += p.total;
      s.inUse += p.inUse;
      s.idle += p.idle.length;
      s.waiting += p.waiters.length;
    }
    return { hosts };
  }

  /**
   * A connection of the pool `key` to `host`: an idle one (closed ones are dropped), else a new one from `open`
   * while the pool has room, else the next one released, waiting at most acquireTimeoutMs.
   */
  acquire<C>(key: string, host: HostInfo, dialect: DriverDialect<C>, open: () => Promise<C>): Promise<C> {
    if (this.ended) return Promise.reject(new AwsWrapperError('The internal connection pools were ended'));
    let pool = this.pools.get(key);
    if (pool === undefined) this.pools.set(key, (pool = new HostPool(key, host.hostAndPort)));
    const d = dialect as AnyDialect;
    for (let e = pool.idle.pop(); e !== undefined; e = pool.idle.pop()) {
      clearTimeout(e.timer);
      if (d.isClosed(e.conn)) {
        this.forget(e.conn);
        continue;
      }
      pool.inUse++;
      return Promise.resolve(e.conn as C);
    }
    // A connection being reset is back in a moment: wait for it rather than open another one.
    if (pool.total < this.maxPerHost && pool.resetting === 0) return this.openNew(pool, d, open) as Promise<C>;
    return new Promise<C>((resolve, reject) => {
      const waiter: Waiter = { open, dialect: d, resolve: resolve as (c: unknown) => void, reject, timer: undefined };
      waiter.timer = setTimeout(() => {
        const i = pool.waiters.indexOf(waiter);
        if (i >= 0) pool.waiters.splice(i, 1);
        reject(
          new AwsWrapperError(
            `No connection to ${host.hostAndPort} became free within ${this.acquireTimeoutMs} ms (internal pool of ${this.maxPerHost} full)`,
          ),
        );
      }, this.acquireTimeoutMs);
      waiter.timer.unref();
      pool.waiters.push(waiter);
    });
  }

  private async openNew(pool: HostPool, dialect: AnyDialect, open: () => Promise<unknown>): Promise<unknown> {
    pool.total++;
    pool.inUse++;
    let conn: unknown;
    try {
      conn = await open();
    } catch (err) {
      pool.total--;
      pool.inUse--;
      this.serveWaiter(pool);
      throw err;
    }
    if (this.ended) {
      pool.total--;
      pool.inUse--;
      this.close(dialect, conn);
      throw new AwsWrapperError('The internal connection pools were ended');
    }
    this.owned.set(conn, { pool, dialect });
    return conn;
  }

  /**
   * Gives a checked-out connection back. `reset` (session state back to what a fresh connection has) runs first,
   * in the background; a connection that is closed, fails the reset, or outlived the pools is closed.
   */
  release<C>(conn: C, reset?: (conn: C) => Promise<void>): void {
    const c = this.owned.get(conn);
    if (c === undefined) return;
    const { pool, dialect } = c;
    if (this.ended || dialect.isClosed(conn)) {
      this.discard(conn);
      return;
    }
    pool.inUse--;
    if (reset === undefined) {
      this.checkIn(pool, conn);
      return;
    }
    pool.resetting++;
    const task = withTimeout(reset(conn), this.closeTimeoutMs).then(
      () => {
        pool.resetting--;
        if (this.owned.has(conn)) this.checkIn(pool, conn);
      },
      (err: unknown) => {
        pool.resetting--;
        log.debug(
          'Resetting a pooled connection failed; closing it: %s',
          err instanceof Error ? err.message : String(err),
        );
        this.discardIdle(conn);
      },
    );
    this.track(task);
  }

  /** A connection no one uses (released, reset done): to the oldest waiter, else idle. */
  private checkIn(pool: HostPool, conn: unknown): void {
    if (this.ended) {
      this.discardIdle(conn);
      return;
    }
    const waiter = pool.waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      pool.inUse++;
      waiter.resolve(conn);
      return;
    }
    const entry: IdleEntry = { conn, timer: undefined };
    entry.timer = setTimeout(() => {
      const i = pool.idle.indexOf(entry);
      if (i >= 0) pool.idle.splice(i, 1);
      this.discardIdle(conn);
    }, this.idleTimeoutMs);
    entry.timer.unref();
    pool.idle.push(entry);
  }

  /** Closes a checked-out connection (broken, or its instance left the cluster) and frees its slot. */
  discard(conn: unknown): void {
    const c = this.owned.get(conn);
    if (c === undefined) return;
    c.pool.inUse--;
    this.forget(conn);
    this.close(c.dialect, conn);
  }

  /**
   * Stops tracking a checked-out connection that its client closes itself (e.g. the client ends while on it): the
   * slot is freed, nothing is closed here.
   */
  detach(conn: unknown): void {
    const c = this.owned.get(conn);
    if (c === undefined) return;
    c.pool.inUse--;
    this.forget(conn);
  }

  private discardIdle(conn: unknown): void {
    const c = this.owned.get(conn);
    if (c === undefined) return;
    this.forget(conn);
    this.close(c.dialect, conn);
  }

  /** Drops the bookkeeping of a connection (idle or checked out is the caller's business) and frees its slot. */
  private forget(conn: unknown): void {
    const c = this.owned.get(conn);
    if (c === undefined) return;
    this.owned.delete(conn);
    c.pool.total--;
    this.serveWaiter(c.pool);
  }

  /** A slot became free: the oldest waiter opens a connection with its own connect function. */
  private serveWaiter(pool: HostPool): void {
    if (pool.total >= this.maxPerHost) return;
    const waiter = pool.waiters.shift();
    if (waiter === undefined) return;
    clearTimeout(waiter.timer);
    this.openNew(pool, waiter.dialect, waiter.open).then(waiter.resolve, waiter.reject);
  }

  /** Closes the idle connections to an instance (`host:port`) that left the cluster, changed role or went down. */
  evictHost(hostAndPort: string): void {
    for (const p of this.pools.values()) {
      if (p.hostAndPort !== hostAndPort) continue;
      for (const e of p.idle.splice(0)) {
        clearTimeout(e.timer);
        this.discardIdle(e.conn);
      }
    }
  }

  private close(dialect: AnyDialect, conn: unknown): void {
    if (dialect.isClosed(conn)) return;
    this.track(
      dialect
        .end(conn, this.closeTimeoutMs)
        .catch((err: unknown) => log.debug('Closing a pooled connection failed: %s', String(err))),
    );
  }

  private track(task: Promise<void>): void {
    this.closing.add(task);
    void task.finally(() => this.closing.delete(task));
  }

  /**
   * Ends the pools: idle connections are closed now, checked-out ones when they are released; waiters fail.
   * Resolves once the closes started so far are done.
   */
  async end(): Promise<void> {
    this.ended = true;
    for (const p of this.pools.values()) {
      for (const w of p.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new AwsWrapperError('The internal connection pools were ended'));
      }
      for (const e of p.idle.splice(0)) {
        clearTimeout(e.timer);
        this.discardIdle(e.conn);
      }
    }
    while (this.closing.size > 0) await Promise.allSettled([...this.closing]);
  }
}

function positive(value: number | undefined, dflt: number, name: string): number {
  if (value === undefined) return dflt;
  if (!Number.isFinite(value) || value <= 0)
    throw new AwsWrapperError(`Internal pool option '${name}' must be a positive number; got ${String(value)}`);
  return value;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new AwsWrapperError(`did not finish within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
