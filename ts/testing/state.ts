/**
 * The lookalike cluster's state file (`cluster.json` in the state directory): what a test, a benchmark and a
 * person at a shell share to drive the same cluster. Written only by the supervisor.
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Flavour } from './engine.js';
import type { Fault } from './proxy.js';
import type { ShardGroupState } from './shard-group.js';

export const STATE_FILE = 'cluster.json';

export type InstanceRole = 'writer' | 'reader';

export interface InstanceState {
  readonly name: string;
  readonly serverId: number;
  readonly resourceId: string;
  readonly dnsName: string;
  role: InstanceRole;
  /** Public address `host:port` (the instance proxy). */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Internal port of the real server on 127.0.0.1. */
  readonly internalPort: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** Whether the server process runs. */
  running: boolean;
  fault: Fault;
  latencyMs: number;
}

export interface EndpointState {
  readonly dnsName: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Instance names new connections currently go to (after DNS lag). */
  targets: string[];
}

/** A custom endpoint (`<name>.cluster-custom-<id>.<region>.rds.amazonaws.com`) and its membership. */
export interface CustomEndpointState extends EndpointState {
  readonly name: string;
  /** READER: only the readers among the members; ANY: every member. */
  type: 'READER' | 'ANY';
  /** When not empty, exactly these instances are members. */
  staticMembers: string[];
  /** When staticMembers is empty: every instance but these is a member. */
  excludedMembers: string[];
}

/** The lookalike's RDS API (DescribeDBClusterEndpoints, …): where it listens and the access key it accepts. */
export interface RdsApiState {
  /** `http://127.0.0.1:<port>`, for the SDK's `endpoint` (the wrapper's `customEndpointRdsEndpoint`). */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface ClusterCredentials {
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export interface ClusterState {
  readonly version: 1;
  readonly clusterId: string;
  readonly clusterName: string;
  readonly region: string;
  readonly flavour: Flavour;
  readonly dir: string;
  status: 'starting' | 'ready' | 'stopping' | 'down' | 'failed';
  readonly supervisorPid: number;
  control: { readonly host: string; readonly port: number; readonly token: string } | null;
  readonly credentials: ClusterCredentials;
  readonly publicPort: number;
  /** `127.X.Y` when every instance has its own loopback address, null when they share 127.0.0.1. */
  readonly addressBlock: string | null;
  dnsLagMs: number;
  readonly etcHosts: boolean;
  /** The cluster's instances; after a Blue/Green switchover, the former green ones under the blue names. */
  instances: InstanceState[];
  writerEndpoint: EndpointState;
  readerEndpoint: EndpointState;
  /** Global database: the `global-` writer endpoint, served by the first region's supervisor. */
  globalEndpoint?: EndpointState;
  /** Global database: this cluster's role. */
  globalRole?: 'primary' | 'secondary';
  customEndpoints: CustomEndpointState[];
  rdsApi: RdsApiState | null;
  /** The Aurora Limitless shard group (aurora-pg started with routers). */
  shardGroup?: ShardGroupState;
  readonly startedAt: string;
  /** The Blue/Green deployment made by `blue-green create`, if any. */
  blueGreen?: BlueGreenState;
  /** Milliseconds `up` took, from spawning the supervisor to ready (set by the supervisor). */
  upMs?: number;
  lastError?: string;
}

/** The `status` column of the Blue/Green status rows, in the order a switchover walks them. */
export type BlueGreenStatus =
  | 'AVAILABLE'
  | 'SWITCHOVER_INITIATED'
  | 'SWITCHOVER_IN_PROGRESS'
  | 'SWITCHOVER_IN_POST_PROCESSING'
  | 'SWITCHOVER_COMPLETED';

/** One row of the Blue/Green status source, as the dialects' status SQL reads it. */
export interface BlueGreenRow {
  readonly id: number | string;
  readonly endpoint: string;
  readonly port: number;
  readonly role: 'BLUE_GREEN_DEPLOYMENT_SOURCE' | 'BLUE_GREEN_DEPLOYMENT_TARGET';
  readonly status: BlueGreenStatus;
  readonly version: string;
}

export interface BlueGreenState {
  /** `bgd-` + 16 characters, as RDS deployment ids look. */
  readonly id: string;
  /** The 6 characters of the green names (`-green-<suffix>`). */
  readonly suffix: string;
  status: BlueGreenStatus;
  /** Epoch ms when `status` was published on both sides (what the status functions answer from then on). */
  statusAt?: number;
  /** Set once the green writer was promoted (it no longer replicates from blue). */
  greenPromoted: boolean;
  /** Set once the names moved: blue names resolve to green addresses, old blue names end in `-old1`. */
  renamed: boolean;
  /** Directory of the engine serving `instances` (the cluster's `dir`, or the green copy's after a switchover). */
  engineDir: string;
  /** Directory of the engine serving `other`. */
  otherEngineDir: string;
  /** The green instances (before the switchover) or the old blue ones (after it; names `…-old1`). */
  other: InstanceState[];
  otherWriterEndpoint: EndpointState;
  otherReaderEndpoint: EndpointState;
  /** The status rows as last published. */
  rows: BlueGreenRow[];
}

/**
 * Every DNS name of the cluster (and its Blue/Green counterpart) → loopback `host:port`, as DNS answers now:
 * before a switchover blue and green names each resolve to their own addresses; after it the blue names resolve
 * to the (former) green addresses, old blue names end in `-old1`, and the green names are gone.
 */
export function nameTable(state: ClusterState): Record<string, string> {
  const map: Record<string, string> = {};
  const add = (instances: readonly InstanceState[], w: EndpointState, r: EndpointState): void => {
    for (const i of instances) map[i.dnsName] = i.address;
    map[w.dnsName] = w.address;
    map[r.dnsName] = r.address;
  };
  add(state.instances, state.writerEndpoint, state.readerEndpoint);
  const bg = state.blueGreen;
  if (bg) add(bg.other, bg.otherWriterEndpoint, bg.otherReaderEndpoint);
  if (state.globalEndpoint) map[state.globalEndpoint.dnsName] = state.globalEndpoint.address;
  for (const ce of state.customEndpoints ?? []) map[ce.dnsName] = ce.address;
  const group = state.shardGroup;
  if (group) {
    map[group.dnsName] = group.address;
    for (const r of group.routers) map[r.dnsName] = r.address;
  }
  return map;
}

export async function writeState(state: ClusterState): Promise<void> {
  const file = path.join(state.dir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  // Mode 0600: the file holds the control token and the cluster's password.
  await fs.writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(tmp, file);
}

export function readState(dir: string): ClusterState {
  const file = path.join(dir, STATE_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(
      `no lookalike cluster in '${dir}': ${STATE_FILE} not found (start one with 'cluster up --dir ${dir}')`,
    );
  }
  const state = JSON.parse(text) as ClusterState;
  if (state.version !== 1) throw new Error(`${file}: unsupported state version ${String(state.version)}`);
  return state;
}
