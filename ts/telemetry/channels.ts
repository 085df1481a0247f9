/**
 * The wrapper's `node:diagnostics_channel` events: failover, enhanced failure monitoring, connection switches,
 * topology changes, authentication fetches and Blue/Green switchover phases. Like undici and Node's own modules, nothing is built or published
 * while a channel has no subscriber: each `publish…` helper checks `hasSubscribers` first, so the call sites cost a
 * property read. Messages carry host names, ports, roles, durations and error class names — never statements,
 * bound values, tokens, passwords or error messages (a driver message may quote a value).
 *
 * The OpenTelemetry bridge (otel.ts) is one subscriber among others; an application may subscribe directly:
 *   diagnostics_channel.subscribe('aws-advanced-ts-wrapper:failover:end', (msg) => …)
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { HostRole, type HostInfo } from '../host-info.js';

export const CHANNEL_NAMES = {
  /** A failover starts (FailoverStartMessage). */
  failoverStart: 'aws-advanced-ts-wrapper:failover:start',
  /** A failover ended, found a new connection or gave up (FailoverEndMessage). */
  failoverEnd: 'aws-advanced-ts-wrapper:failover:end',
  /** A host monitor's verdict: declared dead, more calls aborted, or answering again (EfmVerdictMessage). */
  efmVerdict: 'aws-advanced-ts-wrapper:efm:verdict',
  /** A client's call was aborted because its host was declared dead (EfmAbortMessage). */
  efmAbort: 'aws-advanced-ts-wrapper:efm:abort',
  /** A client's physical connection was replaced (ConnectionSwitchMessage). */
  connectionSwitch: 'aws-advanced-ts-wrapper:connection:switch',
  /** A cluster's stored topology changed: hosts or writer (TopologyChangeMessage). */
  topologyChange: 'aws-advanced-ts-wrapper:topology:change',
  /** An authentication token, secret or role credentials were fetched, or the fetch failed (AuthFetchMessage). */
  authFetch: 'aws-advanced-ts-wrapper:auth:fetch',
  /** A Blue/Green deployment's phase (merged from its blue and green status) changed (BlueGreenPhaseMessage). */
  bgPhase: 'aws-advanced-ts-wrapper:bg:phase',
} as const;

export type ChannelName = (typeof CHANNEL_NAMES)[keyof typeof CHANNEL_NAMES];

/** A host as messages name it. */
export interface HostRef {
  readonly host: string;
  readonly port: number;
  /** 'writer', 'reader' or 'unknown' as last known. */
  readonly role: string;
}

export interface FailoverStartMessage {
  /** 'failover' or 'failover_v2'. */
  readonly plugin: string;
  /** strict_writer, strict_reader or reader_or_writer. */
  readonly mode: string;
  readonly from: HostRef | undefined;
  /** Class name (and code, when it has one) of the error that triggered failover, e.g. 'Error (ECONNRESET)'. */
  readonly trigger: string;
  /** ms since the Unix epoch. */
  readonly at: number;
}

export interface FailoverEndMessage extends FailoverStartMessage {
  readonly outcome: 'success' | 'failed';
  /** The new connection's host; undefined when failover failed. */
  readonly to: HostRef | undefined;
  readonly durationMs: number;
}

export interface EfmVerdictMessage {
  /** 'dead': declared dead now; 'aborted': more calls aborted while dead; 'alive': answers again. */
  readonly verdict: 'dead' | 'aborted' | 'alive';
  readonly host: string;
  readonly port: number;
  /** How long the host had not answered (dead / aborted), or had been dead (alive). */
  readonly silentForMs: number;
  /** Calls this verdict aborted. */
  readonly abortedCalls: number;
  readonly at: number;
}

export interface EfmAbortMessage {
  /** 'host_monitoring' or 'host_monitoring_v2'. */
  readonly plugin: string;
  readonly host: string;
  readonly port: number;
  readonly silentForMs: number;
  readonly at: number;
}

export interface ConnectionSwitchMessage {
  /** undefined for the initial connection. */
  readonly from: HostRef | undefined;
  readonly to: HostRef;
  /** 'pg' or 'mysql2'. */
  readonly driver: string;
  readonly at: number;
}

export interface TopologyChangeMessage {
  readonly clusterId: string;
  readonly previousWriter: string | undefined;
  /** `host:port` of the writer now. */
  readonly writer: string | undefined;
  readonly hosts: readonly HostRef[];
  readonly at: number;
}

export interface AuthFetchMessage {
  /** iam, aws_secrets_manager, federated_auth, okta. */
  readonly plugin: string;
  /** What was fetched. */
  readonly kind: 'iam-token' | 'secret' | 'saml-token' | 'role-credentials';
  readonly outcome: 'success' | 'failed';
  readonly durationMs: number;
  /** Class name (and code) of the error when the fetch failed. */
  readonly error: string | undefined;
  readonly at: number;
}

export interface BlueGreenPhaseMessage {
  /** The deployment's `bgId` option (the cluster endpoint when not set). */
  readonly bgId: string;
  /** NOT_CREATED, CREATED, PREPARATION, IN_PROGRESS, POST or COMPLETED. */
  readonly phase: string;
  readonly previousPhase: string;
  /** The switchover went back to a lower phase (rolled back). */
  readonly rollback: boolean;
  /** bgSwitchoverTimeoutMs expired and forced the phase. */
  readonly timedOut: boolean;
  readonly at: number;
}

