/**
 * Aurora Limitless transaction routers: the native router monitor (crates/monitor-core/src/limitless.rs) seen from
 * TypeScript, the routers' load-based weights, and the weighted choice of a router.
 *
 * One monitor per shard group endpoint (and polling settings) in a WrapperServices, kept in a `services.shared`
 * slot, so every client of the shard group shares it; it stops when the services close. It keeps one connection
 * to the shard group endpoint off the JS thread and runs the router query every `limitlessMonitorIntervalMs`;
 * connection parameters are asked here each time (the clients' `limitless-router-monitor-` overrides over 5 s
 * connect / query bounds, the hostAddressMap, TLS, credentials through resolveMonitorCredentials: IAM tokens and
 * secrets work).
 */
import { EventEmitter } from 'node:events';
import { resolveMonitorCredentials } from '../auth/monitor-credentials.js';
import { AURORA_PG_LIMITLESS_ROUTER_QUERY } from '../dialects/database/pg.js';
import { AwsWrapperError } from '../errors.js';
import { HostInfo, HostRole } from '../host-info.js';
import { getLogger } from '../logger.js';
import type {
  NativeParams,
  NativeRouterEvent,
  NativeRouterMonitorConfig,
  NativeMonitorParamsRequest,
} from '../native/binding.js';
import { isNativeAvailable, nativeBinding, nativeGeneration, type NativeBinding } from '../native/index.js';
import { monitorTlsParams } from '../host-list-providers/topology-monitor.js';
import { mapHostAddress, monitoringConnectProps } from '../options.js';
import type { ConnectProps } from '../plugin.js';
import type { MonitorErrorEvent, WrapperServices } from '../services.js';

const log = getLogger('limitless');

/** Defaults of router monitor connections (like the topology monitor's). */
export const ROUTER_MONITORING_DEFAULTS = { connectTimeout: 5000, socketTimeout: 5000 } as const;

/** The addon when it is loaded (its router monitor functions are checked by the loader). */
function routerBinding(): NativeBinding | undefined {
  return isNativeAvailable() ? nativeBinding() : undefined;
}

/** Router monitors running natively in this process (0 when the addon is not loaded). */
export function nativeRouterMonitorCount(): number {
  try {
    return routerBinding()?.routerMonitorCount() ?? 0;
  } catch {
    return 0;
  }
}

// ---- weights and choice --------------------------------------------------------------------------------------------

/** A router's weight from its load (0 idle … 1 saturated): 10 − ⌊load × 10⌋, 1 when that falls outside 1..10. */
export function routerWeight(load: number): number {
  const w = 10 - Math.floor(load * 10);
  return Number.isFinite(w) && w >= 1 && w <= 10 ? w : 1;
}

/** Router rows (router_endpoint, load) → hosts on `port`, weight from the load; unusable rows are skipped. */
export function parseRouterRows(rows: readonly (readonly unknown[])[], port: number): HostInfo[] {
  const out: HostInfo[] = [];
  for (const row of rows) {
    const endpoint = row[0];
    if (typeof endpoint !== 'string' || endpoint.trim() === '') continue;
    const load = Number(row[1]);
    out.push(
      new HostInfo({
        host: endpoint.trim(),
        port,
        role: HostRole.WRITER,
        weight: routerWeight(Number.isFinite(load) ? load : 1),
        hostId: endpoint.trim(),
      }),
    );
  }
  return out;
}

/** Picks a router with probability proportional to its weight; `random` returns [0, 1). */
export function pickWeightedRouter(
  routers: readonly HostInfo[],
  random: () => number = Math.random,
): HostInfo | undefined {
  let total = 0;
  for (const r of routers) total += Math.max(1, r.weight);
  if (total === 0) return undefined;
  let x = random() * total;
  for (const r of routers) {
    x -= Math.max(1, r.weight);
    if (x < 0) return r;
  }
  return routers[routers.length - 1];
}

/** The router with the highest weight (the first of equals). */
export function pickHighestWeightRouter(routers: readonly HostInfo[]): HostInfo | undefined {
  let best: HostInfo | undefined;
  for (const r of routers) if (best === undefined || r.weight > best.weight) best = r;
  return best;
}

// ---- the shared monitor --------------------------------------------------------------------------------------------

/** What a router monitor polls, and how. */
export interface RouterMonitorSettings {
  /** The shard group endpoint (as the client was given it). */
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  /** A router list older than this is not used (limitlessMonitorDisposalTimeMs). */
  readonly maxAgeMs: number;
}

