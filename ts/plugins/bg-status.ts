/**
 * The Blue/Green status of one deployment (one `bgId`), shared by every client of it: two native status monitors
 * (blue = SOURCE, green = TARGET) report what the database's status source says; this merges their views into
 * the deployment's phase, the role of every endpoint, the blue → green correspondence, the addresses seen before
 * the switchover, and answers "what should a connect / a call to this host do now" for the bg plugin.
 *
 * Changes wake the clients waiting on a switchover at once (`waitUntil`): nothing polls on the JavaScript side.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { NativeParams } from '../native/binding.js';
import {
  BlueGreenStatusMonitor,
  PHASE_ORDER,
  type BlueGreenMonitorConfig,
  type BlueGreenMonitorEvent,
  type BlueGreenParamsRequest,
  type BlueGreenPhase,
  type BlueGreenRole,
} from './bg-monitor.js';
import { getLogger } from '../logger.js';
import { onNativeRelease } from '../native/index.js';
import { publishBlueGreenPhase } from '../telemetry/channels.js';

const log = getLogger('bg');

const ROW_ROLE: Readonly<Record<string, BlueGreenRole>> = {
  BLUE_GREEN_DEPLOYMENT_SOURCE: 'SOURCE',
  BLUE_GREEN_DEPLOYMENT_TARGET: 'TARGET',
};

/** Sent to the status function: the server records which clients take part in the switchover. */
const CLIENT_ID = 'aws_advanced_ts_wrapper-0.1.0';

/** The status source of each dialect that has one. */
export function blueGreenStatusQuery(dialectCode: string): string | undefined {
  switch (dialectCode) {
    case 'aurora-pg':
      return `SELECT version, endpoint, port, role, status FROM pg_catalog.get_blue_green_fast_switchover_metadata('${CLIENT_ID}')`;
    case 'rds-pg':
      return `SELECT version, endpoint, port, role, status FROM rds_tools.show_topology('${CLIENT_ID}')`;
    case 'aurora-mysql':
    case 'rds-mysql':
      return 'SELECT version, endpoint, port, role, status FROM mysql.rds_topology';
    default:
      return undefined;
  }
}

export function phaseOrdinal(p: BlueGreenPhase): number {
  return PHASE_ORDER.indexOf(p);
}

/** An address to connect to instead of a host name. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

export type ConnectRouting =
  | { readonly kind: 'none' }
  /** Connect to `address`; the name(s) to sign IAM tokens / verify TLS for, in order of preference. */
  | { readonly kind: 'substitute'; readonly address: Address; readonly names: readonly string[] }
  | { readonly kind: 'suspend'; readonly why: string }
  | { readonly kind: 'reject'; readonly why: string };

export interface BlueGreenStatusOptions {
  readonly bgId: string;
  readonly kind: 'postgres' | 'mysql';
  readonly statusQuery: string;
  /** Where both monitors connect first (the first client's host). */
  readonly host: string;
  readonly port: number;
  readonly baselineMs: number;
  readonly increasedMs: number;
  readonly highMs: number;
  readonly connectTimeoutMs: number;
  readonly switchoverTimeoutMs: number;
  /** Connection parameters of a monitor connection (credentials through the auth plugins, hostAddressMap, TLS). */
  readonly params: (req: BlueGreenParamsRequest) => Promise<NativeParams>;
  /** Where hostAddressMap sends `host:port`, when it does (the lookalike's and tests' stand-in for DNS). */
  readonly mappedAddress: (host: string, port: number) => Address | undefined;
}

/** What the provider knows, as the 'change' event and `snapshot()` give it. */
export interface BlueGreenSnapshot {
  readonly bgId: string;
  readonly phase: BlueGreenPhase;
  readonly rollback: boolean;
  /** The switchover timer expired and forced the phase. */
  readonly timedOut: boolean;
  readonly blueDnsUpdated: boolean;
  readonly greenDnsRemoved: boolean;
  /** Endpoint → role. */
  readonly roles: ReadonlyMap<string, BlueGreenRole>;
  /** Blue endpoint → green endpoint. */
  readonly corresponding: ReadonlyMap<string, string>;
}

/** Endpoint kind, for matching blue and green endpoints of the same kind. */
function endpointKind(host: string): string {
  if (/\.cluster-ro-/.test(host)) return 'cluster-ro';
  if (/\.cluster-custom-/.test(host)) return 'cluster-custom';
  if (/\.cluster-/.test(host)) return 'cluster';
  return 'instance';
}

