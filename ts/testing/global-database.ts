/**
 * LocalGlobalDatabase: an Aurora Global Database lookalike (Aurora PostgreSQL or Aurora MySQL) made of two
 * LocalClusters in two "regions". The secondary region's writer replicates the primary region's writer (PostgreSQL
 * streaming, MariaDB GTID replication; its readers replicate from it), every instance answers the global status
 * functions (`aurora_global_db_instance_status()` / `aurora_global_db_status()`, or on MySQL the
 * `information_schema` tables of those names) from a global view this object publishes, and the first region's supervisor serves the `global-` writer endpoint, which follows the
 * primary region. A global failover (unplanned: the old writer crashes) or switchover (planned: clean shutdown, no
 * data lost) promotes the other region's writer, then turns the old primary region into a secondary one (its
 * instances are cloned again from the new primary, as Aurora rebuilds them). The state lives in `global.json` in
 * the directory, next to one state directory per region, so the CLI drives the same database.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { LocalCluster, type ClusterClientConfig } from './local-cluster.js';
import { assertClusterName, newClusterId } from './names.js';

export const GLOBAL_STATE_FILE = 'global.json';
/** First server id of the second region: instance names stay distinct across regions (instance-1, instance-101). */
const SECOND_REGION_FIRST_ID = 101;

export type GlobalFlavour = 'aurora-pg' | 'aurora-mysql';

export interface LocalGlobalDatabaseOptions {
  /** Engine of both regions (default 'aurora-pg'). */
  readonly flavour?: GlobalFlavour;
  /** The two regions; the first starts as the primary (default ['us-east-1', 'us-west-2']). */
  readonly regions?: readonly [string, string];
  /** Readers per region (default 1). */
  readonly readers?: number;
  /** State directory (default `.cluster/global-<id>` under the working directory); one sub-directory per region. */
  readonly dir?: string;
  /** Global database name in the `global-` endpoint and cluster endpoints (default 'lookalike'). */
  readonly name?: string;
  readonly dnsLagMs?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly pgBinDir?: string;
  readonly keepAfterExit?: boolean;
  /** Per region (default 120000). */
  readonly timeoutMs?: number;
}

export interface GlobalFailoverOptions {
  /** Region to promote (default: the secondary one). */
  readonly targetRegion?: string;
}

export interface GlobalFailoverResult {
  readonly oldPrimaryRegion: string;
  readonly newPrimaryRegion: string;
  readonly oldWriter: string;
  readonly newWriter: string;
  /** Old writer fenced (stopped). */
  readonly fenceMs: number;
  /** New writer promoted, global view and `global-` endpoint moved: clients can write in the new region. */
  readonly promoteMs: number;
  /** Old primary region rebuilt as a secondary region. */
  readonly rebuildMs: number;
  readonly totalMs: number;
}

interface GlobalState {
  readonly version: 1;
  /** Absent in state files written before Aurora MySQL was supported: aurora-pg. */
  readonly flavour?: GlobalFlavour;
  readonly name: string;
  readonly globalId: string;
  readonly dnsName: string;
  primaryRegion: string;
  readonly regions: readonly { readonly region: string; readonly dir: string }[];
}

export function globalEndpointDnsName(name: string, globalId: string): string {
  return `${name}.global-${globalId}.global.rds.amazonaws.com`;
}

function sessionId(): string {
  return randomBytes(16).toString('hex');
}

export class LocalGlobalDatabase {
  private readonly sessions = new Map<string, string>();

  private constructor(
    private readonly state: GlobalState,
    private readonly dir: string,
    /** In the order of state.regions (the first serves the `global-` endpoint). */
    readonly clusters: readonly [LocalCluster, LocalCluster],
  ) {}

