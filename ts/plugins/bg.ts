/**
 * `bg` — Blue/Green deployment switchover support. The deployment's status (ts/plugins/bg-status.ts, fed by two
 * native status monitors) decides what each connect and call does:
 *
 * - PREPARATION: new connections to blue host names go to the blue address seen before the switchover (DNS is
 *   about to move).
 * - IN_PROGRESS: calls and new connections are held until the phase moves on (woken by the status change),
 *   at most `bgConnectTimeoutMs`, then fail with BlueGreenTimeoutError. With `bgSuspendNewBlueConnections` false
 *   (default) new blue connections still go to the blue address.
 * - POST (and COMPLETED until DNS caught up): blue host names go to the corresponding green address (the IAM token
 *   is signed for the green name, then the blue name); green host names are rejected until their DNS is removed.
 * - A switchover not over after `bgSwitchoverTimeoutMs` is taken as completed (as rolled back after a rollback).
 *
 * The socket goes to the address through a per-connection hostAddressMap entry, so auth plugins (inner) sign
 * tokens and TLS verifies for the host name, never the IP.
 */
import { AwsWrapperError, UnsupportedOperationError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import { mapHostAddress, monitoringConnectProps } from '../options.js';
import {
  NETWORK_METHODS,
  PIPELINE,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type ExecuteContext,
  type PluginFactory,
  type PluginService,
} from '../plugin.js';
import type { NativeParams } from '../native/binding.js';
import { monitorTlsParams } from '../host-list-providers/topology-monitor.js';
import { BlueGreenStatusProvider, blueGreenStatusQuery, type Address, type ConnectRouting } from './bg-status.js';

const log = getLogger('bg');

/** A connect or call was held for a switchover longer than `bgConnectTimeoutMs`. */
export class BlueGreenTimeoutError extends AwsWrapperError {
  constructor(message: string) {
    super(message, { code: 'BG_TIMEOUT' });
  }
}

/** A new connection to a green host name during a switchover's post-processing. */
export class BlueGreenRejectedError extends AwsWrapperError {
  constructor(message: string) {
    super(message, { code: 'BG_REJECTED' });
  }
}

/** A held client's retry of its prepared green connection when no signal says green accepts (doubling). */
const SPARE_RETRY_MS = 250;
const SPARE_RETRY_MAX_MS = 2000;

function addressText(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A connection to green prepared for one client while its calls are held (see prepareGreen). */
interface GreenSpare<C> {
  /** The client's connection (on blue) it stands in for. */
  readonly from: object;
  /** Held calls sharing it. */
  users: number;
  conn: C | undefined;
  opening: Promise<C> | undefined;
  taken?: C;
  /** No longer wanted (taken, or every held call is done). */
  done: boolean;
  /** A released call is taking it. */
  taking?: boolean;
  /** Ends the wait on an open spare. */
  wake?: () => void;
}

export class BlueGreenPlugin<C> implements ConnectionPlugin<C> {
  readonly code = 'bg';
  readonly subscribedMethods: ReadonlySet<string> = new Set<string>([
    PIPELINE.connect,
    PIPELINE.forceConnect,
    ...NETWORK_METHODS,
  ]);
  /** The number of switchovers that had promoted green when each connection was opened. */
  private readonly openedAt = new WeakMap<object, number>();
  /** The connection to green being prepared while this client's calls are held. */
  private spare: GreenSpare<C> | undefined;
  /** Status source and monitor kind, known once the first connection told the dialect. */
  private source:
    | { readonly query: string; readonly kind: 'postgres' | 'mysql'; readonly host: string; readonly port: number }
    | undefined;

  constructor(
    private readonly service: PluginService<C>,
    private readonly props: ConnectProps,
  ) {}

  /** The deployment's status as this client sees it (undefined before its first connection). */
  get status(): BlueGreenStatusProvider | undefined {
    return this.provider();
  }

  /** The status source depends on the dialect, so it is detected at connect. */
  needsDialect(): boolean {
    return true;
  }

  connect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.opened(this.route(host, props, next));
  }

  forceConnect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.opened(this.route(host, props, next));
  }

  private async opened(connecting: Promise<C>): Promise<C> {
    const conn = await connecting;
    this.openedAt.set(conn as object, this.provider()?.promotionCount ?? 0);
    return conn;
  }

  async execute<T>(ctx: ExecuteContext, next: () => Promise<T>): Promise<T> {
    const provider = this.provider();
    if (provider === undefined) return next();
    const timeoutMs = this.props.options.bgConnectTimeoutMs;
    const started = Date.now();
    if (provider.suspendsCalls) {
      log.debug('bg %s: %s held: switchover in progress', this.props.options.bgId, ctx.method);
      const spare = this.prepareGreen(provider);
      try {
        const ok = await provider.waitUntil(() => !provider.suspendsCalls, timeoutMs, this.service.endSignal);
        if (!ok) throw this.timeout(`${ctx.method}`, Date.now() - started);
        log.debug('bg %s: %s released after %d ms', this.props.options.bgId, ctx.method, Date.now() - started);
        await this.leaveOldBlue(provider);
      } finally {
        this.dropSpare(spare);
      }
    }
    // Checked synchronously first: this runs on every call, and almost every call has nothing to leave.
    if (this.onOldBlue(provider)) await this.leaveOldBlue(provider);
    const inTransaction = this.service.isInTransaction;
    try {
      return await next();
    } catch (err) {
      // Blue turns read-only as the switchover starts, up to one status poll before this client sees it. A
      // statement refused as read-only outside a transaction did nothing: run it again on green once promoted.
      if (inTransaction || !this.service.isReadOnlyError(err)) throw err;
      const host = this.service.currentHostInfo;
      if (!provider.switchoverUnderway && (host === undefined || provider.roleOf(host.host) !== 'SOURCE')) throw err;
      if (!(await provider.switchoverStarted(this.service.endSignal))) throw err;
      log.debug(
        'bg %s: %s refused by read-only blue during the switchover; held until green is promoted',
        this.props.options.bgId,
        ctx.method,
      );
      const left = timeoutMs - (Date.now() - started);
      const spare = this.prepareGreen(provider);
      try {
        const ok =
          left > 0 && (await provider.waitUntil(() => !provider.switchoverUnderway, left, this.service.endSignal));
        if (!ok) throw err;
        log.debug('bg %s: %s re-run after %d ms', this.props.options.bgId, ctx.method, Date.now() - started);
        await this.leaveOldBlue(provider);
      } finally {
        this.dropSpare(spare);
      }
      return next();
    }
  }

  /** Whether the current connection, outside a transaction, was opened to blue before the latest promotion. */
  private onOldBlue(provider: BlueGreenStatusProvider): boolean {
    const conn = this.service.currentConnection;
    const host = this.service.currentHostInfo;
    if (conn === undefined || host === undefined || this.service.isInTransaction) return false;
    const openedAt = this.openedAt.get(conn as object) ?? 0;
    return openedAt < provider.promotionCount && provider.roleOf(host.host) === 'SOURCE';
  }

  /**
   * A connection opened to a blue host before green was promoted is on the old blue (read-only, about to be
   * closed by RDS): between transactions, replace it with a connection through the same name, which now leads
   * to green. The old one is closed in the background.
   */
  private async leaveOldBlue(provider: BlueGreenStatusProvider): Promise<void> {
    const conn = this.service.currentConnection;
    const host = this.service.currentHostInfo;
    if (conn === undefined || host === undefined || !this.onOldBlue(provider)) return;
    const promotions = provider.promotionCount;
    // Mark first: one attempt per connection and switchover, also when it fails.
    this.openedAt.set(conn as object, promotions);
    try {
      const t0 = Date.now();
      const spare = this.spare !== undefined && this.spare.from === conn ? await this.takeSpare(this.spare) : undefined;
      const fresh = spare ?? (await this.service.connect(host, this.props));
      this.openedAt.set(fresh as object, promotions);
      log.debug(
        'bg %s: %s connection to %s in %d ms',
        this.props.options.bgId,
        spare === undefined ? 'new' : 'prepared',
        host.host,
        Date.now() - t0,
      );
      await this.service.setCurrentConnection(fresh, host);
      log.info(
        'bg %s: connection to %s moved off the old blue after the switchover',
        this.props.options.bgId,
        host.host,
      );
    } catch (err) {
      log.warn(
        'bg %s: could not move the connection to %s off the old blue: %s',
        this.props.options.bgId,
        host.host,
        (err as Error).message,
      );
    }
  }

  /**
   * While calls are held in IN_PROGRESS, opens the connection the client will need once green is promoted: to the
   * green address of the blue host it is on, authenticated, idle. A released call then costs one round trip
   * instead of a connect. Nothing is sent on it before the promotion is seen (the released call takes it in
   * leaveOldBlue); RDS drops every connection while it renames, so one that closes is opened again when the
   * deployment's green status monitor reads from green again (keepSpareOpen). One per client, shared by its held
   * calls.
   */
  private prepareGreen(provider: BlueGreenStatusProvider): GreenSpare<C> | undefined {
    const conn = this.service.currentConnection;
    const host = this.service.currentHostInfo;
    if (conn === undefined || host === undefined || this.service.isInTransaction) return undefined;
    if (this.spare !== undefined) {
      this.spare.users++;
      return this.spare;
    }
    const port = host.port > 0 ? host.port : this.service.dialect.defaultPort;
    if (provider.greenRouting(host.host, port) === undefined) return undefined;
    const spare: GreenSpare<C> = { from: conn as object, users: 1, conn: undefined, opening: undefined, done: false };
    this.spare = spare;
    void this.keepSpareOpen(spare, provider, host, port);
    return spare;
  }

  private async keepSpareOpen(
    spare: GreenSpare<C>,
    provider: BlueGreenStatusProvider,
    host: HostInfo,
    port: number,
  ): Promise<void> {
    const o = this.props.options;
    const live = (): boolean => !spare.done && provider.switchoverUnderway && !this.service.endSignal?.aborted;
    // Green refuses connections while RDS renames. One probe per deployment (the green status monitor, on the
    // addon) says when it accepts again; every held client of the deployment reopens on that signal, not on its
    // own timer. Without a signal a client tries again after SPARE_RETRY_MS, doubling up to SPARE_RETRY_MAX_MS
    // until it has a connection again.
    let backoff = SPARE_RETRY_MS;
    let waitForSignal = provider.greenRefusing;
    let seen = provider.greenAcceptSignals;
    while (live()) {
      if (waitForSignal) {
        const signalled = await provider.waitUntil(
          () => !live() || provider.greenAcceptSignals > seen,
          backoff,
          this.service.endSignal,
        );
        if (!live()) break;
        if (!signalled) backoff = Math.min(2 * backoff, SPARE_RETRY_MAX_MS);
      }
      const routing = provider.greenRouting(host.host, port);
      if (routing === undefined) break;
      // A signal that comes while this attempt runs is for the next one.
      seen = provider.greenAcceptSignals;
      const open = (p?: ConnectProps) => this.service.connect(host, p ?? this.props, this);
      spare.opening = this.connectVia(routing.address, routing.names, host, port, this.props, open);
      let conn: C | undefined;
      try {
        conn = await spare.opening;
      } catch (err) {
        log.debug('bg %s: green not ready for %s yet: %s', o.bgId, host.host, (err as Error).message);
      } finally {
        spare.opening = undefined;
      }
      if (conn === undefined) {
        waitForSignal = provider.greenAcceptSignals === seen;
        continue;
      }
      if (!live()) {
        // Opened as the wait ended: the released call may be waiting for it (takeSpare), else it is not needed.
        if (spare.taking) spare.conn = conn;
        else this.closeSpareConnection(conn);
        return;
      }
      log.debug('bg %s: connection to green prepared for %s', o.bgId, host.host);
      spare.conn = conn;
      backoff = SPARE_RETRY_MS;
      // Kept until taken, or until green closes it (then opened again once green accepts).
      const socket = this.service.driverDialect.socket(conn);
      await new Promise<void>((resolve) => {
        const closed = (): void => {
          spare.wake = undefined;
          resolve();
        };
        spare.wake = () => {
          socket?.off('close', closed);
          resolve();
        };
        if (socket === undefined || socket.destroyed) closed();
        else socket.once('close', closed);
      });
      if (spare.conn === conn) {
        spare.conn = undefined;
        if (spare.taken !== conn) this.closeSpareConnection(conn);
      }
      // Green closing it means RDS is dropping connections: the green monitor's next read from green says when
      // it accepts again.
      seen = provider.greenAcceptSignals;
      waitForSignal = true;
    }
  }

  /** The prepared connection if it is open (waiting for one being opened), else undefined. */
  private async takeSpare(spare: GreenSpare<C>): Promise<C | undefined> {
    spare.done = true;
    spare.taking = true;
    const pending = spare.conn ?? (await spare.opening?.catch(() => undefined));
    const conn = spare.conn ?? pending;
    spare.wake?.();
    spare.conn = undefined;
    if (conn === undefined || this.service.driverDialect.isClosed(conn)) return undefined;
    spare.taken = conn;
    return conn;
  }

  /** A held call is done with the spare; the last one closes it unless it was taken. */
  private dropSpare(spare: GreenSpare<C> | undefined): void {
    if (spare === undefined || --spare.users > 0) return;
    if (this.spare === spare) this.spare = undefined;
    spare.done = true;
    const conn = spare.conn;
    spare.conn = undefined;
    spare.wake?.();
    if (conn !== undefined && spare.taken !== conn) this.closeSpareConnection(conn);
  }

  private closeSpareConnection(conn: C): void {
    this.service.driverDialect.end(conn, 1000).catch(() => undefined);
  }

  /** Every option that changes the shared status provider. */
  private key(): string {
    const o = this.props.options;
    const kind = this.service.driverDialect.code === 'pg' ? 'postgres' : 'mysql';
    return [
      'bg',
      o.bgId.trim().toLowerCase(),
      kind,
      o.bgIntervalBaselineMs,
      o.bgIntervalIncreasedMs,
      o.bgIntervalHighMs,
      o.bgConnectTimeoutMs,
      o.bgSwitchoverTimeoutMs,
    ].join('|');
  }

  /**
   * The deployment's shared status: the one another client of the same bgId started (so a client's first connect
   * is routed too), else started here once this client's first connection told the dialect; started again after
   * releaseResources().
   */
  private provider(): BlueGreenStatusProvider | undefined {
    const services = this.service.services;
    const src = this.source;
    const provider =
      src === undefined
        ? services.peek<BlueGreenStatusProvider>(this.key())
        : services.shared(
            this.key(),
            () => this.createProvider(src),
            (p) => p.close(),
          );
    provider?.ensureRunning();
    return provider;
  }

  private createProvider(src: NonNullable<BlueGreenPlugin<C>['source']>): BlueGreenStatusProvider {
    const o = this.props.options;
    const services = this.service.services;
    const driver = this.service.driverDialect.code;
    const mon = monitoringConnectProps(driver, this.props, 'blue-green-monitoring-');
    const defaultPort = this.service.dialect.defaultPort;
    const params = async (req: { host: string; port: number; refresh: boolean }): Promise<NativeParams> => {
      const to = mapHostAddress(mon.options.hostAddressMap, req.host, req.port);
      const { resolveMonitorCredentials } = await import('../auth/monitor-credentials.js');
      const creds = await resolveMonitorCredentials({
        services,
        props: mon,
        driver,
        host: req.host,
        port: req.port,
        defaultPort,
        refresh: req.refresh,
      });
      const out: NativeParams = { host: to.host, port: to.port, ...monitorTlsParams(mon.driver, req.host, to.host) };
      if (creds.user !== undefined) out.user = creds.user;
      if (creds.password !== undefined) out.password = creds.password;
      if (typeof mon.driver.database === 'string' && mon.driver.database !== '') out.database = mon.driver.database;
      return out;
    };
    return new BlueGreenStatusProvider({
      bgId: o.bgId.trim().toLowerCase(),
      kind: src.kind,
      statusQuery: src.query,
      host: src.host,
      port: src.port,
      baselineMs: o.bgIntervalBaselineMs,
      increasedMs: o.bgIntervalIncreasedMs,
      highMs: o.bgIntervalHighMs,
      connectTimeoutMs: o.bgConnectTimeoutMs,
      switchoverTimeoutMs: o.bgSwitchoverTimeoutMs,
      params,
      mappedAddress: (host, port) => {
        const to = mapHostAddress(mon.options.hostAddressMap, host, port);
        return to.host === host && to.port === port ? undefined : to;
      },
    });
  }

  private async route(host: HostInfo, props: ConnectProps, next: ConnectFn<C>): Promise<C> {
    const port = host.port > 0 ? host.port : this.service.dialect.defaultPort;
    const provider = this.provider();
    if (this.source === undefined) {
      const conn = provider === undefined ? await next(props) : await this.routed(provider, host, port, props, next);
      try {
        await this.learnSource(conn, host.host, port);
      } catch (err) {
        this.service.driverDialect.abort(conn, err as Error);
        throw err;
      }
      return conn;
    }
    return this.routed(provider!, host, port, props, next);
  }

  private async routed(
    provider: BlueGreenStatusProvider,
    host: HostInfo,
    port: number,
    props: ConnectProps,
    next: ConnectFn<C>,
  ): Promise<C> {
    const timeoutMs = props.options.bgConnectTimeoutMs;
    const started = Date.now();
    for (;;) {
      const routing: ConnectRouting = provider.connectRouting(
        host.host,
        port,
        props.options.bgSuspendNewBlueConnections,
      );
      switch (routing.kind) {
        case 'none':
          return next(props);
        case 'reject':
          throw new BlueGreenRejectedError(
            `bg: ${routing.why}; the switchover is in progress. New connection can't be opened (connect to the blue host name).`,
          );
        case 'substitute':
          return this.connectVia(routing.address, routing.names, host, port, props, next);
        case 'suspend': {
          log.debug('bg %s: connect to %s held: %s', props.options.bgId, host.host, routing.why);
          const p = provider;
          const left = timeoutMs - (Date.now() - started);
          const ok =
            left > 0 &&
            (await p.waitUntil(
              () => p.connectRouting(host.host, port, props.options.bgSuspendNewBlueConnections).kind !== 'suspend',
              left,
              this.service.endSignal,
            ));
          if (!ok) throw this.timeout(`connect to ${host.host}`, Date.now() - started);
          provider = this.provider() ?? provider;
        }
      }
    }
  }

  /**
   * Connects to `address` under the host name: the hostAddressMap entry moves only the socket. With IAM, tokens
   * are tried for each of `names` (the green name is the one RDS knows before its DNS renames, the blue name after).
   */
  private async connectVia(
    address: Address,
    names: readonly string[],
    host: HostInfo,
    port: number,
    props: ConnectProps,
    next: ConnectFn<C>,
  ): Promise<C> {
    const hostAddressMap = { ...props.options.hostAddressMap, [`${host.host}:${port}`]: addressText(address) };
    const iam = (props.options.plugins ?? []).some((p) => p.trim() === 'iam') && props.options.iamHost === undefined;
    const tries = iam ? names : [host.host];
    let last: unknown;
    for (const name of tries) {
      const options = { ...props.options, hostAddressMap, ...(iam ? { iamHost: name } : {}) };
      try {
        log.debug('bg %s: %s:%d → %s (names %s)', props.options.bgId, host.host, port, addressText(address), name);
        return await next({ driver: props.driver, options });
      } catch (err) {
        last = err;
        if (!this.service.isLoginError(err)) throw err;
      }
    }
    throw last;
  }

  private async learnSource(conn: C, host: string, port: number): Promise<void> {
    const dialect = await this.service.ensureDialect(conn);
    const query = blueGreenStatusQuery(dialect.code);
    if (query === undefined) {
      throw new UnsupportedOperationError(
        `bg: the ${dialect.code} dialect has no Blue/Green status source; the bg plugin works with aurora-pg, rds-pg, aurora-mysql and rds-mysql (wrapperDialect selects one)`,
      );
    }
    this.source = { query, kind: this.service.driverDialect.code === 'pg' ? 'postgres' : 'mysql', host, port };
    this.provider();
  }

  private timeout(what: string, elapsedMs: number): BlueGreenTimeoutError {
    const id = this.props.options.bgId;
    return new BlueGreenTimeoutError(
      `bg: ${what} was held ${elapsedMs} ms: the Blue/Green switchover of deployment '${id}' is still in progress after bgConnectTimeoutMs (${this.props.options.bgConnectTimeoutMs} ms)`,
    );
  }
}

export const blueGreenPluginFactory: PluginFactory = {
  code: 'bg',
  weight: 550,
  create: <C>(service: PluginService<C>, props: ConnectProps) => new BlueGreenPlugin<C>(service, props),
};
