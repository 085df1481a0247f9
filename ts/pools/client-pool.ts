/**
 * The pool mechanics of AwsMySQLPool (AwsPGPool is pg-pool itself, subclassed): a bounded set of connected wrapper
 * clients (each one logical client with its own plugin chain, reused for many checkouts, never one per query), idle
 * LIFO list, FIFO waiters with a timeout, idle timeout above a minimum, max uses and max lifetime, end(). The mysql2
 * pool adapts the events and the API shape on top of it.
 *
 * Everything here belongs to one pool object: two pools never share clients or limits, and ending one ends only it.
 */
import { AwsWrapperError } from '../errors.js';

export interface ClientPoolOptions {
  /** Most clients (in use plus idle). */
  readonly max: number;
  /** Idle clients kept from the idle timeout. */
  readonly min: number;
  /** An idle client above `min` is ended after this many ms; 0 = never. */
  readonly idleTimeoutMs: number;
  /** How long a checkout waits for a client when the pool is full; 0 = forever. */
  readonly acquireTimeoutMs: number;
  /** Waiting checkouts allowed; 0 = no limit. */
  readonly queueLimit: number;
  /** Checkouts after which a client is ended on release; Infinity = no limit. */
  readonly maxUses: number;
  /** A client older than this is ended on release (or when idle); 0 = no limit. */
  readonly maxLifetimeMs: number;
  /** Idle clients and timers do not keep the process alive. */
  readonly allowExitOnIdle: boolean;
  /** Wait for a client when the pool is full (false: fail at once, as mysql2 `waitForConnections: false`). */
  readonly waitForClients: boolean;
}

/** What the pool needs to know about its clients. */
export interface ClientPoolHooks<T> {
  /** A new client, connected. */
  create(): Promise<T>;
  /** Ends a client (bounded; never throws). */
  destroy(client: T): Promise<void>;
  /** True when a client can no longer be used (its physical connection closed, or it was ended). */
  isBroken(client: T): boolean;
  /** Session reset before a released client goes idle; undefined when there is nothing to reset. */
  reset?(client: T): Promise<void> | undefined;
  /** Called with the client when it becomes idle, and the returned function when it leaves the idle list. */
  onIdle?(client: T): () => void;
  /** Events. */
  created?(client: T): void;
  acquired?(client: T): void;
  released?(client: T, err: unknown): void;
  removed?(client: T): void;
  enqueued?(): void;
  /** The driver's own error for a refused checkout (mysql2: 'Pool is closed.', …); the pool's wording when absent. */
  refusal?(reason: 'ended' | 'full' | 'queueLimit'): Error;
}

interface IdleItem<T> {
  readonly client: T;
  timer: NodeJS.Timeout | undefined;
  leave: (() => void) | undefined;
}

interface Waiter<T> {
  readonly resolve: (client: T) => void;
  readonly reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

interface ClientState {
  uses: number;
  expired: boolean;
  lifetimeTimer: NodeJS.Timeout | undefined;
}

export class PoolEndedError extends AwsWrapperError {
  constructor() {
    super('Cannot use a pool after calling end on the pool');
  }
}

export class ClientPool<T extends object> {
  readonly options: ClientPoolOptions;
  private readonly hooks: ClientPoolHooks<T>;
  private readonly clients = new Map<T, ClientState>();
  private readonly idle: IdleItem<T>[] = [];
  private readonly waiters: Waiter<T>[] = [];
  /** Clients being connected (they count against max). */
  private pending = 0;
  private endPromise: Promise<void> | undefined;
  private endResolve: (() => void) | undefined;
  private readonly removals = new Set<Promise<void>>();

  constructor(options: ClientPoolOptions, hooks: ClientPoolHooks<T>) {
    this.options = options;
    this.hooks = hooks;
  }