/** The first DNS label without a green suffix (`db-green-abc123` → `db`). */
function baseName(host: string): string {
  return host.split('.')[0].replace(/-green-[a-z0-9]{6}$/, '');
}

/** Blue endpoint → green endpoint: same kind and name minus `-green-xxxxxx`, else sorted round-robin by kind. */
export function correspondingHosts(blue: readonly string[], green: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const greenByKind = new Map<string, string[]>();
  for (const g of [...green].sort()) {
    const k = endpointKind(g);
    greenByKind.set(k, [...(greenByKind.get(k) ?? []), g]);
  }
  const greenWriter = greenByKind.get('cluster')?.[0];
  const unmatched = new Map<string, string[]>();
  for (const b of [...blue].sort()) {
    const k = endpointKind(b);
    const same = greenByKind.get(k) ?? [];
    const byName = same.find((g) => baseName(g) === baseName(b));
    if (byName !== undefined) out.set(b, byName);
    else unmatched.set(k, [...(unmatched.get(k) ?? []), b]);
  }
  for (const [k, hosts] of unmatched) {
    const candidates = (greenByKind.get(k) ?? []).filter((g) => ![...out.values()].includes(g));
    const pool = candidates.length > 0 ? candidates : (greenByKind.get(k) ?? []);
    hosts.forEach((b, i) => {
      const g =
        pool.length > 0 ? pool[i % pool.length] : k === 'instance' || k === 'cluster-ro' ? greenWriter : undefined;
      if (g !== undefined) out.set(b, g);
    });
  }
  return out;
}

export class BlueGreenStatusProvider extends EventEmitter {
  private phase: BlueGreenPhase = 'NOT_CREATED';
  private rollback = false;
  private timedOut = false;
  private readonly latest = new Map<BlueGreenRole, BlueGreenMonitorEvent>();
  private readonly roles = new Map<string, BlueGreenRole>();
  private readonly ports = new Map<string, number>();
  /** Addresses seen before the switchover started; frozen from IN_PROGRESS until the deployment settles. */
  private readonly startAddresses = new Map<string, Address>();
  private corresponding = new Map<string, string>();
  private rolesFrozen = false;
  /** Switchovers that reached POST (green promoted): connections opened before the last one are on old blue. */
  private promotions = 0;
  private blueDnsUpdated = false;
  private greenDnsRemoved = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();
  /** The green status monitor failed to connect or read since its last read from green. */
  private greenDown = false;
  /** Times the green status monitor read from green again after failing (see greenAcceptSignals). */
  private greenUp = 0;
  private readonly monitors: BlueGreenStatusMonitor[];
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(readonly options: BlueGreenStatusOptions) {
    super();
    const base: Omit<BlueGreenMonitorConfig, 'role'> = {
      kind: options.kind,
      statusQuery: options.statusQuery,
      host: options.host,
      port: options.port,
      baselineMs: options.baselineMs,
      increasedMs: options.increasedMs,
      highMs: options.highMs,
      connectTimeoutMs: Math.min(options.connectTimeoutMs, 30_000),
      queryTimeoutMs: Math.min(options.connectTimeoutMs, 30_000),
    };
    this.monitors = (['SOURCE', 'TARGET'] as const).map(
      (role) => new BlueGreenStatusMonitor({ ...base, role }, options.params, (ev) => this.onMonitorEvent(role, ev)),
    );
    // Calls held for a switchover wait on the monitors: releaseResources() must not leave them without any.
    this.unsubscribe = onNativeRelease(() => {
      if (this.waiters.size > 0) this.ensureRunning();
    });
  }

  /** Starts the monitors, or starts them again after releaseResources() stopped the addon. */
  ensureRunning(): void {
    if (this.closed) return;
    for (const m of this.monitors) m.ensureRunning();
  }

  get currentPhase(): BlueGreenPhase {
    return this.phase;
  }

  /** How many switchovers promoted green so far (a connection opened before the latest one is on old blue). */
  get promotionCount(): number {
    return this.promotions;
  }

  snapshot(): BlueGreenSnapshot {
    return {
      bgId: this.options.bgId,
      phase: this.phase,
      rollback: this.rollback,
      timedOut: this.timedOut,
      blueDnsUpdated: this.blueDnsUpdated,
      greenDnsRemoved: this.greenDnsRemoved,
      roles: new Map(this.roles),
      corresponding: new Map(this.corresponding),
    };
  }

