/**
 * The client side of the lookalike's Blue/Green deployments: `cluster.blueGreen()` makes one, and
 * `switchover()` walks its status rows through the switchover one step at a time, holding each phase for its
 * configured time and for as long as the caller's `onPhase` callback runs — so a test acts inside a phase
 * without sleeping. The work of each step (read-only blue, promotion, renames) is done by the supervisor.
 */
import type {
  BlueGreenRow,
  BlueGreenState,
  BlueGreenStatus,
  ClusterState,
  EndpointState,
  InstanceState,
} from './state.js';

export type { BlueGreenRow, BlueGreenStatus } from './state.js';

/** How long each phase lasts at least, in milliseconds (default 1000 each). */
export interface BlueGreenPhaseMs {
  readonly initiated?: number;
  readonly inProgress?: number;
  readonly post?: number;
}

export interface SwitchoverOptions {
  /** One duration for every phase, or one per phase. */
  readonly phaseMs?: number | BlueGreenPhaseMs;
  /** Walk back from IN_PROGRESS to AVAILABLE instead of completing (blue is made writable again; nothing moves). */
  readonly rollback?: boolean;
  /**
   * At the end of IN_PROGRESS, while green is promoted and the names move, every instance of both sides resets
   * its open connections and refuses new ones, as RDS does (default true; false keeps connections open).
   */
  readonly dropConnections?: boolean;
  /** Called as each status is published; the phase lasts until it resolves (and at least its phaseMs). */
  readonly onPhase?: (status: BlueGreenStatus, deployment: BlueGreenDeployment) => void | Promise<void>;
}

export interface SwitchoverPhase {
  readonly status: BlueGreenStatus;
  /** Epoch ms when the status was published (on both sides). */
  readonly at: number;
  /** How long the status was published before the next one (0 for the last). */
  readonly ms: number;
}

export interface SwitchoverResult {
  readonly rollback: boolean;
  readonly phases: readonly SwitchoverPhase[];
  readonly totalMs: number;
}

/** What a BlueGreenDeployment needs from its LocalCluster. */
export interface BlueGreenHost {
  state(): ClusterState;
  call<T>(op: string, args?: Record<string, unknown>): Promise<T>;
}

const DEFAULT_PHASE_MS = 1000;

function phaseMsOf(options: SwitchoverOptions, status: BlueGreenStatus): number {
  const given = options.phaseMs;
  const pick = (n: number | undefined): number => {
    const v = n ?? DEFAULT_PHASE_MS;
    if (!Number.isFinite(v) || v < 0)
      throw new Error(`phaseMs must be a non-negative number of milliseconds, got ${String(v)}`);
    return v;
  };
  if (typeof given === 'number' || given === undefined) return pick(given);
  if (status === 'SWITCHOVER_INITIATED') return pick(given.initiated);
  if (status === 'SWITCHOVER_IN_PROGRESS') return pick(given.inProgress);
  if (status === 'SWITCHOVER_IN_POST_PROCESSING') return pick(given.post);
  return 0;
}

export class BlueGreenDeployment {
  constructor(private readonly host: BlueGreenHost) {}

  private get bg(): BlueGreenState {
    const bg = this.host.state().blueGreen;
    if (!bg) throw new Error(`cluster ${this.host.state().clusterId} has no Blue/Green deployment`);
    return bg;
  }

  /** `bgd-…`, as RDS deployment ids look. */
  get id(): string {
    return this.bg.id;
  }

  /** The 6 characters of the green names. */
  get suffix(): string {
    return this.bg.suffix;
  }

  get status(): BlueGreenStatus {
    return this.bg.status;
  }

  /** Whether the names moved: blue names now reach the former green instances. */
  get renamed(): boolean {
    return this.bg.renamed;
  }

  /** The status rows as last published (what the dialects' status SQL returns on either side). */
  get rows(): readonly BlueGreenRow[] {
    return this.bg.rows;
  }

  /** The green instances before the switchover; after it they are the cluster's `instances` (under blue names). */
  get green(): readonly InstanceState[] {
    return this.bg.renamed ? this.host.state().instances : this.bg.other;
  }

  /** The blue instances before the switchover; after it the old blue ones (`…-old1`). */
  get blue(): readonly InstanceState[] {
    return this.bg.renamed ? this.bg.other : this.host.state().instances;
  }

  get greenWriterEndpoint(): EndpointState {
    return this.bg.renamed ? this.host.state().writerEndpoint : this.bg.otherWriterEndpoint;
  }

  get greenReaderEndpoint(): EndpointState {
    return this.bg.renamed ? this.host.state().readerEndpoint : this.bg.otherReaderEndpoint;
  }

  /** One step of the switchover (for scripts that drive the phases themselves). */
  async step(to: BlueGreenStatus, options: { dropConnections?: boolean } = {}): Promise<void> {
    await this.publish(to, options);
  }

  /** One step; resolves to the epoch ms its status was published (a step does more work before or after). */
  private async publish(to: BlueGreenStatus, options: { dropConnections?: boolean }): Promise<number> {
    const bg = await this.host.call<BlueGreenState>('blue-green-step', {
      to,
      dropConnections: options.dropConnections ?? true,
    });
    return bg.statusAt ?? Date.now();
  }

  /**
   * AVAILABLE → SWITCHOVER_INITIATED → SWITCHOVER_IN_PROGRESS (blue read-only; at its end green catches up, is
   * promoted and the names move) → SWITCHOVER_IN_POST_PROCESSING → SWITCHOVER_COMPLETED; with `rollback`,
   * IN_PROGRESS → SWITCHOVER_INITIATED → AVAILABLE (blue writable again, green still a copy).
   */
  async switchover(options: SwitchoverOptions = {}): Promise<SwitchoverResult> {
    if (this.status !== 'AVAILABLE')
      throw new Error(`Blue/Green deployment ${this.id} is ${this.status}: a switchover starts from AVAILABLE`);
    for (const s of ['SWITCHOVER_INITIATED', 'SWITCHOVER_IN_PROGRESS', 'SWITCHOVER_IN_POST_PROCESSING'] as const)
      phaseMsOf(options, s);
    const rollback = options.rollback ?? false;
    const path: BlueGreenStatus[] = rollback
      ? ['SWITCHOVER_INITIATED', 'SWITCHOVER_IN_PROGRESS', 'SWITCHOVER_INITIATED', 'AVAILABLE']
      : ['SWITCHOVER_INITIATED', 'SWITCHOVER_IN_PROGRESS', 'SWITCHOVER_IN_POST_PROCESSING', 'SWITCHOVER_COMPLETED'];
    const t0 = Date.now();
    const phases: { status: BlueGreenStatus; at: number; ms: number }[] = [];
    for (let n = 0; n < path.length; n++) {
      const status = path[n];
      // A phase runs from its status's publication (IN_PROGRESS: blue turns read-only after it, as on RDS).
      const at = await this.publish(status, { dropConnections: options.dropConnections });
      const previous = phases[phases.length - 1];
      if (previous) previous.ms = at - previous.at;
      phases.push({ status, at, ms: 0 });
      const last = n === path.length - 1;
      const hold = last ? 0 : phaseMsOf(options, status);
      await Promise.all([
        hold > 0 ? new Promise((resolve) => setTimeout(resolve, hold)) : undefined,
        options.onPhase?.(status, this),
      ]);
    }
    return { rollback, phases, totalMs: Date.now() - t0 };
  }
}
