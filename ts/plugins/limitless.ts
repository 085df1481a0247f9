/**
 * `limitless`: client-side load balancing over the transaction routers of an Aurora Limitless shard group.
 *
 * A native monitor per shard group (ts/limitless-routers.ts) reads the routers and their load. Each new connection
 * goes to a router chosen at random in proportion to its weight (10 − ⌊load × 10⌋: an idle router gets ten times
 * the connections of a saturated one); when that fails, to the remaining routers by highest weight, up to
 * limitlessMaxRetries more attempts. A router that fails is skipped by every client of the shard group for a while
 * (one monitor interval, doubling on repeated failures). A connection to a router host itself is left alone.
 * Before the first router list is known, connect waits for it (limitlessWaitForRouterInfo) or goes to the shard
 * group endpoint.
 */
import { ConfigurationError, LimitlessRoutersError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import {
  pickHighestWeightRouter,
  pickWeightedRouter,
  routerMonitorFor,
  type LimitlessRouterMonitor,
} from './limitless-routers.js';
import { getLogger } from '../logger.js';
import {
  PIPELINE,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type PluginFactory,
  type PluginService,
} from '../plugin.js';
import { boundedConnectProps } from './failover-common.js';

const log = getLogger('limitless');

/** Bound of one router connection attempt when connectTimeout is not set: a hung router must not hang connect. */
export const ROUTER_CONNECT_TIMEOUT_MS = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class LimitlessPlugin<C> implements ConnectionPlugin<C> {
  readonly code = 'limitless';
  readonly subscribedMethods: ReadonlySet<string> = new Set<string>([PIPELINE.connect]);
  private readonly service: PluginService<C>;
  private readonly props: ConnectProps;
  /** Picks in [0, 1) for the weighted choice (tests pass a seeded one). */
  private readonly random: () => number;
  private warnedNoNative = false;

  constructor(service: PluginService<C>, props: ConnectProps, random: () => number = Math.random) {
    if (service.driverDialect.code !== 'pg') {
      throw new ConfigurationError(
        "Plugin 'limitless' needs the pg driver (AwsPGClient / AwsPGPool): Aurora Limitless is Aurora PostgreSQL only",
        'plugins',
      );
    }
    this.service = service;
    this.props = props;
    this.random = random;
  }

  /** The router monitor of this client's shard group (started on first use); undefined without the addon. */
  routerMonitor(): LimitlessRouterMonitor | undefined {
    return this.monitor(this.service.hostListProvider.initialHostInfo);
  }

  private monitor(host: HostInfo): LimitlessRouterMonitor | undefined {
    const o = this.props.options;
    const port = host.port > 0 ? host.port : Number(this.props.driver.port) > 0 ? Number(this.props.driver.port) : 5432;
    return routerMonitorFor(
      this.service.services,
      { host: host.host, port, intervalMs: o.limitlessMonitorIntervalMs, maxAgeMs: o.limitlessMonitorDisposalTimeMs },
      this.props,
    );
  }

  async connect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    const monitor = this.monitor(host);
    if (monitor === undefined) {
      if (!this.warnedNoNative) {
        this.warnedNoNative = true;
        log.warn(
          'limitless: the native addon (router monitor) is not available; connections go to %s, balanced by its DNS only',
          host.host,
        );
      }
      return next(props);
    }
    let routers = monitor.routers();
    const key = host.hostAndPort.toLowerCase();
    // Asked for a router itself (e.g. by another plugin): no balancing.
    if (routers?.some((r) => r.hostAndPort.toLowerCase() === key || r.host.toLowerCase() === host.host.toLowerCase()))
      return next(props);
    if (routers === undefined || routers.length === 0) {
      if (!props.options.limitlessWaitForRouterInfo) return next(props);
      routers = await this.waitForRouters(monitor, host);
    }
    return this.connectToRouter(routers, monitor, props, isInitial);
  }

  /** Polls the router list until one is read (1 + limitlessGetRouterMaxRetries polls), else throws. */
  private async waitForRouters(monitor: LimitlessRouterMonitor, host: HostInfo): Promise<readonly HostInfo[]> {
    const o = this.props.options;
    const s = monitor.settings;
    // One poll can take a connect and a query, each bounded by the monitor's timeouts.
    const pollBound = monitor.connectTimeoutMs + monitor.queryTimeoutMs + 1000;
    let why = 'no answer';
    for (let attempt = 0; attempt <= o.limitlessGetRouterMaxRetries; attempt++) {
      if (attempt > 0 && o.limitlessGetRouterRetryIntervalMs > 0) await sleep(o.limitlessGetRouterRetryIntervalMs);
      if (this.service.endSignal?.aborted) break;
      const known = monitor.routers();
      if (known && known.length > 0) return known;
      const poll = await monitor.pollNow(pollBound);
      if (poll?.ok && poll.routers.length > 0) return poll.routers;
      why =
        poll === undefined
          ? `no answer within ${pollBound} ms`
          : poll.ok
            ? 'the shard group reported no router'
            : `${poll.message} (${poll.errorClass})`;
    }
    throw new LimitlessRoutersError(
      `limitless: no transaction router of shard group ${host.hostAndPort} is known after ${o.limitlessGetRouterMaxRetries + 1} poll(s) of ${s.host}: ${why}. ` +
        'Check that the host is an Aurora Limitless shard group endpoint, or set limitlessWaitForRouterInfo: false to connect through it directly',
      { code: 'WRAPPER_LIMITLESS_NO_ROUTERS' },
    );
  }

  /** Weighted random first, then the remaining routers by highest weight, limitlessMaxRetries more at most. */
  private async connectToRouter(
    routers: readonly HostInfo[],
    monitor: LimitlessRouterMonitor,
    props: ConnectProps,
    isInitial: boolean,
  ): Promise<C> {
    const s = this.service;
    const own = props.options.connectTimeout;
    const attemptProps = boundedConnectProps(props, own !== undefined && own > 0 ? own : ROUTER_CONNECT_TIMEOUT_MS);
    const now = Date.now();
    let candidates = routers.filter((r) => monitor.isAvailable(r, now));
    // Every router failed recently: try them all again rather than refuse outright.
    if (candidates.length === 0) candidates = [...routers];
    const tried: string[] = [];
    let lastError: unknown;
    for (let attempt = 0; attempt <= props.options.limitlessMaxRetries && candidates.length > 0; attempt++) {
      const router =
        attempt === 0 ? pickWeightedRouter(candidates, this.random)! : pickHighestWeightRouter(candidates)!;
      candidates = candidates.filter((r) => r !== router);
      tried.push(router.host);
      try {
        const conn = await s.connect(router, attemptProps, this);
        monitor.markAvailable(router);
        if (isInitial) s.initialConnectionHostInfo = router;
        return conn;
      } catch (err) {
        if (!s.isNetworkError(err) || s.endSignal?.aborted) throw err;
        lastError = err;
        monitor.markUnavailable(router);
        log.debug(
          'limitless: router %s failed (%s); %s',
          router.hostAndPort,
          describe(err),
          candidates.length > 0 ? 'trying another' : 'none left',
        );
      }
    }
    throw new LimitlessRoutersError(
      `limitless: could not connect to a transaction router after ${tried.length} attempt(s) (${tried.join(', ')}): ${describe(lastError)}`,
      { cause: lastError, code: 'WRAPPER_LIMITLESS_MAX_RETRIES' },
    );
  }
}

export const limitlessPluginFactory: PluginFactory = {
  code: 'limitless',
  weight: 950,
  create: <C>(service: PluginService<C>, props: ConnectProps) => new LimitlessPlugin<C>(service, props),
};