  /** Starts both regions (primary first, then the secondary cloned from it) and publishes the global view. */
  static async start(options: LocalGlobalDatabaseOptions = {}): Promise<LocalGlobalDatabase> {
    const regions = options.regions ?? ['us-east-1', 'us-west-2'];
    if (regions.length !== 2 || regions[0] === regions[1])
      throw new Error(`regions: two different region names expected, got ${JSON.stringify(regions)}`);
    for (const r of regions)
      if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(r))
        throw new Error(`region '${r}' does not look like an AWS region (e.g. us-east-1)`);
    const flavour = options.flavour ?? 'aurora-pg';
    if (flavour !== 'aurora-pg' && flavour !== 'aurora-mysql')
      throw new Error(
        `flavour: 'aurora-pg' or 'aurora-mysql' expected (Aurora global databases), got '${String(flavour)}'`,
      );
    const name = options.name ?? 'lookalike';
    assertClusterName(name);
    const globalId = newClusterId();
    const dir = path.resolve(options.dir ?? path.join(process.cwd(), '.cluster', `global-${globalId}`));
    if (existsSync(path.join(dir, GLOBAL_STATE_FILE)))
      throw new Error(`a lookalike global database already exists in '${dir}'; attach to it or take it down first`);
    mkdirSync(dir, { recursive: true });
    const dnsName = globalEndpointDnsName(name, globalId);
    const common = {
      flavour,
      readers: options.readers ?? 1,
      clusterName: name,
      dnsLagMs: options.dnsLagMs,
      pgBinDir: options.pgBinDir,
      keepAfterExit: options.keepAfterExit,
      timeoutMs: options.timeoutMs,
    };
    const primary = await LocalCluster.start({
      ...common,
      region: regions[0],
      dir: path.join(dir, regions[0]),
      user: options.user,
      password: options.password,
      database: options.database,
      globalMember: { firstServerId: 1, globalEndpoint: dnsName },
    });
    let secondary: LocalCluster;
    try {
      secondary = await LocalCluster.start({
        ...common,
        region: regions[1],
        dir: path.join(dir, regions[1]),
        ...primary.credentials,
        globalMember: { firstServerId: SECOND_REGION_FIRST_ID, replicaOf: primary.writerSpec },
      });
    } catch (err) {
      await primary.stop().catch(() => {});
      throw err;
    }
    const state: GlobalState = {
      version: 1,
      flavour,
      name,
      globalId,
      dnsName,
      primaryRegion: regions[0],
      regions: [
        { region: regions[0], dir: primary.dir },
        { region: regions[1], dir: secondary.dir },
      ],
    };
    const db = new LocalGlobalDatabase(state, dir, [primary, secondary]);
    try {
      await db.publish();
      await db.save();
    } catch (err) {
      await db.stop().catch(() => {});
      throw err;
    }
    return db;
  }

  /** Attaches to a running global database by its state directory. */
  static async attach(dir: string): Promise<LocalGlobalDatabase> {
    const abs = path.resolve(dir);
    let state: GlobalState;
    try {
      state = JSON.parse(readFileSync(path.join(abs, GLOBAL_STATE_FILE), 'utf8')) as GlobalState;
    } catch {
      throw new Error(
        `no lookalike global database in '${dir}': ${GLOBAL_STATE_FILE} not found (start one with 'cluster global-up --dir ${dir}')`,
      );
    }
    if (state.version !== 1) throw new Error(`${GLOBAL_STATE_FILE}: unsupported version ${String(state.version)}`);
    const clusters = await Promise.all(state.regions.map((r) => LocalCluster.attach(r.dir)));
    return new LocalGlobalDatabase(state, abs, [clusters[0], clusters[1]]);
  }

  static isGlobalDir(dir: string): boolean {
    return existsSync(path.join(path.resolve(dir), GLOBAL_STATE_FILE));
  }

  // ---- addressing ---------------------------------------------------------------------------------------

  get directory(): string {
    return this.dir;
  }

  get regions(): readonly string[] {
    return this.state.regions.map((r) => r.region);
  }

  get primaryRegion(): string {
    return this.state.primaryRegion;
  }

  get flavour(): GlobalFlavour {
    return this.state.flavour ?? 'aurora-pg';
  }

  /** The `global-` writer endpoint, e.g. `lookalike.global-abc123xyz456.global.rds.amazonaws.com`. */
  get globalEndpoint(): string {
    return this.state.dnsName;
  }

  region(region: string): LocalCluster {
    const i = this.state.regions.findIndex((r) => r.region === region);
    if (i < 0) throw new Error(`no region '${region}' in this global database (regions: ${this.regions.join(', ')})`);
    return this.clusters[i];
  }

  get primary(): LocalCluster {
    return this.region(this.state.primaryRegion);
  }

  get secondary(): LocalCluster {
    return this.clusters.find((c) => c.region !== this.state.primaryRegion)!;
  }

  /** The wrapper's `globalClusterInstanceHostPatterns`: `region:?.<cluster id>.<region>.rds.amazonaws.com,...`. */
  get globalClusterInstanceHostPatterns(): string {
    return this.clusters.map((c) => `${c.region}:${c.clusterInstanceHostPattern}`).join(',');
  }

  /** Every DNS name of both regions and the `global-` endpoint → loopback `host:port`. */
  get hostAddressMap(): Record<string, string> {
    return { ...this.clusters[0].hostAddressMap, ...this.clusters[1].hostAddressMap };
  }

  /**
   * Wrapper config for `endpoint`: 'global' (default), or a name any region resolves ('writer' / 'reader' of the
   * primary region, an instance name, a DNS name), with `globalClusterInstanceHostPatterns`.
   */
  clientConfig(endpoint = 'global'): ClusterClientConfig & { readonly globalClusterInstanceHostPatterns: string } {
    const owner =
      endpoint === 'global' || endpoint === this.state.dnsName
        ? this.clusters[0]
        : endpoint === 'writer' || endpoint === 'reader'
          ? this.primary
          : this.clusters.find(
              (c) =>
                c.instances.some((i) => i.name === endpoint || i.dnsName === endpoint) ||
                c.writerEndpoint.dnsName === endpoint ||
                c.readerEndpoint.dnsName === endpoint,
            );
    if (!owner) throw new Error(`no endpoint or instance '${endpoint}' in global database ${this.state.globalId}`);
    const base = owner.clientConfig(endpoint);
    return {
      ...base,
      hostAddressMap: this.hostAddressMap,
      globalClusterInstanceHostPatterns: this.globalClusterInstanceHostPatterns,
    };
  }

  // ---- operations -----------------------------------------------------------------------------------------

  /** Unplanned global failover: the primary region's writer crashes, the other region's writer is promoted. */
  failover(options: GlobalFailoverOptions = {}): Promise<GlobalFailoverResult> {
    return this.move(options, 'immediate');
  }

  /** Planned switchover: the primary's writer shuts down cleanly (all its WAL reaches the other region) first. */
  switchover(options: GlobalFailoverOptions = {}): Promise<GlobalFailoverResult> {
    return this.move(options, 'fast');
  }

  private async move(options: GlobalFailoverOptions, mode: 'fast' | 'immediate'): Promise<GlobalFailoverResult> {
    const from = this.primary;
    const to = options.targetRegion === undefined ? this.secondary : this.region(options.targetRegion);
    if (to === from) throw new Error(`region '${to.region}' is already the primary region`);
    const oldWriter = from.writer.name;
    const t0 = Date.now();
    await from.fenceWriter(mode);
    const fenceMs = Date.now() - t0;
    const t1 = Date.now();
    await to.follow(undefined);
    this.state.primaryRegion = to.region;
    await this.publish();
    await this.clusters[0].setGlobalEndpoint(to.addressOf(to.writer.name), `${to.region}/${to.writer.name}`);
    await this.save();
    const promoteMs = Date.now() - t1;
    const t2 = Date.now();
    await from.follow(to.writerSpec);
    await this.publish();
    const rebuildMs = Date.now() - t2;
    return {
      oldPrimaryRegion: from.region,
      newPrimaryRegion: to.region,
      oldWriter,
      newWriter: to.writer.name,
      fenceMs,
      promoteMs,
      rebuildMs,
      totalMs: Date.now() - t0,
    };
  }

  /** Takes both regions down (the secondary first). */
  async stop(options: { keepLogs?: boolean } = {}): Promise<void> {
    const errors: Error[] = [];
    for (const c of [...this.clusters].reverse()) await c.stop(options).catch((err: Error) => errors.push(err));
    if (options.keepLogs === false) await fs.rm(this.dir, { recursive: true, force: true });
    if (errors.length) throw errors[0];
  }

  /** The global view: every instance with its region (the writer of the primary region marked) and the regions. */
  private async publish(): Promise<void> {
    const instances = this.clusters.flatMap((c) =>
      c.instances.map((i) => {
        const key = `${c.region}/${i.name}`;
        if (!this.sessions.has(key)) this.sessions.set(key, sessionId());
        return {
          server_id: i.name,
          aws_region: c.region,
          writer: c.region === this.state.primaryRegion && i.role === 'writer',
          session_id: this.sessions.get(key)!,
        };
      }),
    );
    const regions = this.clusters.map((c) => ({
      aws_region: c.region,
      primary: c.region === this.state.primaryRegion,
    }));
    // What DescribeGlobalClusters answers (the identifier is the global- endpoint's first label, as on AWS).
    const global_cluster = {
      identifier: this.state.name,
      endpoint: this.state.dnsName,
      engine: this.flavour === 'aurora-mysql' ? 'aurora-mysql' : 'aurora-postgresql',
      members: this.clusters.map((c) => ({
        dbClusterArn: `arn:aws:rds:${c.region}:123456789012:cluster:${this.state.name}-${c.region}`,
        isWriter: c.region === this.state.primaryRegion,
        readers: this.clusters
          .filter((o) => o !== c && c.region === this.state.primaryRegion)
          .map((o) => `arn:aws:rds:${o.region}:123456789012:cluster:${this.state.name}-${o.region}`),
      })),
    };
    await Promise.all(this.clusters.map((c) => c.publishGlobal({ instances, regions, global_cluster })));
  }

  private async save(): Promise<void> {
    const file = path.join(this.dir, GLOBAL_STATE_FILE);
    await fs.writeFile(`${file}.tmp`, `${JSON.stringify(this.state, null, 2)}\n`);
    await fs.rename(`${file}.tmp`, file);
  }
}
