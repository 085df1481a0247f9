/**
 * Every physical connection the `aurora_connection_tracker` plugin saw opened, by instance (`host:port`), for all
 * clients of one WrapperServices. When an instance stops being the writer, all connections to it —
 * idle ones in pools included — are aborted at once (socket destroyed, never a wait on a dead host), so no client
 * keeps writing to, or waiting on, a demoted or dead writer: their next call fails with a network error and fails
 * over. Connections are held weakly and pruned once closed.
 */
import { AwsWrapperError } from './errors.js';
import type { HostInfo } from './host-info.js';
import { getLogger } from './logger.js';
import type { WrapperServices } from './services.js';

const log = getLogger('connection-tracker');

/** What the tracker needs of a driver dialect. */
export interface TrackedDriver {
  abort(conn: never, err: Error): void;
  isClosed(conn: never): boolean;
}

interface Tracked {
  readonly ref: WeakRef<object>;
  readonly driver: TrackedDriver;
}

function keyOf(hostAndPort: string): string {
  return hostAndPort.toLowerCase();
}

export class OpenedConnectionTracker {
  private readonly byHost = new Map<string, Set<Tracked>>();

  /** Records `conn` as a connection to the instance `hostAndPort`. */
  track(hostAndPort: string, conn: object, driver: TrackedDriver): void {
    const key = keyOf(hostAndPort);
    let set = this.byHost.get(key);
    if (set === undefined) this.byHost.set(key, (set = new Set()));
    else this.prune(set);
    set.add({ ref: new WeakRef(conn), driver });
  }

  /** Forgets `conn` (closed by its owner). */
  untrack(conn: object): void {
    for (const [key, set] of this.byHost) {
      for (const t of set) {
        if (t.ref.deref() === conn) {
          set.delete(t);
          if (set.size === 0) this.byHost.delete(key);
          return;
        }
      }
    }
  }

  /** Open connections tracked for the instance. */
  count(hostAndPort: string): number {
    const set = this.byHost.get(keyOf(hostAndPort));
    if (set === undefined) return 0;
    this.prune(set);
    return set.size;
  }

  /** Aborts every open connection to the instance; in-flight calls on them reject with a network error (08S01). */
  abortAll(hostAndPort: string, reason: string): number {
    const key = keyOf(hostAndPort);
    const set = this.byHost.get(key);
    if (set === undefined) return 0;
    this.byHost.delete(key);
    let n = 0;
    for (const t of set) {
      const conn = t.ref.deref();
      if (conn === undefined) continue;
      const c = conn as never;
      if (t.driver.isClosed(c)) continue;
      try {
        t.driver.abort(
          c,
          new AwsWrapperError(`The connection to ${hostAndPort} was closed: ${reason}`, { code: '08S01' }),
        );
        n++;
      } catch (err) {
        log.debug(`aborting a connection to ${hostAndPort} failed: ${String(err)}`);
      }
    }
    if (n > 0) log.info(`closed ${n} connection(s) to ${hostAndPort}: ${reason}`);
    return n;
  }

  /** The writer of a cluster changed from `oldWriter`: its connections go. */
  writerChanged(oldWriter: HostInfo, newWriter: HostInfo): number {
    return this.abortAll(
      oldWriter.hostAndPort,
      `${oldWriter.hostAndPort} is no longer the writer (new writer ${newWriter.hostAndPort})`,
    );
  }

  clear(): void {
    this.byHost.clear();
  }

  private prune(set: Set<Tracked>): void {
    for (const t of set) {
      const conn = t.ref.deref();
      if (conn === undefined || t.driver.isClosed(conn as never)) set.delete(t);
    }
  }
}

/** The connections tracked for the clients of `services` (forgotten when the services close). */
export function openedConnections(services: WrapperServices): OpenedConnectionTracker {
  return services.shared('opened-connections', () => new OpenedConnectionTracker());
}
