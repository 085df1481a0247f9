/**
 * bg plugin on the lookalike's Aurora PostgreSQL flavour (`get_blue_green_fast_switchover_metadata`), with names
 * resolved through DNS as in production (the cluster's /etc/hosts block, no hostAddressMap): a client connected
 * before the deployment exists picks it up when it is created, learns green's addresses from the status monitors'
 * DNS answers, and rides the switchover with its writes on green.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { AwsPGClient } from '../ts/pg.js';
import type { BlueGreenPlugin } from '../ts/plugins/bg.js';
import type { BlueGreenStatusProvider } from '../ts/plugins/bg-status.js';
import type { BlueGreenPhase } from '../ts/plugins/bg-monitor.js';
import { LocalCluster } from '../ts/testing/index.js';

function statusOf(client: AwsPGClient): BlueGreenStatusProvider {
  const p = client.core.getPlugin<BlueGreenPlugin<pg.Client>>('bg')!.status;
  assert.ok(p, 'status provider after connect');
  return p;
}

async function reach(p: BlueGreenStatusProvider, phase: BlueGreenPhase): Promise<void> {
  assert.ok(
    await p.waitUntil(() => p.currentPhase === phase, 10_000),
    `phase ${phase} reached (now ${p.currentPhase})`,
  );
}

test('aurora-pg: a client connected before `create` sees the deployment appear, is held in IN_PROGRESS and writes on green after', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bg-lookalike-aurora-'));
  // etcHosts: the names resolve through DNS and follow the renames, as RDS's do for a running application.
  const cluster = await LocalCluster.start({ flavour: 'aurora-pg', database: 'app', dir, etcHosts: true });
  try {
    const { hostAddressMap: _map, ...viaDns } = cluster.clientConfig('writer');
    const app = new AwsPGClient({
      ...viaDns,
      plugins: ['bg'],
      bgIntervalBaselineMs: 200,
      bgIntervalIncreasedMs: 100,
      bgIntervalHighMs: 50,
      bgConnectTimeoutMs: 20_000,
    });
    await app.connect();
    try {
      await app.query('CREATE TABLE orders (id int PRIMARY KEY)');
      const status = statusOf(app);
      assert.is(status.currentPhase, 'NOT_CREATED');

      const bg = await cluster.blueGreen();
      await reach(status, 'CREATED');
      const clusterEndpoint = cluster.writerEndpoint.dnsName;
      assert.is(status.snapshot().corresponding.get(clusterEndpoint), bg.greenWriterEndpoint.dnsName);
      assert.is(status.snapshot().corresponding.get(cluster.writer.dnsName), bg.green[0].dnsName);

      let held: Promise<string> | undefined;
      await bg.switchover({
        phaseMs: { initiated: 200, inProgress: 500, post: 200 },
        onPhase: async (s) => {
          if (s === 'SWITCHOVER_IN_PROGRESS') {
            await reach(status, 'IN_PROGRESS');
            held = app.query('INSERT INTO orders VALUES (1)').then(() => status.currentPhase);
          }
        },
      });
      assert.match(String(await held), /^(POST|COMPLETED)$/, 'the write waited for green to be promoted');
      await app.query('INSERT INTO orders VALUES (2)');
      const id = (await app.query('SELECT pg_catalog.aurora_db_instance_identifier() AS id')).rows[0].id;
      assert.is(id, bg.green[0].name, 'the client is on the former green writer, now under the blue name');
      const direct = new pg.Client(cluster.directConfig('writer'));
      await direct.connect();
      try {
        assert.is((await direct.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 2);
      } finally {
        await direct.end();
      }
    } finally {
      await app.end();
    }
  } finally {
    await cluster.stop({ keepLogs: false });
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