const failoverStart = diagnosticsChannel.channel(CHANNEL_NAMES.failoverStart);
const failoverEnd = diagnosticsChannel.channel(CHANNEL_NAMES.failoverEnd);
const efmVerdict = diagnosticsChannel.channel(CHANNEL_NAMES.efmVerdict);
const efmAbort = diagnosticsChannel.channel(CHANNEL_NAMES.efmAbort);
const connectionSwitch = diagnosticsChannel.channel(CHANNEL_NAMES.connectionSwitch);
const topologyChange = diagnosticsChannel.channel(CHANNEL_NAMES.topologyChange);
const authFetch = diagnosticsChannel.channel(CHANNEL_NAMES.authFetch);
const bgPhase = diagnosticsChannel.channel(CHANNEL_NAMES.bgPhase);

export function hostRef(h: HostInfo | undefined): HostRef | undefined {
  return h === undefined ? undefined : { host: h.host, port: h.port, role: h.role };
}

/** 'ClassName (CODE)' of an error: what kind of failure, without its message. */
export function errorKind(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number' ? `${err.name} (${code})` : err.name;
}

export function publishFailoverStart(plugin: string, mode: string, from: HostInfo | undefined, cause: unknown): void {
  if (!failoverStart.hasSubscribers) return;
  failoverStart.publish({
    plugin,
    mode,
    from: hostRef(from),
    trigger: errorKind(cause),
    at: Date.now(),
  } satisfies FailoverStartMessage);
}

export function publishFailoverEnd(
  plugin: string,
  e: {
    readonly from: HostInfo | undefined;
    readonly to: HostInfo | undefined;
    readonly durationMs: number;
    readonly error: unknown;
    readonly outcome: 'success' | 'failed';
    readonly mode: string;
  },
): void {
  if (!failoverEnd.hasSubscribers) return;
  const msg: FailoverEndMessage = {
    plugin,
    mode: e.mode,
    from: hostRef(e.from),
    trigger: errorKind(e.error),
    at: Date.now(),
    outcome: e.outcome,
    to: hostRef(e.to),
    durationMs: e.durationMs,
  };
  failoverEnd.publish(msg);
}

/** `host`: the monitored host as configured (the event's own address may be the resolved one). */
export function publishEfmVerdict(
  host: HostInfo,
  e: {
    readonly kind: EfmVerdictMessage['verdict'];
    readonly port: number;
    readonly silentForMs: number;
    readonly aborted: readonly number[];
    readonly at: number;
  },
): void {
  if (!efmVerdict.hasSubscribers) return;
  efmVerdict.publish({
    verdict: e.kind,
    host: host.host,
    port: e.port,
    silentForMs: e.silentForMs,
    abortedCalls: e.aborted.length,
    at: e.at,
  } satisfies EfmVerdictMessage);
}

export function publishEfmAbort(plugin: string, host: string, port: number, silentForMs: number): void {
  if (!efmAbort.hasSubscribers) return;
  efmAbort.publish({ plugin, host, port, silentForMs, at: Date.now() } satisfies EfmAbortMessage);
}

export function publishConnectionSwitch(driver: string, from: HostInfo | undefined, to: HostInfo): void {
  if (!connectionSwitch.hasSubscribers) return;
  connectionSwitch.publish({
    from: hostRef(from),
    to: { host: to.host, port: to.port, role: to.role },
    driver,
    at: Date.now(),
  } satisfies ConnectionSwitchMessage);
}

/** Publishes when `after` differs from `before` in its hosts, roles or writer (a refresh that changed nothing is silent). */
export function publishTopologyChange(
  clusterId: string,
  before: readonly HostInfo[] | undefined,
  after: readonly HostInfo[],
): void {
  if (!topologyChange.hasSubscribers) return;
  const key = (hosts: readonly HostInfo[] | undefined): string =>
    (hosts ?? []).map((h) => `${h.hostAndPort}/${h.role}`).join(',');
  if (key(before) === key(after)) return;
  const writerOf = (hosts: readonly HostInfo[] | undefined): string | undefined =>
    hosts?.find((h) => h.role === HostRole.WRITER)?.hostAndPort;
  topologyChange.publish({
    clusterId,
    previousWriter: writerOf(before),
    writer: writerOf(after),
    hosts: after.map((h) => ({ host: h.host, port: h.port, role: h.role })),
    at: Date.now(),
  } satisfies TopologyChangeMessage);
}

export function publishBlueGreenPhase(
  bgId: string,
  previousPhase: string,
  phase: string,
  flags: { readonly rollback: boolean; readonly timedOut: boolean },
): void {
  if (!bgPhase.hasSubscribers) return;
  bgPhase.publish({
    bgId,
    phase,
    previousPhase,
    rollback: flags.rollback,
    timedOut: flags.timedOut,
    at: Date.now(),
  } satisfies BlueGreenPhaseMessage);
}

/**
 * Runs an authentication fetch and publishes its outcome. The fetched value never reaches the channel: the
 * message says what was fetched, by which plugin, how long it took and whether it failed.
 */
export function traceAuthFetch<T>(plugin: string, kind: AuthFetchMessage['kind'], fetch: () => Promise<T>): Promise<T> {
  if (!authFetch.hasSubscribers) return fetch();
  const started = Date.now();
  const publish = (err: unknown): void => {
    if (!authFetch.hasSubscribers) return;
    const failed = err !== undefined;
    authFetch.publish({
      plugin,
      kind,
      outcome: failed ? 'failed' : 'success',
      durationMs: Date.now() - started,
      error: failed ? errorKind(err) : undefined,
      at: Date.now(),
    } satisfies AuthFetchMessage);
  };
  return fetch().then(
    (value) => {
      publish(undefined);
      return value;
    },
    (err: unknown) => {
      publish(err ?? new Error('undefined rejection'));
      throw err;
    },
  );
}
