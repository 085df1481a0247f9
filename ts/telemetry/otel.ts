/**
 * OpenTelemetry spans and metrics for clients with `enableTelemetry`. '@opentelemetry/api' is an optional peer
 * dependency, imported on the first connect of such a client and never otherwise; the application registers the SDK
 * (tracer / meter providers, exporters), as with any instrumentation library.
 *
 * Two parts:
 *  - ClientTelemetry (one per client): a span and a duration per client call, named by the statement's leading
 *    keyword (`db.operation.name`), never its text or values. The span is made active while the call runs, so the
 *    spans of @opentelemetry/instrumentation-pg / -mysql2 become its children (those remain the CLIENT spans; ours
 *    are INTERNAL, so nothing is counted twice as a database call).
 *  - TelemetryBridge (one per WrapperServices, in `services.shared`): subscribes to the diagnostics channels
 *    (channels.ts) and turns failover, EFM, connection switch, topology, auth and Blue/Green phase events into spans
 *    and metrics. A failover or auth span is a child of whatever span is active where it happened (the call's span).
 *    It also reports the sizes of the pools made with enableTelemetry (pool-metrics.ts) when the SDK collects.
 */
import type * as OtelApi from '@opentelemetry/api';
import diagnosticsChannel from 'node:diagnostics_channel';
import { AwsWrapperError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import type { WrapperOptions } from '../options.js';
import { boundedSqlPrefix, statementText } from '../plugin-manager.js';
import type { WrapperServices } from '../services.js';
import { hostMonitorRegistry } from '../plugins/host-monitoring-common.js';
import { topologyMonitors as topologyMonitorsOf } from '../host-list-providers/cluster-state.js';
import { observedPools, type PoolSizes } from './pool-metrics.js';
import {
  CHANNEL_NAMES,
  errorKind,
  type AuthFetchMessage,
  type BlueGreenPhaseMessage,
  type ConnectionSwitchMessage,
  type EfmAbortMessage,
  type EfmVerdictMessage,
  type FailoverEndMessage,
  type TopologyChangeMessage,
} from './channels.js';

type Api = typeof OtelApi;

/** Instrumentation scope name of the tracer and meter. */
export const INSTRUMENTATION_NAME = 'aws-advanced-ts-wrapper';

export interface TelemetrySettings {
  readonly traces: boolean;
  readonly metrics: boolean;
  readonly submitTopLevel: boolean;
  readonly failoverTopTrace: boolean;
}

/** What a client's options ask for; undefined when telemetry is off (or both backends are 'none'). */
export function telemetrySettings(options: WrapperOptions): TelemetrySettings | undefined {
  if (!options.enableTelemetry) return undefined;
  const traces = options.telemetryTracesBackend !== 'none';
  const metrics = options.telemetryMetricsBackend !== 'none';
  if (!traces && !metrics) return undefined;
  return {
    traces,
    metrics,
    submitTopLevel: options.telemetrySubmitToplevel,
    failoverTopTrace: options.telemetryFailoverAdditionalTopTrace,
  };
}

function isModuleNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/** Imports '@opentelemetry/api'; a clear error naming the package when it is not installed. */
export async function loadOtelApi(): Promise<Api> {
  try {
    return await import('@opentelemetry/api');
  } catch (err) {
    if (isModuleNotFound(err)) {
      throw new AwsWrapperError(
        "enableTelemetry needs the package '@opentelemetry/api', which is not installed: run 'npm install @opentelemetry/api' (and an OpenTelemetry SDK)",
        {
          cause: err,
          code: 'WRAPPER_MISSING_DEPENDENCY',
        },
      );
    }
    throw err;
  }
}

/** Leading keyword of a statement (SELECT, INSERT, WITH, BEGIN …): the operation name, never more of the text. */
export function operationName(args: readonly unknown[]): string | undefined {
  const text = statementText(args);
  if (text === undefined) return undefined;
  const m = /^[A-Za-z]{1,32}/.exec(boundedSqlPrefix(text));
  return m === null ? undefined : m[0].toUpperCase();
}

const NO_POOL: PoolSizes = { idle: 0, used: 0, pending: 0, max: 0 };

function seconds(ms: number): number {
  return ms / 1000;
}

/** Subscribes to the wrapper's channels and records spans and metrics for them. */
export class TelemetryBridge {
  private readonly tracer: OtelApi.Tracer;
  /** Duration of each client call (recorded by ClientTelemetry). */
  readonly operationDuration: OtelApi.Histogram;
  private traces = false;
  private metrics = false;
  private failoverTopTrace = false;
  private readonly unsubscribers: (() => void)[] = [];
  private readonly failoverCount: OtelApi.Counter;
  private readonly failoverDuration: OtelApi.Histogram;
  private readonly efmVerdicts: OtelApi.Counter;
  private readonly efmAbortedCalls: OtelApi.Counter;
  private readonly switches: OtelApi.Counter;
  private readonly topologyChanges: OtelApi.Counter;
  private readonly authFetches: OtelApi.Counter;
  private readonly authFetchDuration: OtelApi.Histogram;
  private readonly bgPhaseChanges: OtelApi.Counter;
  /** Pool names observed at the last collection. */
  private readonly poolNames = new Set<string>();

  constructor(
    private readonly api: Api,
    services: WrapperServices,
  ) {
    this.tracer = api.trace.getTracer(INSTRUMENTATION_NAME);
    const meter = api.metrics.getMeter(INSTRUMENTATION_NAME);
    this.operationDuration = meter.createHistogram('aws_wrapper.operation.duration', {
      unit: 's',
      description: 'Duration of a client call through the wrapper (plugins included; failover time counts)',
    });
    this.failoverCount = meter.createCounter('aws_wrapper.failover.count', {
      description: 'Failovers, by mode and outcome',
    });
    this.failoverDuration = meter.createHistogram('aws_wrapper.failover.duration', {
      unit: 's',
      description: 'Time from the failed call to the new connection (or giving up)',
    });
    this.efmVerdicts = meter.createCounter('aws_wrapper.efm.verdict.count', {
      description: 'Host monitor verdicts: dead, aborted (more calls aborted while dead), alive',
    });
    this.efmAbortedCalls = meter.createCounter('aws_wrapper.efm.aborted_calls', {
      description: 'Client calls aborted because their host was declared dead',
    });
    this.switches = meter.createCounter('aws_wrapper.connection.switch.count', {
      description: 'Physical connections made current (initial connects, failovers, read/write switches)',
    });
    this.topologyChanges = meter.createCounter('aws_wrapper.topology.change.count', {
      description: 'Changes of a cluster topology (hosts, roles or writer)',
    });
    this.authFetches = meter.createCounter('aws_wrapper.auth.fetch.count', {
      description: 'Authentication tokens, secrets and role credentials fetched (not served from the cache)',
    });
    this.authFetchDuration = meter.createHistogram('aws_wrapper.auth.fetch.duration', {
      unit: 's',
      description: 'Time of an authentication fetch',
    });
    this.bgPhaseChanges = meter.createCounter('aws_wrapper.bg.phase.change.count', {
      description: 'Phase changes of Blue/Green deployments (switchover progress, rollbacks, timeouts)',
    });
    // Gauges of the services' background monitors and of the pools, read when the SDK collects.
    const efmMonitors = meter.createObservableGauge('aws_wrapper.efm.monitor.count', {
      description: 'Host monitors (enhanced failure monitoring) running',
    });
    const topologyMonitors = meter.createObservableGauge('aws_wrapper.topology.monitor.count', {
      description: 'Cluster topology monitors running',
    });
    // The OpenTelemetry database client conventions' pool metrics (UpDownCounters there: observed here).
    const poolConnections = meter.createObservableUpDownCounter('db.client.connection.count', {
      unit: '{connection}',
      description: 'Connections of a pool that are idle or used',
    });
    const poolMax = meter.createObservableUpDownCounter('db.client.connection.max', {
      unit: '{connection}',
      description: 'Most connections a pool opens',
    });
    const poolPending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
      unit: '{request}',
      description: 'Checkouts waiting for a connection of a pool',
    });
    const observables = [efmMonitors, topologyMonitors, poolConnections, poolMax, poolPending];
    const observe = (r: OtelApi.BatchObservableResult): void => {
      if (!this.metrics) return;
      r.observe(efmMonitors, hostMonitorRegistry(services).list().length);
      r.observe(topologyMonitors, topologyMonitorsOf(services).size);
      const sizes = observedPools(services).sizes();
      // A pool that ended (or was collected) is reported once with zeros: an SDK with cumulative temporality
      // otherwise exports its last sizes for ever.
      for (const name of this.poolNames) if (!sizes.has(name)) sizes.set(name, NO_POOL);
      this.poolNames.clear();
      for (const [name, size] of sizes) {
        if (size !== NO_POOL) this.poolNames.add(name);
        const pool = { 'db.client.connection.pool.name': name };
        r.observe(poolConnections, size.idle, { ...pool, 'db.client.connection.state': 'idle' });
        r.observe(poolConnections, size.used, { ...pool, 'db.client.connection.state': 'used' });
        r.observe(poolPending, size.pending, pool);
        if (size.max !== undefined) r.observe(poolMax, size.max, pool);
      }
    };
    meter.addBatchObservableCallback(observe, observables);
    this.unsubscribers.push(() => meter.removeBatchObservableCallback(observe, observables));
    this.on(CHANNEL_NAMES.failoverEnd, (m: FailoverEndMessage) => this.onFailover(m));
    this.on(CHANNEL_NAMES.efmVerdict, (m: EfmVerdictMessage) => this.onEfmVerdict(m));
    this.on(CHANNEL_NAMES.efmAbort, (m: EfmAbortMessage) => this.onEfmAbort(m));
    this.on(CHANNEL_NAMES.connectionSwitch, (m: ConnectionSwitchMessage) => this.onSwitch(m));
    this.on(CHANNEL_NAMES.topologyChange, (m: TopologyChangeMessage) => this.onTopology(m));
    this.on(CHANNEL_NAMES.authFetch, (m: AuthFetchMessage) => this.onAuthFetch(m));
    this.on(CHANNEL_NAMES.bgPhase, (m: BlueGreenPhaseMessage) => this.onBlueGreenPhase(m));
  }

  /** Turns on what a client's settings ask for (settings only add: another client's spans stay on). */
  enable(s: TelemetrySettings): void {
    this.traces ||= s.traces;
    this.metrics ||= s.metrics;
    this.failoverTopTrace ||= s.failoverTopTrace;
  }

  dispose(): void {
    for (const off of this.unsubscribers.splice(0)) off();
  }

  private on<M>(name: string, handle: (m: M) => void): void {
    const fn = (m: unknown): void => {
      try {
        handle(m as M);
      } catch {
        // A broken exporter or SDK never breaks the client.
      }
    };
    diagnosticsChannel.subscribe(name, fn);
    this.unsubscribers.push(() => diagnosticsChannel.unsubscribe(name, fn));
  }

  /** A span that ended now and lasted `durationMs`, child of the active span unless `root`. */
  private pastSpan(
    name: string,
    durationMs: number,
    attributes: OtelApi.Attributes,
    failed: string | undefined,
    root = false,
    links?: OtelApi.Link[],
  ): void {
    const api = this.api;
    const end = Date.now();
    const span = this.tracer.startSpan(
      name,
      { kind: api.SpanKind.INTERNAL, startTime: end - durationMs, attributes, root, links },
      api.context.active(),
    );
    if (failed !== undefined) span.setStatus({ code: api.SpanStatusCode.ERROR, message: failed });
    span.end(end);
  }

  private onFailover(m: FailoverEndMessage): void {
    const attrs: OtelApi.Attributes = {
      'aws_wrapper.plugin': m.plugin,
      'aws_wrapper.failover.mode': m.mode,
      'aws_wrapper.failover.outcome': m.outcome,
      'aws_wrapper.failover.trigger': m.trigger,
    };
    if (this.metrics) {
      this.failoverCount.add(1, attrs);
      this.failoverDuration.record(seconds(m.durationMs), {
        'aws_wrapper.failover.mode': m.mode,
        'aws_wrapper.failover.outcome': m.outcome,
      });
    }
    if (!this.traces) return;
    const spanAttrs: OtelApi.Attributes = { ...attrs };
    if (m.from !== undefined) Object.assign(spanAttrs, { 'server.address': m.from.host, 'server.port': m.from.port });
    if (m.to !== undefined)
      Object.assign(spanAttrs, {
        'aws_wrapper.failover.to.address': m.to.host,
        'aws_wrapper.failover.to.port': m.to.port,
        'aws_wrapper.failover.to.role': m.to.role,
      });
    const name = m.mode === 'strict_writer' ? 'failover to writer host' : 'failover to replica';
    const failed = m.outcome === 'failed' ? 'failover failed' : undefined;
    this.pastSpan(name, m.durationMs, spanAttrs, failed);
    if (this.failoverTopTrace) {
      const parent = this.api.trace.getSpan(this.api.context.active())?.spanContext();
      this.pastSpan(
        name,
        m.durationMs,
        spanAttrs,
        failed,
        true,
        parent === undefined ? undefined : [{ context: parent }],
      );
    }
  }

  private onEfmVerdict(m: EfmVerdictMessage): void {
    const attrs = { 'aws_wrapper.efm.verdict': m.verdict };
    if (this.metrics) this.efmVerdicts.add(1, attrs);
    // The monitor works for every client: a verdict that a host is dead is a trace of its own.
    if (this.traces && m.verdict === 'dead') {
      this.pastSpan(
        'connection status check',
        m.silentForMs,
        { ...attrs, 'server.address': m.host, 'server.port': m.port, 'aws_wrapper.efm.aborted_calls': m.abortedCalls },
        'host declared dead',
        true,
      );
    }
  }

  private onEfmAbort(m: EfmAbortMessage): void {
    if (this.metrics) this.efmAbortedCalls.add(1, { 'aws_wrapper.plugin': m.plugin });
  }

  private onSwitch(m: ConnectionSwitchMessage): void {
    if (this.metrics)
      this.switches.add(1, {
        'aws_wrapper.connection.initial': m.from === undefined,
        'aws_wrapper.connection.role': m.to.role,
      });
  }

  private onTopology(m: TopologyChangeMessage): void {
    if (this.metrics)
      this.topologyChanges.add(1, { 'aws_wrapper.topology.writer_changed': m.previousWriter !== m.writer });
  }

  private onAuthFetch(m: AuthFetchMessage): void {
    const attrs: OtelApi.Attributes = {
      'aws_wrapper.plugin': m.plugin,
      'aws_wrapper.auth.kind': m.kind,
      'aws_wrapper.auth.outcome': m.outcome,
    };
    if (m.error !== undefined) attrs['error.type'] = m.error;
    if (this.metrics) {
      this.authFetches.add(1, attrs);
      this.authFetchDuration.record(seconds(m.durationMs), attrs);
    }
    if (this.traces) {
      const name =
        m.kind === 'secret' || m.kind === 'role-credentials' ? 'fetch credentials' : 'fetch authentication token';
      this.pastSpan(name, m.durationMs, attrs, m.error);
    }
  }

  private onBlueGreenPhase(m: BlueGreenPhaseMessage): void {
    if (this.metrics)
      this.bgPhaseChanges.add(1, {
        'aws_wrapper.bg.id': m.bgId,
        'aws_wrapper.bg.phase': m.phase,
        'aws_wrapper.bg.previous_phase': m.previousPhase,
        'aws_wrapper.bg.rollback': m.rollback,
        'aws_wrapper.bg.timed_out': m.timedOut,
      });
  }
}

