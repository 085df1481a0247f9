/**
 * `connect_time`: measures how long opening physical connections takes (connect and forceConnect pipelines, the
 * plugins after it and the driver included) so benchmarks can subtract driver time. Totals are per client.
 */
import { getLogger } from '../logger.js';
import type { HostInfo } from '../host-info.js';
import { PIPELINE, RELATIVE_TO_PRIOR_PLUGIN, type ConnectFn, type ConnectionPlugin, type ConnectProps, type PluginFactory } from '../plugin.js';

const log = getLogger('connect-time');

export class ConnectTimePlugin<C> implements ConnectionPlugin<C> {
  readonly code = 'connect_time';
  readonly subscribedMethods: ReadonlySet<string> = new Set([PIPELINE.connect, PIPELINE.forceConnect]);
  private totalNs = 0n;
  private calls = 0;

  /** Total time spent in connect/forceConnect, in milliseconds (fractional). */
  get totalMs(): number {
    return Number(this.totalNs) / 1e6;
  }

  /** Number of connection attempts measured (failed ones included). */
  get count(): number {
    return this.calls;
  }

  reset(): void {
    this.totalNs = 0n;
    this.calls = 0;
  }

  connect(host: HostInfo, _props: ConnectProps, _isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.measure(host, next);
  }

  forceConnect(host: HostInfo, _props: ConnectProps, _isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.measure(host, next);
  }

  private async measure(host: HostInfo, next: ConnectFn<C>): Promise<C> {
    const start = process.hrtime.bigint();
    try {
      return await next();
    } finally {
      const ns = process.hrtime.bigint() - start;
      this.totalNs += ns;
      this.calls++;
      log.debug(`Connected to ${host.hostAndPort} in ${(Number(ns) / 1e6).toFixed(3)} ms`);
    }
  }
}

export const connectTimePluginFactory: PluginFactory = {
  code: 'connect_time',
  weight: RELATIVE_TO_PRIOR_PLUGIN,
  aliases: ['connectTime'],
  create: <C>() => new ConnectTimePlugin<C>(),
};
