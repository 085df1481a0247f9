/**
 * `execute_time`: measures the time of every client method run through the execute pipeline (the plugins after
 * it and the driver included) so benchmarks can subtract driver time. Totals are per client.
 */
import { getLogger } from '../logger.js';
import { ALL_METHODS, RELATIVE_TO_PRIOR_PLUGIN, type ConnectionPlugin, type ExecuteContext, type PluginFactory } from '../plugin.js';

const log = getLogger('execute-time');

export class ExecuteTimePlugin<C> implements ConnectionPlugin<C> {
  readonly code = 'execute_time';
  readonly subscribedMethods: ReadonlySet<string> = new Set([ALL_METHODS]);
  private totalNs = 0n;
  private calls = 0;

  /** Total time spent in client methods, in milliseconds (fractional). */
  get totalMs(): number {
    return Number(this.totalNs) / 1e6;
  }

  /** Number of client method calls measured (failed ones included). */
  get count(): number {
    return this.calls;
  }

  reset(): void {
    this.totalNs = 0n;
    this.calls = 0;
  }

  async execute<T>(ctx: ExecuteContext, next: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    try {
      return await next();
    } finally {
      const ns = process.hrtime.bigint() - start;
      this.totalNs += ns;
      this.calls++;
      log.debug(`${ctx.method} took ${(Number(ns) / 1e6).toFixed(3)} ms`);
    }
  }
}

export const executeTimePluginFactory: PluginFactory = {
  code: 'execute_time',
  weight: RELATIVE_TO_PRIOR_PLUGIN,
  aliases: ['executeTime'],
  create: <C>() => new ExecuteTimePlugin<C>(),
};
