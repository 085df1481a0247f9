/**
 * The lookalike cluster's supervisor: a detached process that owns the database engine, the fault-injecting
 * proxies and the cluster endpoints (with DNS lag), and serves a small control API on loopback HTTP. LocalCluster
 * and the CLI are thin clients of it, so faults keep working while a test blocks its own event loop.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Engine, EngineContext, Flavour, GlobalDocument, InstanceSpec, TopologySnapshot } from './engine.js';
import { removeHostsBlock, writeHostsBlock } from './etc-hosts.js';
import { blueGreenRows, BLUE_GREEN_FLAVOURS, nextStatusAllowed } from './blue-green-rows.js';
import {
  assertClusterId,
  assertClusterName,
  assertEndpointName,
  assertGreenSuffix,
  customEndpointDnsName,
  DEFAULT_REGION,
  FIRST_CUSTOM_ENDPOINT_OCTET,
  formatAddress,
  GLOBAL_ENDPOINT_OCTET,
  freeLoopbackPort,
  GREEN_INSTANCE_OCTET,
  GREEN_READER_ENDPOINT_OCTET,
  GREEN_WRITER_ENDPOINT_OCTET,
  greenName,
  instanceDnsName,
  newClusterId,
  newGreenSuffix,
  oldName,
  pickAddressBlock,
  READER_ENDPOINT_OCTET,
  readerEndpointDnsName,
  resourceIdFor,
  WRITER_ENDPOINT_OCTET,
  writerEndpointDnsName,
  type Address,
} from './names.js';
import { EndpointProxy, InstanceProxy } from './proxy.js';
import {
  describeDbClusterEndpoints,
  describeGlobalClusters,
  RdsApiServer,
  type ClusterEndpointRecord,
  type GlobalClusterRecord,
} from './rds-api.js';
import {
  nameTable,
  writeState,
  type BlueGreenState,
  type BlueGreenStatus,
  type ClusterState,
  type CustomEndpointState,
  type EndpointState,
  type InstanceState,
} from './state.js';
import { ShardGroup } from './shard-group.js';

export const FLAVOURS: readonly Flavour[] = [
  'aurora-pg',
  'multi-az-pg',
  'pg',
  'aurora-mysql',
  'multi-az-mysql',
  'mysql',
];

/** Options of `cluster up` / `LocalCluster.start`, as the supervisor receives them. */
export interface SupervisorOptions {
  readonly flavour: Flavour;
  readonly readers: number;
  readonly dir: string;
  readonly clusterId?: string;
  readonly clusterName?: string;
  readonly region?: string;
  readonly dnsLagMs?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly pgBinDir?: string;
  readonly etcHosts?: boolean;
  readonly publicPort?: number;
  /** aurora-pg only: an Aurora Limitless shard group with this many transaction routers (default none). */
  readonly routers?: number;
  /** The cluster goes down when this process exits. */
  readonly ownerPid?: number;
  /** Server id (and name suffix) of the first instance (default 1); a global database's regions use distinct ones. */
  readonly firstServerId?: number;
  /** Global database, secondary region: the primary region's writer the new cluster's writer replicates from. */
  readonly replicaOf?: InstanceSpec;
  /** Global database: DNS name of the `global-` writer endpoint this supervisor serves (the first region's does). */
  readonly globalEndpoint?: string;
}

export interface FailoverOptions {
  /** Reader to promote; default: the reader with the most replicated data. */
  readonly target?: string;
  /** How the old writer is fenced: 'fast' (clean shutdown, clients see 57P01) or 'immediate' (crash). */
  readonly mode?: 'fast' | 'immediate';
  /** Rejoin the old writer as a reader this many milliseconds after the failover (default: stays down). */
  readonly rejoinAfterMs?: number;
}

export interface FailoverResult {
  readonly oldWriter: string;
  readonly newWriter: string;
  /** Old writer fenced: its proxy refuses connections and its server is stopped. */
  readonly fenceMs: number;
  /** Promotion of the new writer, repointing of the other readers and publication of the new topology. */
  readonly promoteMs: number;
  readonly totalMs: number;
  /** When the cluster endpoints move to the new writer (after the DNS lag), epoch ms. */
  readonly endpointsMoveAt: number;
}

export function defaultPort(flavour: Flavour): number {
  return flavour.endsWith('pg') ? 5432 : 3306;
}

export async function loadEngine(flavour: Flavour, options: { pgBinDir?: string }): Promise<Engine> {
  if (flavour.endsWith('pg')) {
    const { createPostgresEngine } = await import('./postgres.js');
    return createPostgresEngine({ binDir: options.pgBinDir });
  }
  // The MariaDB engine is a separate module; load it by a computed name so builds without it still compile.
  const specifier = './mariadb.js';
  let mod: { createMariaDbEngine?: () => Engine };
  try {
    mod = (await import(specifier)) as { createMariaDbEngine?: () => Engine };
  } catch (err) {
    throw new Error(
      `flavour '${flavour}' needs the MariaDB engine (ts/testing/mariadb.ts), which is not available in this build: ${(err as Error).message}`,
    );
  }
  if (typeof mod.createMariaDbEngine !== 'function')
    throw new Error(`ts/testing/mariadb.ts does not export createMariaDbEngine()`);
  return mod.createMariaDbEngine();
}

/** Arguments of `custom-endpoint-create` / `-modify` (LocalCluster.customEndpoints, `cluster custom-endpoint`). */
export interface CustomEndpointSpec {
  readonly name: string;
  /** Static members (instance names); when given, exactly these are members. */
  readonly members?: readonly string[];
  /** Excluded members: every other instance (including ones added later) is a member. */
  readonly excluded?: readonly string[];
  /** Default ANY on create. */
  readonly type?: 'READER' | 'ANY';
}

/** The account id in the lookalike's ARNs. */
const ACCOUNT_ID = '123456789012';

class OperationError extends Error {}

/** What serves one side of a Blue/Green deployment: its engine (with its own directory), fronts and endpoints. */
interface Side {
  engine: Engine;
  ctx: EngineContext;
  served: Served | undefined;
  writerEndpoint: EndpointProxy;
  readerEndpoint: EndpointProxy;
}

type Served = { close(): Promise<void>; refresh?(): Promise<void> };

export class Supervisor {
  private state!: ClusterState;
  private engine!: Engine;
  private ctx!: EngineContext;
  private readonly proxies = new Map<string, InstanceProxy>();
  private writerEndpoint!: EndpointProxy;
  private readerEndpoint!: EndpointProxy;
  private globalEndpoint: EndpointProxy | undefined;
  private readonly customProxies = new Map<string, EndpointProxy>();
  private rdsApiServer: RdsApiServer | undefined;
  private shardGroup: ShardGroup | undefined;
  private control: http.Server | undefined;
  private served: Served | undefined;
  /** The other side of a Blue/Green deployment: green before the switchover, the old blue after it. */
  private other: Side | undefined;
  private pgBinDir: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private ownerWatch: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopping: Promise<void> | undefined;
  private saving: Promise<void> = Promise.resolve();
  private logFile = '';

  log(message: string): void {
    const line = `${new Date().toISOString()} ${message}\n`;
    if (this.logFile) appendFileSync(this.logFile, line);
    else process.stderr.write(line);
  }

  get snapshot(): ClusterState {
    return this.state;
  }

  /**
   * The cluster's RDS API server (running once the cluster is ready). Lookalike shapes add their actions to its
   * `actions` map; it answers DescribeDBClusterEndpoints from the start.
   */
  get rdsApi(): RdsApiServer {
    if (!this.rdsApiServer) throw new Error('the RDS API server is not running');
    return this.rdsApiServer;
  }