/** The outcome of the monitor's last poll. */
export type RouterPoll =
  | { readonly ok: true; readonly routers: readonly HostInfo[]; readonly at: number }
  | { readonly ok: false; readonly errorClass: string; readonly message: string; readonly at: number };

/** Routers that refused or timed out a connection are skipped for a while, doubling up to this many intervals. */
const MAX_BACKOFF_INTERVALS = 8;

/**
 * The router monitor of one shard group. Events: 'poll' (RouterPoll) after each poll, 'monitorError'
 * (MonitorErrorEvent) when its login is refused (also emitted on the services).
 */
export class LimitlessRouterMonitor extends EventEmitter {
  private nativeId: number | undefined;
  private generation = -1;
  private epoch = 0;
  private closed = false;
  private latest: { routers: readonly HostInfo[]; at: number } | undefined;
  private lastFailure: RouterPoll | undefined;
  private warnedLogin = false;
  /** Router host:port → when it may be tried again, and how many failures in a row. */
  private readonly down = new Map<string, { until: number; failures: number }>();

  constructor(
    private readonly services: WrapperServices,
    private readonly binding: NativeBinding,
    readonly settings: RouterMonitorSettings,
    /** Connect props of the client the monitor was created for, `limitless-router-monitor-` overrides applied. */
    private readonly monitoring: ConnectProps,
  ) {
    super();
    this.setMaxListeners(0);
    this.start();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bound of each monitor connect (parameters, TCP, TLS, authentication). */
  get connectTimeoutMs(): number {
    return positiveMs(this.monitoring.options.connectTimeout, ROUTER_MONITORING_DEFAULTS.connectTimeout);
  }

  /** Bound of each router query. */
  get queryTimeoutMs(): number {
    return positiveMs(this.monitoring.options.socketTimeout, ROUTER_MONITORING_DEFAULTS.socketTimeout);
  }

  /** The native monitor's id (changes when it is restarted after releaseResources). */
  get monitorId(): number | undefined {
    return this.nativeId;
  }

  private start(): void {
    const config: NativeRouterMonitorConfig = {
      kind: 'postgres',
      host: this.settings.host,
      port: this.settings.port,
      routerQuery: AURORA_PG_LIMITLESS_ROUTER_QUERY,
      intervalMs: this.settings.intervalMs,
      connectTimeoutMs: this.connectTimeoutMs,
      queryTimeoutMs: this.queryTimeoutMs,
    };
    const epoch = ++this.epoch;
    this.nativeId = this.binding.startRouterMonitor(
      config,
      (req) => this.params(req),
      (ev) => {
        if (epoch !== this.epoch || this.closed) return;
        this.onEvent(ev);
      },
    );
    this.generation = nativeGeneration();
    log.debug('shard group %s:%d: router monitor %d started', this.settings.host, this.settings.port, this.nativeId);
  }

  /** Restarts the native monitor when releaseResources() ended it. */
  private ensureRunning(): number {
    if (this.closed) throw new AwsWrapperError(`The router monitor of shard group ${this.settings.host} is closed`);
    if (this.nativeId === undefined || this.generation !== nativeGeneration()) this.start();
    return this.nativeId!;
  }

  private async params(req: NativeMonitorParamsRequest): Promise<NativeParams> {
    if (req.refresh) this.loginRefused(req.host, req.port);
    const props = this.monitoring;
    const to = mapHostAddress(props.options.hostAddressMap, req.host, req.port);
    const creds = await resolveMonitorCredentials({
      services: this.services,
      props,
      driver: 'pg',
      host: req.host,
      port: req.port,
      defaultPort: 5432,
      refresh: req.refresh,
    });
    const out: NativeParams = { host: to.host, port: to.port, ...monitorTlsParams(props.driver, req.host, to.host) };
    if (creds.user !== undefined) out.user = creds.user;
    if (creds.password !== undefined) out.password = creds.password;
    if (typeof props.driver.database === 'string' && props.driver.database !== '') out.database = props.driver.database;
    return out;
  }

  private loginRefused(host: string, port: number): void {
    const message =
      `the Limitless router monitor of ${this.settings.host} cannot log in to ${host}:${port}: the server refused its credentials ` +
      "(limitless-router-monitor-user / limitless-router-monitor-password, else the client's own); router changes are not seen";
    if (this.warnedLogin) return;
    this.warnedLogin = true;
    log.warn('%s', message);
    const event: MonitorErrorEvent = {
      monitor: 'limitless',
      reason: 'auth',
      host,
      port,
      clusterId: this.settings.host,
      message,
      at: Date.now(),
    };
    this.emit('monitorError', event);
    this.services.emit('monitorError', event);
  }

  private onEvent(ev: NativeRouterEvent): void {
    let poll: RouterPoll;
    if (ev.ok) {
      const routers = parseRouterRows(ev.rows ?? [], this.settings.port);
      this.latest = { routers, at: ev.at };
      this.lastFailure = undefined;
      this.warnedLogin = false;
      poll = { ok: true, routers, at: ev.at };
      log.debug(
        'shard group %s: %d router(s): %s',
        this.settings.host,
        routers.length,
        routers.map((r) => `${r.host}(w${r.weight})`).join(', '),
      );
    } else {
      poll = { ok: false, errorClass: ev.errorClass ?? 'other', message: ev.message ?? 'unknown error', at: ev.at };
      this.lastFailure = poll;
      log.debug('shard group %s: router poll failed (%s): %s', this.settings.host, poll.errorClass, poll.message);
    }
    this.emit('poll', poll);
  }

  /** The last router list, unless it is older than the settings allow. */
  routers(now = Date.now()): readonly HostInfo[] | undefined {
    const l = this.latest;
    if (!l || now - l.at > this.settings.maxAgeMs) return undefined;
    return l.routers;
  }

  /** Why the last poll failed (undefined after a successful one). */
  get lastError(): string | undefined {
    return this.lastFailure && !this.lastFailure.ok
      ? `${this.lastFailure.message} (${this.lastFailure.errorClass})`
      : undefined;
  }

  /** Polls at once and resolves with that poll (or undefined when none arrived within `timeoutMs`). */
  pollNow(timeoutMs: number): Promise<RouterPoll | undefined> {
    const id = this.ensureRunning();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('poll', onPoll);
        resolve(undefined);
      }, timeoutMs);
      const onPoll = (p: RouterPoll): void => {
        clearTimeout(timer);
        resolve(p);
      };
      this.once('poll', onPoll);
      this.binding.wakeRouterMonitor(id);
    });
  }

  /** Whether `router` may be tried now (it has not failed recently). */
  isAvailable(router: HostInfo, now = Date.now()): boolean {
    const d = this.down.get(router.hostAndPort);
    return d === undefined || d.until <= now;
  }

  /** A connection to `router` failed: skip it for a while (every client of the shard group). */
  markUnavailable(router: HostInfo, now = Date.now()): void {
    const prev = this.down.get(router.hostAndPort);
    const failures = (prev?.failures ?? 0) + 1;
    const backoff = this.settings.intervalMs * Math.min(2 ** (failures - 1), MAX_BACKOFF_INTERVALS);
    this.down.set(router.hostAndPort, { until: now + backoff, failures });
  }

  markAvailable(router: HostInfo): void {
    this.down.delete(router.hostAndPort);
  }

  /** Stops the native monitor for good. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.epoch++;
    if (this.nativeId !== undefined && this.generation === nativeGeneration())
      this.binding.stopRouterMonitor(this.nativeId);
    this.removeAllListeners('poll');
    log.debug('shard group %s: router monitor %s stopped', this.settings.host, String(this.nativeId));
  }
}

function positiveMs(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.min(v, 86_400_000) : fallback;
}

/**
 * The router monitor of a shard group in `services`, started on first use and stopped when the services close.
 * Undefined when the addon (or its router monitor) is not available.
 */
export function routerMonitorFor(
  services: WrapperServices,
  settings: RouterMonitorSettings,
  props: ConnectProps,
): LimitlessRouterMonitor | undefined {
  const binding = routerBinding();
  if (!binding) return undefined;
  const key = `limitless-routers:${settings.host.toLowerCase()}:${settings.port}:${settings.intervalMs}:${settings.maxAgeMs}`;
  const create = (): LimitlessRouterMonitor =>
    new LimitlessRouterMonitor(
      services,
      binding,
      settings,
      monitoringConnectProps('pg', props, 'limitless-router-monitor-', ROUTER_MONITORING_DEFAULTS),
    );
  return services.shared(key, create, (m) => m.stop());
}
