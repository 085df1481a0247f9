/**
 * Runs the plugin pipelines of one client. Chains are built once per pipeline (and per client method for the
 * execute pipeline) and cached; a method no plugin subscribes to has no chain at all, so the client calls the
 * driver directly. The terminal step of every chain (the seed's DefaultPlugin) is supplied by the plugin service.
 */
import { UnsupportedOperationError } from './errors.js';
import type { HostChange, HostInfo, HostRole } from './host-info.js';
import { getLogger } from './logger.js';
import {
  ALL_METHODS,
  OldConnectionSuggestedAction,
  PIPELINE,
  type ClientMethod,
  type ConnectionChange,
  type ConnectionPlugin,
  type ConnectProps,
  type ExecuteContext,
  type HostListProviderService,
} from './plugin.js';

const log = getLogger('plugin-manager');

/** Characters of statement text kept in ExecuteContext.sqlPrefix. */
export const SQL_PREFIX_LENGTH = 64;
/** Leading whitespace and comments scanned at most, so the prefix costs the same for any statement size. */
export const SQL_PREFIX_SCAN_LIMIT = 4096;

/** A cached execute chain: runs the subscribed plugins around `target` (the driver call). */
export type ExecuteChain = <T>(ctx: ExecuteContext, target: () => Promise<T>) => Promise<T>;
type ConnectChain<C> = (host: HostInfo, props: ConnectProps, isInitial: boolean) => Promise<C>;

/** The end of each chain: what the seed's DefaultPlugin does. */
export interface PipelineTerminal<C> {
  connect(host: HostInfo, props: ConnectProps, isInitial: boolean): Promise<C>;
  forceConnect(host: HostInfo, props: ConnectProps, isInitial: boolean): Promise<C>;
  acceptsStrategy(role: HostRole, strategy: string): boolean;
  getHostInfoByStrategy(role: HostRole, strategy: string, hosts?: readonly HostInfo[]): HostInfo;
}

/**
 * The statement text of a call: the first argument when it is a string, else its `text` (pg QueryConfig,
 * Submittable) or `sql` (mysql2 QueryOptions) property.
 */
export function statementText(args: readonly unknown[]): string | undefined {
  const a = args[0];
  if (typeof a === 'string') return a;
  if (typeof a === 'object' && a !== null) {
    const o = a as { text?: unknown; sql?: unknown };
    if (typeof o.text === 'string') return o.text;
    if (typeof o.sql === 'string') return o.sql;
  }
  return undefined;
}

/**
 * The first SQL_PREFIX_LENGTH characters of `sql` after leading whitespace, `-- …` and `/* … *\/` comments,
 * lower-cased. Scans at most SQL_PREFIX_SCAN_LIMIT characters of leading noise; if the statement is still in a
 * comment there, the prefix is empty.
 */
export function boundedSqlPrefix(sql: string): string {
  const limit = Math.min(sql.length, SQL_PREFIX_SCAN_LIMIT);
  let i = 0;
  while (i < limit) {
    const c = sql.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13) || c === 0xfeff || c === 0xa0) {
      i++;
    } else if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      i += 2;
      while (i < limit && sql.charCodeAt(i) !== 10) i++;
    } else if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      i += 2;
      while (i < limit && !(sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47)) i++;
      i += 2;
    } else {
      return sql.slice(i, i + SQL_PREFIX_LENGTH).toLowerCase();
    }
  }
  return '';
}

/** ExecuteContext whose sqlPrefix is computed on first access only. */
export class LazyExecuteContext implements ExecuteContext {
  readonly method: ClientMethod;
  readonly args: readonly unknown[];
  private prefix: string | undefined | null = null;

  constructor(method: ClientMethod, args: readonly unknown[]) {
    this.method = method;
    this.args = args;
  }

  get sqlPrefix(): string | undefined {
    if (this.prefix === null) {
      const text = statementText(this.args);
      this.prefix = text === undefined ? undefined : boundedSqlPrefix(text);
    }
    return this.prefix;
  }

  /** Whether sqlPrefix has been computed (for tests of laziness). */
  get sqlPrefixComputed(): boolean {
    return this.prefix !== null;
  }
}

