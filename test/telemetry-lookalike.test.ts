// Telemetry of the wrapper's own work on the aurora-pg lookalike: a writer failover (span under the failed call's
// span, count and duration, failover / switch / topology events) and an EFM abort (verdict and abort events, the
// monitor's span, aborted-call count).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import diagnosticsChannel from 'node:diagnostics_channel';
import { trace } from '@opentelemetry/api';
import { FailoverSuccessError } from '../ts/errors.js';
import {
  CHANNEL_NAMES,
  type ConnectionSwitchMessage,
  type EfmAbortMessage,
  type EfmVerdictMessage,
  type FailoverEndMessage,
  type FailoverStartMessage,
  type TopologyChangeMessage,
} from '../ts/telemetry/channels.js';
import { Lab, rejection } from './support/failover-lab.js';
import { attributeTexts, OtelMemory } from './support/otel-memory.js';

const otel = new OtelMemory();
const tracer = trace.getTracer('app');
const t = suite('telemetry on the aurora-pg lookalike');
let lab: Lab;

/** Collects the messages of `names` until stop() is called. */
function record(...names: string[]): { readonly messages: Map<string, unknown[]>; stop(): void } {
  const messages = new Map<string, unknown[]>();
  const listeners = names.map((name) => {
    messages.set(name, []);
    const fn = (m: unknown): void => void messages.get(name)!.push(m);
    diagnosticsChannel.subscribe(name, fn);
    return () => diagnosticsChannel.unsubscribe(name, fn);
  });
  return { messages, stop: () => listeners.forEach((off) => off()) };
}

t.before(async () => {
  lab = await Lab.start('aurora-pg', 1);
});
t.after(async () => {
  await lab?.stop();
  await otel.shutdown();
});
t.after.each(async () => {
  await lab.restore();
});

t(
  'failover: a span under the failed call, count and duration metrics, failover:start / end, connection:switch and topology:change events',
  async () => {
    otel.spanExporter.reset();
    const rec = record(
      CHANNEL_NAMES.failoverStart,
      CHANNEL_NAMES.failoverEnd,
      CHANNEL_NAMES.connectionSwitch,
      CHANNEL_NAMES.topologyChange,
    );
    let callSpanId = '';
    let result: { newWriter: string };
    try {
      const db = await lab.client('writer', { enableTelemetry: true });
      const old = lab.cluster.writer.name;
      result = await lab.cluster.failover({ mode: 'immediate' });
      const err = await tracer.startActiveSpan('app request', async (span) => {
        try {
          return await rejection(db.query('SELECT 1 AS one'));
        } finally {
          span.end();
        }
      });
      assert.instance(err, FailoverSuccessError);
      const [call] = otel.spans('SELECT');
      assert.ok(call, 'the failed call has its span');
      callSpanId = call.spanContext().spanId;
      assert.is(call.status.code, 2 /* ERROR */);
      assert.is(call.attributes['error.type'], 'FailoverSuccessError (08S02)');
      assert.is(String(call.attributes['server.address']).split('.')[0], old, 'the call ran on the old writer');
      const [span, ...more] = otel.spans('failover to writer host');
      assert.ok(span !== undefined && more.length === 0, 'one failover span');
      assert.is(span.parentSpanContext?.spanId, callSpanId, "child of the failed call's span");
      assert.is(span.attributes['aws_wrapper.failover.outcome'], 'success');
      assert.is(span.attributes['aws_wrapper.failover.mode'], 'strict_writer');
      assert.is(String(span.attributes['server.address']).split('.')[0], old);
      assert.is(String(span.attributes['aws_wrapper.failover.to.address']).split('.')[0], result.newWriter);
      assert.is(span.attributes['aws_wrapper.failover.to.role'], 'writer');
      assert.is(
        await otel.total('aws_wrapper.failover.count', {
          'aws_wrapper.failover.outcome': 'success',
          'aws_wrapper.plugin': 'failover_v2',
        }),
        1,
      );
      assert.is(await otel.total('aws_wrapper.failover.duration', { 'aws_wrapper.failover.outcome': 'success' }), 1);
      assert.ok(
        (await otel.total('aws_wrapper.connection.switch.count', { 'aws_wrapper.connection.initial': false })) >= 1,
        'the switch to the new writer is counted',
      );
      assert.ok(
        (await otel.total('aws_wrapper.topology.change.count', { 'aws_wrapper.topology.writer_changed': true })) >= 1,
        'the new writer in the topology is counted',
      );
      assert.is(await otel.total('aws_wrapper.topology.monitor.count'), 1, "gauge: the cluster's topology monitor");
      const texts = attributeTexts(otel.spans(), await otel.metrics());
      assert.not.ok(
        texts.some((x) => x.includes(String(lab.cluster.clientConfig('writer').password))),
        'no password',
      );
    } finally {
      rec.stop();
    }
    const starts = rec.messages.get(CHANNEL_NAMES.failoverStart) as FailoverStartMessage[];
    const ends = rec.messages.get(CHANNEL_NAMES.failoverEnd) as FailoverEndMessage[];
    assert.is(starts.length, 1);
    assert.is(starts[0].plugin, 'failover_v2');
    assert.is(ends.length, 1);
    assert.is(ends[0].outcome, 'success');
    assert.is(ends[0].to?.host.split('.')[0], result.newWriter);
    assert.is(ends[0].to?.role, 'writer');
    assert.ok(ends[0].durationMs >= 0);
    const switches = rec.messages.get(CHANNEL_NAMES.connectionSwitch) as ConnectionSwitchMessage[];
    assert.ok(
      switches.some((s) => s.from !== undefined && s.to.host.split('.')[0] === result.newWriter),
      'connection:switch to the new writer',
    );
    const topo = rec.messages.get(CHANNEL_NAMES.topologyChange) as TopologyChangeMessage[];
    assert.ok(
      topo.some((m) => m.writer?.split('.')[0] === result.newWriter),
      'topology:change names the new writer',
    );
  },
);

