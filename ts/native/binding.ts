/**
 * The shape of the raw N-API binding (crates/napi/src/lib.rs). Only ts/native/ uses it; the rest of the
 * wrapper goes through the typed API in ./index.ts.
 */

export interface NativeTarget {
  kind: string;
  host: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
  ssl?: string;
  ca?: string;
  serverName?: string;
}

export interface NativeParamsRequest {
  kind: string;
  host: string;
  port: number;
  purpose: string;
  monitorId?: number;
}

export interface NativeParams {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  ssl?: string;
  ca?: string;
  serverName?: string;
}

export interface NativeProbeResult {
  ok: boolean;
  errorClass?: string;
  message?: string;
  elapsedMs: number;
  cancelled: boolean;
}

export interface NativeMonitorEvent {
  monitorId: number;
  seq: number;
  kind: string;
  host: string;
  port: number;
  ok: boolean;
  errorClass?: string;
  message?: string;
  elapsedMs: number;
  at: number;
  abortedSockets: number;
}

export interface NativeBinding {
  probe(target: NativeTarget, timeoutMs: number, done: (result: NativeProbeResult) => void): void;
  startMonitor(
    target: NativeTarget,
    intervalMs: number,
    timeoutMs: number,
    keepConnection: boolean,
    onEvent: (event: NativeMonitorEvent) => void,
  ): number;
  stopMonitor(id: number): boolean;
  setMonitorAbortSockets(id: number, fds: number[], afterFailures: number): boolean;
  shutdownSocket(fd: number): void;
  monitorCount(): number;
  setParamsProvider(provider: ((request: NativeParamsRequest) => Promise<NativeParams>) | null): void;
  nativeThreadCount(): number;
  shutdown(timeoutMs: number): boolean;
  nativeVersion(): string;
}

const FUNCTIONS: readonly (keyof NativeBinding)[] = [
  'probe',
  'startMonitor',
  'stopMonitor',
  'setMonitorAbortSockets',
  'shutdownSocket',
  'monitorCount',
  'setParamsProvider',
  'nativeThreadCount',
  'shutdown',
  'nativeVersion',
];

/** Checks that a loaded module has every function of the binding (a stale or foreign binary would not). */
export function asBinding(mod: unknown, file: string): NativeBinding {
  const missing = FUNCTIONS.filter((name) => typeof (mod as Record<string, unknown> | null)?.[name] !== 'function');
  if (missing.length > 0) {
    throw new Error(`${file} is not a compatible aws-advanced-ts-wrapper addon (missing ${missing.join(', ')}); rebuild it`);
  }
  return mod as NativeBinding;
}