function subscribes<C>(p: ConnectionPlugin<C>, name: string): boolean {
  return p.subscribedMethods.has(name) || p.subscribedMethods.has(ALL_METHODS);
}

export class PluginManager<C> {
  /** Plugins in execution order (outermost first). */
  readonly plugins: readonly ConnectionPlugin<C>[];
  private readonly terminal: PipelineTerminal<C>;
  /** Per client method: the chain, or null when no plugin subscribes (direct driver call). */
  private readonly executeChains = new Map<string, ExecuteChain | null>();
  private readonly connectChains = new Map<ConnectionPlugin<C> | undefined, ConnectChain<C>>();
  private readonly forceConnectChains = new Map<ConnectionPlugin<C> | undefined, ConnectChain<C>>();
  private readonly subscribers = new Map<string, ConnectionPlugin<C>[]>();

  constructor(plugins: readonly ConnectionPlugin<C>[], terminal: PipelineTerminal<C>) {
    this.plugins = plugins;
    this.terminal = terminal;
  }

  getPlugin(code: string): ConnectionPlugin<C> | undefined {
    return this.plugins.find((p) => p.code === code);
  }

  /**
   * The chain for a client method, built on first use and cached; undefined when no plugin subscribes to it
   * (the caller then calls the driver directly, without creating an ExecuteContext).
   */
  getExecuteChain(method: ClientMethod): ExecuteChain | undefined {
    let chain = this.executeChains.get(method);
    if (chain === undefined) {
      chain = buildExecuteChain(this.pluginsFor(method, 'execute'));
      this.executeChains.set(method, chain);
    }
    return chain ?? undefined;
  }

  /** Runs `target` through the execute chain of `method` (or directly when there is none). */
  execute<T>(method: ClientMethod, args: readonly unknown[], target: () => Promise<T>): Promise<T> {
    const chain = this.getExecuteChain(method);
    if (chain === undefined) return target();
    return chain(new LazyExecuteContext(method, args), target);
  }

  connect(host: HostInfo, props: ConnectProps, isInitial: boolean, skipPlugin?: ConnectionPlugin<C>): Promise<C> {
    return this.connectChain(this.connectChains, PIPELINE.connect, skipPlugin)(host, props, isInitial);
  }

  forceConnect(host: HostInfo, props: ConnectProps, isInitial: boolean, skipPlugin?: ConnectionPlugin<C>): Promise<C> {
    return this.connectChain(this.forceConnectChains, PIPELINE.forceConnect, skipPlugin)(host, props, isInitial);
  }

  async initHostProvider(props: ConnectProps, service: HostListProviderService<C>): Promise<void> {
    const plugins = this.pluginsFor(PIPELINE.initHostProvider, 'initHostProvider');
    const step = (i: number): Promise<void> => {
      const p = plugins[i];
      return p === undefined ? Promise.resolve() : p.initHostProvider!(props, service, () => step(i + 1));
    };
    await step(0);
  }

  /** Tells the plugins about a connection switch; PRESERVE wins, then DISPOSE. */
  notifyConnectionChanged(
    changes: ReadonlySet<ConnectionChange>,
    skipPlugin?: ConnectionPlugin<C>,
  ): OldConnectionSuggestedAction {
    let result = OldConnectionSuggestedAction.NO_OPINION;
    for (const p of this.pluginsFor(PIPELINE.notifyConnectionChanged, 'notifyConnectionChanged')) {
      if (p === skipPlugin) continue;
      let action: OldConnectionSuggestedAction;
      try {
        action = p.notifyConnectionChanged!(changes);
      } catch (err) {
        log.warn(`Plugin '${p.code}' failed in notifyConnectionChanged: ${String(err)}`);
        continue;
      }
      if (action === OldConnectionSuggestedAction.PRESERVE) result = action;
      else if (action === OldConnectionSuggestedAction.DISPOSE && result === OldConnectionSuggestedAction.NO_OPINION)
        result = action;
    }
    return result;
  }

