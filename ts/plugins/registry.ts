/**
 * Plugin codes → factories, weights and aliases; custom plugin registration; configuration profiles; resolution of
 * the `plugins` option into an ordered list of factories.
 *
 * BUILTIN_PLUGINS lists every code of the seed wrapper with its factory.
 */
import { AwsWrapperError, ConfigurationError } from '../errors.js';
import {
  RELATIVE_TO_PRIOR_PLUGIN,
  type ConnectionPlugin,
  type ConnectProps,
  type PluginFactory,
  type PluginService,
} from '../plugin.js';
import { HOST_SELECTOR_STRATEGIES, isHostSelectorStrategy } from '../host-selectors.js';
import { HostRole } from '../host-info.js';
import { sharedServices, type WrapperServices } from '../services.js';
import { awsSecretsManagerPluginFactory } from './aws-secrets-manager.js';
import { connectTimePluginFactory } from './connect-time.js';
import { customEndpointPluginFactory } from './custom-endpoint.js';
import { devPluginFactory } from './dev.js';
import { executeTimePluginFactory } from './execute-time.js';
import { federatedAuthPluginFactory } from './federated-auth.js';
import { auroraConnectionTrackerPluginFactory } from './aurora-connection-tracker.js';
import { failoverV1PluginFactory } from './failover.js';
import { failoverV2PluginFactory } from './failover-v2.js';
import { hostMonitoringPluginFactory } from './host-monitoring.js';
import { hostMonitoringV2PluginFactory } from './host-monitoring-v2.js';
import { initialConnectionPluginFactory } from './initial-connection.js';
import { staleDnsPluginFactory } from './stale-dns.js';
import { iamPluginFactory } from './iam.js';
import { oktaPluginFactory } from './okta.js';
import { readWriteSplittingPluginFactory } from './read-write-splitting.js';
import { srwPluginFactory } from './srw.js';
import { fastestResponseStrategyPluginFactory } from './fastest-response-strategy.js';
import { gdbFailoverPluginFactory } from './gdb-failover.js';
import { gdbRwPluginFactory } from './gdb-rw.js';
import { limitlessPluginFactory } from './limitless.js';
import { blueGreenPluginFactory } from './bg.js';

/** Every seed plugin code with its weight (lower = outer) and the Node peer's camelCase spelling as an alias. */
export const BUILTIN_PLUGINS: readonly PluginFactory[] = [
  customEndpointPluginFactory,
  initialConnectionPluginFactory,
  auroraConnectionTrackerPluginFactory,
  staleDnsPluginFactory,
  readWriteSplittingPluginFactory,
  srwPluginFactory,
  gdbRwPluginFactory,
  failoverV1PluginFactory,
  failoverV2PluginFactory,
  gdbFailoverPluginFactory,
  hostMonitoringPluginFactory,
  hostMonitoringV2PluginFactory,
  blueGreenPluginFactory,
  fastestResponseStrategyPluginFactory,
  iamPluginFactory,
  awsSecretsManagerPluginFactory,
  federatedAuthPluginFactory,
  limitlessPluginFactory,
  oktaPluginFactory,
  connectTimePluginFactory,
  executeTimePluginFactory,
  devPluginFactory,
];

/**
 * The seed's effective default plugin list (same for pg and mysql2). Codes not implemented yet are dropped when
 * the default is resolved, so this constant stays as is while plugins land.
 */
export const DEFAULT_PLUGIN_CODES: readonly string[] = [
  'initial_connection',
  'aurora_connection_tracker',
  'failover_v2',
  'host_monitoring_v2',
];

/** Codes that must not be combined: each group holds alternatives of the same feature. */
export const INCOMPATIBLE_PLUGIN_GROUPS: readonly (readonly string[])[] = [
  ['failover', 'failover_v2', 'gdb_failover'],
  ['read_write_splitting', 'srw', 'gdb_rw'],
  ['host_monitoring', 'host_monitoring_v2'],
];

/** A named preset: plugins and config defaults, selected with the `profileName` option. */
export interface ConfigurationProfile {
  /** Plugins of the profile (codes or factories), in order; replaces the `plugins` option. Omit to keep it. */
  readonly plugins?: readonly (string | PluginFactory)[];
  /**
   * Config entries (driver config and wrapper options, as a user would write them) applied under the user's own
   * config: the user's keys win.
   */
  readonly config?: Readonly<Record<string, unknown>>;
}

