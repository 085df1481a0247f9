/**
 * `execute_time`: measures the time of every client method run through the execute pipeline (the plugins after
 * it and the driver included) so benchmarks can subtract driver time. Totals are per client.
 */
import { getLogger } from '../logger.js';
import {
  ALL_METHODS,
  RELATIVE_TO_PRIOR_PLUGIN,
  type ConnectionPlugin,
  type ExecuteContext,
  type PluginFactory,
} from '../plugin.js';
import { TimedCalls } from './timing.js';

const log = getLogger('execute-time');

export class ExecuteTimePlugin<C> extends TimedCalls implements ConnectionPlugin<C> {
  readonly code = 'execute_time';
  readonly subscribedMethods: ReadonlySet<string> = new Set([ALL_METHODS]);

  execute<T>(ctx: ExecuteContext, next: () => Promise<T>): Promise<T> {
    return this.measure(log, ctx.method, next);
  }
}

export const executeTimePluginFactory: PluginFactory = {
  code: 'execute_time',
  weight: RELATIVE_TO_PRIOR_PLUGIN,
  aliases: ['executeTime'],
  create: <C>() => new ExecuteTimePlugin<C>(),
};
