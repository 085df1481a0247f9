/** Per-client totals of measured calls, shared by the `connect_time` and `execute_time` plugins. */
import type { ModuleLogger } from '../logger.js';

export abstract class TimedCalls {
  private totalNs = 0n;
  private calls = 0;

  /** Total measured time in milliseconds (fractional). */
  get totalMs(): number {
    return Number(this.totalNs) / 1e6;
  }

  /** Number of calls measured (failed ones included). */
  get count(): number {
    return this.calls;
  }

  reset(): void {
    this.totalNs = 0n;
    this.calls = 0;
  }

  /** Runs `next`, adds its duration to the totals and logs `what took N ms` at debug level. */
  protected async measure<T>(log: ModuleLogger, what: string, next: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    try {
      return await next();
    } finally {
      const ns = process.hrtime.bigint() - start;
      this.totalNs += ns;
      this.calls++;
      if (log.isLevelEnabled('debug')) log.debug(`${what} took ${(Number(ns) / 1e6).toFixed(3)} ms`);
    }
  }
}
