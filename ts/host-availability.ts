/**
 * Host availability shared by every client of one WrapperServices: failover, EFM and the connect pipeline mark
 * hosts (by any of their aliases) as up or down, and every client's host list reflects it. With the default
 * (pass-through) strategy a down report lasts AVAILABILITY_ENTRY_TTL_MS so a host reported down once is not shunned
 * forever; with `exponential_backoff` a down host is offered again after 2^failures × initialBackoff, until
 * maxRetries consecutive failures make it stay down until reported up.
 */
import { ConfigurationError } from './errors.js';
import { HostAvailability } from './host-info.js';
import type { WrapperServices } from './services.js';

/** How long a reported availability is remembered (JDBC's availability cache expiry). */
export const AVAILABILITY_ENTRY_TTL_MS = 5 * 60_000;

interface AvailabilityEntry {
  availability: HostAvailability;
  /** Consecutive UNAVAILABLE reports since the last AVAILABLE one. */
  failures: number;
  changedAt: number;
}

export interface AvailabilityStrategy {
  /** `exponential_backoff`, or pass-through (a down host stays down until reported up or the entry expires). */
  readonly kind: 'pass-through' | 'exponential_backoff';
  readonly maxRetries: number;
  readonly initialBackoffMs: number;
}

export const PASS_THROUGH: AvailabilityStrategy = { kind: 'pass-through', maxRetries: 5, initialBackoffMs: 30_000 };

/**
 * Builds the strategy from the wrapper options (`defaultHostAvailabilityStrategy`, `hostAvailabilityStrategy*`;
 * the initial backoff in milliseconds, as parsed by the options table).
 */
export function availabilityStrategyFromOptions(options: Readonly<Record<string, unknown>>): AvailabilityStrategy {
  const raw = options['defaultHostAvailabilityStrategy'];
  const name = raw === undefined || raw === null ? '' : String(raw).trim().toLowerCase();
  if (name === '') return PASS_THROUGH;
  if (name !== 'exponential_backoff' && name !== 'exponentialbackoff') {
    throw new ConfigurationError(
      `defaultHostAvailabilityStrategy must be 'exponential_backoff' or empty; got '${String(raw)}'`,
      'defaultHostAvailabilityStrategy',
    );
  }
  const maxRetries = positiveInt(options, 'hostAvailabilityStrategyMaxRetries', 5);
  const initialBackoffMs = positiveInt(options, 'hostAvailabilityStrategyInitialBackoffTime', 30_000);
  return { kind: 'exponential_backoff', maxRetries, initialBackoffMs };
}

function positiveInt(options: Readonly<Record<string, unknown>>, key: string, dflt: number): number {
  const raw = options[key];
  if (raw === undefined || raw === null || raw === '') return dflt;
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigurationError(`${key} must be an integer ≥ 1; got '${String(raw)}'`, key);
  return n;
}

export class HostAvailabilityTracker {
  private readonly entries = new Map<string, AvailabilityEntry>();
  private version = 0;
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Increases on every change, so readers can cache derived host lists. */
  get changeCount(): number {
    return this.version;
  }

  set(aliases: Iterable<string>, availability: HostAvailability): void {
    const at = this.now();
    for (const alias of aliases) {
      const e = this.entries.get(alias);
      if (availability === HostAvailability.AVAILABLE) {
        if (e === undefined) continue; // nothing recorded: already available
        this.entries.delete(alias);
      } else if (e === undefined) {
        this.entries.set(alias, { availability, failures: 1, changedAt: at });
      } else {
        e.failures++;
        e.changedAt = at;
      }
      this.version++;
    }
  }

  /** Effective availability of a host known by `aliases` under `strategy`; any down alias makes it down. */
  get(aliases: Iterable<string>, strategy: AvailabilityStrategy = PASS_THROUGH): HostAvailability {
    if (this.entries.size === 0) return HostAvailability.AVAILABLE;
    const at = this.now();
    for (const alias of aliases) {
      const e = this.entries.get(alias);
      if (e === undefined) continue;
      const age = at - e.changedAt;
      if (strategy.kind === 'pass-through') {
        if (age <= AVAILABILITY_ENTRY_TTL_MS) return HostAvailability.UNAVAILABLE;
        continue;
      }
      if (e.failures >= strategy.maxRetries) return HostAvailability.UNAVAILABLE;
      const retryAfter = 2 ** e.failures * strategy.initialBackoffMs;
      if (age < retryAfter) return HostAvailability.UNAVAILABLE;
    }
    return HostAvailability.AVAILABLE;
  }

  /** Number of recorded (not yet expired) down reports for diagnostics and tests. */
  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    if (this.entries.size > 0) this.version++;
    this.entries.clear();
  }
}

/** The availability tracker of `services` (client state: a fresh one after the services close). */
export function hostAvailability(services: WrapperServices): HostAvailabilityTracker {
  return services.shared('host-availability', () => new HostAvailabilityTracker());
}
