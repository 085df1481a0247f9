/**
 * `custom_endpoint`: for a custom cluster endpoint (`<name>.cluster-custom-<id>.<region>.rds.amazonaws.com`), keeps
 * the client's host choices (initial connection, failover, read/write splitting) inside the endpoint's members.
 * A monitor per endpoint asks the RDS API (DescribeDBClusterEndpoints, through @aws-sdk/client-rds) for the static
 * and excluded members every `customEndpointInfoRefreshRateMs` and hands every client using it the restriction
 * (PluginService.setAllowedAndBlockedHosts) as soon as it changes. Monitors are shared through the services by
 * endpoint and settings, and stop `customEndpointIdleMonitorExpirationMs` after their last client ended.
 */
import { AwsWrapperError, ConfigurationError } from '../errors.js';
import type { AllowedAndBlockedHosts, HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import {
  PIPELINE,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type PluginFactory,
  type PluginService,
} from '../plugin.js';
import { getRdsRegion, isCustomClusterDns } from '../rds-utils.js';
import type { WrapperServices } from '../services.js';
import { AWS_SDK_LOGGER, awsCredentialsProvider } from '../auth/aws-credentials.js';
import { ensurePluginPackages, loadRds, type RdsModule } from '../auth/sdk-loader.js';

const log = getLogger('custom-endpoint');
const CODE = 'custom_endpoint';

/** What the RDS API says about a custom endpoint. */
export interface CustomEndpointInfo {
  readonly endpointIdentifier: string;
  readonly clusterIdentifier: string;
  readonly endpoint: string;
  /** READER or ANY. */
  readonly customEndpointType: string;
  readonly staticMembers: readonly string[];
  readonly excludedMembers: readonly string[];
}

/** A connect waited `waitForCustomEndpointInfoTimeoutMs` and the endpoint's members were still unknown. */
export class CustomEndpointInfoTimeoutError extends AwsWrapperError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'WRAPPER_CUSTOM_ENDPOINT_INFO_TIMEOUT' });
  }
}

/** The host restriction an endpoint's members give: the static members, else everything but the excluded ones. */
export function allowedAndBlockedHostsOf(info: CustomEndpointInfo): AllowedAndBlockedHosts | undefined {
  if (info.staticMembers.length > 0) return { allowed: new Set(info.staticMembers) };
  if (info.excludedMembers.length > 0) return { blocked: new Set(info.excludedMembers) };
  return undefined;
}

function sameInfo(a: CustomEndpointInfo | undefined, b: CustomEndpointInfo): boolean {
  const same = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a !== undefined &&
    a.customEndpointType === b.customEndpointType &&
    same(a.staticMembers, b.staticMembers) &&
    same(a.excludedMembers, b.excludedMembers)
  );
}

interface MonitorSettings {
  readonly host: string;
  readonly endpointId: string;
  readonly region: string;
  readonly rdsEndpoint: string | undefined;
  readonly profile: string | undefined;
  readonly refreshMs: number;
  readonly idleMs: number;
}

type Listener = (filter: AllowedAndBlockedHosts | undefined) => void;

/** Polls DescribeDBClusterEndpoints for one endpoint on an unref'd timer; listeners hear every change. */
export class CustomEndpointMonitor {
  info: CustomEndpointInfo | undefined;
  filter: AllowedAndBlockedHosts | undefined;
  /** The last refresh's failure (cleared by a success). */
  lastError: Error | undefined;
  private readonly listeners = new Set<Listener>();
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private client: InstanceType<RdsModule['RDSClient']> | undefined;
  private sdk: RdsModule | undefined;
  private closed = false;
  private idleSince: number | undefined;

  constructor(
    readonly settings: MonitorSettings,
    private readonly services: WrapperServices,
    private readonly onIdle: () => void,
  ) {
    this.schedule(0);
  }

  /** Adds a client; returns its removal. The monitor stops when it has had no client for `idleMs`. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    this.idleSince = undefined;
    if (this.info !== undefined) listener(this.filter);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.idleSince = Date.now();
    };
  }

  /** Stopped (idle expiry or services closed): clients make a new one. */
  get stopped(): boolean {
    return this.closed;
  }

