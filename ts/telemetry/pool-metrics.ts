/**
 * The pools whose sizes the OpenTelemetry bridge reports (`db.client.connection.*`). A pool made with enableTelemetry
 * (and metrics on) adds itself here when it is constructed and removes itself when it ends; without telemetry nothing
 * is added and the pool pays nothing. The registry holds pools weakly, so an application that drops a pool without
 * ending it does not keep it alive through its metrics.
 */
import type { WrapperOptions } from '../options.js';
import type { WrapperServices } from '../services.js';
import { telemetrySettings } from './otel.js';

/** What a pool reports: pg.Pool's counters (AwsMySQLPool has the same three). */
export interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

export interface PoolSizes {
  readonly idle: number;
  readonly used: number;
  readonly pending: number;
  /** The pool's limit; undefined when it has none. */
  readonly max: number | undefined;
}

interface Entry {
  readonly name: string;
  readonly max: number | undefined;
  readonly pool: WeakRef<PoolCounts>;
}

export class ObservedPools {
  private readonly entries = new Set<Entry>();

  /** Adds a pool; the function returned removes it (call it when the pool ends). */
  add(name: string, max: number | undefined, pool: PoolCounts): () => void {
    const entry: Entry = { name, max, pool: new WeakRef(pool) };
    this.entries.add(entry);
    return () => {
      this.entries.delete(entry);
    };
  }

  /**
   * Sizes by pool name. Pools sharing a name (the same endpoint and database) are summed, since the conventions make
   * the name the only attribute that tells pools apart; pools garbage-collected without end() are dropped.
   */
  sizes(): Map<string, PoolSizes> {
    const out = new Map<string, PoolSizes>();
    for (const e of this.entries) {
      const pool = e.pool.deref();
      if (pool === undefined) {
        this.entries.delete(e);
        continue;
      }
      const prev = out.get(e.name);
      const idle = pool.idleCount;
      const used = Math.max(0, pool.totalCount - idle);
      out.set(e.name, {
        idle: idle + (prev?.idle ?? 0),
        used: used + (prev?.used ?? 0),
        pending: pool.waitingCount + (prev?.pending ?? 0),
        max: prev === undefined ? e.max : prev.max === undefined || e.max === undefined ? undefined : prev.max + e.max,
      });
    }
    return out;
  }
}

export function observedPools(services: WrapperServices): ObservedPools {
  return services.shared('telemetry:pools', () => new ObservedPools());
}

/** The pool name of the conventions when the pool has none: `server.address:server.port/db.namespace`. */
export function defaultPoolName(host: unknown, port: unknown, database: unknown): string {
  const text = (v: unknown): string | undefined =>
    typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
  const h = text(host);
  const p = text(port);
  const d = text(database);
  let name = h === undefined ? '' : p === undefined ? h : `${h}:${p}`;
  if (d !== undefined) name += `/${d}`;
  return name;
}

/**
 * Adds `pool` to the services' observed pools when `options` turn telemetry metrics on; returns the function that
 * removes it, or undefined (telemetry off: nothing kept, nothing to undo).
 */
export function observePool(
  services: WrapperServices,
  options: WrapperOptions,
  name: string,
  max: number | undefined,
  pool: PoolCounts,
): (() => void) | undefined {
  if (telemetrySettings(options)?.metrics !== true) return undefined;
  return observedPools(services).add(name, max, pool);
}