  /** Whether any plugin hears host list changes (without one, nobody needs them worked out). */
  get hearsHostListChanges(): boolean {
    return this.pluginsFor(PIPELINE.notifyHostListChanged, 'notifyHostListChanged').length > 0;
  }

  notifyHostListChanged(changes: ReadonlyMap<string, ReadonlySet<HostChange>>): void {
    for (const p of this.pluginsFor(PIPELINE.notifyHostListChanged, 'notifyHostListChanged')) {
      try {
        p.notifyHostListChanged!(changes);
      } catch (err) {
        log.warn(`Plugin '${p.code}' failed in notifyHostListChanged: ${String(err)}`);
      }
    }
  }

  acceptsStrategy(role: HostRole, strategy: string): boolean {
    for (const p of this.pluginsFor(PIPELINE.acceptsStrategy, 'acceptsStrategy')) {
      if (p.acceptsStrategy!(role, strategy)) return true;
    }
    return this.terminal.acceptsStrategy(role, strategy);
  }

  /** The first plugin answer wins (a plugin throwing UnsupportedOperationError passes); else the built-in selectors. */
  getHostInfoByStrategy(role: HostRole, strategy: string, hosts?: readonly HostInfo[]): HostInfo {
    for (const p of this.pluginsFor(PIPELINE.getHostInfoByStrategy, 'getHostInfoByStrategy')) {
      try {
        const h = p.getHostInfoByStrategy!(role, strategy, hosts);
        if (h !== undefined) return h;
      } catch (err) {
        if (!(err instanceof UnsupportedOperationError)) throw err;
      }
    }
    return this.terminal.getHostInfoByStrategy(role, strategy, hosts);
  }

  /** Calls every plugin's release(); never throws. */
  async release(): Promise<void> {
    const results = await Promise.allSettled(this.plugins.map(async (p) => p.release?.()));
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      if (r.status === 'rejected') log.warn(`Plugin '${this.plugins[i].code}' failed to release: ${String(r.reason)}`);
    }
  }

  /** Plugins subscribed to `name` that implement `hook`, in order (cached). */
  private pluginsFor(name: string, hook: keyof ConnectionPlugin<C>): ConnectionPlugin<C>[] {
    let list = this.subscribers.get(name);
    if (list === undefined) {
      list = this.plugins.filter((p) => typeof p[hook] === 'function' && subscribes(p, name));
      this.subscribers.set(name, list);
    }
    return list;
  }

  private connectChain(
    cache: Map<ConnectionPlugin<C> | undefined, ConnectChain<C>>,
    pipeline: typeof PIPELINE.connect | typeof PIPELINE.forceConnect,
    skipPlugin: ConnectionPlugin<C> | undefined,
  ): ConnectChain<C> {
    const cached = cache.get(skipPlugin);
    if (cached !== undefined) return cached;
    const plugins = this.pluginsFor(pipeline, pipeline).filter((p) => p !== skipPlugin);
    const last: ConnectChain<C> =
      pipeline === PIPELINE.connect
        ? (h, props, isInitial) => this.terminal.connect(h, props, isInitial)
        : (h, props, isInitial) => this.terminal.forceConnect(h, props, isInitial);
    let chain: ConnectChain<C> = last;
    for (let i = plugins.length - 1; i >= 0; i--) {
      const p = plugins[i];
      const next: ConnectChain<C> = chain;
      chain = (h, props, isInitial) =>
        p[pipeline]!(h, props, isInitial, (override) => next(h, override ?? props, isInitial));
    }
    cache.set(skipPlugin, chain);
    return chain;
  }
}

/** Nested closures built once; the innermost plugin gets the target itself as `next`. Null = no plugin. */
function buildExecuteChain<C>(plugins: readonly ConnectionPlugin<C>[]): ExecuteChain | null {
  if (plugins.length === 0) return null;
  const innermost = plugins[plugins.length - 1];
  let chain: ExecuteChain = (ctx, target) => innermost.execute!(ctx, target);
  for (let i = plugins.length - 2; i >= 0; i--) {
    const p = plugins[i];
    const next = chain;
    chain = (ctx, target) => p.execute!(ctx, () => next(ctx, target));
  }
  return chain;
}