t(
  'EFM: a black-holed host is declared dead: efm:verdict and efm:abort events, a "connection status check" span, the aborted call counted',
  async () => {
    otel.spanExporter.reset();
    const rec = record(CHANNEL_NAMES.efmVerdict, CHANNEL_NAMES.efmAbort);
    // Armed before the call starts: on a loaded machine the monitor may start probing (grace over) before the hang,
    // and a slow first probe connect can bring the verdict before any later subscription.
    const deadSeen = new Promise<void>((resolve) => {
      const fn = (m: unknown): void => {
        if ((m as EfmVerdictMessage).verdict !== 'dead') return;
        diagnosticsChannel.unsubscribe(CHANNEL_NAMES.efmVerdict, fn);
        resolve();
      };
      diagnosticsChannel.subscribe(CHANNEL_NAMES.efmVerdict, fn);
    });
    const writer = lab.cluster.writer.name;
    try {
      const db = await lab.client(writer, {
        plugins: 'host_monitoring_v2',
        failureDetectionTimeMs: 1000,
        failureDetectionIntervalMs: 250,
        failureDetectionCount: 2,
        enableTelemetry: true,
      });
      const sql = db.sleepSql(61);
      const call = rejection(db.query(sql));
      await lab.waitRunning(writer, sql);
      await lab.cluster.hang(writer);
      await call;
      await deadSeen; // the call may be aborted natively before the verdict reaches JS
      const [span] = otel.spans('connection status check');
      assert.ok(span, 'the verdict has its span');
      assert.is(span.parentSpanContext, undefined, 'a trace of its own (the monitor works for every client)');
      assert.is(String(span.attributes['server.address']).split('.')[0], writer);
      assert.is(span.status.code, 2 /* ERROR */);
      assert.ok(
        (await otel.total('aws_wrapper.efm.aborted_calls', { 'aws_wrapper.plugin': 'host_monitoring_v2' })) >= 1,
      );
      assert.ok((await otel.total('aws_wrapper.efm.verdict.count', { 'aws_wrapper.efm.verdict': 'dead' })) >= 1);
      assert.is(await otel.total('aws_wrapper.efm.monitor.count'), 1, 'gauge: one host monitor running');
    } finally {
      rec.stop();
    }
    const verdicts = rec.messages.get(CHANNEL_NAMES.efmVerdict) as EfmVerdictMessage[];
    const dead = verdicts.find((v) => v.verdict === 'dead');
    assert.ok(dead, 'efm:verdict dead');
    assert.is(dead.host.split('.')[0], writer);
    assert.ok(dead.abortedCalls >= 1);
    const aborts = rec.messages.get(CHANNEL_NAMES.efmAbort) as EfmAbortMessage[];
    assert.ok(aborts.length >= 1, 'efm:abort');
    assert.is(aborts[0].plugin, 'host_monitoring_v2');
  },
);

t.run();