export interface ResolveInput {
  /** The `plugins` option: codes in the user's order; undefined = default list. */
  readonly plugins: readonly string[] | undefined;
  readonly autoSortWrapperPluginOrder: boolean;
  /** The selected profile, if any (its plugins replace `plugins`). */
  readonly profile?: ConfigurationProfile;
}

const CODE_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** The plugin table of one WrapperServices: built-in codes plus custom registrations and profiles. */
export class PluginRegistry {
  private readonly byName = new Map<string, PluginFactory>();
  private readonly custom = new Set<string>();
  private readonly profiles = new Map<string, ConfigurationProfile>();

  constructor(builtins: readonly PluginFactory[] = BUILTIN_PLUGINS) {
    for (const p of builtins) this.add(p);
  }

  /** Every canonical code (built-in and custom), in table order. */
  get codes(): string[] {
    const out: string[] = [];
    for (const [name, p] of this.byName) if (name === p.code) out.push(name);
    return out;
  }

  /** True when `code` (or an alias) names a plugin that can be created now. */
  isAvailable(code: string): boolean {
    return this.byName.has(code);
  }

  /**
   * Adds a custom plugin under `factory.code` (and its aliases). A code already taken is an error unless
   * `replace` is set (e.g. to swap in a different implementation of a built-in code).
   */
  registerPlugin(factory: PluginFactory, options?: { readonly replace?: boolean }): void {
    validateFactory(factory);
    const names = [factory.code, ...(factory.aliases ?? [])];
    if (!options?.replace) {
      for (const n of names) {
        if (this.byName.has(n))
          throw new ConfigurationError(
            `Plugin code '${n}' is already registered; pass { replace: true } to replace it`,
            'plugins',
          );
      }
    } else {
      for (const n of names) {
        const old = this.byName.get(n);
        if (old !== undefined) this.remove(old.code);
      }
    }
    this.add(factory);
    this.custom.add(factory.code);
  }

  /** Removes a custom plugin registration; returns whether there was one. Built-in codes cannot be removed. */
  unregisterPlugin(code: string): boolean {
    const p = this.byName.get(code);
    if (p === undefined || !this.custom.has(p.code)) return false;
    this.remove(p.code);
    this.custom.delete(p.code);
    return true;
  }

  registerProfile(name: string, profile: ConfigurationProfile, options?: { readonly replace?: boolean }): void {
    if (typeof name !== 'string' || name.trim() === '')
      throw new ConfigurationError('Profile name must be a non-empty string', 'profileName');
    if (this.profiles.has(name) && !options?.replace) {
      throw new ConfigurationError(
        `Configuration profile '${name}' is already registered; pass { replace: true } to replace it`,
        'profileName',
      );
    }
    if (profile.plugins !== undefined) {
      if (!Array.isArray(profile.plugins))
        throw new ConfigurationError(
          `Profile '${name}': plugins must be an array of codes or factories`,
          'profileName',
        );
      for (const p of profile.plugins as unknown[]) if (typeof p !== 'string') validateFactory(p as PluginFactory); // checked there
    }
    this.profiles.set(name, Object.freeze({ ...profile }));
  }

  unregisterProfile(name: string): boolean {
    return this.profiles.delete(name);
  }

  /** The registered profile; an unknown name is a ConfigurationError listing the known ones. */
  getProfile(name: string): ConfigurationProfile {
    const p = this.profiles.get(name);
    if (p === undefined) {
      const known = [...this.profiles.keys()];
      throw new ConfigurationError(
        `Unknown configuration profile '${name}'; ${known.length ? `registered profiles: ${known.join(', ')}` : 'no profile is registered (use registerProfile)'}`,
        'profileName',
      );
    }
    return p;
  }

  /** The factory for a code or alias; unknown and not-yet-available codes are ConfigurationErrors. */
  getFactory(code: string): PluginFactory {
    const p = this.byName.get(code);
    if (p === undefined) {
      const suggestion = this.suggest(code);
      throw new ConfigurationError(
        `Unknown plugin code '${code}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}; known codes: ${this.codes.join(', ')}`,
        'plugins',
      );
    }
    return p;
  }