  /** Resolves true once the endpoint's members are known, false after `timeoutMs`. */
  waitForInfo(timeoutMs: number): Promise<boolean> {
    if (this.info !== undefined) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(onInfo);
        resolve(ok);
      };
      // Woken after every refresh: a failed one keeps the connect waiting (the next may succeed) until the timeout.
      const onInfo = () => {
        if (this.info !== undefined || this.closed) done(this.info !== undefined);
      };
      const timer = setTimeout(() => done(this.info !== undefined), timeoutMs);
      this.waiters.add(onInfo);
    });
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (
      this.listeners.size === 0 &&
      this.idleSince !== undefined &&
      Date.now() - this.idleSince >= this.settings.idleMs
    ) {
      log.debug(
        'Custom endpoint monitor of %s had no client for %d ms; stopping it',
        this.settings.host,
        this.settings.idleMs,
      );
      this.onIdle();
      return;
    }
    try {
      this.apply(await this.describe());
      this.lastError = undefined;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (this.lastError?.message !== e.message)
        log.warn('custom_endpoint: could not read custom endpoint %s: %s', this.settings.host, e.message);
      this.lastError = e;
    } finally {
      for (const w of [...this.waiters]) w();
    }
    this.schedule(this.settings.refreshMs);
  }

  private async describe(): Promise<CustomEndpointInfo> {
    const s = this.settings;
    if (this.client === undefined) {
      const sdk = (this.sdk = await loadRds(CODE));
      const credentials = await awsCredentialsProvider(this.services, s.profile, CODE);
      if (this.closed) throw new AwsWrapperError('custom_endpoint: the monitor stopped');
      this.client = new sdk.RDSClient({
        region: s.region,
        credentials,
        logger: AWS_SDK_LOGGER,
        ...(s.rdsEndpoint !== undefined ? { endpoint: s.rdsEndpoint } : {}),
      });
    }
    const out = await this.client.send(
      new this.sdk!.DescribeDBClusterEndpointsCommand({
        DBClusterEndpointIdentifier: s.endpointId,
        Filters: [{ Name: 'db-cluster-endpoint-type', Values: ['custom'] }],
      }),
      { abortSignal: AbortSignal.timeout(Math.max(5000, Math.min(s.refreshMs, 60_000))) },
    );
    const list = out.DBClusterEndpoints ?? [];
    if (list.length === 0)
      throw new AwsWrapperError(`custom endpoint '${s.endpointId}' was not found in region ${s.region}`);
    if (list.length > 1)
      log.warn('custom_endpoint: the RDS API returned %d endpoints for %s; using the first', list.length, s.endpointId);
    const e = list[0];
    return {
      endpointIdentifier: e.DBClusterEndpointIdentifier ?? s.endpointId,
      clusterIdentifier: e.DBClusterIdentifier ?? '',
      endpoint: e.Endpoint ?? s.host,
      customEndpointType: e.CustomEndpointType ?? 'ANY',
      staticMembers: e.StaticMembers ?? [],
      excludedMembers: e.ExcludedMembers ?? [],
    };
  }

  private apply(info: CustomEndpointInfo): void {
    if (sameInfo(this.info, info)) return;
    log.debug(
      'Custom endpoint %s (%s): static members [%s], excluded [%s]',
      this.settings.host,
      info.customEndpointType,
      info.staticMembers.join(', '),
      info.excludedMembers.join(', '),
    );
    this.info = info;
    this.filter = allowedAndBlockedHostsOf(info);
    for (const l of [...this.listeners]) {
      try {
        l(this.filter);
      } catch (err) {
        log.warn('custom_endpoint: applying the members of %s failed: %s', this.settings.host, (err as Error).message);
      }
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.client?.destroy();
    this.client = undefined;
    for (const w of [...this.waiters]) w();
  }
}

/** The monitors of one WrapperServices, by endpoint and every setting that changes what a monitor does. */
class CustomEndpointMonitors {
  private readonly monitors = new Map<string, CustomEndpointMonitor>();

  constructor(private readonly services: WrapperServices) {}