  async start(options: SupervisorOptions): Promise<ClusterState> {
    if (!FLAVOURS.includes(options.flavour)) {
      throw new Error(`unknown flavour '${String(options.flavour)}': expected one of ${FLAVOURS.join(', ')}`);
    }
    const flavour = options.flavour;
    const first = options.firstServerId ?? 1;
    if (!Number.isInteger(first) || first < 1 || first > 180)
      throw new Error(`firstServerId must be an integer from 1 to 180, got ${String(first)}`);
    if (options.replicaOf !== undefined && flavour !== 'aurora-pg' && flavour !== 'aurora-mysql')
      throw new Error(
        `a global database's secondary region needs flavour 'aurora-pg' or 'aurora-mysql', got '${flavour}'`,
      );
    this.pgBinDir = options.pgBinDir;
    if (!Number.isInteger(options.readers) || options.readers < 0 || options.readers > 15) {
      throw new Error(`readers must be an integer from 0 to 15, got ${String(options.readers)}`);
    }
    if (flavour.startsWith('multi-az') && options.readers !== 2) {
      throw new Error(`flavour '${flavour}' has exactly one writer and two readers (got readers=${options.readers})`);
    }
    if (options.routers !== undefined && options.routers !== 0 && flavour !== 'aurora-pg') {
      throw new Error(
        `routers (an Aurora Limitless shard group) need flavour 'aurora-pg': Limitless is Aurora PostgreSQL only (got '${flavour}')`,
      );
    }
    const clusterId = options.clusterId ?? newClusterId();
    assertClusterId(clusterId);
    const clusterName = options.clusterName ?? 'lookalike';
    assertClusterName(clusterName);
    const region = options.region ?? DEFAULT_REGION;
    const dir = path.resolve(options.dir);
    const logsDir = path.join(dir, 'logs');
    await fs.mkdir(logsDir, { recursive: true });
    this.logFile = path.join(logsDir, 'supervisor.log');
    if (process.getuid?.() === 0) {
      // PostgreSQL runs as 'postgres' and must reach its data and log directories.
      await fs.chmod(dir, 0o755);
    }
    const publicPort = options.publicPort ?? defaultPort(flavour);
    const addressBlock = await pickAddressBlock(publicPort);
    this.log(
      `starting ${flavour} cluster ${clusterId} with ${options.readers} reader(s) in ${dir}; addresses ${addressBlock ? `${addressBlock}.0/24 port ${publicPort}` : '127.0.0.1 with one port per instance'}`,
    );

    const instances: InstanceState[] = [];
    for (let i = first; i <= first + options.readers; i++)
      instances.push(
        await this.newInstance(i, clusterId, region, dir, addressBlock, publicPort, i === first ? 'writer' : 'reader'),
      );
    const endpointAddress = async (octet: number): Promise<Address> =>
      addressBlock
        ? { host: `${addressBlock}.${octet}`, port: publicPort }
        : { host: '127.0.0.1', port: await freeLoopbackPort() };
    const wAddr = await endpointAddress(WRITER_ENDPOINT_OCTET);
    const rAddr = await endpointAddress(READER_ENDPOINT_OCTET);
    const credentials = {
      user: options.user ?? (flavour.endsWith('pg') ? 'postgres' : 'admin'),
      password: options.password ?? `lookalike-${randomBytes(6).toString('hex')}`,
      database: options.database ?? (flavour.endsWith('pg') ? 'postgres' : 'lookalike'),
    };
    this.state = {
      version: 1,
      clusterId,
      clusterName,
      region,
      flavour,
      dir,
      status: 'starting',
      supervisorPid: process.pid,
      control: null,
      credentials,
      publicPort,
      addressBlock,
      dnsLagMs: options.dnsLagMs ?? 0,
      etcHosts: options.etcHosts ?? false,
      instances,
      writerEndpoint: {
        dnsName: writerEndpointDnsName(clusterName, clusterId, region),
        address: formatAddress(wAddr),
        host: wAddr.host,
        port: wAddr.port,
        targets: [],
      },
      readerEndpoint: {
        dnsName: readerEndpointDnsName(clusterName, clusterId, region),
        address: formatAddress(rAddr),
        host: rAddr.host,
        port: rAddr.port,
        targets: [],
      },
      customEndpoints: [],
      rdsApi: null,
      startedAt: new Date().toISOString(),
    };
    if (options.globalEndpoint !== undefined) {
      const gAddr = await endpointAddress(GLOBAL_ENDPOINT_OCTET);
      this.state.globalEndpoint = {
        dnsName: options.globalEndpoint,
        address: formatAddress(gAddr),
        host: gAddr.host,
        port: gAddr.port,
        targets: [],
      };
    }
    if (options.replicaOf !== undefined || options.globalEndpoint !== undefined)
      this.state.globalRole = options.replicaOf ? 'secondary' : 'primary';
    if (options.routers) {
      this.state.shardGroup = await ShardGroup.plan({
        routers: options.routers,
        clusterName,
        clusterId,
        region,
        addressBlock,
        publicPort,
      });
    }
    if (this.state.etcHosts && process.getuid?.() !== 0) throw new Error('etcHosts needs root (it edits /etc/hosts)');
    if (this.state.etcHosts && !addressBlock)
      throw new Error('etcHosts needs one loopback address per instance, which this machine does not allow');
    await this.save();

    this.ctx = {
      flavour,
      clusterId,
      dir,
      user: credentials.user,
      password: credentials.password,
      database: credentials.database,
      publicPort,
      log: (m) => this.log(m),
    };
    this.engine = await loadEngine(flavour, { pgBinDir: options.pgBinDir });
    try {
      for (const inst of instances)
        this.proxies.set(
          inst.name,
          new InstanceProxy(
            inst.name,
            { host: inst.host, port: inst.port },
            { host: '127.0.0.1', port: inst.internalPort },
          ),
        );
      this.writerEndpoint = new EndpointProxy('writer-endpoint', wAddr);
      this.readerEndpoint = new EndpointProxy('reader-endpoint', rAddr);
      await this.writerEndpoint.start([]);
      await this.readerEndpoint.start([]);
      const g = this.state.globalEndpoint;
      if (g) {
        this.globalEndpoint = new EndpointProxy('global-endpoint', { host: g.host, port: g.port });
        await this.globalEndpoint.start([]);
      }
      const t0 = Date.now();
      await this.engine.create(
        this.ctx,
        instances.map((i) => this.spec(i)),
        options.replicaOf,
      );
      this.log(`engine created ${instances.length} instance(s) in ${Date.now() - t0} ms`);
      for (const inst of instances) {
        inst.running = true;
        await this.proxies.get(inst.name)!.setServerUp(true);
      }
      if (this.engine.serve)
        this.served = await this.engine.serve(
          this.ctx,
          instances.map((i) => this.spec(i)),
        );
      this.retargetEndpoints(0);
      if (g)
        this.retargetGlobalEndpoint([this.addressOf(this.writer())], [`${this.state.region}/${this.writer().name}`]);
      if (this.state.shardGroup) {
        const writer = this.writer();
        this.shardGroup = await ShardGroup.start(this.state.shardGroup, { port: writer.internalPort, ...credentials });
        this.log(
          `shard group ${this.state.shardGroup.dnsName} at ${this.state.shardGroup.address}: ${this.state.shardGroup.routers.length} router(s) in front of ${writer.name}`,
        );
      }
      if (this.state.etcHosts) await this.writeHosts();
      await this.startControl();
      await this.startRdsApi();
      if (options.ownerPid) this.watchOwner(options.ownerPid);
      this.state.status = 'ready';
      await this.save();
      this.log(`ready: writer endpoint ${this.state.writerEndpoint.dnsName} at ${this.state.writerEndpoint.address}`);
      return this.state;
    } catch (err) {
      this.log(`start failed: ${(err as Error).stack ?? String(err)}`);
      this.state.status = 'failed';
      this.state.lastError = (err as Error).message;
      await this.teardown(true).catch(() => {});
      throw err;
    }
  }

