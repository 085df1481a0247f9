/**
 * Typed API over the native addon: one-shot host probes, periodic probe monitors, the connection-parameters
 * provider native code asks for credentials and addresses, and the release of every native thread.
 *
 * The addon is loaded lazily on first use. Its threads never keep the process alive, and `releaseResources()`
 * stops them all (joined within a bound). A process 'exit' hook does the same on `process.exit()` and after an
 * uncaught exception, where Node runs no addon cleanup hooks.
 */
import type { Socket } from 'node:net';
import { ConfigurationError, AwsWrapperError } from '../errors.js';
import { getLogger } from '../logger.js';
import type {
  NativeMonitorEvent,
  NativeParams,
  NativeProbeResult,
  NativeTarget,
  ParamsCallback,
  ParamsPurpose,
  ProbeErrorClass,
  ProbeKind,
  SslMode,
} from './binding.js';
import { loadBinding, type NativeBinding } from './loader.js';

export { NativeAddonUnavailableError, platformName, type NativeBinding } from './loader.js';
export type { ProbeErrorClass, ProbeKind, SslMode } from './binding.js';

const log = getLogger('native');

/** Connection parameters native code needs to open a probe connection. */
export interface ConnectParams {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** Default `disable`. */
  ssl?: SslMode;
  /** Extra trusted CA certificates (PEM), e.g. the RDS bundle; for `verify-full`. */
  ca?: string;
  /** Certificate / SNI name when `host` is an address. */
  serverName?: string;
}

/** A host to probe. Credentials may be given here or by the provider (see setParamsProvider). */
export interface ProbeTarget extends ConnectParams {
  kind: ProbeKind;
  host: string;
  port: number;
}

export type ProbeResult =
  | { ok: true; elapsedMs: number }
  | { ok: false; errorClass: ProbeErrorClass; message: string; elapsedMs: number };

export type ProbeMonitorEvent = ProbeResult & {
  monitorId: number;
  /** 1 for the first tick. */
  seq: number;
  kind: ProbeKind;
  host: string;
  port: number;
  /** End of the tick, ms since the Unix epoch. */
  at: number;
  /** Sockets this tick shut down (see ProbeMonitor.abortSocketsOnFailure). */
  abortedSockets: number;
};

export interface ProbeMonitorOptions {
  /** Time between the starts of two probes. */
  intervalMs: number;
  /** Deadline of one probe, including the wait for connection parameters. */
  timeoutMs: number;
  /** Keep the probe connection open between ticks (default true); it is reopened after a failure. */
  keepConnection?: boolean;
}

export interface ProbeMonitor {
  readonly id: number;
  /** Stops the monitor; false when it had already stopped. */
  stop(): boolean;
  /**
   * Has the monitor's own thread shut down these sockets (both directions; they are not closed) once
   * `afterFailures` probes in a row have failed, so a pending query on them fails even while the JS event loop
   * is blocked. Replaces the previous list; the sockets are aborted once, then forgotten; `[]` clears it. Call
   * again when one of them closes (its fd number is reused by the next open). Unix only: elsewhere (or for a
   * socket without an fd) it returns false and registers nothing. False too when the monitor has stopped.
   */
  abortSocketsOnFailure(sockets: readonly (Socket | number)[], afterFailures: number): boolean;
}

export interface ParamsRequest {
  kind: ProbeKind;
  host: string;
  port: number;
  purpose: ParamsPurpose;
  monitorId?: number;
}

/**
 * Answers native code's request for connection parameters (IAM tokens, secrets, host address maps). Fields it
 * returns replace the target's; a rejection fails the probe (class `other`); an answer later than the probe's
 * deadline fails it with class `timeout`.
 */
export type ParamsProvider = (request: ParamsRequest) => ConnectParams | Promise<ConnectParams>;

/** A probe was still running when releaseResources() stopped the native runtime. */
export class NativeProbeCancelledError extends AwsWrapperError {
  constructor(message: string) {
    super(message, { code: 'WRAPPER_NATIVE_CANCELLED' });
  }
}