  private onMonitorEvent(role: BlueGreenRole, ev: BlueGreenMonitorEvent): void {
    if (this.closed) return;
    if (ev.kind === 'error') {
      if (role === 'TARGET') this.greenDown = true;
      log.debug(
        'bg %s: %s status monitor: %s:%d: %s',
        this.options.bgId,
        role,
        ev.host,
        ev.port,
        ev.message ?? ev.errorClass,
      );
      return;
    }
    log.debug(
      'bg %s: %s monitor: %s (seq %d, read %d ms ago)',
      this.options.bgId,
      role,
      ev.phase,
      ev.seq,
      Date.now() - ev.at,
    );
    this.latest.set(role, ev);
    this.recompute();
    if (role === 'TARGET' && this.greenDown && this.isGreen(ev.host, ev.port)) {
      // The monitor reports its first read after errors even when nothing changed: green accepts again.
      this.greenDown = false;
      this.greenUp++;
      log.debug('bg %s: green accepts connections again (%s:%d)', this.options.bgId, ev.host, ev.port);
      this.wake();
    }
  }

  /**
   * Whether `host:port` leads to green: a green endpoint, or a name whose address is one of green's (after the
   * renames the monitor may read through a blue name that now leads to green).
   */
  private isGreen(host: string, port: number): boolean {
    if (this.roleOf(host) === 'TARGET') return true;
    const a = this.currentAddress(host.toLowerCase(), port);
    if (a === undefined) return false;
    for (const [name, role] of this.roles) {
      const g = role === 'TARGET' ? this.startAddresses.get(name) : undefined;
      if (g !== undefined && g.host === a.host && g.port === a.port) return true;
    }
    return false;
  }

  /**
   * One signal for the whole deployment that green accepts connections: counts the green status monitor's reads
   * from green that followed connection errors (RDS refuses connections while it renames). Held clients reopen
   * their prepared green connection on it instead of each retrying on its own timer.
   */
  get greenAcceptSignals(): number {
    return this.greenUp;
  }

  /** The green status monitor cannot reach green right now (its last attempt failed). */
  get greenRefusing(): boolean {
    return this.greenDown;
  }

  /** The address `host:port` leads to now: hostAddressMap, else DNS as the monitors last resolved it. */
  private currentAddress(host: string, port: number): Address | undefined {
    const mapped = this.options.mappedAddress(host, port);
    if (mapped !== undefined) return mapped;
    for (const ev of this.latest.values()) {
      const a = ev.addresses.find((x) => x.host === host);
      if (a !== undefined && a.ips.length > 0) return { host: a.ips[0], port };
    }
    return undefined;
  }