export interface ClientAttributes {
  /** 'postgresql' or 'mysql'. */
  readonly system: string;
  /** The database name, when configured. */
  readonly namespace: string | undefined;
}

/** The span and duration of each call of one client. */
export class ClientTelemetry {
  private readonly tracer: OtelApi.Tracer;
  private readonly duration: OtelApi.Histogram | undefined;

  constructor(
    private readonly api: Api,
    operationDuration: OtelApi.Histogram,
    private readonly settings: TelemetrySettings,
    private readonly attrs: ClientAttributes,
  ) {
    this.tracer = api.trace.getTracer(INSTRUMENTATION_NAME);
    this.duration = settings.metrics ? operationDuration : undefined;
  }

  /** Runs `run` (one client call) inside its span; `method` is the client method, `args` its arguments. */
  trace<T>(method: string, args: readonly unknown[], host: HostInfo | undefined, run: () => Promise<T>): Promise<T> {
    const api = this.api;
    const op = operationName(args);
    const attributes: OtelApi.Attributes = {
      'db.system': this.attrs.system,
      'db.system.name': this.attrs.system,
      'aws_wrapper.client.method': method,
    };
    if (op !== undefined) attributes['db.operation.name'] = op;
    if (this.attrs.namespace !== undefined) attributes['db.namespace'] = this.attrs.namespace;
    if (host !== undefined) {
      attributes['server.address'] = host.host;
      attributes['server.port'] = host.port;
    }
    const parent = api.context.active();
    const traced = this.settings.traces && (this.settings.submitTopLevel || api.trace.getSpan(parent) !== undefined);
    const started = performance.now();
    const span = traced
      ? this.tracer.startSpan(op ?? method, { kind: api.SpanKind.INTERNAL, attributes }, parent)
      : undefined;
    const finish = (err: unknown): void => {
      const errorType = err === undefined ? undefined : errorKind(err);
      if (this.duration !== undefined) {
        const metricAttrs: OtelApi.Attributes = {
          'db.system.name': this.attrs.system,
          'db.operation.name': op ?? method,
        };
        if (errorType !== undefined) metricAttrs['error.type'] = errorType;
        this.duration.record((performance.now() - started) / 1000, metricAttrs);
      }
      if (span === undefined) return;
      if (errorType !== undefined) {
        span.setAttribute('error.type', errorType);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: errorType });
      }
      span.end();
    };
    let pending: Promise<T>;
    try {
      pending = span === undefined ? run() : api.context.with(api.trace.setSpan(parent, span), run);
    } catch (err) {
      finish(err);
      return Promise.reject(err);
    }
    return pending.then(
      (value) => {
        finish(undefined);
        return value;
      },
      (err: unknown) => {
        finish(err ?? new Error('undefined rejection'));
        throw err;
      },
    );
  }
}

/** The services' bridge (made on first use, unsubscribed when the services close) and a ClientTelemetry for one client. */
export async function startTelemetry(
  services: WrapperServices,
  settings: TelemetrySettings,
  attrs: ClientAttributes,
): Promise<ClientTelemetry> {
  const api = await loadOtelApi();
  const bridge = services.shared(
    'telemetry:otel',
    () => new TelemetryBridge(api, services),
    (b) => b.dispose(),
  );
  bridge.enable(settings);
  return new ClientTelemetry(api, bridge.operationDuration, settings, attrs);
}
