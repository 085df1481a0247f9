/**
 * Process-wide state of the wrapper in one explicit, reference-counted object: a keyed store that knows no domain
 * module. The module that uses a value chooses its key, owns its type and makes it on first use (topology caches,
 * native monitors, auth caches, ... each behind a small accessor next to its class). Every client acquires the
 * services on connect and releases them on end; when the last client releases them, the client state goes (monitors
 * stop, caches empty). Tests create their own with `new WrapperServices()`.
 */
import { EventEmitter } from 'node:events';

type Teardown = () => Promise<void> | void;

interface Slot {
  readonly value: unknown;
  /** State: disposes the value when it is dropped. Kept values: runs on every close, the value stays. */
  readonly onClose: ((value: never) => Promise<void> | void) | undefined;
}

interface KeptSlot extends Slot {
  /** Configuration: handed to the services that replace these ones (resetSharedServices). */
  readonly carried: boolean;
}

/**
 * A background monitor cannot do its job (WrapperServices 'monitorError' event): its login is refused (wrong
 * `topology-monitoring-` credentials, or the client's own without them) or it could not start. The wrapper keeps working without it
 * (topology read on the client's connections, calls unmonitored), so this event and an error/warn log are the signs.
 */
export interface MonitorErrorEvent {
  /** 'topology': the cluster topology monitor; 'host-monitoring': an enhanced failure monitoring host monitor; 'limitless': a Limitless router monitor. */
  readonly monitor: 'topology' | 'host-monitoring' | 'limitless';
  /** 'auth': the server refused the monitor's login; 'start': the monitor could not be started. */
  readonly reason: 'auth' | 'start';
  readonly host: string;
  readonly port: number;
  /** Topology monitors: the cluster's id. */
  readonly clusterId?: string;
  /** What went wrong (no secrets). */
  readonly message: string;
  /** ms since the Unix epoch. */
  readonly at: number;
}

/**
 * Events: `monitorError` (MonitorErrorEvent) when a background monitor of these services cannot log in or start.
 *
 * Three kinds of slot, each keyed by a string its owner chooses (`<module>:<what>[:<options that change it>]`):
 * - `shared`: state of the clients (caches, monitors, pools): made on first use, disposed and dropped on close;
 * - `kept`: facts about servers (detected dialects): made on first use, kept on close, gone with the object;
 * - `configuration`: what the application registered (custom plugins, profiles): kept on close and handed to the
 *   replacement resetSharedServices() makes.
 */
export class WrapperServices extends EventEmitter {
  private refs = 0;
  private readonly teardowns: Teardown[] = [];
  private readonly slots = new Map<string, Slot>();
  private readonly keptSlots: Map<string, KeptSlot>;

  /** `configurationOf`: start with the configuration slots of those services (shared, not copied). */
  constructor(init: { readonly configurationOf?: WrapperServices } = {}) {
    super();
    this.keptSlots = new Map();
    for (const [key, slot] of init.configurationOf?.keptSlots ?? []) if (slot.carried) this.keptSlots.set(key, slot);
  }

  get referenceCount(): number {
    return this.refs;
  }

  acquire(): this {
    this.refs++;
    return this;
  }

  /** Drops one reference; the last one tears everything down. */
  async release(): Promise<void> {
    if (this.refs === 0) return;
    if (--this.refs === 0) await this.close();
  }

  /**
   * The value kept under `key`, made by `create` on first use and given to `dispose` when the services close
   * (last release or releaseResources). The module that chooses the key owns the slot and its type; every option
   * that changes the value belongs in the key (`efm:${intervalMs}`), so clients with other options get their own.
   */
  shared<T>(key: string, create: () => T, dispose?: (value: T) => Promise<void> | void): T {
    const slot = this.slots.get(key);
    if (slot !== undefined) return slot.value as T;
    if (this.keptSlots.has(key)) throw new TypeError(`WrapperServices slot '${key}' is a kept slot, not a shared one`);
    const value = create();
    this.slots.set(key, { value, onClose: dispose });
    return value;
  }

  /**
   * A value that outlives close(): facts that stay true when no client is left (what a server is). `onClose` runs at
   * every close (e.g. to stop work the value started) and the value is kept. A replacement made by
   * resetSharedServices starts without it.
   */
  kept<T>(key: string, create: () => T, onClose?: (value: T) => Promise<void> | void): T {
    return this.keptSlot(key, create, onClose, false);
  }

  /** Like kept(), and handed to the services resetSharedServices() makes: the application's configuration. */
  configuration<T>(key: string, create: () => T): T {
    return this.keptSlot(key, create, undefined, true);
  }

  /** The value under `key` (any kind), if one was made; never makes one. */
  peek<T>(key: string): T | undefined {
    return (this.slots.get(key) ?? this.keptSlots.get(key))?.value as T | undefined;
  }

  /** Registers work to run when the last reference is released (or on releaseResources). */
  onClose(fn: Teardown): void {
    this.teardowns.push(fn);
  }

  /**
   * Disposes and drops the shared slots (in reverse order of creation), runs the close hooks of the kept ones and
   * every teardown once; safe to call repeatedly. A failing dispose does not stop the others.
   */
  async close(): Promise<void> {
    const fns = this.teardowns.splice(0);
    const slots = [...this.slots.values()].reverse();
    this.slots.clear();
    await Promise.allSettled([
      ...[...this.keptSlots.values()].map(async (slot) => slot.onClose?.(slot.value as never)),
      ...slots.map(async (slot) => slot.onClose?.(slot.value as never)),
      ...fns.map(async (fn) => fn()),
    ]);
  }

  private keptSlot<T>(
    key: string,
    create: () => T,
    onClose: ((value: T) => Promise<void> | void) | undefined,
    carried: boolean,
  ): T {
    const slot = this.keptSlots.get(key);
    if (slot !== undefined) {
      if (slot.carried !== carried)
        throw new TypeError(`WrapperServices slot '${key}' is ${slot.carried ? 'configuration' : 'a kept slot'}`);
      return slot.value as T;
    }
    if (this.slots.has(key)) throw new TypeError(`WrapperServices slot '${key}' is a shared slot, not a kept one`);
    const value = create();
    this.keptSlots.set(key, { value, onClose: onClose, carried });
    return value;
  }
}

let shared: WrapperServices | undefined;

/** The services object clients use unless given their own. */
export function sharedServices(): WrapperServices {
  return (shared ??= new WrapperServices());
}

/**
 * Closes the shared services object and replaces it, so the next client starts with fresh caches and monitors.
 * Registered custom plugins and profiles are kept: they are the application's configuration.
 */
export async function resetSharedServices(): Promise<void> {
  const s = shared;
  if (s === undefined) return;
  shared = new WrapperServices({ configurationOf: s });
  await s.close();
}