  get totalCount(): number {
    return this.clients.size + this.pending;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  get waitingCount(): number {
    return this.waiters.length;
  }

  get ending(): boolean {
    return this.endPromise !== undefined;
  }

  get ended(): boolean {
    return this.endPromise !== undefined && this.clients.size === 0 && this.pending === 0;
  }

  /** The clients that are idle right now (for eviction checks). */
  idleClients(): T[] {
    return this.idle.map((i) => i.client);
  }

  /** An idle client now, or undefined (the fast path of pool.query). */
  takeIdle(): T | undefined {
    if (this.endPromise !== undefined) return undefined;
    for (let item = this.idle.pop(); item !== undefined; item = this.idle.pop()) {
      this.leaveIdle(item);
      const state = this.clients.get(item.client);
      if (state === undefined || state.expired || this.hooks.isBroken(item.client)) {
        this.remove(item.client);
        continue;
      }
      this.hooks.acquired?.(item.client);
      return item.client;
    }
    return undefined;
  }

  /** A client: idle, new while below max, else the next one released (bounded by acquireTimeoutMs). */
  acquire(): Promise<T> {
    if (this.endPromise !== undefined) return Promise.reject(this.refusal('ended'));
    const idle = this.takeIdle();
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.totalCount < this.options.max) return this.createClient();
    if (!this.options.waitForClients) return Promise.reject(this.refusal('full'));
    if (this.options.queueLimit > 0 && this.waiters.length >= this.options.queueLimit) {
      return Promise.reject(this.refusal('queueLimit'));
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, timer: undefined };
      if (this.options.acquireTimeoutMs > 0) {
        waiter.timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new AwsWrapperError('timeout exceeded when trying to connect'));
        }, this.options.acquireTimeoutMs);
      }
      this.waiters.push(waiter);
      this.hooks.enqueued?.();
    });
  }

  private refusal(reason: 'ended' | 'full' | 'queueLimit'): Error {
    const own = this.hooks.refusal?.(reason);
    if (own !== undefined) return own;
    if (reason === 'ended') return new PoolEndedError();
    if (reason === 'full') return new AwsWrapperError(`No client available: the pool is full (${this.options.max})`);
    return new AwsWrapperError(`Queue limit reached (${this.options.queueLimit} waiting)`);
  }

  private async createClient(): Promise<T> {
    this.pending++;
    let client: T;
    try {
      client = await this.hooks.create();
    } catch (err) {
      this.pending--;
      this.pulse();
      throw err;
    }
    this.pending--;
    const state: ClientState = { uses: 0, expired: false, lifetimeTimer: undefined };
    this.clients.set(client, state);
    if (this.options.maxLifetimeMs > 0) {
      state.lifetimeTimer = setTimeout(() => {
        state.expired = true;
        const i = this.idle.findIndex((x) => x.client === client);
        if (i >= 0) {
          const [item] = this.idle.splice(i, 1);
          this.leaveIdle(item);
          this.remove(client);
          this.pulse();
        }
      }, this.options.maxLifetimeMs);
      state.lifetimeTimer.unref();
    }
    if (this.endPromise !== undefined) {
      this.remove(client);
      throw this.refusal('ended');
    }
    this.hooks.created?.(client);
    this.hooks.acquired?.(client);
    return client;
  }

  /**
   * Gives a checked-out client back. With `destroy` (pg: release(err)) or when it is broken, expired or used up,
   * it is ended; else it is reset (when the hooks say so) and handed to a waiter or put in the idle list.
   */
  release(client: T, destroy: unknown = undefined): void {
    const state = this.clients.get(client);
    if (state === undefined) return;
    state.uses++;
    this.hooks.released?.(client, destroy);
    if (
      destroy ||
      this.endPromise !== undefined ||
      state.expired ||
      state.uses >= this.options.maxUses ||
      this.hooks.isBroken(client)
    ) {
      this.remove(client);
      this.pulse();
      return;
    }
    const reset = this.hooks.reset?.(client);
    if (reset === undefined) {
      this.checkIn(client);
      return;
    }
    reset.then(
      () => this.checkIn(client),
      () => {
        this.remove(client);
        this.pulse();
      },
    );
  }

  private checkIn(client: T): void {
    if (!this.clients.has(client)) return;
    if (this.endPromise !== undefined || this.hooks.isBroken(client)) {
      this.remove(client);
      this.pulse();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      this.hooks.acquired?.(client);
      waiter.resolve(client);
      return;
    }
    const item: IdleItem<T> = { client, timer: undefined, leave: undefined };
    if (this.options.idleTimeoutMs > 0) {
      item.timer = setTimeout(() => {
        if (this.totalCount <= this.options.min) return;
        const i = this.idle.indexOf(item);
        if (i < 0) return;
        this.idle.splice(i, 1);
        this.leaveIdle(item);
        this.remove(client);
      }, this.options.idleTimeoutMs);
      if (this.options.allowExitOnIdle) item.timer.unref();
    }
    item.leave = this.hooks.onIdle?.(client);
    this.idle.push(item);
  }

  private leaveIdle(item: IdleItem<T>): void {
    clearTimeout(item.timer);
    item.leave?.();
    item.leave = undefined;
  }

  /** Ends idle clients that match `predicate` (e.g. connected to an instance that failed). */
  evictIdle(predicate: (client: T) => boolean): number {
    let n = 0;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const item = this.idle[i];
      if (!predicate(item.client)) continue;
      this.idle.splice(i, 1);
      this.leaveIdle(item);
      this.remove(item.client);
      n++;
    }
    if (n > 0) this.pulse();
    return n;
  }

  /** Ends a checked-out client without a 'released' event (mysql2's `conn.destroy()`); a waiter gets its slot. */
  discard(client: T): void {
    this.remove(client);
    this.pulse();
  }

  /** Ends a client that is idle or checked out and forgets it (its slot becomes free). */
  remove(client: T): void {
    const state = this.clients.get(client);
    if (state === undefined) return;
    clearTimeout(state.lifetimeTimer);
    this.clients.delete(client);
    const i = this.idle.findIndex((x) => x.client === client);
    if (i >= 0) this.leaveIdle(this.idle.splice(i, 1)[0]);
    const task = this.hooks.destroy(client).then(() => this.hooks.removed?.(client));
    this.removals.add(task);
    void task.finally(() => {
      this.removals.delete(task);
      this.maybeEnded();
    });
  }

  /** A slot became free: a waiter gets a new client. */
  private pulse(): void {
    if (this.endPromise !== undefined) return;
    while (this.waiters.length > 0 && this.totalCount < this.options.max) {
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      this.createClient().then(waiter.resolve, waiter.reject);
    }
  }

  /**
   * Ends the pool: no new checkouts, waiters fail, idle clients end now, checked-out clients when released (pg) or
   * now too with `closeCheckedOut` (mysql2). Resolves when every client has ended.
   */
  end(closeCheckedOut = false): Promise<void> {
    if (this.endPromise !== undefined) return this.endPromise;
    this.endPromise = new Promise<void>((resolve) => (this.endResolve = resolve));
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(this.refusal('ended'));
    }
    for (const item of this.idle.splice(0)) {
      this.leaveIdle(item);
      this.remove(item.client);
    }
    if (closeCheckedOut) for (const client of [...this.clients.keys()]) this.remove(client);
    this.maybeEnded();
    return this.endPromise;
  }

  private maybeEnded(): void {
    if (this.endResolve !== undefined && this.clients.size === 0 && this.pending === 0 && this.removals.size === 0) {
      const resolve = this.endResolve;
      this.endResolve = undefined;
      resolve();
    }
  }
}
