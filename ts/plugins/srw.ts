/**
 * `srw`, simple read/write splitting: like read_write_splitting but without a topology, for any
 * database with a read endpoint and a write endpoint (Aurora cluster endpoints, an RDS Proxy, a load balancer).
 * `setReadOnly(true)` connects through srwReadEndpoint, `setReadOnly(false)` through srwWriteEndpoint; a
 * connection is known as writer or reader by the endpoint it was opened through. With srwVerifyNewConnections
 * (default) each new connection's role is checked with the dialect's is-reader query and the connect is retried
 * until the role is right or srwConnectRetryTimeoutMs passes. The initial connection is verified when its host is a
 * cluster endpoint (role from the name) or srwVerifyInitialConnectionType is set; if that fails, the client falls
 * back to a plain connection.
 */
import { ConfigurationError } from '../errors.js';
import { HostInfo, HostRole } from '../host-info.js';
import { getLogger } from '../logger.js';
import { parseHostPort } from '../option-table.js';
import type { ConnectFn, ConnectProps, PluginFactory, PluginService } from '../plugin.js';
import { isGlobalDbWriterClusterDns, isReaderClusterDns, isWriterClusterDns } from '../rds-utils.js';
import { ReadWriteSplittingBase, ReadWriteSplittingError, errorText, type CachedConnection } from './rw-common.js';

const log = getLogger('srw');

function endpointHost(
  value: string | undefined,
  key: 'srwReadEndpoint' | 'srwWriteEndpoint',
  role: HostRole,
): HostInfo {
  if (value === undefined || value.trim() === '') {
    throw new ConfigurationError(
      `The srw plugin needs '${key}' ('host[:port]' of the ${role === HostRole.READER ? 'read' : 'write'} endpoint)`,
      key,
    );
  }
  const parsed = parseHostPort(value);
  if (parsed === undefined)
    throw new ConfigurationError(`Option '${key}' expects 'host' or 'host:port', got '${value}'`, key);
  // Without a port the connection's own port applies (the driver dialect uses the configured port for -1).
  return new HostInfo({ host: parsed.host, port: parsed.port ?? -1, role });
}

function sameEndpoint(a: HostInfo, b: HostInfo): boolean {
  return a.host.toLowerCase() === b.host.toLowerCase() && (a.port <= 0 || b.port <= 0 || a.port === b.port);
}

export class SimpleReadWriteSplittingPlugin<C> extends ReadWriteSplittingBase<C> {
  readonly code = 'srw';
  readonly readEndpoint: HostInfo;
  readonly writeEndpoint: HostInfo;
  private readonly verify: boolean;
  private readonly verifyInitialAs: HostRole | undefined;
  private readonly retryTimeoutMs: number;
  private readonly retryIntervalMs: number;
  /** Roles checked with the is-reader query, by connection. */
  private readonly verifiedRoles = new WeakMap<object, HostRole>();

  constructor(service: PluginService<C>, props: ConnectProps) {
    super(service, props);
    const o = props.options;
    this.readEndpoint = endpointHost(o.srwReadEndpoint, 'srwReadEndpoint', HostRole.READER);
    this.writeEndpoint = endpointHost(o.srwWriteEndpoint, 'srwWriteEndpoint', HostRole.WRITER);
    this.verify = o.srwVerifyNewConnections;
    this.verifyInitialAs =
      o.srwVerifyInitialConnectionType === undefined
        ? undefined
        : o.srwVerifyInitialConnectionType === 'reader'
          ? HostRole.READER
          : HostRole.WRITER;
    this.retryTimeoutMs = o.srwConnectRetryTimeoutMs;
    this.retryIntervalMs = o.srwConnectRetryIntervalMs;
  }

  override async connect(host: HostInfo, _props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    if (!isInitial) return next();
    const expected =
      this.verifyInitialAs ??
      (isWriterClusterDns(host.host) || isGlobalDbWriterClusterDns(host.host)
        ? HostRole.WRITER
        : isReaderClusterDns(host.host)
          ? HostRole.READER
          : undefined);
    if (expected === undefined || !this.verify) return next();
    try {
      return await this.verified(next, expected, host);
    } catch (err) {
      if (this.service.isLoginError(err)) throw err;
      log.warn(
        `srw: could not verify the initial connection to ${host.hostAndPort} as a ${expected} (${errorText(err)}); using a plain connection`,
      );
      return next();
    }
  }

  protected roleOf(host: HostInfo, conn: C | undefined): HostRole {
    const verified = conn === undefined ? undefined : this.verifiedRoles.get(conn as object);
    if (verified !== undefined) return verified;
    if (sameEndpoint(host, this.writeEndpoint)) return HostRole.WRITER;
    if (sameEndpoint(host, this.readEndpoint)) return HostRole.READER;
    return HostRole.UNKNOWN;
  }

  protected refreshHosts(): Promise<void> {
    return Promise.resolve();
  }

  protected hasReaders(): boolean {
    return true;
  }

  protected isStillValid(): boolean {
    return true;
  }

  protected openReader(): Promise<CachedConnection<C>> {
    return this.openEndpoint(this.readEndpoint, HostRole.READER);
  }

  protected openWriter(): Promise<CachedConnection<C>> {
    return this.openEndpoint(this.writeEndpoint, HostRole.WRITER);
  }

  private async openEndpoint(endpoint: HostInfo, role: HostRole): Promise<CachedConnection<C>> {
    const open = () => this.service.connect(endpoint, this.props, this);
    const conn = this.verify ? await this.verified(open, role, endpoint) : await open();
    return { conn, host: endpoint, pooled: false };
  }

  /**
   * Opens connections with `open` until one has `role` (is-reader query), closing the others, for at most
   * srwConnectRetryTimeoutMs, pausing srwConnectRetryIntervalMs between attempts. A refused login is not retried.
   */
  private async verified(open: () => Promise<C>, role: HostRole, target: HostInfo): Promise<C> {
    const service = this.service;
    const deadline = Date.now() + this.retryTimeoutMs;
    let last: unknown;
    for (;;) {
      let conn: C | undefined;
      try {
        conn = await open();
        const actual = await service.getHostRole(conn);
        if (actual === role) {
          this.verifiedRoles.set(conn as object, role);
          return conn;
        }
        last = new ReadWriteSplittingError(`${target.hostAndPort} led to a ${actual}`);
      } catch (err) {
        if (service.isLoginError(err)) throw err;
        last = err;
      }
      if (conn !== undefined) await service.driverDialect.end(conn, this.auxTimeoutMs).catch(() => undefined);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new ReadWriteSplittingError(
          `No ${role} connection through ${target.hostAndPort} within ${this.retryTimeoutMs} ms: ${errorText(last)}`,
          { cause: last },
        );
      }
      log.debug(`srw: ${errorText(last)}; retrying in ${Math.min(left, this.retryIntervalMs)} ms`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, this.retryIntervalMs)));
    }
  }
}

export const srwPluginFactory: PluginFactory = {
  code: 'srw',
  weight: 310,
  aliases: ['simpleReadWriteSplitting'],
  create: <C>(service: PluginService<C>, props: ConnectProps) => new SimpleReadWriteSplittingPlugin<C>(service, props),
};
