/**
 * `failover` (v1), kept for configurations that name it. Where v1 differs from failover_v2:
 *  - writer failover races two tasks: reconnecting to the old writer every failoverWriterReconnectIntervalMs
 *    (a transient loss) and waiting for a new verified writer through the topology; the first verified writer wins;
 *  - enableFailover=false keeps the plugin loaded but inactive;
 *  - read-only errors do not trigger failover, and there is no connect failover.
 * Reader failover, outcome errors, events and session transfer are shared with v2 (failover-common.ts). The seed's
 * never-cleared per-handler event (a second failover on the same client skipping work) is not copied.
 */
import { HostRole, type HostInfo } from '../host-info.js';
import type { ConnectProps, PluginFactory, PluginService } from '../plugin.js';
import { FailoverPluginBase, sleep, type FailoverTarget } from './failover-common.js';

export class FailoverV1Plugin<C> extends FailoverPluginBase<C> {
  readonly code: string = 'failover';

  constructor(service: PluginService<C>, props: ConnectProps) {
    super(service, props);
  }

  protected override get enabled(): boolean {
    return this.props.options.enableFailover;
  }

  protected override get triggersOnReadOnly(): boolean {
    return false;
  }

  protected writerFailover(failed: HostInfo | undefined, deadline: number): Promise<FailoverTarget<C>> {
    const stop = { stopped: false };
    const tasks = [this.writerThroughTopology(deadline, stop)];
    if (failed !== undefined) tasks.push(this.reconnectOldWriter(failed, deadline, stop));
    return new Promise<FailoverTarget<C>>((resolve, reject) => {
      let failures = 0;
      for (const task of tasks) {
        task.then(
          (target) => {
            if (stop.stopped) {
              this.discard(target.conn);
              return;
            }
            stop.stopped = true;
            resolve(target);
          },
          (err: unknown) => {
            if (++failures === tasks.length) reject(err);
          },
        );
      }
    });
  }

  /** Task A: the old writer may come back (a transient loss): reconnect to it until it answers as the writer. */
  private async reconnectOldWriter(
    failed: HostInfo,
    deadline: number,
    stop: { stopped: boolean },
  ): Promise<FailoverTarget<C>> {
    const interval = this.props.options.failoverWriterReconnectIntervalMs;
    while (!stop.stopped && Date.now() < deadline && !this.ended) {
      const target = await this.tryHost(
        failed,
        Math.min(interval, deadline - Date.now()),
        (role) => role === HostRole.WRITER,
      );
      if (target !== undefined) return target;
      if (!stop.stopped && Date.now() < deadline) await sleep(Math.min(interval, deadline - Date.now()));
    }
    throw new Error(`${failed.hostAndPort} did not come back as the writer`);
  }
}

export const failoverV1PluginFactory: PluginFactory = {
  code: 'failover',
  weight: 400,
  create: <C>(service: PluginService<C>, props: ConnectProps) => new FailoverV1Plugin<C>(service, props),
};