/** Bound for joining native threads on releaseResources(). */
export const DEFAULT_RELEASE_TIMEOUT_MS = 5000;
/** Bound for joining native threads while the process exits. */
const EXIT_RELEASE_TIMEOUT_MS = 1000;

// The loaded addon is process-wide by nature (a dlopen'd module), so the handle to it is too.
let binding: NativeBinding | undefined;
let provider: ParamsProvider | null = null;
/** Bumped by every release: events already queued by monitors of an earlier generation are not delivered. */
let generation = 0;

function addon(): NativeBinding {
  if (binding) return binding;
  const b = loadBinding();
  binding = b;
  // Env cleanup hooks do not run on process.exit() or after an uncaught exception: join the threads here.
  process.once('exit', () => {
    try {
      b.shutdown(EXIT_RELEASE_TIMEOUT_MS);
    } catch {
      // exiting anyway
    }
  });
  if (provider) b.setParamsProvider(wrapProvider(provider));
  log.debug('native addon %s loaded', b.nativeVersion());
  return b;
}

/**
 * The loaded addon (loaded on first use; throws NativeAddonUnavailableError when missing), for the modules that drive
 * its monitors (host-list-providers/topology-monitor.ts, plugins/host-monitoring-efm.ts). Not public API.
 */
export function nativeBinding(): NativeBinding {
  return addon();
}

/** Bumped by every release: native monitors started in an earlier generation are gone. */
export function nativeGeneration(): number {
  return generation;
}

/** Whether the addon has been loaded in this process. */
export function isNativeLoaded(): boolean {
  return binding !== undefined;
}

/** Loads the addon if needed; false (never a throw) when it is not available for this platform. */
export function isNativeAvailable(): boolean {
  try {
    addon();
    return true;
  } catch (err) {
    log.debug('native addon unavailable: %s', (err as Error).message);
    return false;
  }
}

/** The members of a string union, listed once as the keys of a record (the compiler checks the list is complete). */
function members<T extends string>(all: Record<T, true>): readonly string[] {
  return Object.keys(all);
}

const KINDS = members<ProbeKind>({ tcp: true, postgres: true, mysql: true });
const SSL_MODES = members<SslMode>({ disable: true, prefer: true, require: true, 'verify-full': true });

function checkPort(port: unknown, what: string): void {
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
    throw new ConfigurationError(`${what}: expected an integer port in 1..65535, got ${String(port)}`, what);
  }
}

function checkMs(ms: unknown, what: string): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0 || ms > 86_400_000) {
    throw new ConfigurationError(`${what}: expected milliseconds in (0, 86400000], got ${String(ms)}`, what);
  }
  return ms;
}

function checkSsl(ssl: unknown, what: string): void {
  if (ssl !== undefined && !SSL_MODES.includes(ssl as string)) {
    throw new ConfigurationError(`${what}: expected one of ${SSL_MODES.join(', ')}, got ${String(ssl)}`, what);
  }
}

/** Checks a target and copies it to the binding's shape (only the fields that are set). */
export function toNativeTarget(t: ProbeTarget): NativeTarget {
  if (!KINDS.includes(t?.kind)) {
    throw new ConfigurationError(`target.kind: expected one of ${KINDS.join(', ')}, got ${String(t?.kind)}`, 'kind');
  }
  if (typeof t.host !== 'string' || t.host === '') {
    throw new ConfigurationError('target.host: expected a non-empty string', 'host');
  }
  checkPort(t.port, 'target.port');
  checkSsl(t.ssl, 'target.ssl');
  const n: NativeTarget = { kind: t.kind, host: t.host, port: t.port };
  if (t.user !== undefined) n.user = t.user;
  if (t.password !== undefined) n.password = t.password;
  if (t.database !== undefined) n.database = t.database;
  if (t.ssl !== undefined) n.ssl = t.ssl;
  if (t.ca !== undefined) n.ca = t.ca;
  if (t.serverName !== undefined) n.serverName = t.serverName;
  return n;
}

