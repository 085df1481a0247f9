// An OpenTelemetry SDK for tests: global tracer and meter providers with in-memory exporters and the async-hooks
// context manager (as an application would register them), plus checks that no attribute carries a given text.
import { context, metrics, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';

export interface MetricPoint {
  readonly name: string;
  readonly attributes: Attributes;
  /** Counter value, or the histogram's count. */
  readonly value: number;
}

export class OtelMemory {
  readonly spanExporter = new InMemorySpanExporter();
  private readonly reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  readonly tracerProvider: BasicTracerProvider;
  readonly meterProvider: MeterProvider;

  /** Registers the providers globally; `extra` span processors (an OTLP exporter) see every span too. */
  constructor(extra: SpanProcessor[] = []) {
    this.tracerProvider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(this.spanExporter), ...extra],
    });
    this.meterProvider = new MeterProvider({ readers: [this.reader] });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(this.tracerProvider);
    metrics.setGlobalMeterProvider(this.meterProvider);
  }

  spans(name?: string): ReadableSpan[] {
    const all = this.spanExporter.getFinishedSpans();
    return name === undefined ? all : all.filter((s) => s.name === name);
  }

  /** Every data point of every metric of the wrapper's meter, cumulative since start. */
  async metrics(): Promise<MetricPoint[]> {
    const { resourceMetrics } = await this.reader.collect();
    const out: MetricPoint[] = [];
    for (const scope of resourceMetrics.scopeMetrics) {
      if (scope.scope.name !== 'aws-advanced-ts-wrapper') continue;
      for (const m of scope.metrics) {
        for (const p of m.dataPoints as { attributes: Attributes; value: unknown }[]) {
          const v = p.value;
          out.push({
            name: m.descriptor.name,
            attributes: p.attributes,
            value: typeof v === 'number' ? v : (v as { count: number }).count,
          });
        }
      }
    }
    return out;
  }

  /** Sum of a metric's points whose attributes include `where`. */
  async total(name: string, where: Attributes = {}): Promise<number> {
    return (await this.metrics())
      .filter((p) => p.name === name && Object.entries(where).every(([k, v]) => p.attributes[k] === v))
      .reduce((a, p) => a + p.value, 0);
  }

  async shutdown(): Promise<void> {
    await this.tracerProvider.shutdown();
    await this.meterProvider.shutdown();
    trace.disable();
    metrics.disable();
    context.disable();
  }
}

/** Every attribute value of the spans and metric points, as text (for "no secret anywhere" checks). */
export function attributeTexts(spans: readonly ReadableSpan[], points: readonly MetricPoint[]): string[] {
  const out: string[] = [];
  for (const s of spans) {
    out.push(s.name, s.status.message ?? '');
    for (const v of Object.values(s.attributes)) out.push(String(v));
    for (const e of s.events) for (const v of Object.values(e.attributes ?? {})) out.push(String(v));
  }
  for (const p of points) for (const v of Object.values(p.attributes)) out.push(String(v));
  return out;
}
