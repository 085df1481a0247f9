/**
 * Typed API over the addon's Blue/Green status monitors (crates/napi/src/blue_green.rs): native tasks that poll a
 * deployment's status source at the phase's rate and report snapshots (rows and resolved addresses) when they
 * change. The bg plugin's status provider (ts/plugins/bg-status.ts) merges them.
 */
import type { NativeParams } from './binding.js';
import { isNativeLoaded, nativeBinding, nativeGeneration } from './index.js';

export type BlueGreenRole = 'SOURCE' | 'TARGET';
export type BlueGreenPhase = 'NOT_CREATED' | 'CREATED' | 'PREPARATION' | 'IN_PROGRESS' | 'POST' | 'COMPLETED';

export const PHASE_ORDER: readonly BlueGreenPhase[] = ['NOT_CREATED', 'CREATED', 'PREPARATION', 'IN_PROGRESS', 'POST', 'COMPLETED'];

export interface BlueGreenMonitorConfig {
  /** 'postgres' | 'mysql' */
  readonly kind: 'postgres' | 'mysql';
  readonly role: BlueGreenRole;
  /** Returns `version, endpoint, port, role, status` rows. */
  readonly statusQuery: string;
  /** Where the monitor connects first; it moves to its role's endpoint once the rows name it. */
  readonly host: string;
  readonly port: number;
  readonly baselineMs: number;
  readonly increasedMs: number;
  readonly highMs: number;
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
}

export interface BlueGreenStatusRow {
  readonly version: string;
  /** Lower-cased host name. */
  readonly endpoint: string;
  readonly port: number;
  /** BLUE_GREEN_DEPLOYMENT_SOURCE | BLUE_GREEN_DEPLOYMENT_TARGET */
  readonly role: string;
  readonly status: string;
}

export interface BlueGreenMonitorEvent {
  readonly monitorId: number;
  readonly kind: 'status' | 'error';
  readonly seq: number;
  readonly rows: readonly BlueGreenStatusRow[];
  /** Addresses the endpoints resolved to through DNS (empty list: the name does not resolve). */
  readonly addresses: readonly { readonly host: string; readonly ips: readonly string[] }[];
  /** The phase of the monitor's own role. */
  readonly phase: BlueGreenPhase;
  readonly host: string;
  readonly port: number;
  readonly errorClass?: string;
  readonly message?: string;
  /** ms since the Unix epoch. */
  readonly at: number;
}

export interface BlueGreenParamsRequest {
  readonly kind: string;
  readonly host: string;
  readonly port: number;
  /** The last login was refused: fetch fresh credentials. */
  readonly refresh: boolean;
}

interface BlueGreenBinding {
  startBlueGreenMonitor(
    config: BlueGreenMonitorConfig,
    params: (req: BlueGreenParamsRequest) => Promise<NativeParams>,
    onEvent: (ev: BlueGreenMonitorEvent) => void,
  ): number;
  setBlueGreenPhase(id: number, phase: BlueGreenPhase): boolean;
  stopBlueGreenMonitor(id: number): boolean;
  blueGreenMonitorCount(): number;
}

const FUNCTIONS: readonly (keyof BlueGreenBinding)[] = ['startBlueGreenMonitor', 'setBlueGreenPhase', 'stopBlueGreenMonitor', 'blueGreenMonitorCount'];

function blueGreenBinding(): BlueGreenBinding {
  const b = nativeBinding() as unknown as Record<string, unknown>;
  const missing = FUNCTIONS.filter((f) => typeof b[f] !== 'function');
  if (missing.length > 0) throw new Error(`the native addon has no Blue/Green monitors (missing ${missing.join(', ')}); rebuild it`);
  return b as unknown as BlueGreenBinding;
}

/** One native status monitor; restarted by `ensureRunning()` after releaseResources() stopped the addon. */
export class BlueGreenStatusMonitor {
  private id: number | undefined;
  private generation = -1;
  private epoch = 0;
  private stopped = false;
  private phase: BlueGreenPhase = 'NOT_CREATED';

  constructor(
    readonly config: BlueGreenMonitorConfig,
    private readonly params: (req: BlueGreenParamsRequest) => Promise<NativeParams>,
    private readonly onEvent: (ev: BlueGreenMonitorEvent) => void,
  ) {}

  ensureRunning(): void {
    if (this.stopped) return;
    if (this.id !== undefined && this.generation === nativeGeneration()) return;
    const epoch = ++this.epoch;
    this.id = blueGreenBinding().startBlueGreenMonitor(this.config, (req) => this.params(req), (ev) => {
      if (epoch === this.epoch && !this.stopped) this.onEvent(ev);
    });
    this.generation = nativeGeneration();
    if (this.phase !== 'NOT_CREATED') blueGreenBinding().setBlueGreenPhase(this.id, this.phase);
  }

  /** The deployment's merged phase: the monitor polls at least at its rate. */
  setPhase(phase: BlueGreenPhase): void {
    this.phase = phase;
    if (this.id !== undefined && this.generation === nativeGeneration()) blueGreenBinding().setBlueGreenPhase(this.id, phase);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.epoch++;
    if (this.id !== undefined && this.generation === nativeGeneration()) blueGreenBinding().stopBlueGreenMonitor(this.id);
    this.id = undefined;
  }
}

/** Blue/Green monitors running in this thread's addon (0 when it is not loaded). */
export function blueGreenMonitorCount(): number {
  return isNativeLoaded() ? blueGreenBinding().blueGreenMonitorCount() : 0;
}