  private async newInstance(
    index: number,
    clusterId: string,
    region: string,
    dir: string,
    block: string | null,
    publicPort: number,
    role: 'writer' | 'reader',
  ): Promise<InstanceState> {
    const name = `instance-${index}`;
    const host = block ? `${block}.${index}` : '127.0.0.1';
    const port = block ? publicPort : await freeLoopbackPort();
    return {
      name,
      serverId: index,
      resourceId: resourceIdFor(clusterId, name),
      dnsName: instanceDnsName(name, clusterId, region),
      role,
      address: formatAddress({ host, port }),
      host,
      port,
      internalPort: await freeLoopbackPort(),
      dataDir: path.join(dir, 'data', name),
      logFile: path.join(dir, 'logs', `${name}.log`),
      running: false,
      fault: 'none',
      latencyMs: 0,
    };
  }

  private spec(i: InstanceState): InstanceSpec {
    return {
      name: i.name,
      serverId: i.serverId,
      dataDir: i.dataDir,
      logFile: i.logFile,
      port: i.internalPort,
      dnsName: i.dnsName,
      resourceId: i.resourceId,
      publicPort: i.port,
    };
  }

  /** An instance of the cluster, or with `anySide` also of the other side of a Blue/Green deployment. */
  private instance(name: unknown, anySide = false): InstanceState {
    if (typeof name !== 'string') throw new OperationError(`instance name expected, got ${String(name)}`);
    const pool = anySide ? [...this.state.instances, ...(this.state.blueGreen?.other ?? [])] : this.state.instances;
    const inst = pool.find((i) => i.name === name || i.dnsName === name);
    if (!inst)
      throw new OperationError(
        `no instance '${name}' in cluster ${this.state.clusterId} (instances: ${pool.map((i) => i.name).join(', ')})`,
      );
    return inst;
  }

  /** The engine and context serving `inst` (the other side's for an instance of a Blue/Green counterpart). */
  private sideOf(inst: InstanceState): { engine: Engine; ctx: EngineContext } {
    if (this.other && this.state.blueGreen?.other.includes(inst)) return this.other;
    return { engine: this.engine, ctx: this.ctx };
  }

  private writer(): InstanceState {
    const w = this.state.instances.find((i) => i.role === 'writer');
    if (!w) throw new OperationError('the cluster has no writer');
    return w;
  }

  private topology(): TopologySnapshot {
    const writer = this.writer();
    return {
      writer: this.spec(writer),
      readers: this.state.instances.filter((i) => i !== writer).map((i) => this.spec(i)),
    };
  }

  private addressOf(i: InstanceState): Address {
    return { host: i.host, port: i.port };
  }

  /** Points the cluster endpoints at the current roles after `lagMs` (the DNS lag). */
  private retargetEndpoints(lagMs: number): number {
    const writer = this.writer();
    const readers = this.state.instances.filter((i) => i.role === 'reader' && i.running);
    // Like Aurora, the reader endpoint resolves to the writer when there is no reader.
    const readerTargets = readers.length ? readers : [writer];
    const apply = (ep: EndpointState, names: string[]) => () => {
      ep.targets = names;
      void this.save().catch(() => {});
    };
    this.writerEndpoint.retarget([this.addressOf(writer)], lagMs, apply(this.state.writerEndpoint, [writer.name]));
    this.readerEndpoint.retarget(
      readerTargets.map((i) => this.addressOf(i)),
      lagMs,
      apply(
        this.state.readerEndpoint,
        readerTargets.map((i) => i.name),
      ),
    );
    for (const ce of this.state.customEndpoints) {
      const members = this.customMembers(ce);
      this.customProxies.get(ce.name)!.retarget(
        members.map((i) => this.addressOf(i)),
        lagMs,
        apply(
          ce,
          members.map((i) => i.name),
        ),
      );
    }
    return Date.now() + Math.max(0, lagMs);
  }

  private retargetGlobalEndpoint(addresses: Address[], names: string[]): void {
    const ep = this.state.globalEndpoint;
    if (!this.globalEndpoint || !ep)
      throw new OperationError(`cluster ${this.state.clusterId} does not serve the global writer endpoint`);
    this.globalEndpoint.retarget(addresses, this.state.dnsLagMs, () => {
      ep.targets = names;
      void this.save().catch(() => {});
    });
  }

  /** The running instances a custom endpoint leads to: its members, only the readers among them for READER. */
  private customMembers(ce: CustomEndpointState): InstanceState[] {
    const members =
      ce.staticMembers.length > 0
        ? this.state.instances.filter((i) => ce.staticMembers.includes(i.name))
        : this.state.instances.filter((i) => !ce.excludedMembers.includes(i.name));
    return members.filter((i) => i.running && (ce.type === 'ANY' || i.role === 'reader'));
  }

  private async writeHosts(): Promise<void> {
    const hostOf = (address: string): string => address.replace(/^\[(.*)\]:\d+$/, '$1').replace(/:\d+$/, '');
    const entries = Object.entries(nameTable(this.state)).map(([name, address]): [string, string] => [
      hostOf(address),
      name,
    ]);
    await writeHostsBlock(this.state.clusterId, entries);
  }

  /** Runs engine operations one at a time; faults (kill, hang, heal, latency) bypass the queue. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Writes cluster.json; writes are chained so a later state never loses to an earlier one. */
  private save(): Promise<void> {
    const next = this.saving.then(() => writeState(this.state));
    this.saving = next.catch((err: Error) => this.log(`writing cluster.json: ${err.message}`));
    return next;
  }

  // ---- operations -------------------------------------------------------------------------------------------

  async kill(name: unknown): Promise<void> {
    const inst = this.instance(name, true);
    await this.proxies.get(inst.name)!.kill();
    inst.fault = 'kill';
    this.log(`kill ${inst.name}: connections refused, open ones reset`);
    await this.save();
  }

  async hang(name: unknown): Promise<void> {
    const inst = this.instance(name, true);
    await this.proxies.get(inst.name)!.hang();
    inst.fault = 'hang';
    this.log(`hang ${inst.name}: black hole`);
    await this.save();
  }

