/**
 * Typed API over the addon's enhanced failure monitoring (crates/monitor-core/src/efm.rs): per-host monitors that
 * decide, on their own thread, that a host stopped answering and shut down the sockets of the calls in flight on it.
 *
 * A connection is registered once (`monitor.watch(socket)`); each call then arms and disarms its watch by writing
 * to memory shared with the monitor — no native call per query.
 */
import type { Socket } from 'node:net';
import { ConfigurationError } from '../errors.js';
import type { EfmEventKind } from '../native/binding.js';
import {
  isNativeLoaded,
  nativeBinding,
  socketFd,
  toNativeTarget,
  wrapProvider,
  type NativeBinding,
  type ParamsProvider,
  type ProbeErrorClass,
  type ProbeTarget,
} from '../native/index.js';

export interface EfmMonitorStats {
  /** Registered connections. */
  watches: number;
  /** Connections with a call in progress. */
  armed: number;
  /** `SELECT 1` probes sent. */
  probes: number;
  /** Probe connections opened. */
  connects: number;
  /** Calls aborted. */
  aborted: number;
  deadDeclarations: number;
  /** The host is currently considered dead. */
  dead: boolean;
}

export interface EfmMonitorSpec {
  /** The host to probe (`postgres` or `mysql`; `tcp` probes a TCP connect only). */
  readonly target: ProbeTarget;
  /** 1: `host_monitoring` (per-call verdict), 2: `host_monitoring_v2` (per-host verdict). */
  readonly version: 1 | 2;
  /** A call is monitored once it has run this long (failureDetectionTimeMs); 0 = from its start. */
  readonly graceMs: number;
  /** Time between probes (failureDetectionIntervalMs). */
  readonly intervalMs: number;
  /** The host is dead after `intervalMs × count` without an answer (failureDetectionCount). */
  readonly count: number;
  /** Deadline of opening the probe connection (parameters, TCP, TLS, authentication). */
  readonly connectTimeoutMs: number;
  /** Deadline of one `SELECT 1`. */
  readonly queryTimeoutMs: number;
}

export interface EfmEvent {
  readonly monitorId: number;
  /** `dead`: declared dead now; `aborted`: more calls aborted while dead (or, v1, per call); `alive`: answers again. */
  readonly kind: EfmEventKind;
  readonly host: string;
  readonly port: number;
  /** Ids of the watches whose calls this event aborted (their sockets are already shut down). */
  readonly aborted: readonly number[];
  readonly errorClass?: ProbeErrorClass;
  /** Why the last probe failed (never contains a password). */
  readonly message?: string;
  /** How long the host had not answered (dead / aborted), or had been dead (alive). */
  readonly silentForMs: number;
  /** Time of the verdict (ms since the Unix epoch; taken on the monitor's thread, not when JS got the event). */
  readonly at: number;
}

/** One registered connection. */
export interface EfmWatch {
  readonly id: number;
  /** Whether native code can shut this connection's socket down (Unix, connected TCP socket). */
  readonly nativeAbort: boolean;
  /** A call starts (nested calls count: the watch stays armed from the first start to the last end). */
  arm(): void;
  /** The call ended. */
  disarm(): void;
  /** The monitor aborted this connection's call. */
  readonly aborted: boolean;
  /** Unregisters the connection (idempotent). */
  unwatch(): void;
}

export interface EfmMonitor {
  readonly id: number;
  readonly spec: EfmMonitorSpec;
  /**
   * Registers a connection by its socket (the one native code shuts down on abort; without one, only the event
   * reports the abort). Undefined when the monitor is no longer running (stopped, or the addon's resources were
   * released).
   */
  watch(socket: Socket | undefined): EfmWatch | undefined;
  /** Counters; undefined once stopped. */
  stats(): EfmMonitorStats | undefined;
  /** Stops the monitor and closes its probe connection; false when it was not running. */
  stop(): boolean;
}

/** Poll period of a native monitor (efm.rs): a call armed with a shorter grace time wakes the monitor at once. */
const NATIVE_POLL_MS = 100;

