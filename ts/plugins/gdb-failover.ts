/**
 * `gdb_failover`: failover_v2 for an Aurora Global Database. The application has a home region; after the
 * topology confirms the writer, the mode for where that writer is decides where the client goes:
 * `activeHomeFailoverMode` while the writer is in the home region, `inactiveHomeFailoverMode` after a global
 * failover moved it elsewhere. Modes: strict-writer (the writer, wherever it is), strict-home-reader,
 * strict-out-of-home-reader, strict-any-reader (a reader of those regions only), home-reader-or-writer,
 * out-of-home-reader-or-writer, any-reader-or-writer (a reader of those regions, else the writer).
 * The read-only trigger of a demoted writer applies when the mode for the current host's region is strict-writer.
 */
import { ConfigurationError, AwsWrapperError } from '../errors.js';
import { HostRole, type HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import type { ConnectFn, ConnectProps, PluginFactory, PluginService } from '../plugin.js';
import { isGlobalDbWriterClusterDns, isWriterClusterDns } from '../rds-utils.js';
import { FailoverMode, RETRY_PAUSE_MS, sleep, type FailoverTarget, type ReaderPolicy } from './failover-common.js';
import { FailoverV2Plugin } from './failover-v2.js';
import { homeRegionFrom, regionMatchers, regionOfHost } from './gdb-common.js';

const log = getLogger('failover');

export enum GdbFailoverMode {
  STRICT_WRITER = 'strict-writer',
  STRICT_HOME_READER = 'strict-home-reader',
  STRICT_OUT_OF_HOME_READER = 'strict-out-of-home-reader',
  STRICT_ANY_READER = 'strict-any-reader',
  HOME_READER_OR_WRITER = 'home-reader-or-writer',
  OUT_OF_HOME_READER_OR_WRITER = 'out-of-home-reader-or-writer',
  ANY_READER_OR_WRITER = 'any-reader-or-writer',
}

const MODES = Object.values(GdbFailoverMode) as string[];

/** A mode option in either spelling; unset: strict-writer behind a cluster- or global- writer endpoint, else home-reader-or-writer. */
export function gdbFailoverModeFrom(option: string | undefined, key: string, initial: HostInfo): GdbFailoverMode {
  if (option !== undefined) {
    const v = option.trim().toLowerCase().replace(/_/g, '-');
    if (MODES.includes(v)) return v as GdbFailoverMode;
    throw new ConfigurationError(`${key} must be one of ${MODES.join(', ')}; got '${option}'`, key);
  }
  return isWriterClusterDns(initial.host) || isGlobalDbWriterClusterDns(initial.host)
    ? GdbFailoverMode.STRICT_WRITER
    : GdbFailoverMode.HOME_READER_OR_WRITER;
}

export class GdbFailoverPlugin<C> extends FailoverV2Plugin<C> {
  override readonly code: string = 'gdb_failover';
  private home: string | undefined;
  private modes: { readonly active: GdbFailoverMode; readonly inactive: GdbFailoverMode } | undefined;
  private readonly matchers: ReturnType<typeof regionMatchers>;

  constructor(service: PluginService<C>, props: ConnectProps) {
    super(service, props);
    this.matchers = regionMatchers(props.options.globalClusterInstanceHostPatterns);
  }

  private get initialHost(): HostInfo {
    return this.service.initialConnectionHostInfo ?? this.service.hostListProvider.initialHostInfo;
  }

  /** The home region (failoverHomeRegion, else the initial host's region). */
  get homeRegion(): string {
    return (this.home ??= homeRegionFrom(
      this.props.options.failoverHomeRegion,
      'failoverHomeRegion',
      this.initialHost,
    ));
  }

  /** The mode that applies while the writer is in `region`. */
  modeFor(region: string | undefined): GdbFailoverMode {
    const o = this.props.options;
    const modes = (this.modes ??= {
      active: gdbFailoverModeFrom(o.activeHomeFailoverMode, 'activeHomeFailoverMode', this.initialHost),
      inactive: gdbFailoverModeFrom(o.inactiveHomeFailoverMode, 'inactiveHomeFailoverMode', this.initialHost),
    });
    return region !== undefined && region === this.homeRegion ? modes.active : modes.inactive;
  }

  regionOf(host: HostInfo): string | undefined {
    return regionOfHost(host, this.matchers);
  }

  /** The base mode (read-only trigger, events): strict_writer when the current host's region's mode is strict-writer. */
  override get mode(): FailoverMode {
    const host = this.service.currentHostInfo ?? this.initialHost;
    // A name without a region (the global- endpoint) leads to the writer: take the writer's region.
    const writer = this.service.allHosts.find((h) => h.role === HostRole.WRITER);
    const mode = this.modeFor(this.regionOf(host) ?? (writer === undefined ? undefined : this.regionOf(writer)));
    if (mode === GdbFailoverMode.STRICT_WRITER) return FailoverMode.STRICT_WRITER;
    return mode.startsWith('strict-') ? FailoverMode.STRICT_READER : FailoverMode.READER_OR_WRITER;
  }

  override connect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    if (isInitial) {
      try {
        // Configuration errors (no home region, a bad mode) surface on connect, before any failure needs them.
        this.modeFor(this.homeRegion);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return super.connect(host, props, isInitial, next);
  }

  protected override async findTarget(failed: HostInfo | undefined, deadline: number): Promise<FailoverTarget<C>> {
    const s = this.service;
    let writer: HostInfo | undefined;
    while (writer === undefined && Date.now() < deadline && !this.ended) {
      if (await s.forceRefreshHostList(true, deadline - Date.now()))
        writer = s.allHosts.find((h) => h.role === HostRole.WRITER);
      if (writer === undefined && Date.now() < deadline) await sleep(Math.min(RETRY_PAUSE_MS, deadline - Date.now()));
    }
    if (writer === undefined)
      throw new AwsWrapperError('Global database failover: the topology did not confirm a writer');
    const writerRegion = this.regionOf(writer);
    const mode = this.modeFor(writerRegion);
    log.info(
      `${this.code}: writer ${writer.hostAndPort} in ${writerRegion ?? 'an unknown region'} (home ${this.homeRegion}): ${mode}`,
    );
    if (mode === GdbFailoverMode.STRICT_WRITER) {
      const target = await this.tryHost(writer, deadline - Date.now(), (role) => role === HostRole.WRITER);
      return target ?? this.writerThroughTopology(deadline, undefined, failed);
    }
    return this.readerFailover(failed, deadline, this.policy(mode));
  }

  private policy(mode: GdbFailoverMode): ReaderPolicy {
    const inHome = (h: HostInfo): boolean => this.regionOf(h) === this.homeRegion;
    switch (mode) {
      case GdbFailoverMode.STRICT_HOME_READER:
        return { allowReader: inHome, writerAllowed: false };
      case GdbFailoverMode.STRICT_OUT_OF_HOME_READER:
        return { allowReader: (h) => !inHome(h), writerAllowed: false };
      case GdbFailoverMode.STRICT_ANY_READER:
        return { allowReader: () => true, writerAllowed: false };
      case GdbFailoverMode.HOME_READER_OR_WRITER:
        return { allowReader: inHome, writerAllowed: true };
      case GdbFailoverMode.OUT_OF_HOME_READER_OR_WRITER:
        return { allowReader: (h) => !inHome(h), writerAllowed: true };
      default:
        return { allowReader: () => true, writerAllowed: true };
    }
  }
}

export const gdbFailoverPluginFactory: PluginFactory = {
  code: 'gdb_failover',
  weight: 420,
  aliases: ['gdbFailover'],
  create: <C>(service: PluginService<C>, props: ConnectProps) => new GdbFailoverPlugin<C>(service, props),
};