  /** The default list: DEFAULT_PLUGIN_CODES. */
  defaultFactories(): PluginFactory[] {
    return DEFAULT_PLUGIN_CODES.map((c) => this.getFactory(c));
  }

  /**
   * Turns the `plugins` option (or the profile's plugins, or the default) into factories in execution order:
   * checks duplicates and incompatible combinations, then sorts by weight when autoSortWrapperPluginOrder.
   */
  resolve(input: ResolveInput): PluginFactory[] {
    let factories: PluginFactory[];
    if (input.profile?.plugins !== undefined) {
      factories = input.profile.plugins.map((p) => (typeof p === 'string' ? this.getFactory(p.trim()) : p));
    } else if (input.plugins === undefined) {
      factories = this.defaultFactories();
    } else {
      factories = input.plugins
        .map((c) => c.trim())
        .filter((c) => c !== '')
        .map((c) => this.getFactory(c));
    }
    checkCombination(factories);
    return input.autoSortWrapperPluginOrder ? sortByWeight(factories) : factories;
  }

  private add(p: PluginFactory): void {
    this.byName.set(p.code, p);
    for (const a of p.aliases ?? []) this.byName.set(a, p);
  }

  private remove(code: string): void {
    for (const [name, p] of this.byName) if (p.code === code) this.byName.delete(name);
  }

  private suggest(code: string): string | undefined {
    const norm = normalise(code);
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const name of this.byName.keys()) {
      const n = normalise(name);
      if (n === norm) return this.byName.get(name)!.code;
      const d = editDistance(norm, n);
      if (d < bestDistance) {
        bestDistance = d;
        best = this.byName.get(name)!.code;
      }
    }
    return bestDistance <= Math.max(2, Math.floor(norm.length / 3)) ? best : undefined;
  }
}

/**
 * Creates the plugins of one client. A factory whose create() throws fails the client's construction with the
 * plugin's code in the message (the wrapper errors of built-in plugins, which name their option, pass as they are).
 */
export function createPlugins<C>(
  factories: readonly PluginFactory[],
  service: PluginService<C>,
  props: ConnectProps,
): ConnectionPlugin<C>[] {
  return factories.map((f) => {
    try {
      return f.create<C>(service, props);
    } catch (err) {
      if (err instanceof AwsWrapperError && BUILTIN_PLUGINS.includes(f)) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new ConfigurationError(`Plugin '${f.code}' could not be created: ${message}`, 'plugins', { cause: err });
    }
  });
}

/** Strategies plugins provide (not known to the built-in selectors), with what they need. */
const PLUGIN_STRATEGIES: Readonly<Record<string, string>> = {
  least_connections: 'internalConnectionPool or AwsPGPool / AwsMySQLPool',
  fastest_response: "the 'fastest_response_strategy' plugin",
};

/** Strategy options and the plugin codes that use them. */
const STRATEGY_OPTIONS: readonly {
  readonly option:
    'failoverReaderHostSelectorStrategy' | 'readerHostSelectorStrategy' | 'readerInitialConnectionHostSelectorStrategy';
  readonly codes: readonly string[];
}[] = [
  { option: 'failoverReaderHostSelectorStrategy', codes: ['failover', 'failover_v2'] },
  { option: 'readerHostSelectorStrategy', codes: ['read_write_splitting'] },
  { option: 'readerInitialConnectionHostSelectorStrategy', codes: ['initial_connection'] },
];

/**
 * Checks at construction that each host selector strategy a loaded plugin will use is one something can honour:
 * a built-in one, a plugin-provided one (least_connections, fastest_response) or one a loaded plugin accepts.
 * Whether a plugin-provided strategy is usable with this configuration is checked where it is used.
 */
export function checkSelectorStrategies<C>(
  service: PluginService<C>,
  props: ConnectProps,
  plugins: readonly ConnectionPlugin<C>[],
): void {
  const loaded = new Set(plugins.map((p) => p.code));
  for (const { option, codes } of STRATEGY_OPTIONS) {
    if (!codes.some((c) => loaded.has(c))) continue;
    const strategy = props.options[option];
    if (typeof strategy !== 'string') continue;
    if (isHostSelectorStrategy(strategy) || strategy in PLUGIN_STRATEGIES) continue;
    if (service.acceptsStrategy(HostRole.READER, strategy)) continue;
    const valid = [
      ...HOST_SELECTOR_STRATEGIES,
      ...Object.entries(PLUGIN_STRATEGIES).map(([s, needs]) => `${s} (with ${needs})`),
    ];
    throw new ConfigurationError(
      `Option '${option}' expects one of ${valid.join(', ')}, or a strategy of a loaded plugin; got '${strategy}'`,
      option,
    );
  }
}

