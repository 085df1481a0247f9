/**
 * Built-in host selection strategies: the default path of PluginService.getHostInfoByStrategy.
 * Every strategy picks among the hosts of the requested role that are AVAILABLE. Round-robin position is shared by
 * the clients of one WrapperServices (so many clients spread over the readers) and lives in a HostSelectors
 * instance held by it, never in module state.
 */
import { AwsWrapperError, ConfigurationError, UnsupportedOperationError } from './errors.js';
import { HostAvailability, type HostInfo, type HostRole } from './host-info.js';
import type { WrapperServices } from './services.js';

export const HOST_SELECTOR_STRATEGIES = ['random', 'round_robin', 'weighted_random', 'highest_weight'] as const;
export type HostSelectorStrategy = (typeof HOST_SELECTOR_STRATEGIES)[number];

/** Options read by the selectors (camelCase wrapper option names). */
export interface HostSelectorOptions {
  readonly roundRobinDefaultWeight?: unknown;
  readonly roundRobinHostWeightPairs?: unknown;
  readonly weightedRandomDefaultWeight?: unknown;
  readonly weightedRandomHostWeightPairs?: unknown;
  readonly [option: string]: unknown;
}

/** Round-robin state shared by every host name of one set of eligible hosts. */
interface RoundRobinState {
  lastHost: string | undefined;
  counter: number;
}

/** No host of the role is available (the strategy is fine, the cluster is not). */
export class NoHostsMatchingRoleError extends AwsWrapperError {
  constructor(role: HostRole, strategy: string) {
    super(`No available host with role '${role}' to select with strategy '${strategy}'`);
  }
}

export function isHostSelectorStrategy(strategy: string): strategy is HostSelectorStrategy {
  return (HOST_SELECTOR_STRATEGIES as readonly string[]).includes(strategy);
}

/**
 * Parses `host:weight,host2:weight` (or an object `{host: weight}`) into a map; weights are integers ≥ 1.
 * Throws a ConfigurationError naming `key` on anything else.
 */
export function parseHostWeightPairs(raw: unknown, key: string): Map<string, number> {
  const out = new Map<string, number>();
  if (raw === undefined || raw === null || raw === '') return out;
  const entries: [string, unknown][] = [];
  if (typeof raw === 'string') {
    for (const part of raw.split(',')) {
      const item = part.trim();
      if (item === '') continue;
      const colon = item.lastIndexOf(':');
      if (colon <= 0 || colon === item.length - 1) {
        throw new ConfigurationError(`${key}: expected 'host:weight' pairs separated by commas; got '${item}'`, key);
      }
      entries.push([item.slice(0, colon).trim(), item.slice(colon + 1).trim()]);
    }
  } else if (typeof raw === 'object' && !Array.isArray(raw)) {
    entries.push(...Object.entries(raw as Record<string, unknown>));
  } else {
    throw new ConfigurationError(`${key}: expected a 'host:weight,...' string or an object of host → weight`, key);
  }
  for (const [host, w] of entries) {
    const weight = typeof w === 'number' ? w : typeof w === 'string' && /^\d+$/.test(w) ? Number(w) : NaN;
    if (!Number.isInteger(weight) || weight < 1) {
      throw new ConfigurationError(`${key}: weight of host '${host}' must be an integer ≥ 1; got '${String(w)}'`, key);
    }
    out.set(host, weight);
  }
  return out;
}

export function parseDefaultWeight(raw: unknown, key: string): number {
  if (raw === undefined || raw === null || raw === '') return 1;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigurationError(`${key} must be an integer ≥ 1; got '${String(raw)}'`, key);
  return n;
}

/** Validates the selector options up front so a bad weight fails at construction, not at the first selection. */
export function validateHostSelectorOptions(options: HostSelectorOptions): void {
  parseDefaultWeight(options.roundRobinDefaultWeight, 'roundRobinDefaultWeight');
  parseHostWeightPairs(options.roundRobinHostWeightPairs, 'roundRobinHostWeightPairs');
  parseDefaultWeight(options.weightedRandomDefaultWeight, 'weightedRandomDefaultWeight');
  parseHostWeightPairs(options.weightedRandomHostWeightPairs, 'weightedRandomHostWeightPairs');
}

/** The built-in selectors plus their shared state. One instance per WrapperServices. */
export class HostSelectors {
  /** Round-robin state by host name; every host of an eligible set points at the same state object. */
  private readonly roundRobin = new Map<string, RoundRobinState>();
  private readonly random: () => number;

  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  accepts(strategy: string): boolean {
    return isHostSelectorStrategy(strategy);
  }

