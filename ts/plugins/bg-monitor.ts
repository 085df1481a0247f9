/**
 * Typed API over the addon's Blue/Green status monitors (crates/napi/src/blue_green.rs): native tasks that poll a
 * deployment's status source at the phase's rate and report snapshots (rows and resolved addresses) when they
 * change. The bg plugin's status provider (ts/plugins/bg-status.ts) merges them.
 */
import type {
  BlueGreenPhase,
  NativeBlueGreenConfig,
  NativeBlueGreenEvent,
  NativeMonitorParamsRequest,
  NativeBlueGreenStatusRow,
  NativeParams,
} from '../native/binding.js';
import { isNativeLoaded, nativeBinding, nativeGeneration } from '../native/index.js';

export type { BlueGreenPhase, BlueGreenRole } from '../native/binding.js';

export const PHASE_ORDER: readonly BlueGreenPhase[] = [
  'NOT_CREATED',
  'CREATED',
  'PREPARATION',
  'IN_PROGRESS',
  'POST',
  'COMPLETED',
];

/** What a status monitor polls: `statusQuery` returns `version, endpoint, port, role, status` rows. */
export type BlueGreenMonitorConfig = Readonly<NativeBlueGreenConfig>;
/** A status row (`endpoint` lower-cased). */
export type BlueGreenStatusRow = Readonly<NativeBlueGreenStatusRow>;
/** A snapshot (rows and the addresses their endpoints resolved to) or a connection error. */
export type BlueGreenMonitorEvent = Readonly<NativeBlueGreenEvent>;
export type BlueGreenParamsRequest = Readonly<NativeMonitorParamsRequest>;

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
    this.id = nativeBinding().startBlueGreenMonitor(
      this.config,
      (req) => this.params(req),
      (ev) => {
        if (epoch === this.epoch && !this.stopped) this.onEvent(ev);
      },
    );
    this.generation = nativeGeneration();
    if (this.phase !== 'NOT_CREATED') nativeBinding().setBlueGreenPhase(this.id, this.phase);
  }

  /** The deployment's merged phase: the monitor polls at least at its rate. */
  setPhase(phase: BlueGreenPhase): void {
    this.phase = phase;
    if (this.id !== undefined && this.generation === nativeGeneration())
      nativeBinding().setBlueGreenPhase(this.id, phase);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.epoch++;
    if (this.id !== undefined && this.generation === nativeGeneration()) nativeBinding().stopBlueGreenMonitor(this.id);
    this.id = undefined;
  }
}

/** Blue/Green monitors running in this thread's addon (0 when it is not loaded). */
export function blueGreenMonitorCount(): number {
  return isNativeLoaded() ? nativeBinding().blueGreenMonitorCount() : 0;
}
