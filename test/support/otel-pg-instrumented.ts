// Imported first by telemetry-pg-instrumentation.test.ts: the SDK and @opentelemetry/instrumentation-pg registered
// before anything loads pg, as an application's tracing bootstrap does.
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { OtelMemory } from './otel-memory.js';

export const otel = new OtelMemory();
registerInstrumentations({
  instrumentations: [new PgInstrumentation()],
  tracerProvider: otel.tracerProvider,
  meterProvider: otel.meterProvider,
});