  /** Picks a host of `role` among `hosts` with `strategy`. */
  select(strategy: string, hosts: readonly HostInfo[], role: HostRole, options: HostSelectorOptions = {}): HostInfo {
    if (!isHostSelectorStrategy(strategy)) {
      throw new UnsupportedOperationError(
        `Unsupported host selection strategy '${strategy}'; supported: ${HOST_SELECTOR_STRATEGIES.join(', ')}`,
      );
    }
    const eligible = hosts.filter((h) => h.role === role && h.availability === HostAvailability.AVAILABLE);
    if (eligible.length === 0) throw new NoHostsMatchingRoleError(role, strategy);
    switch (strategy) {
      case 'random':
        return eligible[Math.floor(this.random() * eligible.length)];
      case 'highest_weight':
        return eligible.reduce((best, h) => (h.weight > best.weight ? h : best));
      case 'weighted_random':
        return this.weightedRandom(eligible, options);
      case 'round_robin':
        return this.roundRobinSelect(eligible, options);
    }
  }

  /**
   * least_connections: among the AVAILABLE hosts of `role`, one with the fewest connections in use
   * according to `inUse` (the internal pools' checked-out count); ties go to the first in host-name order. Only
   * offered by plugins that own such counts (read/write splitting with internal pools), not by `select`.
   */
  selectLeastConnections(hosts: readonly HostInfo[], role: HostRole, inUse: (host: HostInfo) => number): HostInfo {
    const eligible = hosts.filter((h) => h.role === role && h.availability === HostAvailability.AVAILABLE);
    if (eligible.length === 0) throw new NoHostsMatchingRoleError(role, 'least_connections');
    let best = eligible[0];
    let bestCount = inUse(best);
    for (let i = 1; i < eligible.length; i++) {
      const h = eligible[i];
      const n = inUse(h);
      if (n < bestCount || (n === bestCount && (h.host < best.host || (h.host === best.host && h.port < best.port)))) {
        best = h;
        bestCount = n;
      }
    }
    return best;
  }

  /**
   * fastest_response: among the AVAILABLE hosts of `role`, the one with the lowest measured
   * response time (`responseMs` undefined = not measured yet); a random host when none has a measurement. Offered
   * by the fastest_response_strategy plugin, which owns the measurements.
   */
  selectFastestResponse(
    hosts: readonly HostInfo[],
    role: HostRole,
    responseMs: (host: HostInfo) => number | undefined,
  ): HostInfo {
    const eligible = hosts.filter((h) => h.role === role && h.availability === HostAvailability.AVAILABLE);
    if (eligible.length === 0) throw new NoHostsMatchingRoleError(role, 'fastest_response');
    let best: HostInfo | undefined;
    let bestMs = Infinity;
    for (const h of eligible) {
      const ms = responseMs(h);
      if (ms !== undefined && ms < bestMs) {
        best = h;
        bestMs = ms;
      }
    }
    return best ?? eligible[Math.floor(this.random() * eligible.length)];
  }

  /** Forgets round-robin positions (services closed). */
  clear(): void {
    this.roundRobin.clear();
  }

  private weightedRandom(eligible: readonly HostInfo[], options: HostSelectorOptions): HostInfo {
    const dflt = parseDefaultWeight(options.weightedRandomDefaultWeight, 'weightedRandomDefaultWeight');
    const pairs = parseHostWeightPairs(options.weightedRandomHostWeightPairs, 'weightedRandomHostWeightPairs');
    let total = 0;
    const cumulative = eligible.map((h) => (total += pairs.get(h.host) ?? dflt));
    const point = this.random() * total;
    const i = cumulative.findIndex((c) => point < c);
    return eligible[i < 0 ? eligible.length - 1 : i];
  }

  private roundRobinSelect(eligible: readonly HostInfo[], options: HostSelectorOptions): HostInfo {
    const dflt = parseDefaultWeight(options.roundRobinDefaultWeight, 'roundRobinDefaultWeight');
    const pairs = parseHostWeightPairs(options.roundRobinHostWeightPairs, 'roundRobinHostWeightPairs');
    const sorted = [...eligible].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
    let state: RoundRobinState | undefined;
    for (const h of sorted) if ((state = this.roundRobin.get(h.host)) !== undefined) break;
    if (state === undefined) state = { lastHost: undefined, counter: 0 };
    for (const h of sorted) this.roundRobin.set(h.host, state);

    const lastIndex = state.lastHost === undefined ? -1 : sorted.findIndex((h) => h.host === state.lastHost);
    let chosen: HostInfo;
    if (state.counter > 0 && lastIndex >= 0) {
      chosen = sorted[lastIndex]!;
    } else {
      chosen = sorted[(lastIndex + 1) % sorted.length]!;
      state.counter = pairs.get(chosen.host) ?? dflt;
    }
    state.counter--;
    state.lastHost = chosen.host;
    return chosen;
  }
}

/** The built-in selectors of `services` (round-robin positions start over after the services close). */
export function hostSelectors(services: WrapperServices): HostSelectors {
  return services.shared('host-selectors', () => new HostSelectors());
}