  get(settings: MonitorSettings): CustomEndpointMonitor {
    const key = [
      settings.host,
      settings.region,
      settings.rdsEndpoint ?? '',
      settings.profile ?? '',
      settings.refreshMs,
      settings.idleMs,
    ].join('|');
    let m = this.monitors.get(key);
    if (m === undefined) {
      const created: CustomEndpointMonitor = new CustomEndpointMonitor(settings, this.services, () => {
        if (this.monitors.get(key) === created) this.monitors.delete(key);
        created.close();
      });
      this.monitors.set(key, (m = created));
    }
    return m;
  }

  get size(): number {
    return this.monitors.size;
  }

  close(): void {
    for (const m of this.monitors.values()) m.close();
    this.monitors.clear();
  }
}

/** The custom endpoint monitors of `services` (for tests and diagnostics). */
export function customEndpointMonitors(services: WrapperServices): { readonly size: number } {
  return services.peek<CustomEndpointMonitors>(MONITORS_KEY) ?? { size: 0 };
}

const MONITORS_KEY = 'custom-endpoint:monitors';

function settingsOf(host: string, props: ConnectProps): MonitorSettings {
  const o = props.options;
  const region = o.customEndpointRegion ?? getRdsRegion(host);
  if (region === undefined) {
    throw new ConfigurationError(
      `${CODE}: cannot tell the region of custom endpoint '${host}': set 'customEndpointRegion'`,
      'customEndpointRegion',
    );
  }
  return {
    host: host.toLowerCase(),
    endpointId: host.split('.')[0],
    region,
    rdsEndpoint: o.customEndpointRdsEndpoint,
    profile: o.awsProfile,
    refreshMs: o.customEndpointInfoRefreshRateMs,
    idleMs: o.customEndpointIdleMonitorExpirationMs,
  };
}

export class CustomEndpointPlugin<C> implements ConnectionPlugin<C> {
  readonly code = CODE;
  readonly subscribedMethods: ReadonlySet<string> = new Set([PIPELINE.connect, PIPELINE.forceConnect]);
  private monitor: CustomEndpointMonitor | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly service: PluginService<C>) {}

  connect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.connectVia(host, props, next);
  }

  forceConnect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.connectVia(host, props, next);
  }

  private async connectVia(host: HostInfo, props: ConnectProps, next: ConnectFn<C>): Promise<C> {
    if (!isCustomClusterDns(host.host)) return next();
    const monitor = await this.ensureMonitor(host.host, props);
    const o = props.options;
    if (o.waitForCustomEndpointInfo && monitor.info === undefined) {
      const known = await monitor.waitForInfo(o.waitForCustomEndpointInfoTimeoutMs);
      if (!known) {
        const why = monitor.lastError !== undefined ? `: ${monitor.lastError.message}` : '';
        throw new CustomEndpointInfoTimeoutError(
          `${CODE}: the members of custom endpoint '${host.host}' were not known within ${o.waitForCustomEndpointInfoTimeoutMs} ms (waitForCustomEndpointInfoTimeoutMs)${why}`,
          { cause: monitor.lastError },
        );
      }
    }
    return next();
  }

  private async ensureMonitor(host: string, props: ConnectProps): Promise<CustomEndpointMonitor> {
    const settings = settingsOf(host, props);
    const current = this.monitor;
    if (current !== undefined && !current.stopped && current.settings.host === settings.host) return current;
    // A missing SDK is a configuration error of this connect, not something to wait for.
    await ensurePluginPackages(CODE);
    const services = this.service.services;
    const monitor = services
      .shared(
        MONITORS_KEY,
        () => new CustomEndpointMonitors(services),
        (m) => m.close(),
      )
      .get(settings);
    this.unsubscribe?.();
    this.monitor = monitor;
    this.unsubscribe = monitor.subscribe((filter) => this.service.setAllowedAndBlockedHosts?.(filter));
    return monitor;
  }

  release(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.monitor = undefined;
  }
}

export const customEndpointPluginFactory: PluginFactory = {
  code: CODE,
  weight: 40,
  aliases: ['customEndpoint'],
  create: <C>(service: PluginService<C>) => new CustomEndpointPlugin<C>(service),
};
