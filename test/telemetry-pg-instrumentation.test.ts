// The wrapper's spans alongside @opentelemetry/instrumentation-pg: each statement is one CLIENT span (the
// driver's), a child of the wrapper's INTERNAL call span; the wrapper records no db.client.* metric of its own.
import { otel } from './support/otel-pg-instrumented.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SpanKind, trace } from '@opentelemetry/api';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { WrapperServices } from '../ts/services.js';
import { PG } from './support/test-servers.js';

test.after(() => otel.shutdown());

test("instrumentation-pg: the driver's CLIENT span is a child of the wrapper's INTERNAL span; one CLIENT span per statement", async () => {
  const services = new WrapperServices();
  const client = new AwsPGClient({ ...PG, enableTelemetry: true }, { services });
  try {
    await client.connect();
    otel.spanExporter.reset();
    await trace.getTracer('app').startActiveSpan('app request', async (span) => {
      try {
        await client.query('SELECT $1::int AS n', [7]);
      } finally {
        span.end();
      }
    });
  } finally {
    await client.end();
    await services.close();
  }
  const ours = otel.spans('SELECT');
  assert.is(ours.length, 1, 'one wrapper span');
  assert.is(ours[0].kind, SpanKind.INTERNAL);
  const driver = otel
    .spans()
    .filter(
      (s) =>
        s.kind === SpanKind.CLIENT &&
        s.instrumentationScope.name.includes('instrumentation-pg') &&
        s.name.startsWith('pg.query'),
    );
  const underOurs = driver.filter((s) => s.parentSpanContext?.spanId === ours[0].spanContext().spanId);
  assert.is(
    underOurs.length,
    1,
    `one driver span under the wrapper's span (driver spans: ${driver.map((s) => s.name).join(', ')})`,
  );
  assert.ok(
    driver.every((s) => s.parentSpanContext?.spanId === ours[0].spanContext().spanId),
    'every driver span of the call is under the wrapper span',
  );
  const names = (await otel.metrics()).map((p) => p.name);
  assert.not.ok(
    names.some((n) => n.startsWith('db.client')),
    "no db.client.* metric from the wrapper (that is the driver instrumentation's)",
  );
});

test.run();
