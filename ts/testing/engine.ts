/**
 * Contract between the lookalike cluster's orchestration (LocalCluster, supervisor, proxies, CLI) and the
 * database engines behind it (PostgreSQL, MariaDB). An engine creates real server processes listening on
 * 127.0.0.1 internal ports; the orchestration puts a fault-injecting TCP proxy at each instance's public
 * address and at the cluster endpoints, and owns roles, DNS lag and faults.
 */

import type { BlueGreenRow } from './state.js';

export type Flavour = 'aurora-pg' | 'multi-az-pg' | 'pg' | 'aurora-mysql' | 'multi-az-mysql' | 'mysql';

export interface InstanceSpec {
  /** Instance identifier as the metadata reports it, e.g. `instance-1`. */
  readonly name: string;
  /** Numeric server id (MySQL server_id, also used for Multi-AZ `id` columns). */
  readonly serverId: number;
  /** Where the engine keeps this instance's data and its log file. */
  readonly dataDir: string;
  readonly logFile: string;
  /** Internal port on 127.0.0.1 the real server (or the engine's front for it) listens on. */
  readonly port: number;
  /** The instance's RDS-shaped DNS name, e.g. `instance-1.abc123xyz.us-east-1.rds.amazonaws.com`. */
  readonly dnsName: string;
  /** RDS-style resource id (`db-…`) reported by the Multi-AZ metadata (`id` columns). Set by LocalCluster. */
  readonly resourceId?: string;
  /** Port the instance's proxy listens on, as the metadata reports it (defaults to `EngineContext.publicPort`). */
  readonly publicPort?: number;
}

export interface EngineContext {
  readonly flavour: Flavour;
  readonly clusterId: string;
  /** The cluster's state directory. */
  readonly dir: string;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Public port every instance is reached at through its proxy (the flavour's real port when possible). */
  readonly publicPort: number;
  log(message: string): void;
}

/**
 * Global database: what the global status functions / tables report on every instance of every region (the
 * instances with their region, the primary region's writer marked, and the regions).
 */
export interface GlobalDocument {
  readonly instances: readonly {
    readonly server_id: string;
    readonly aws_region: string;
    readonly writer: boolean;
    readonly session_id: string;
  }[];
  readonly regions: readonly { readonly aws_region: string; readonly primary: boolean }[];
}

/** Metadata the engine must publish in every instance so the wrapper's dialect SQL sees the real shape. */
export interface TopologySnapshot {
  readonly writer: InstanceSpec;
  readonly readers: readonly InstanceSpec[];
}

export interface Engine {
  /**
   * Initialises and starts the writer (instances[0]) and its replicas, with replication and metadata. With
   * `upstream` (a global database's secondary region) the writer is a replica of that instance of another cluster.
   */
  create(ctx: EngineContext, instances: readonly InstanceSpec[], upstream?: InstanceSpec): Promise<void>;
  start(ctx: EngineContext, instance: InstanceSpec): Promise<void>;
  /** 'fast' = clean shutdown (clients see 57P01 / the MySQL equivalent); 'immediate' = crash. */
  stop(ctx: EngineContext, instance: InstanceSpec, mode: 'fast' | 'immediate'): Promise<void>;
  /** Promotes `newWriter`, repoints the other running replicas at it and publishes the new topology. */
  promote(ctx: EngineContext, newWriter: InstanceSpec, topology: TopologySnapshot): Promise<void>;
  /** Makes `instance` (stopped, former writer) a replica of `writer` again. */
  rejoin(ctx: EngineContext, instance: InstanceSpec, topology: TopologySnapshot): Promise<void>;
  addReader(ctx: EngineContext, instance: InstanceSpec, topology: TopologySnapshot): Promise<void>;
  removeReader(ctx: EngineContext, instance: InstanceSpec, topology: TopologySnapshot): Promise<void>;
  /** Writes the topology metadata (on the writer, replicated to readers). */
  publishTopology(ctx: EngineContext, topology: TopologySnapshot): Promise<void>;
  /** In-process services the supervisor must run for this engine (e.g. the aurora-mysql protocol front). */
  serve?(ctx: EngineContext, instances: readonly InstanceSpec[]): Promise<{ close(): Promise<void> }>;
  /**
   * Optional: of the given running replicas, the one with the most replicated data (promoting it loses nothing
   * the others have). Without it the orchestration promotes the first candidate.
   */
  pickPromotionTarget?(ctx: EngineContext, candidates: readonly InstanceSpec[]): Promise<InstanceSpec>;
  /**
   * Global database: make this cluster a secondary region replicating from `upstream` (its writer must be stopped),
   * or with undefined promote its writer and make it the primary region. Engines without it have no global database.
   */
  follow?(ctx: EngineContext, upstream: InstanceSpec | undefined, topology: TopologySnapshot): Promise<void>;
  /** Global database: publishes the global view (the global status functions' answer) in every instance. */
  publishGlobal?(ctx: EngineContext, doc: GlobalDocument): Promise<void>;
  /** Blue/Green: installs the status source where the flavour lacks it (run on blue's writer before the copy). */
  prepareBlueGreen?(ctx: EngineContext, writer: InstanceSpec): Promise<void>;
  /** Blue/Green: publishes the status rows on this side's instances (what the dialects' status SQL returns). */
  publishBlueGreen?(ctx: EngineContext, topology: TopologySnapshot, rows: readonly BlueGreenRow[]): Promise<void>;
  /**
   * Blue/Green: builds `instances` (the green writer first) as a copy of the running `source` (blue's writer,
   * served by the engine of `sourceCtx`): the green writer replicates from `source`, the other green instances
   * from the green writer, and every green instance refuses the application's writes (as RDS green databases
   * do). `ctx` is the green side's own context (its own directory).
   */
  createCopy?(
    ctx: EngineContext,
    instances: readonly InstanceSpec[],
    source: InstanceSpec,
    sourceCtx: EngineContext,
  ): Promise<void>;
  /** Blue/Green: the writer refuses (true) or accepts (false) the application's writes. */
  setReadOnly?(ctx: EngineContext, writer: InstanceSpec, readOnly: boolean): Promise<void>;
  /**
   * Blue/Green switchover: waits until the green `writer` applied everything `source` wrote, stops it replicating
   * from `source` and makes it a writer that accepts writes (its replicas keep following it).
   */
  promoteCopy?(
    ctx: EngineContext,
    writer: InstanceSpec,
    source: InstanceSpec,
    topology: TopologySnapshot,
  ): Promise<void>;
  /**
   * Blue/Green switchover: the instances took new names (`renamed` maps the old name to the new spec; the
   * data directory and ports stay): the metadata reports the new names from now on.
   */
  rename?(ctx: EngineContext, renamed: ReadonlyMap<string, InstanceSpec>, topology: TopologySnapshot): Promise<void>;
  /** Stops every server process of the cluster. */
  destroy(ctx: EngineContext, instances: readonly InstanceSpec[]): Promise<void>;
}