function fromNativeResult(r: NativeProbeResult | NativeMonitorEvent): ProbeResult {
  if (r.ok) return { ok: true, elapsedMs: r.elapsedMs };
  return { ok: false, errorClass: r.errorClass ?? 'other', message: r.message ?? '', elapsedMs: r.elapsedMs };
}

/**
 * Probes a host once: TCP connect, or connect + TLS + authenticate + `SELECT 1` for postgres / mysql. Every step
 * (and the wait for the parameters provider) is bounded by `timeoutMs`. Resolves with the outcome; rejects only
 * on bad input, a missing addon, or NativeProbeCancelledError when releaseResources() interrupts it.
 */
export function probeHost(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const native = toNativeTarget(target);
  checkMs(timeoutMs, 'timeoutMs');
  const b = addon();
  return new Promise((resolve, reject) => {
    b.probe(native, timeoutMs, (r) => {
      if (r.cancelled) reject(new NativeProbeCancelledError(r.message ?? 'probe cancelled'));
      else resolve(fromNativeResult(r));
    });
  });
}

/**
 * Starts probing a host every `intervalMs`; each probe's outcome is passed to `onEvent` on the JS thread. The
 * monitor never keeps the process alive. An exception thrown by `onEvent` surfaces as an uncaught exception.
 */
export function startProbeMonitor(
  target: ProbeTarget,
  options: ProbeMonitorOptions,
  onEvent: (event: ProbeMonitorEvent) => void,
): ProbeMonitor {
  const native = toNativeTarget(target);
  const intervalMs = checkMs(options?.intervalMs, 'intervalMs');
  const timeoutMs = checkMs(options?.timeoutMs, 'timeoutMs');
  if (typeof onEvent !== 'function') throw new ConfigurationError('onEvent: expected a function', 'onEvent');
  const b = addon();
  const startedIn = generation;
  let stopped = false;
  const id = b.startMonitor(native, intervalMs, timeoutMs, options.keepConnection ?? true, (e) => {
    // An event may already be queued when the monitor is stopped or released; the caller is done with it.
    if (stopped || startedIn !== generation) return;
    const event: ProbeMonitorEvent = {
      ...fromNativeResult(e),
      monitorId: e.monitorId,
      seq: e.seq,
      kind: e.kind,
      host: e.host,
      port: e.port,
      at: e.at,
      abortedSockets: e.abortedSockets,
    };
    try {
      onEvent(event);
    } catch (err) {
      // Not through N-API's fatal-exception path: rethrow on a fresh tick like any async callback error.
      process.nextTick(() => {
        throw err;
      });
    }
  });
  return {
    id,
    stop: () => {
      stopped = true;
      return b.stopMonitor(id);
    },
    abortSocketsOnFailure: (sockets, afterFailures) => {
      if (!Number.isInteger(afterFailures) || afterFailures < 1) {
        throw new ConfigurationError(`afterFailures: expected an integer >= 1, got ${String(afterFailures)}`, 'afterFailures');
      }
      const fds = sockets.map(socketFd);
      if (fds.some((fd) => fd === undefined)) return false;
      return b.setMonitorAbortSockets(id, fds as number[], afterFailures);
    },
  };
}

/**
 * The OS file descriptor of a connected socket (the TCP socket under a TLS socket), or undefined where Node does
 * not expose one (Windows, pipes not yet open). Reads Node's internal `_handle`, which has no public equivalent.
 */
export function socketFd(socket: Socket | number): number | undefined {
  if (typeof socket === 'number') return Number.isInteger(socket) && socket >= 0 ? socket : undefined;
  if (process.platform === 'win32') return undefined;
  type WithHandle = { _handle?: { fd?: unknown } | null; _parent?: WithHandle | null };
  for (let s: WithHandle | null | undefined = socket as unknown as WithHandle; s; s = s._parent) {
    const fd = s._handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return fd;
  }
  return undefined;
}