function validateFactory(f: PluginFactory): void {
  if (f === null || (typeof f !== 'object' && typeof f !== 'function'))
    throw new ConfigurationError('A plugin factory must be an object with code, weight and create()', 'plugins');
  if (typeof f.code !== 'string' || !CODE_PATTERN.test(f.code)) {
    throw new ConfigurationError(
      `Plugin factory code must be a word (letters, digits, '_' or '-'); got '${String(f.code)}'`,
      'plugins',
    );
  }
  if (
    typeof f.weight !== 'number' ||
    !(Number.isInteger(f.weight) && (f.weight >= 0 || f.weight === RELATIVE_TO_PRIOR_PLUGIN))
  ) {
    throw new ConfigurationError(
      `Plugin '${f.code}': weight must be an integer ≥ 0 or RELATIVE_TO_PRIOR_PLUGIN; got ${String(f.weight)}`,
      'plugins',
    );
  }
  if (typeof f.create !== 'function')
    throw new ConfigurationError(`Plugin '${f.code}': factory has no create() function`, 'plugins');
  for (const a of f.aliases ?? []) {
    if (typeof a !== 'string' || !CODE_PATTERN.test(a))
      throw new ConfigurationError(`Plugin '${f.code}': invalid alias '${String(a)}'`, 'plugins');
  }
}

function checkCombination(factories: readonly PluginFactory[]): void {
  const seen = new Set<string>();
  for (const f of factories) {
    if (seen.has(f.code)) throw new ConfigurationError(`Plugin '${f.code}' is listed more than once`, 'plugins');
    seen.add(f.code);
  }
  for (const group of INCOMPATIBLE_PLUGIN_GROUPS) {
    const present = group.filter((c) => seen.has(c));
    if (present.length > 1) {
      throw new ConfigurationError(
        `Plugins ${present.map((c) => `'${c}'`).join(' and ')} cannot be used together; choose one`,
        'plugins',
      );
    }
  }
}

/**
 * Stable ascending sort by weight; RELATIVE_TO_PRIOR_PLUGIN counts as the previous plugin's weight (in the user's
 * order) plus one, so such a plugin stays right after the plugin the user listed before it.
 */
export function sortByWeight(factories: readonly PluginFactory[]): PluginFactory[] {
  let last = 0;
  const weighted = factories.map((f, index) => {
    last = f.weight === RELATIVE_TO_PRIOR_PLUGIN ? last + 1 : f.weight;
    return { f, weight: last, index };
  });
  weighted.sort((a, b) => a.weight - b.weight || a.index - b.index);
  return weighted.map((w) => w.f);
}

function normalise(s: string): string {
  return s.toLowerCase().replace(/[-_\s]/g, '');
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/**
 * The plugin table of `services`: configuration, so it is kept when the services close and handed to the services
 * releaseResources() makes.
 */
export function pluginRegistry(services: WrapperServices): PluginRegistry {
  return services.configuration('plugins:registry', () => new PluginRegistry());
}

// ---- package-level conveniences: the registry of the shared WrapperServices --------------------------------------

/**
 * Registers a custom plugin for every client using the shared services (clients given their own
 * `services` use `pluginRegistry(services).registerPlugin`).
 */
export function registerPlugin(factory: PluginFactory, options?: { readonly replace?: boolean }): void {
  pluginRegistry(sharedServices()).registerPlugin(factory, options);
}

export function unregisterPlugin(code: string): boolean {
  return pluginRegistry(sharedServices()).unregisterPlugin(code);
}

/** Registers a configuration profile (selected with the `profileName` option) on the shared services. */
export function registerProfile(
  name: string,
  profile: ConfigurationProfile,
  options?: { readonly replace?: boolean },
): void {
  pluginRegistry(sharedServices()).registerProfile(name, profile, options);
}

export function unregisterProfile(name: string): boolean {
  return pluginRegistry(sharedServices()).unregisterProfile(name);
}