  async latency(name: unknown, ms: unknown): Promise<void> {
    const inst = this.instance(name, true);
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 600_000)
      throw new OperationError(`latency must be 0 to 600000 ms, got ${String(ms)}`);
    await this.proxies.get(inst.name)!.setLatency(ms);
    inst.latencyMs = ms;
    this.log(`latency ${inst.name}: ${ms} ms`);
    await this.save();
  }

  async heal(name?: unknown): Promise<void> {
    const targets =
      name === undefined || name === null
        ? [...this.state.instances, ...(this.state.blueGreen?.other ?? [])]
        : [this.instance(name, true)];
    for (const inst of targets) {
      await this.proxies.get(inst.name)!.heal();
      inst.fault = 'none';
      inst.latencyMs = 0;
    }
    this.log(`heal ${targets.map((i) => i.name).join(', ')}`);
    await this.save();
  }

  private routers(): ShardGroup {
    if (!this.shardGroup)
      throw new OperationError(`cluster ${this.state.clusterId} has no Limitless shard group (start it with routers)`);
    return this.shardGroup;
  }

  /** `cluster router kill|hang|heal|load`: faults and load of a Limitless transaction router. */
  async router(action: unknown, name: unknown, load: unknown): Promise<void> {
    const group = this.routers();
    try {
      switch (action) {
        case 'kill':
          await group.kill(name);
          break;
        case 'hang':
          await group.hang(name);
          break;
        case 'heal':
          await group.heal(name);
          break;
        case 'load':
          await group.setLoad(name, load);
          break;
        default:
          throw new OperationError(`router action must be 'kill', 'hang', 'heal' or 'load', got '${String(action)}'`);
      }
    } catch (err) {
      if (err instanceof RangeError) throw new OperationError(err.message);
      throw err;
    }
    this.log(
      `router ${String(action)} ${name === undefined ? 'all' : String(name)}${action === 'load' ? ` ${String(load)}` : ''}`,
    );
    await this.save();
  }

  setDnsLag(ms: unknown): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
      throw new OperationError(`dnsLagMs must be a non-negative number, got ${String(ms)}`);
    this.state.dnsLagMs = ms;
    return this.save();
  }

  failover(opts: FailoverOptions = {}): Promise<FailoverResult> {
    return this.enqueue(async () => {
      const t0 = Date.now();
      const old = this.writer();
      const mode = opts.mode ?? 'fast';
      if (mode !== 'fast' && mode !== 'immediate')
        throw new OperationError(`failover mode must be 'fast' or 'immediate', got '${String(mode)}'`);
      const candidates = this.state.instances.filter((i) => i.role === 'reader' && i.running);
      let target: InstanceState | undefined;
      if (opts.target !== undefined) {
        target = this.instance(opts.target);
        if (!candidates.includes(target))
          throw new OperationError(`cannot promote '${target.name}': it is not a running reader`);
      }
      if (candidates.length === 0) throw new OperationError('cannot fail over: the cluster has no running reader');
      // Fence: refuse new connections at once, then stop the server so it can take no more writes.
      await this.proxies.get(old.name)!.setServerUp(false);
      await this.engine.stop(this.ctx, this.spec(old), mode);
      old.running = false;
      const fenceMs = Date.now() - t0;
      if (!target) {
        target = this.engine.pickPromotionTarget
          ? this.instance(
              (
                await this.engine.pickPromotionTarget(
                  this.ctx,
                  candidates.map((c) => this.spec(c)),
                )
              ).name,
            )
          : candidates[0];
      }
      const t1 = Date.now();
      old.role = 'reader';
      target.role = 'writer';
      await this.engine.promote(this.ctx, this.spec(target), this.topology());
      const promoteMs = Date.now() - t1;
      const endpointsMoveAt = this.retargetEndpoints(this.state.dnsLagMs);
      await this.save();
      const result: FailoverResult = {
        oldWriter: old.name,
        newWriter: target.name,
        fenceMs,
        promoteMs,
        totalMs: Date.now() - t0,
        endpointsMoveAt,
      };
      this.log(
        `failover ${old.name} -> ${target.name}: fence ${fenceMs} ms, promote ${promoteMs} ms, total ${result.totalMs} ms; endpoints move in ${this.state.dnsLagMs} ms`,
      );
      if (opts.rejoinAfterMs !== undefined) {
        const timer = setTimeout(
          () => {
            this.timers.delete(timer);
            this.rejoin(old.name).catch((err: Error) =>
              this.log(`automatic rejoin of ${old.name} failed: ${err.message}`),
            );
          },
          Math.max(0, opts.rejoinAfterMs),
        );
        this.timers.add(timer);
      }
      return result;
    });
  }

  // ---- global database (driven by LocalGlobalDatabase) ----------------------------------------------------------

  /** Fences this region's writer: its proxy refuses connections and its server stops (it takes no more writes). */
  fenceWriter(mode: unknown = 'immediate'): Promise<void> {
    return this.enqueue(async () => {
      if (mode !== 'fast' && mode !== 'immediate')
        throw new OperationError(`fence mode must be 'fast' or 'immediate', got '${String(mode)}'`);
      const w = this.writer();
      await this.proxies.get(w.name)!.setServerUp(false);
      await this.engine.stop(this.ctx, this.spec(w), mode);
      w.running = false;
      await this.save();
      this.log(`fence ${w.name} (${mode})`);
    });
  }

  /** Secondary region → primary (upstream undefined: promote the writer), or primary → secondary of `upstream`. */
  follow(upstream: unknown): Promise<void> {
    return this.enqueue(async () => {
      if (!this.engine.follow) throw new OperationError(`flavour '${this.state.flavour}' has no global database`);
      const up = upstream === undefined || upstream === null ? undefined : (upstream as InstanceSpec);
      if (
        up !== undefined &&
        (typeof up.port !== 'number' || typeof up.dataDir !== 'string' || typeof up.name !== 'string')
      ) {
        throw new OperationError('follow: upstream must be an instance spec (name, port, dataDir)');
      }
      const t0 = Date.now();
      const w = this.writer();
      if (up !== undefined) {
        for (const i of this.state.instances) await this.proxies.get(i.name)!.setServerUp(false);
      }
      await this.engine.follow(this.ctx, up, this.topology());
      for (const i of this.state.instances) {
        if (up === undefined && i !== w) continue;
        i.running = true;
        await this.proxies.get(i.name)!.heal();
        i.fault = 'none';
        i.latencyMs = 0;
        await this.proxies.get(i.name)!.setServerUp(true);
      }
      this.state.globalRole = up === undefined ? 'primary' : 'secondary';
      this.retargetEndpoints(this.state.dnsLagMs);
      await this.save();
      this.log(
        up === undefined
          ? `${w.name} promoted: primary region`
          : `secondary region replicating from ${up.name} in ${Date.now() - t0} ms`,
      );
    });
  }

  /** Publishes the global view (what aurora_global_db_instance_status() / aurora_global_db_status() answer). */
  async publishGlobal(doc: unknown): Promise<void> {
    if (!this.engine.publishGlobal) throw new OperationError(`flavour '${this.state.flavour}' has no global database`);
    if (typeof doc !== 'object' || doc === null)
      throw new OperationError('publish-global: a document object is expected');
    await this.engine.publishGlobal(this.ctx, doc as GlobalDocument);
    // The RDS API of every region answers DescribeGlobalClusters from the same view.
    const record = (doc as { global_cluster?: GlobalClusterRecord }).global_cluster;
    if (record !== undefined && this.rdsApiServer)
      this.rdsApiServer.actions.set(
        'DescribeGlobalClusters',
        describeGlobalClusters(() => [record]),
      );
  }

  /** Points the global writer endpoint at `address` (the primary region's writer), after the DNS lag. */
  async setGlobalEndpoint(address: unknown, name: unknown): Promise<void> {
    const a = address as Address | undefined;
    if (typeof a?.host !== 'string' || typeof a.port !== 'number')
      throw new OperationError('global-endpoint: address {host, port} expected');
    this.retargetGlobalEndpoint([{ host: a.host, port: a.port }], [String(name)]);
    await this.save();
  }

  rejoin(name: unknown): Promise<void> {
    return this.enqueue(async () => {
      const inst = this.instance(name);
      if (inst.role === 'writer') throw new OperationError(`cannot rejoin '${inst.name}': it is the writer`);
      const t0 = Date.now();
      const proxy = this.proxies.get(inst.name)!;
      await proxy.setServerUp(false);
      await this.engine.rejoin(this.ctx, this.spec(inst), this.topology());
      inst.running = true;
      // A rejoined instance is a replaced host: the faults of the old one are gone.
      await proxy.heal();
      inst.fault = 'none';
      inst.latencyMs = 0;
      await proxy.setServerUp(true);
      this.retargetEndpoints(this.state.dnsLagMs);
      await this.save();
      this.log(`rejoin ${inst.name} as a reader of ${this.writer().name} in ${Date.now() - t0} ms`);
    });
  }

  restart(name: unknown, mode: unknown = 'fast'): Promise<void> {
    return this.enqueue(async () => {
      const inst = this.instance(name, true);
      if (mode !== 'fast' && mode !== 'immediate')
        throw new OperationError(`restart mode must be 'fast' or 'immediate', got '${String(mode)}'`);
      const { engine, ctx } = this.sideOf(inst);
      await this.proxies.get(inst.name)!.setServerUp(false);
      await engine.stop(ctx, this.spec(inst), mode);
      inst.running = false;
      await engine.start(ctx, this.spec(inst));
      inst.running = true;
      await this.proxies.get(inst.name)!.setServerUp(true);
      await this.save();
      this.log(`restart ${inst.name} (${mode})`);
    });
  }

  addReader(): Promise<string> {
    return this.enqueue(async () => {
      const index = Math.max(...this.state.instances.map((i) => i.serverId)) + 1;
      if (this.state.addressBlock && index >= WRITER_ENDPOINT_OCTET) throw new OperationError('too many instances');
      const inst = await this.newInstance(
        index,
        this.state.clusterId,
        this.state.region,
        this.state.dir,
        this.state.addressBlock,
        this.state.publicPort,
        'reader',
      );
      const proxy = new InstanceProxy(inst.name, this.addressOf(inst), { host: '127.0.0.1', port: inst.internalPort });
      this.state.instances.push(inst);
      this.proxies.set(inst.name, proxy);
      try {
        await this.engine.addReader(this.ctx, this.spec(inst), this.topology());
      } catch (err) {
        this.state.instances = this.state.instances.filter((i) => i !== inst);
        this.proxies.delete(inst.name);
        throw err;
      }
      inst.running = true;
      await proxy.setServerUp(true);
      this.retargetEndpoints(0);
      if (this.state.etcHosts) await this.writeHosts();
      await this.save();
      this.log(`add-reader ${inst.name} at ${inst.address}`);
      return inst.name;
    });
  }

  removeReader(name: unknown): Promise<void> {
    return this.enqueue(async () => {
      const inst = this.instance(name);
      if (inst.role === 'writer')
        throw new OperationError(`cannot remove '${inst.name}': it is the writer (fail over first)`);
      this.proxies.get(inst.name)!.close();
      this.proxies.delete(inst.name);
      this.state.instances = this.state.instances.filter((i) => i !== inst);
      // As in RDS, a deleted instance leaves the member lists of the custom endpoints.
      for (const ce of this.state.customEndpoints) {
        ce.staticMembers = ce.staticMembers.filter((n) => n !== inst.name);
        ce.excludedMembers = ce.excludedMembers.filter((n) => n !== inst.name);
      }
      this.retargetEndpoints(0);
      await this.engine.removeReader(this.ctx, this.spec(inst), this.topology());
      if (this.state.etcHosts) await this.writeHosts();
      await this.save();
      this.log(`remove-reader ${inst.name}`);
    });
  }

  // ---- custom endpoints -----------------------------------------------------------------------------------------

  private customEndpoint(name: unknown): CustomEndpointState {
    const ce = this.state.customEndpoints.find((e) => e.name === name || e.dnsName === name);
    if (!ce)
      throw new OperationError(
        `no custom endpoint '${String(name)}' in cluster ${this.state.clusterId} (custom endpoints: ${this.state.customEndpoints.map((e) => e.name).join(', ') || 'none'})`,
      );
    return ce;
  }

  /** Checks members / excluded / type; returns the lists to store (undefined = keep). */
  private membership(spec: CustomEndpointSpec): {
    type?: 'READER' | 'ANY';
    staticMembers?: string[];
    excludedMembers?: string[];
  } {
    const names = (list: unknown, what: string): string[] | undefined => {
      if (list === undefined || list === null) return undefined;
      if (!Array.isArray(list) || list.some((n) => typeof n !== 'string'))
        throw new OperationError(`${what} must be a list of instance names`);
      return [...new Set((list as string[]).map((n) => this.instance(n).name))];
    };
    const staticMembers = names(spec.members, 'members');
    const excludedMembers = names(spec.excluded, 'excluded');
    if (staticMembers?.length && excludedMembers?.length)
      throw new OperationError('give either static members or excluded members, not both (as RDS)');
    if (spec.type !== undefined && spec.type !== 'READER' && spec.type !== 'ANY')
      throw new OperationError(`custom endpoint type must be 'READER' or 'ANY', got '${String(spec.type)}'`);
    return { type: spec.type, staticMembers, excludedMembers };
  }

  /** Creates `<name>.cluster-custom-<id>.<region>.rds.amazonaws.com` leading to the members. */
  createCustomEndpoint(spec: CustomEndpointSpec): Promise<CustomEndpointState> {
    return this.enqueue(async () => {
      if (typeof spec?.name !== 'string') throw new OperationError('custom endpoint name expected');
      try {
        assertEndpointName(spec.name);
      } catch (err) {
        throw new OperationError((err as Error).message);
      }
      if (this.state.customEndpoints.some((e) => e.name === spec.name))
        throw new OperationError(`custom endpoint '${spec.name}' already exists (DBClusterEndpointAlreadyExistsFault)`);
      const m = this.membership(spec);
      let address: Address;
      if (this.state.addressBlock) {
        const used = new Set(this.state.customEndpoints.map((e) => e.host));
        let octet = FIRST_CUSTOM_ENDPOINT_OCTET;
        while (used.has(`${this.state.addressBlock}.${octet}`)) octet++;
        if (octet > 254) throw new OperationError('too many custom endpoints (at most 25)');
        address = { host: `${this.state.addressBlock}.${octet}`, port: this.state.publicPort };
      } else {
        address = { host: '127.0.0.1', port: await freeLoopbackPort() };
      }
      const ce: CustomEndpointState = {
        name: spec.name,
        dnsName: customEndpointDnsName(spec.name, this.state.clusterId, this.state.region),
        address: formatAddress(address),
        host: address.host,
        port: address.port,
        targets: [],
        type: m.type ?? 'ANY',
        staticMembers: m.staticMembers ?? [],
        excludedMembers: m.excludedMembers ?? [],
      };
      const proxy = new EndpointProxy(`custom-endpoint-${ce.name}`, address);
      await proxy.start([]);
      this.customProxies.set(ce.name, proxy);
      this.state.customEndpoints.push(ce);
      this.retargetEndpoints(0);
      if (this.state.etcHosts) await this.writeHosts();
      await this.save();
      this.log(
        `custom-endpoint create ${ce.name} (${ce.type}) at ${ce.address}: ${ce.targets.join(', ') || 'no instance'}`,
      );
      return ce;
    });
  }

  /** Changes a custom endpoint's type or members; giving one member list clears the other (as RDS). */
  modifyCustomEndpoint(spec: CustomEndpointSpec): Promise<CustomEndpointState> {
    return this.enqueue(async () => {
      const ce = this.customEndpoint(spec?.name);
      const m = this.membership(spec);
      if (m.type !== undefined) ce.type = m.type;
      if (m.staticMembers !== undefined) {
        ce.staticMembers = m.staticMembers;
        if (m.staticMembers.length > 0) ce.excludedMembers = [];
      }
      if (m.excludedMembers !== undefined) {
        ce.excludedMembers = m.excludedMembers;
        if (m.excludedMembers.length > 0) ce.staticMembers = [];
      }
      this.retargetEndpoints(0);
      await this.save();
      this.log(
        `custom-endpoint modify ${ce.name} (${ce.type}): static [${ce.staticMembers.join(', ')}], excluded [${ce.excludedMembers.join(', ')}]; leads to ${ce.targets.join(', ') || 'no instance'}`,
      );
      return ce;
    });
  }

  deleteCustomEndpoint(name: unknown): Promise<void> {
    return this.enqueue(async () => {
      const ce = this.customEndpoint(name);
      this.customProxies.get(ce.name)?.close();
      this.customProxies.delete(ce.name);
      this.state.customEndpoints = this.state.customEndpoints.filter((e) => e !== ce);
      if (this.state.etcHosts) await this.writeHosts();
      await this.save();
      this.log(`custom-endpoint delete ${ce.name}`);
    });
  }

  /** The cluster's endpoints as DescribeDBClusterEndpoints reports them. */
  private endpointRecords(): ClusterEndpointRecord[] {
    const { clusterName, region } = this.state;
    const records: ClusterEndpointRecord[] = [
      { clusterIdentifier: clusterName, endpoint: this.state.writerEndpoint.dnsName, endpointType: 'WRITER' },
      { clusterIdentifier: clusterName, endpoint: this.state.readerEndpoint.dnsName, endpointType: 'READER' },
    ];
    for (const ce of this.state.customEndpoints) {
      records.push({
        identifier: ce.name,
        clusterIdentifier: clusterName,
        endpoint: ce.dnsName,
        endpointType: 'CUSTOM',
        customEndpointType: ce.type,
        staticMembers: ce.staticMembers,
        excludedMembers: ce.excludedMembers,
        resourceIdentifier: `cluster-endpoint-${createHash('sha256').update(`${this.state.clusterId}/${ce.name}`).digest('hex').slice(0, 26)}`,
        arn: `arn:aws:rds:${region}:${ACCOUNT_ID}:cluster-endpoint:${ce.name}`,
      });
    }
    return records;
  }

  /** Starts the RDS API with a fresh access key (kept in cluster.json, mode 0600). */
  private async startRdsApi(): Promise<void> {
    const server = new RdsApiServer(this.state.region);
    const accessKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    server.accessKeys.set(accessKeyId, secretAccessKey);
    server.actions.set(
      'DescribeDBClusterEndpoints',
      describeDbClusterEndpoints(() => this.endpointRecords()),
    );
    await server.start('127.0.0.1', 0);
    this.rdsApiServer = server;
    this.state.rdsApi = { endpoint: server.endpoint, accessKeyId, secretAccessKey };
  }

  // ---- Blue/Green -------------------------------------------------------------------------------------------

  /** `blue-green create`: a green copy of every instance, replicating from the writer, with `-green-<suffix>` names. */
  blueGreenCreate(suffixArg?: unknown): Promise<BlueGreenState> {
    return this.enqueue(async () => {
      const t0 = Date.now();
      const flavour = this.state.flavour;
      if (!BLUE_GREEN_FLAVOURS.includes(flavour)) {
        throw new OperationError(
          `Blue/Green deployments need flavour ${BLUE_GREEN_FLAVOURS.join(', ')}; RDS has none for '${flavour}'`,
        );
      }
      if (this.state.blueGreen)
        throw new OperationError(
          `cluster ${this.state.clusterId} already has Blue/Green deployment ${this.state.blueGreen.id} (${this.state.blueGreen.status})`,
        );
      if (suffixArg !== undefined && typeof suffixArg !== 'string')
        throw new OperationError(`suffix must be a string, got ${String(suffixArg)}`);
      const suffix = suffixArg ?? newGreenSuffix();
      try {
        assertGreenSuffix(suffix);
      } catch (err) {
        throw new OperationError((err as Error).message);
      }
      const blueWriter = this.writer();
      const { clusterId, region, addressBlock, publicPort, dir } = this.state;
      if (this.state.instances.some((i) => !i.running))
        throw new OperationError(
          'every instance must run to make a Blue/Green copy (rejoin or restart the stopped ones)',
        );
      if (addressBlock && this.state.instances.some((i) => i.serverId >= WRITER_ENDPOINT_OCTET - GREEN_INSTANCE_OCTET))
        throw new OperationError('too many instances for a Blue/Green copy');
      await this.engine.prepareBlueGreen?.(this.ctx, this.spec(blueWriter));

      // The green writer first (the copy of blue's writer), then the copies of the readers.
      const blue = [blueWriter, ...this.state.instances.filter((i) => i !== blueWriter)];
      const green: InstanceState[] = [];
      for (const b of blue) {
        const name = greenName(b.name, suffix);
        const host = addressBlock ? `${addressBlock}.${GREEN_INSTANCE_OCTET + b.serverId}` : '127.0.0.1';
        const port = addressBlock ? publicPort : await freeLoopbackPort();
        green.push({
          name,
          serverId: GREEN_INSTANCE_OCTET + b.serverId,
          resourceId: resourceIdFor(clusterId, name),
          dnsName: instanceDnsName(name, clusterId, region),
          role: b.role,
          address: formatAddress({ host, port }),
          host,
          port,
          internalPort: await freeLoopbackPort(),
          dataDir: path.join(dir, 'data', name),
          logFile: path.join(dir, 'logs', `${name}.log`),
          running: false,
          fault: 'none',
          latencyMs: 0,
        });
      }
      const endpointAddress = async (octet: number): Promise<Address> =>
        addressBlock
          ? { host: `${addressBlock}.${octet}`, port: publicPort }
          : { host: '127.0.0.1', port: await freeLoopbackPort() };
      const wAddr = await endpointAddress(GREEN_WRITER_ENDPOINT_OCTET);
      const rAddr = await endpointAddress(GREEN_READER_ENDPOINT_OCTET);
      const greenCluster = greenName(this.state.clusterName, suffix);
      const side: Side = {
        engine: await loadEngine(flavour, { pgBinDir: this.pgBinDir }),
        ctx: { ...this.ctx, dir: path.join(dir, `green-${suffix}`) },
        served: undefined,
        writerEndpoint: new EndpointProxy('green-writer-endpoint', wAddr),
        readerEndpoint: new EndpointProxy('green-reader-endpoint', rAddr),
      };
      if (!side.engine.createCopy) throw new OperationError(`the ${flavour} engine cannot make Blue/Green copies`);
      for (const g of green)
        this.proxies.set(
          g.name,
          new InstanceProxy(g.name, this.addressOf(g), { host: '127.0.0.1', port: g.internalPort }),
        );
      try {
        await side.writerEndpoint.start([]);
        await side.readerEndpoint.start([]);
        await side.engine.createCopy(
          side.ctx,
          green.map((g) => this.spec(g)),
          this.spec(blueWriter),
          this.ctx,
        );
        for (const g of green) {
          g.running = true;
          await this.proxies.get(g.name)!.setServerUp(true);
        }
        if (side.engine.serve)
          side.served = await side.engine.serve(
            side.ctx,
            green.map((g) => this.spec(g)),
          );
      } catch (err) {
        for (const g of green) {
          this.proxies.get(g.name)?.close();
          this.proxies.delete(g.name);
        }
        side.writerEndpoint.close();
        side.readerEndpoint.close();
        await side.served?.close().catch(() => {});
        await side.engine
          .destroy(
            side.ctx,
            green.map((g) => this.spec(g)),
          )
          .catch(() => {});
        throw err;
      }
      this.other = side;
      const bytes = randomBytes(8).toString('hex');
      this.state.blueGreen = {
        id: `bgd-${bytes}`,
        suffix,
        status: 'AVAILABLE',
        greenPromoted: false,
        renamed: false,
        engineDir: this.ctx.dir,
        otherEngineDir: side.ctx.dir,
        other: green,
        otherWriterEndpoint: {
          dnsName: writerEndpointDnsName(greenCluster, clusterId, region),
          address: formatAddress(wAddr),
          host: wAddr.host,
          port: wAddr.port,
          targets: [],
        },
        otherReaderEndpoint: {
          dnsName: readerEndpointDnsName(greenCluster, clusterId, region),
          address: formatAddress(rAddr),
          host: rAddr.host,
          port: rAddr.port,
          targets: [],
        },
        rows: [],
      };
      this.retargetOther(0);
      await this.publishBlueGreen();
      if (this.state.etcHosts) await this.writeHosts();
      await this.save();
      this.log(
        `blue-green create ${this.state.blueGreen.id}: ${green.map((g) => g.name).join(', ')} copied from ${blueWriter.name} in ${Date.now() - t0} ms`,
      );
      return this.state.blueGreen;
    });
  }

  /** Points the other side's endpoints at its writer and readers. */
  private retargetOther(lagMs: number): void {
    const bg = this.state.blueGreen;
    if (!bg || !this.other) return;
    const writer = bg.other.find((i) => i.role === 'writer') ?? bg.other[0];
    const readers = bg.other.filter((i) => i.role === 'reader' && i.running);
    const readerTargets = readers.length ? readers : [writer];
    const apply = (ep: EndpointState, names: string[]) => () => {
      ep.targets = names;
      void this.save().catch(() => {});
    };
    this.other.writerEndpoint.retarget([this.addressOf(writer)], lagMs, apply(bg.otherWriterEndpoint, [writer.name]));
    this.other.readerEndpoint.retarget(
      readerTargets.map((i) => this.addressOf(i)),
      lagMs,
      apply(
        bg.otherReaderEndpoint,
        readerTargets.map((i) => i.name),
      ),
    );
  }

  private sideTopology(instances: readonly InstanceState[]): TopologySnapshot {
    const writer = instances.find((i) => i.role === 'writer') ?? instances[0];
    return { writer: this.spec(writer), readers: instances.filter((i) => i !== writer).map((i) => this.spec(i)) };
  }

  /** Writes the status rows on both sides (each engine knows whether its side needs them written or replicated). */
  private async publishBlueGreen(): Promise<void> {
    const bg = this.state.blueGreen!;
    bg.rows = blueGreenRows(this.state);
    await this.engine.publishBlueGreen?.(this.ctx, this.sideTopology(this.state.instances), bg.rows);
    if (this.other) await this.other.engine.publishBlueGreen?.(this.other.ctx, this.sideTopology(bg.other), bg.rows);
    bg.statusAt = Date.now();
  }

  /**
   * One switchover step: moves the status rows to `to` and does what RDS does on the way: blue read-only when
   * IN_PROGRESS starts; green caught up, promoted and the names swapped before POST_PROCESSING — meanwhile, with
   * `dropConnections`, every instance of both sides resets its connections and refuses new ones, as RDS does
   * while it renames; blue writable again when a switchover rolls back from IN_PROGRESS.
   */
  blueGreenStep(toArg: unknown, dropConnections = true): Promise<BlueGreenState> {
    return this.enqueue(async () => {
      const bg = this.state.blueGreen;
      if (!bg || !this.other)
        throw new OperationError(
          `cluster ${this.state.clusterId} has no Blue/Green deployment ('blue-green create' first)`,
        );
      const from = bg.status;
      const to = toArg as BlueGreenStatus;
      if (!nextStatusAllowed(from, to))
        throw new OperationError(`Blue/Green deployment ${bg.id} cannot go from ${from} to ${String(toArg)}`);
      const t0 = Date.now();
      if (to === 'SWITCHOVER_IN_PROGRESS') {
        bg.status = to;
        await this.publishBlueGreen();
        this.log(`blue-green ${bg.id}: ${to} published`);
        await this.engine.setReadOnly?.(this.ctx, this.spec(this.writer()), true);
        this.log(`blue-green ${bg.id}: blue read-only`);
      } else if (to === 'SWITCHOVER_IN_POST_PROCESSING') {
        const green = this.sideTopology(bg.other);
        const all = [...this.state.instances, ...bg.other];
        if (dropConnections) {
          for (const i of all) {
            const proxy = this.proxies.get(i.name)!;
            await proxy.setServerUp(false);
            proxy.resetConnections();
          }
          this.log(`blue-green ${bg.id}: connections dropped and refused`);
        }
        try {
          await this.other.engine.promoteCopy?.(this.other.ctx, green.writer, this.spec(this.writer()), green);
          bg.greenPromoted = true;
          this.log(`blue-green ${bg.id}: green promoted`);
          await this.swapNames();
        } finally {
          // The instances keep their proxies through the renames.
          if (dropConnections)
            for (const i of [...this.state.instances, ...bg.other])
              if (i.running) await this.proxies.get(i.name)!.setServerUp(true);
        }
        if (dropConnections)
          this.log(`blue-green ${bg.id}: connections to both sides dropped and refused for ${Date.now() - t0} ms`);
        bg.status = to;
        await this.publishBlueGreen();
        this.log(`blue-green ${bg.id}: ${to} published`);
      } else if (from === 'SWITCHOVER_IN_PROGRESS' && to === 'SWITCHOVER_INITIATED') {
        await this.engine.setReadOnly?.(this.ctx, this.spec(this.writer()), false);
        bg.status = to;
        await this.publishBlueGreen();
      } else {
        bg.status = to;
        await this.publishBlueGreen();
      }
      await this.save();
      this.log(`blue-green ${bg.id}: ${from} -> ${to} in ${Date.now() - t0} ms`);
      return bg;
    });
  }

  /**
   * The switchover's renames: green instances and endpoints take the blue names (and addresses behind them stay),
   * blue ones get `-old1`, the green names are gone; the cluster's instances are the former green ones from now on.
   */
  private async swapNames(): Promise<void> {
    const bg = this.state.blueGreen!;
    const other = this.other!;
    const { clusterId, region, clusterName } = this.state;
    const greenSuffix = `-green-${bg.suffix}`;
    const renamedTo = (i: InstanceState, name: string): InstanceState => ({
      ...i,
      name,
      dnsName: instanceDnsName(name, clusterId, region),
    });
    const newGreen = bg.other.map((i) =>
      renamedTo(i, i.name.endsWith(greenSuffix) ? i.name.slice(0, -greenSuffix.length) : i.name),
    );
    const newBlue = this.state.instances.map((i) => renamedTo(i, oldName(i.name)));
    const renames = (before: readonly InstanceState[], after: readonly InstanceState[]): Map<string, InstanceSpec> =>
      new Map(before.map((b, n) => [b.name, this.spec(after[n])]));
    await this.engine.rename?.(this.ctx, renames(this.state.instances, newBlue), this.sideTopology(newBlue));
    await other.engine.rename?.(other.ctx, renames(bg.other, newGreen), this.sideTopology(newGreen));
    for (const [before, after] of [
      [this.state.instances, newBlue],
      [bg.other, newGreen],
    ] as const) {
      before.forEach((b, n) => {
        const proxy = this.proxies.get(b.name)!;
        this.proxies.delete(b.name);
        this.proxies.set(after[n].name, proxy);
      });
    }
    const oldCluster = oldName(clusterName);
    const blueWriterEp: EndpointState = {
      ...this.state.writerEndpoint,
      dnsName: writerEndpointDnsName(oldCluster, clusterId, region),
      targets: newBlue.filter((i) => i.role === 'writer').map((i) => i.name),
    };
    const blueReaderEp: EndpointState = {
      ...this.state.readerEndpoint,
      dnsName: readerEndpointDnsName(oldCluster, clusterId, region),
      targets: [],
    };
    const greenWriterEp: EndpointState = { ...bg.otherWriterEndpoint, dnsName: this.state.writerEndpoint.dnsName };
    const greenReaderEp: EndpointState = { ...bg.otherReaderEndpoint, dnsName: this.state.readerEndpoint.dnsName };
    this.state.instances = newGreen;
    this.state.writerEndpoint = greenWriterEp;
    this.state.readerEndpoint = greenReaderEp;
    bg.other = newBlue;
    bg.otherWriterEndpoint = blueWriterEp;
    bg.otherReaderEndpoint = blueReaderEp;
    bg.engineDir = other.ctx.dir;
    bg.otherEngineDir = this.ctx.dir;
    bg.renamed = true;
    const blueSide: Side = {
      engine: this.engine,
      ctx: this.ctx,
      served: this.served,
      writerEndpoint: this.writerEndpoint,
      readerEndpoint: this.readerEndpoint,
    };
    this.engine = other.engine;
    this.ctx = other.ctx;
    this.served = other.served;
    this.writerEndpoint = other.writerEndpoint;
    this.readerEndpoint = other.readerEndpoint;
    this.other = blueSide;
    await this.served?.refresh?.();
    await blueSide.served?.refresh?.();
    this.retargetEndpoints(0);
    this.retargetOther(0);
    if (this.state.etcHosts) await this.writeHosts();
    this.log(
      `blue-green ${bg.id}: ${newGreen.map((i) => i.name).join(', ')} now serve the blue names; old blue is ${newBlue.map((i) => i.name).join(', ')}`,
    );
  }

  /** `down`: stops everything and removes data; keeps logs unless told otherwise. */
  down(keepLogs = true): Promise<void> {
    this.stopping ??= (async () => {
      this.log('down');
      this.state.status = 'stopping';
      await this.save().catch(() => {});
      await this.queue.catch(() => {});
      await this.teardown(keepLogs);
    })();
    return this.stopping;
  }

  private async teardown(keepLogs: boolean): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    if (this.ownerWatch) clearInterval(this.ownerWatch);
    for (const p of this.proxies.values()) p.close();
    this.writerEndpoint?.close();
    this.readerEndpoint?.close();
    this.globalEndpoint?.close();
    for (const p of this.customProxies.values()) p.close();
    await this.rdsApiServer?.close();
    this.shardGroup?.close();
    await this.served?.close().catch((err: Error) => this.log(`engine services: ${err.message}`));
    if (this.engine && this.state)
      await this.engine
        .destroy(
          this.ctx,
          this.state.instances.map((i) => this.spec(i)),
        )
        .catch((err: Error) => this.log(`destroy: ${err.message}`));
    if (this.other && this.state?.blueGreen) {
      const other = this.other;
      other.writerEndpoint.close();
      other.readerEndpoint.close();
      await other.served?.close().catch((err: Error) => this.log(`blue-green engine services: ${err.message}`));
      await other.engine
        .destroy(
          other.ctx,
          this.state.blueGreen.other.map((i) => this.spec(i)),
        )
        .catch((err: Error) => this.log(`blue-green destroy: ${err.message}`));
      for (const i of this.state.blueGreen.other) i.running = false;
    }
    if (this.state?.etcHosts)
      await removeHostsBlock(this.state.clusterId).catch((err: Error) => this.log(`/etc/hosts: ${err.message}`));
    if (this.state) {
      await fs.rm(path.join(this.state.dir, 'data'), { recursive: true, force: true });
      await fs.rm(path.join(this.state.dir, 'pgpass'), { force: true });
      const bg = this.state.blueGreen;
      for (const d of bg ? [bg.engineDir, bg.otherEngineDir] : [])
        if (path.resolve(d) !== path.resolve(this.state.dir)) await fs.rm(d, { recursive: true, force: true });
      for (const i of this.state.instances) i.running = false;
      if (this.state.status !== 'failed') this.state.status = 'down';
      this.state.control = null;
      if (keepLogs) await this.save().catch(() => {});
      else {
        await this.saving;
        await fs.rm(this.state.dir, { recursive: true, force: true });
      }
    }
    this.control?.close();
  }

  private watchOwner(pid: number): void {
    this.ownerWatch = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
          this.log(`owner process ${pid} exited; taking the cluster down`);
          void this.down(true).then(() => process.exit(0));
        }
      }
    }, 500);
  }

  // ---- control API ------------------------------------------------------------------------------------------

  private async startControl(): Promise<void> {
    const token = randomBytes(24).toString('hex');
    const server = http.createServer((req, res) => {
      void this.handle(req, res, token);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    this.control = server;
    this.state.control = { host: '127.0.0.1', port: (server.address() as AddressInfo).port, token };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, token: string): Promise<void> {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}`) return reply(401, { ok: false, error: 'bad control token' });
    let body = '';
    for await (const chunk of req) body += String(chunk);
    let args: Record<string, unknown> = {};
    try {
      if (body) args = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return reply(400, { ok: false, error: 'request body is not JSON' });
    }
    const op = (req.url ?? '/').replace(/^\//, '');
    try {
      let result: unknown = null;
      switch (op) {
        case 'status':
          break;
        case 'kill':
          await this.kill(args.name);
          break;
        case 'hang':
          await this.hang(args.name);
          break;
        case 'heal':
          await this.heal(args.name);
          break;
        case 'latency':
          await this.latency(args.name, args.ms);
          break;
        case 'dns-lag':
          await this.setDnsLag(args.ms);
          break;
        case 'router':
          await this.router(args.action, args.name, args.load);
          break;
        case 'failover':
          result = await this.failover(args);
          break;
        case 'rejoin':
          await this.rejoin(args.name);
          break;
        case 'restart':
          await this.restart(args.name, args.mode ?? 'fast');
          break;
        case 'add-reader':
          result = await this.addReader();
          break;
        case 'remove-reader':
          await this.removeReader(args.name);
          break;
        case 'fence-writer':
          await this.fenceWriter(args.mode ?? 'immediate');
          break;
        case 'follow':
          await this.follow(args.upstream);
          break;
        case 'publish-global':
          await this.publishGlobal(args.doc);
          break;
        case 'global-endpoint':
          await this.setGlobalEndpoint(args.address, args.name);
          break;
        case 'custom-endpoint-create':
          result = await this.createCustomEndpoint(args as unknown as CustomEndpointSpec);
          break;
        case 'custom-endpoint-modify':
          result = await this.modifyCustomEndpoint(args as unknown as CustomEndpointSpec);
          break;
        case 'custom-endpoint-delete':
          await this.deleteCustomEndpoint(args.name);
          break;
        case 'blue-green-create':
          result = await this.blueGreenCreate(args.suffix);
          break;
        case 'blue-green-step':
          result = await this.blueGreenStep(args.to, args.dropConnections !== false);
          break;
        case 'down': {
          await this.down(args.keepLogs !== false);
          res.on('finish', () => process.exit(0));
          return reply(200, { ok: true, result: null, state: this.state });
        }
        default:
          return reply(404, { ok: false, error: `unknown operation '${op}'` });
      }
      this.shardGroup?.refreshCounts();
      reply(200, { ok: true, result, state: this.state });
    } catch (err) {
      const e = err as Error;
      if (!(e instanceof OperationError)) this.log(`${op} failed: ${e.stack ?? e.message}`);
      reply(e instanceof OperationError ? 400 : 500, { ok: false, error: e.message, state: this.state });
    }
  }
}