/**
 * Shuts down a socket from native code right now (both directions; the socket is not closed, so its owner sees
 * an orderly end). False when the socket has no fd here (see socketFd) or is no longer an open socket.
 */
export function shutdownSocket(socket: Socket | number): boolean {
  const fd = socketFd(socket);
  if (fd === undefined) return false;
  try {
    addon().shutdownSocket(fd);
    return true;
  } catch (err) {
    if (err instanceof AwsWrapperError) throw err; // the addon is missing
    return false;
  }
}

function toNativeParams(p: ConnectParams): NativeParams {
  if (p === null || typeof p !== 'object') throw new ConfigurationError('params provider: expected an object of connection parameters', 'provider');
  if (p.port !== undefined) checkPort(p.port, 'params provider port');
  checkSsl(p.ssl, 'params provider ssl');
  const n: NativeParams = {};
  for (const key of ['host', 'user', 'password', 'database', 'ca', 'serverName'] as const) {
    const v = p[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw new ConfigurationError(`params provider ${key}: expected a string`, key);
    n[key] = v;
  }
  if (p.ssl !== undefined && p.ssl !== null) n.ssl = p.ssl;
  if (p.port !== undefined) n.port = p.port;
  return n;
}

/** Adapts a ParamsProvider to what the binding calls (checked answers); also for EFM monitors' own providers. */
export function wrapProvider(fn: ParamsProvider): ParamsCallback {
  return (request) =>
    Promise.resolve()
      .then(() => {
        const req: ParamsRequest = { kind: request.kind, host: request.host, port: request.port, purpose: request.purpose };
        if (request.monitorId !== undefined) req.monitorId = request.monitorId;
        return fn(req);
      })
      .then(toNativeParams);
}

/**
 * Sets the function native code asks for connection parameters before each probe and whenever a monitor
 * opens a connection (so rotating IAM tokens and secrets apply), or clears it with `null`. Does not load the
 * addon by itself.
 */
export function setParamsProvider(fn: ParamsProvider | null): void {
  if (fn !== null && typeof fn !== 'function') throw new ConfigurationError('params provider: expected a function or null', 'provider');
  provider = fn;
  binding?.setParamsProvider(fn ? wrapProvider(fn) : null);
}

/** Threads the addon currently owns (0 when it is not loaded or idle after a release). */
export function nativeThreadCount(): number {
  return binding ? binding.nativeThreadCount() : 0;
}

/** Monitors currently running. */
export function nativeMonitorCount(): number {
  return binding ? binding.monitorCount() : 0;
}

/**
 * Stops all native work (monitors, probes) and joins every native thread within `timeoutMs`. Returns whether
 * all threads ended in time. Idempotent; does nothing (and loads nothing) when the addon was never loaded.
 * Native work started afterwards starts a fresh runtime.
 */
export function releaseResourcesSync(timeoutMs: number = DEFAULT_RELEASE_TIMEOUT_MS): boolean {
  checkMs(timeoutMs, 'timeoutMs');
  if (!binding) return true;
  generation++;
  const joined = binding.shutdown(timeoutMs);
  if (!joined) log.warn('native threads did not all end within %d ms', timeoutMs);
  for (const listener of releaseListeners) queueMicrotask(listener);
  return joined;
}

const releaseListeners = new Set<() => void>();

/**
 * Calls `listener` (in a microtask) after each release of the native runtime: for work that is waiting on a
 * monitor right now and must start it again rather than wait for the next call. Returns the unsubscribe function.
 */
export function onNativeRelease(listener: () => void): () => void {
  releaseListeners.add(listener);
  return () => releaseListeners.delete(listener);
}

/** Promise form of releaseResourcesSync(); resolves once every native thread has been joined (or the bound passed). */
export async function releaseResources(timeoutMs: number = DEFAULT_RELEASE_TIMEOUT_MS): Promise<void> {
  releaseResourcesSync(timeoutMs);
}
