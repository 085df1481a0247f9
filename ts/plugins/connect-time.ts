/**
 * `connect_time`: measures how long opening physical connections takes (connect and forceConnect pipelines, the
 * plugins after it and the driver included) so benchmarks can subtract driver time. Totals are per client.
 */
import { getLogger } from '../logger.js';
import type { HostInfo } from '../host-info.js';
import {
  PIPELINE,
  RELATIVE_TO_PRIOR_PLUGIN,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type PluginFactory,
} from '../plugin.js';
import { TimedCalls } from './timing.js';

const log = getLogger('connect-time');

export class ConnectTimePlugin<C> extends TimedCalls implements ConnectionPlugin<C> {
  readonly code = 'connect_time';
  readonly subscribedMethods: ReadonlySet<string> = new Set([PIPELINE.connect, PIPELINE.forceConnect]);

  connect(host: HostInfo, _props: ConnectProps, _isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.measure(log, `Connecting to ${host.hostAndPort}`, () => next());
  }

  forceConnect(host: HostInfo, _props: ConnectProps, _isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.measure(log, `Connecting to ${host.hostAndPort}`, () => next());
  }
}

export const connectTimePluginFactory: PluginFactory = {
  code: 'connect_time',
  weight: RELATIVE_TO_PRIOR_PLUGIN,
  aliases: ['connectTime'],
  create: <C>() => new ConnectTimePlugin<C>(),
};