function checkNumber(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > 86_400_000) {
    throw new ConfigurationError(`${what}: expected a number in [${min}, 86400000], got ${String(v)}`, what);
  }
  return v;
}

class NativeEfmWatch implements EfmWatch {
  readonly id: number;
  readonly nativeAbort: boolean;
  private depth = 0;
  private done = false;

  constructor(
    private readonly binding: NativeBinding,
    private readonly monitorId: number,
    private readonly cells: Float64Array,
    private readonly nudge: boolean,
    nativeAbort: boolean,
  ) {
    this.id = cells[2]!;
    this.nativeAbort = nativeAbort;
  }

  arm(): void {
    if (this.depth++ === 0) {
      this.cells[0] = performance.now();
      if (this.nudge) this.binding.efmNudge(this.monitorId);
    }
  }

  disarm(): void {
    if (this.depth > 0 && --this.depth === 0) this.cells[0] = 0;
  }

  get aborted(): boolean {
    return this.cells[1] !== 0;
  }

  unwatch(): void {
    if (this.done) return;
    this.done = true;
    this.cells[0] = 0;
    this.binding.efmUnwatch(this.monitorId, this.id);
  }
}

/**
 * Starts a monitor of one host. `onEvent` gets its verdicts on the JS thread (an exception it throws surfaces as an
 * uncaught exception); `provider` answers its requests for connection parameters (else the process-wide provider of
 * setParamsProvider). The monitor never keeps the process alive.
 */
export function startEfmMonitor(
  spec: EfmMonitorSpec,
  onEvent: (event: EfmEvent) => void,
  provider?: ParamsProvider,
): EfmMonitor {
  if (spec?.version !== 1 && spec?.version !== 2)
    throw new ConfigurationError(`version: expected 1 or 2, got ${String(spec?.version)}`, 'version');
  const graceMs = checkNumber(spec.graceMs, 'graceMs', 0);
  const intervalMs = checkNumber(spec.intervalMs, 'intervalMs', 1);
  const count = spec.count;
  if (!Number.isInteger(count) || count < 1)
    throw new ConfigurationError(`count: expected an integer >= 1, got ${String(count)}`, 'count');
  const connectTimeoutMs = checkNumber(spec.connectTimeoutMs, 'connectTimeoutMs', 1);
  const queryTimeoutMs = checkNumber(spec.queryTimeoutMs, 'queryTimeoutMs', 1);
  const target = toNativeTarget(spec.target);
  if (typeof onEvent !== 'function') throw new ConfigurationError('onEvent: expected a function', 'onEvent');

  const b = nativeBinding();
  let stopped = false;
  const id = b.efmStart(
    { target, version: spec.version, graceMs, intervalMs, count, connectTimeoutMs, queryTimeoutMs },
    (e) => {
      if (stopped) return;
      const event: EfmEvent = {
        monitorId: e.monitorId,
        kind: e.kind,
        host: e.host,
        port: e.port,
        aborted: e.aborted,
        silentForMs: e.silentForMs,
        at: e.at,
        ...(e.errorClass !== undefined ? { errorClass: e.errorClass } : {}),
        ...(e.message !== undefined ? { message: e.message } : {}),
      };
      try {
        onEvent(event);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    },
    provider ? wrapProvider(provider) : null,
  );
  const nudge = graceMs < 2 * NATIVE_POLL_MS;
  return {
    id,
    spec: { ...spec },
    watch(socket) {
      if (stopped) return undefined;
      const fd = socket ? socketFd(socket) : undefined;
      const buffer = b.efmWatch(id, fd ?? -1, performance.now());
      if (buffer === null) return undefined;
      return new NativeEfmWatch(b, id, new Float64Array(buffer), nudge, fd !== undefined);
    },
    stats: () => b.efmStats(id) ?? undefined,
    stop() {
      stopped = true;
      return b.efmStop(id);
    },
  };
}

/** EFM monitors running in this process. */
export function efmMonitorCount(): number {
  return isNativeLoaded() ? nativeBinding().efmMonitorCount() : 0;
}
