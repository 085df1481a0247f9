/**
 * `gdb_rw`: read_write_splitting for an Aurora Global Database, kept to the application's home region
 * (gdbRwHomeRegion, else the initial host's region). setReadOnly(true) picks readers of the home region only
 * (gdbRwRestrictReaderToHomeRegion); setReadOnly(false) refuses a writer outside the home region
 * (gdbRwRestrictWriterToHomeRegion) with a ReadWriteSplittingError, or with gdbEnableGlobalWriteForwarding stays on
 * the home-region reader, whose writes Aurora forwards to the writer.
 */
import { HostRole, type HostInfo } from '../host-info.js';
import type { ConnectFn, ConnectProps, PluginFactory, PluginService } from '../plugin.js';
import { ReadWriteSplittingPlugin } from './read-write-splitting.js';
import { ReadWriteSplittingError, type CachedConnection } from './rw-common.js';
import { homeRegionFrom, regionMatchers, regionOfHost } from './gdb-common.js';

export class GdbRwPlugin<C> extends ReadWriteSplittingPlugin<C> {
  override readonly code: string = 'gdb_rw';
  private home: string | undefined;
  private readonly matchers: ReturnType<typeof regionMatchers>;

  constructor(service: PluginService<C>, props: ConnectProps) {
    super(service, props);
    this.matchers = regionMatchers(props.options.globalClusterInstanceHostPatterns);
  }

  /** The home region (gdbRwHomeRegion, else the initial host's region). */
  get homeRegion(): string {
    const initial = this.service.initialConnectionHostInfo ?? this.service.hostListProvider.initialHostInfo;
    return (this.home ??= homeRegionFrom(this.props.options.gdbRwHomeRegion, 'gdbRwHomeRegion', initial));
  }

  override connect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    if (isInitial) {
      try {
        void this.homeRegion; // a missing home region is a configuration error: report it on connect
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return super.connect(host, props, isInitial, next);
  }

  private inHome(host: HostInfo): boolean {
    return regionOfHost(host, this.matchers) === this.homeRegion;
  }

  protected override readerAllowed(host: HostInfo): boolean {
    return !this.props.options.gdbRwRestrictReaderToHomeRegion || this.inHome(host);
  }

  protected override async openReader(): Promise<CachedConnection<C>> {
    const readers = this.service.allHosts.filter((h) => h.role === HostRole.READER);
    if (readers.length > 0 && !readers.some((h) => this.readerAllowed(h))) {
      throw new ReadWriteSplittingError(
        `No reader in the home region ${this.homeRegion} (readers: ${readers.map((h) => h.host).join(', ')}); set gdbRwHomeRegion or gdbRwRestrictReaderToHomeRegion: false`,
      );
    }
    return super.openReader();
  }

  /** The writer is outside the home region and the writer restriction applies. */
  private writerOutOfHome(): HostInfo | undefined {
    if (!this.props.options.gdbRwRestrictWriterToHomeRegion) return undefined;
    const writer = this.service.allHosts.find((h) => h.role === HostRole.WRITER);
    return writer !== undefined && !this.inHome(writer) ? writer : undefined;
  }

  protected override keepsReaderForWrites(): boolean {
    return this.props.options.gdbEnableGlobalWriteForwarding && this.writerOutOfHome() !== undefined;
  }

  protected override openWriter(): Promise<CachedConnection<C>> {
    const out = this.writerOutOfHome();
    if (out !== undefined) {
      return Promise.reject(
        new ReadWriteSplittingError(
          `The writer ${out.host} is in ${regionOfHost(out, this.matchers) ?? 'an unknown region'}, outside the home region ${this.homeRegion} (gdbRwRestrictWriterToHomeRegion); ` +
            'enable gdbEnableGlobalWriteForwarding to write through the home-region reader',
        ),
      );
    }
    return super.openWriter();
  }
}

export const gdbRwPluginFactory: PluginFactory = {
  code: 'gdb_rw',
  weight: 320,
  aliases: ['gdbReadWriteSplitting'],
  create: <C>(service: PluginService<C>, props: ConnectProps) => new GdbRwPlugin<C>(service, props),
};
