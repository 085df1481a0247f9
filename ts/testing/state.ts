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
  instances: InstanceState[];
  readonly writerEndpoint: EndpointState;
  readonly readerEndpoint: EndpointState;
  /** The Aurora Limitless shard group (aurora-pg started with routers). */
  shardGroup?: ShardGroupState;
  readonly startedAt: string;
  /** Milliseconds `up` took, from spawning the supervisor to ready (set by the supervisor). */
  upMs?: number;
  lastError?: string;
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
    throw new Error(`no lookalike cluster in '${dir}': ${STATE_FILE} not found (start one with 'cluster up --dir ${dir}')`);
  }
  const state = JSON.parse(text) as ClusterState;
  if (state.version !== 1) throw new Error(`${file}: unsupported state version ${String(state.version)}`);
  return state;
}
