/**
 * `failover_v2`, the default failover plugin. On a network error (or, in strict_writer mode, a
 * read-only error from a demoted writer) it waits for a topology whose writer was verified on the server (panic
 * probe of every host, or the topology monitor), connects to that writer and verifies its role (strict_writer), or
 * finds a reader (strict_reader, reader_or_writer); then the call fails with FailoverSuccessError or
 * TransactionResolutionUnknownError on the new connection, or FailoverFailedError after failoverTimeoutMs.
 * See failover-common.ts for what v1 and v2 share.
 *
 * enableConnectFailover: when the initial connection fails with a network error, fail over instead (the client
 * then starts on the instance failover found).
 */
import { FailoverFailedError } from '../errors.js';
import { HostAvailability, type HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import type { ConnectFn, ConnectProps, PluginFactory, PluginService } from '../plugin.js';
import { describe, FailoverPluginBase, type FailoverTarget } from './failover-common.js';
import { StaleDnsHelper } from './stale-dns.js';

const log = getLogger('failover');

export class FailoverV2Plugin<C> extends FailoverPluginBase<C> {
  readonly code: string = 'failover_v2';
  private readonly staleDns: StaleDnsHelper<C>;

  constructor(service: PluginService<C>, props: ConnectProps) {
    super(service, props);
    this.staleDns = new StaleDnsHelper(service, this);
  }

  protected writerFailover(failed: HostInfo | undefined, deadline: number): Promise<FailoverTarget<C>> {
    return this.writerThroughTopology(deadline, undefined, failed);
  }

  protected override async connectInternal(
    host: HostInfo,
    props: ConnectProps,
    isInitial: boolean,
    next: ConnectFn<C>,
  ): Promise<C> {
    if (!this.props.options.enableConnectFailover || !isInitial)
      return this.staleDns.verifiedConnection(host, props, isInitial, next);
    try {
      return await this.staleDns.verifiedConnection(host, props, isInitial, next);
    } catch (err) {
      const s = this.service;
      if (s.isStaticHostListProvider || !this.isTrigger(err, undefined)) throw err;
      s.setAvailability(host.allAliases, HostAvailability.UNAVAILABLE);
      log.info(`${this.code}: initial connection to ${host.hostAndPort} failed (${describe(err)}); failing over`);
      const started = Date.now();
      const deadline = started + this.failoverTimeoutMs;
      let target: FailoverTarget<C>;
      try {
        target = await this.findTarget(undefined, deadline);
      } catch (failure) {
        this.emitFailover({
          from: host,
          to: undefined,
          durationMs: Date.now() - started,
          error: err,
          outcome: 'failed',
          mode: this.mode,
        });
        throw new FailoverFailedError(
          `The initial connection failed and no suitable instance was found within ${this.failoverTimeoutMs} ms (${describe(failure)})`,
          { cause: err },
        );
      }
      s.initialConnectionHostInfo = target.host;
      this.emitFailover({
        from: host,
        to: target.host,
        durationMs: Date.now() - started,
        error: err,
        outcome: 'success',
        mode: this.mode,
      });
      return target.conn;
    }
  }
}

export const failoverV2PluginFactory: PluginFactory = {
  code: 'failover_v2',
  weight: 410,
  aliases: ['failover2'],
  create: <C>(service: PluginService<C>, props: ConnectProps) => new FailoverV2Plugin<C>(service, props),
};