  private recompute(): void {
    const before = this.phase;
    const beforeKey = this.stateKey();
    // Roles and ports of every endpoint either monitor reported.
    for (const ev of this.latest.values()) {
      for (const r of ev.rows) {
        const role = ROW_ROLE[r.role];
        if (role === undefined) continue;
        if (r.version !== '1.0' && r.version !== '')
          log.debug('bg %s: status version %s read as 1.0', this.options.bgId, r.version);
        // Once the switchover is under way the names move (blue names show up as TARGET, old blue ones as
        // `-old1`): the roles seen before it stay authoritative until the deployment settles.
        if (!this.rolesFrozen || !this.roles.has(r.endpoint)) this.roles.set(r.endpoint, role);
        if (!this.ports.has(r.endpoint) || !this.rolesFrozen) this.ports.set(r.endpoint, r.port);
      }
    }
    let next: BlueGreenPhase = 'NOT_CREATED';
    for (const ev of this.latest.values()) if (phaseOrdinal(ev.phase) > phaseOrdinal(next)) next = ev.phase;
    const ord = phaseOrdinal(next);
    const cur = phaseOrdinal(this.phase);
    if (this.timedOut) {
      // The timer ended a switchover the status source still shows; wait for it to settle.
      if (ord >= phaseOrdinal('PREPARATION') && ord <= phaseOrdinal('POST')) next = this.phase;
      else this.timedOut = false;
    } else if (ord < cur && cur >= phaseOrdinal('PREPARATION') && cur <= phaseOrdinal('POST')) {
      this.rollback = true;
      log.info('bg %s: switchover rolled back (%s → %s)', this.options.bgId, this.phase, next);
    } else if (ord <= phaseOrdinal('CREATED') && cur === phaseOrdinal('COMPLETED')) {
      // A settled deployment is gone (or a new one was created): start over.
      this.rollback = false;
    }
    if (
      phaseOrdinal(next) >= phaseOrdinal('PREPARATION') &&
      phaseOrdinal(next) <= phaseOrdinal('POST') &&
      this.rollback &&
      ord > cur
    ) {
      // A new switchover after a rollback.
      this.rollback = false;
    }
    if (
      phaseOrdinal(next) >= phaseOrdinal('POST') &&
      phaseOrdinal(this.phase) < phaseOrdinal('POST') &&
      !this.rollback &&
      !this.timedOut
    )
      this.promotions++;
    this.phase = next;
    this.rolesFrozen =
      phaseOrdinal(this.phase) >= phaseOrdinal('PREPARATION') &&
      !(this.phase === 'COMPLETED' && this.blueDnsUpdated && this.greenDnsRemoved);
    const frozen =
      phaseOrdinal(this.phase) >= phaseOrdinal('IN_PROGRESS') &&
      !(this.phase === 'COMPLETED' && this.blueDnsUpdated && this.greenDnsRemoved);
    if (!frozen || this.startAddresses.size === 0) {
      for (const [host, port] of this.ports) {
        const a = this.currentAddress(host, port);
        if (a !== undefined) this.startAddresses.set(host, a);
      }
    }
    const blue = [...this.roles].filter(([, r]) => r === 'SOURCE').map(([h]) => h);
    const green = [...this.roles].filter(([, r]) => r === 'TARGET').map(([h]) => h);
    this.corresponding = correspondingHosts(blue, green);
    if (phaseOrdinal(this.phase) >= phaseOrdinal('IN_PROGRESS')) {
      const changed = (h: string): boolean => {
        const now = this.currentAddress(h, this.ports.get(h) ?? this.options.port);
        const then = this.startAddresses.get(h);
        return now !== undefined && then !== undefined && (now.host !== then.host || now.port !== then.port);
      };
      const blueWriter = blue.find((h) => endpointKind(h) === 'cluster') ?? blue[0];
      this.blueDnsUpdated ||= blueWriter !== undefined && changed(blueWriter);
      this.greenDnsRemoved ||=
        green.length > 0 &&
        green.every((h) => this.currentAddress(h, this.ports.get(h) ?? this.options.port) === undefined);
    } else {
      this.blueDnsUpdated = false;
      this.greenDnsRemoved = false;
    }
    this.armTimer(before);
    if (this.phase !== before) {
      log.info('bg %s: phase %s → %s', this.options.bgId, before, this.phase);
      for (const m of this.monitors) m.setPhase(this.phase);
      publishBlueGreenPhase(this.options.bgId, before, this.phase, {
        rollback: this.rollback,
        timedOut: this.timedOut,
      });
    }
    if (this.stateKey() !== beforeKey) this.changed();
  }

  private stateKey(): string {
    return [
      this.phase,
      this.rollback,
      this.timedOut,
      this.blueDnsUpdated,
      this.greenDnsRemoved,
      this.roles.size,
      this.corresponding.size,
    ].join('|');
  }

  /** The switchover timer runs from PREPARATION until the switchover completes or rolls back. */
  private armTimer(before: BlueGreenPhase): void {
    const active =
      phaseOrdinal(this.phase) >= phaseOrdinal('PREPARATION') && phaseOrdinal(this.phase) <= phaseOrdinal('POST');
    if (active && this.timer === undefined && phaseOrdinal(before) < phaseOrdinal(this.phase)) {
      this.timer = setTimeout(() => this.switchoverTimedOut(), this.options.switchoverTimeoutMs);
      this.timer.unref();
    } else if (!active && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private switchoverTimedOut(): void {
    this.timer = undefined;
    if (this.closed) return;
    const to: BlueGreenPhase = this.rollback ? 'CREATED' : 'COMPLETED';
    log.warn(
      'bg %s: switchover still in phase %s after bgSwitchoverTimeoutMs (%d ms); taken as %s',
      this.options.bgId,
      this.phase,
      this.options.switchoverTimeoutMs,
      to,
    );
    this.timedOut = true;
    const before = this.phase;
    this.phase = to;
    for (const m of this.monitors) m.setPhase(to);
    if (to !== before)
      publishBlueGreenPhase(this.options.bgId, before, to, { rollback: this.rollback, timedOut: true });
    this.changed();
  }

  private changed(): void {
    this.wake();
    this.emit('change', this.snapshot());
  }

  private wake(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Role of a host name, or of an address seen for a deployment endpoint. */
  roleOf(host: string): BlueGreenRole | undefined {
    const h = host.toLowerCase();
    const byName = this.roles.get(h);
    if (byName !== undefined || isIP(h) === 0) return byName;
    for (const [name, a] of this.startAddresses) if (a.host === h) return this.roles.get(name);
    return undefined;
  }

  /**
   * What a new connection to `host:port` should do in the current phase; `suspendNewBlue`: hold blue connections
   * during IN_PROGRESS too (bgSuspendNewBlueConnections).
   */
  connectRouting(host: string, port: number, suspendNewBlue = false): ConnectRouting {
    const h = host.toLowerCase();
    const role = this.roleOf(h);
    if (role === undefined) return { kind: 'none' };
    const ip = isIP(h) !== 0;
    switch (this.phase) {
      case 'NOT_CREATED':
      case 'CREATED':
        return { kind: 'none' };
      case 'PREPARATION':
        return role === 'SOURCE' ? this.substitute(h, h, port) : { kind: 'none' };
      case 'IN_PROGRESS':
        if (role === 'TARGET' || ip || suspendNewBlue) return { kind: 'suspend', why: 'the switchover is in progress' };
        return this.substitute(h, h, port);
      case 'POST':
      case 'COMPLETED': {
        if (this.timedOut && this.rollback) return { kind: 'none' };
        if (role === 'TARGET') {
          return this.greenDnsRemoved
            ? { kind: 'none' }
            : { kind: 'reject', why: `${h} is a green host name of a Blue/Green deployment after its switchover` };
        }
        if (this.blueDnsUpdated && this.greenDnsRemoved) return { kind: 'none' };
        if (ip) return { kind: 'none' };
        const green = this.corresponding.get(h);
        if (green === undefined) {
          return this.phase === 'COMPLETED'
            ? { kind: 'none' }
            : { kind: 'suspend', why: `no green host corresponds to ${h} yet` };
        }
        return this.substitute(green, h, port, [green, h]);
      }
    }
  }

  /**
   * Where a new connection to blue host `host` goes once green is promoted (the POST routing), asked while the
   * switchover is still in progress: undefined for other hosts, or when no green address is known.
   */
  greenRouting(host: string, port: number): Extract<ConnectRouting, { kind: 'substitute' }> | undefined {
    const h = host.toLowerCase();
    if (this.roleOf(h) !== 'SOURCE' || isIP(h) !== 0) return undefined;
    const green = this.corresponding.get(h);
    if (green === undefined) return undefined;
    const r = this.substitute(green, h, port, [green, h]);
    return r.kind === 'substitute' ? r : undefined;
  }

  private substitute(endpoint: string, name: string, port: number, names: readonly string[] = [name]): ConnectRouting {
    const a = this.startAddresses.get(endpoint) ?? this.currentAddress(endpoint, this.ports.get(endpoint) ?? port);
    if (a === undefined) return { kind: 'none' };
    return { kind: 'substitute', address: a, names };
  }

  /**
   * Blue refused a write as read-only while this provider still sees no switchover: it may have started since the
   * last status read (slow in CREATED). Has the monitors read the status now, and resolves whether a switchover
   * started (or already promoted green), waiting at most two high-rate polls for their answer.
   */
  async switchoverStarted(signal?: AbortSignal): Promise<boolean> {
    if (this.switchoverUnderway) return true;
    if (this.phase !== 'CREATED' || this.closed) return false;
    for (const m of this.monitors) m.setPhase('PREPARATION');
    try {
      const seen = await this.waitUntil(() => this.phase !== 'CREATED', 2 * this.options.highMs, signal);
      return seen && phaseOrdinal(this.phase) >= phaseOrdinal('PREPARATION');
    } finally {
      if (!this.closed) for (const m of this.monitors) m.setPhase(this.phase);
    }
  }

  /** Between the start of a switchover and green's promotion (PREPARATION, IN_PROGRESS). */
  get switchoverUnderway(): boolean {
    return this.phase === 'PREPARATION' || this.phase === 'IN_PROGRESS';
  }

  /** Calls on connections of this deployment are held while the switchover is in progress. */
  get suspendsCalls(): boolean {
    return this.phase === 'IN_PROGRESS';
  }

  /**
   * Resolves true once `done()` holds (checked again on every change), false after `timeoutMs` or when `signal`
   * aborts. Woken by changes, never polled.
   */
  waitUntil(done: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal?.removeEventListener('abort', aborted);
        resolve(ok);
      };
      const check = (): void => {
        if (this.closed || done()) finish(true);
      };
      const aborted = (): void => finish(false);
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.waiters.add(check);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const m of this.monitors) m.stop();
    for (const wake of [...this.waiters]) wake();
    this.removeAllListeners();
  }
}
