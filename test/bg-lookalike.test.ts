/**
 * bg plugin end to end on the lookalike's Blue/Green deployment (`pg` as RDS for PostgreSQL): a running client and
 * clients created while the switchover is in progress go through a real switchover (blue read-only, green
 * promoted, names moved) with no error; green names are refused after it; a rollback leaves routing alone; with
 * IAM, tokens follow the renames (signed for the green name while the socket goes to green's address).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { AwsPGClient } from '../ts/pg.js';
import { BlueGreenRejectedError, type BlueGreenPlugin } from '../ts/plugins/bg.js';
import type { BlueGreenStatusProvider } from '../ts/plugins/bg-status.js';
import type { BlueGreenPhase } from '../ts/plugins/bg-monitor.js';
import { LocalCluster, type Flavour } from '../ts/testing/index.js';
import type mysql from 'mysql2/promise';
import { ClientCore } from '../ts/client-core.js';
import { Mysql2DriverDialect } from '../ts/dialects/driver/mysql2.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { pluginRegistry } from '../ts/plugins/registry.js';
import { connectRecorder, type SentConnection } from './support/connect-recorder.js';
import { WrapperServices } from '../ts/services.js';
import { IamGate } from './support/aws-iam-gate.js';

// Test credentials for IAM token signing (environment provider chain); nothing talks to AWS.
const KEY_ID = 'AKIATESTBLUEGREENLKA';
const SECRET = 'blueGreenLookalike/Secret+Tests00000000';
process.env.AWS_ACCESS_KEY_ID = KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = SECRET;
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;

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

async function withCluster(fn: (c: LocalCluster) => Promise<void>, flavour: Flavour = 'pg'): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bg-lookalike-'));
  const cluster = await LocalCluster.start({ flavour, database: 'app', dir });
  try {
    await fn(cluster);
  } finally {
    await cluster.stop({ keepLogs: false });
    rmSync(dir, { recursive: true, force: true });
  }
}

const TUNING = { plugins: ['bg'], bgIntervalIncreasedMs: 100, bgIntervalHighMs: 50, bgConnectTimeoutMs: 20_000 };

test('switchover: a running client pauses and goes on, a client created during IN_PROGRESS lands on green, green names are refused after', async () => {
  await withCluster(async (cluster) => {
    const bg = await cluster.blueGreen();
    const blueName = cluster.writer.dnsName;
    const greenName = bg.green[0].dnsName;
    // Taken after blueGreen(): the green names are in its hostAddressMap.
    const config = { ...cluster.clientConfig(cluster.writer.name), ...TUNING };
    const app = new AwsPGClient(config);
    await app.connect();
    const late: AwsPGClient[] = [];
    try {
      await app.query('CREATE TABLE orders (id int PRIMARY KEY)');
      const status = statusOf(app);
      await reach(status, 'CREATED');
      assert.is(status.snapshot().corresponding.get(blueName), greenName);

      // The phase the client saw when each held call / connect completed (released by the POST status, which can
      // come before the lookalike's step returns).
      const done: string[] = [];
      let held: Promise<unknown> | undefined;
      let created: Promise<unknown> | undefined;
      let blueDuring: Promise<unknown> | undefined;
      // Held until green is promoted (bgSuspendNewBlueConnections) ...
      const newcomer = new AwsPGClient({ ...config, bgSuspendNewBlueConnections: true });
      // ... or, by default, sent to the blue address and moved to green at its first call after the switchover.
      const early = new AwsPGClient(config);
      late.push(newcomer, early);
      await bg.switchover({
        phaseMs: { initiated: 200, inProgress: 800, post: 200 },
        onPhase: async (s) => {
          if (s === 'SWITCHOVER_IN_PROGRESS') {
            await reach(status, 'IN_PROGRESS');
            held = app.query('SELECT 1 AS one').then(() => done.push(`query ${status.currentPhase}`));
            created = newcomer.connect().then(() => done.push(`connect ${status.currentPhase}`));
            blueDuring = early.connect();
          }
        },
      });
      await Promise.all([held, created, blueDuring]);
      assert.is(done.length, 2);
      assert.ok(
        done.every((d) => / (POST|COMPLETED)$/.test(d)),
        `held until green was promoted (${done.join(', ')})`,
      );
      await early.query('INSERT INTO orders VALUES (3)');

      // The running client's connection was on blue (now read-only): it moved to green between calls.
      await app.query('INSERT INTO orders VALUES (2)');
      // The client created during IN_PROGRESS writes on green, now the writer behind the blue name.
      await newcomer.query('INSERT INTO orders VALUES (1)');
      assert.is((await newcomer.query('SELECT pg_is_in_recovery() AS r')).rows[0].r, false);
      const direct = new pg.Client({ ...cluster.directConfig(cluster.writer.name) });
      await direct.connect();
      try {
        assert.is(
          (await direct.query('SELECT count(*)::int AS n FROM orders')).rows[0].n,
          3,
          'every row is on the renamed (former green) writer',
        );
      } finally {
        await direct.end();
      }
      const oldBlue = new pg.Client({ ...cluster.directConfig(bg.blue[0].name) });
      await oldBlue.connect();
      try {
        assert.is(
          (await oldBlue.query('SELECT count(*)::int AS n FROM orders')).rows[0].n,
          0,
          'no write landed on blue after green was promoted',
        );
      } finally {
        await oldBlue.end();
      }

      const green = new AwsPGClient({ ...config, host: greenName });
      late.push(green);
      const err = await green.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, BlueGreenRejectedError, String(err));
    } finally {
      for (const c of late) await c.end().catch(() => undefined);
      await app.end();
    }
  });
});

test('MySQL (RDS for MySQL lookalike): a running client pauses through the switchover and writes on green after', async () => {
  await withCluster(async (cluster) => {
    const bg = await cluster.blueGreen();
    const greenName = bg.green[0].dnsName;
    const config = { ...cluster.clientConfig(cluster.writer.name), ...TUNING, plugins: 'bg' };
    const open = (extra: Record<string, unknown> = {}) =>
      new ClientCore<mysql.Connection>({
        driver: 'mysql2',
        driverDialect: new Mysql2DriverDialect(),
        config: { ...config, ...extra },
      });
    const run = (c: ClientCore<mysql.Connection>, sql: string) =>
      c.execute('Client.query', [], (conn) => conn.query(sql));
    const app = open();
    await app.connect();
    // Its mysql.rds_topology lists the Blue/Green deployment: RDS for MySQL, not a Multi-AZ DB cluster.
    assert.is(app.pluginService.dialect.code, 'rds-mysql');
    const green = open({ host: greenName });
    try {
      await run(app, 'CREATE TABLE orders (id int PRIMARY KEY)');
      const status = app.getPlugin<BlueGreenPlugin<mysql.Connection>>('bg')!.status!;
      await reach(status, 'CREATED');
      let held: Promise<string> | undefined;
      await bg.switchover({
        phaseMs: { initiated: 200, inProgress: 800, post: 200 },
        onPhase: async (s) => {
          if (s === 'SWITCHOVER_IN_PROGRESS') {
            await reach(status, 'IN_PROGRESS');
            held = run(app, 'SELECT 1').then(() => status.currentPhase);
          }
        },
      });
      assert.match(String(await held), /^(POST|COMPLETED)$/, 'the call was held until green was promoted');
      await run(app, 'INSERT INTO orders VALUES (1)');
      const [rows] = await run(app, 'SELECT @@read_only AS ro');
      assert.is(Number((rows as { ro: number }[])[0].ro), 0, 'the client is on the promoted green writer');
      const err = await green.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, BlueGreenRejectedError, String(err));
    } finally {
      await green.end().catch(() => undefined);
      await app.end();
    }
  }, 'mysql');
});

test('rollback: a call held during IN_PROGRESS runs on blue once the switchover rolls back; nothing is rerouted or refused after', async () => {
  await withCluster(async (cluster) => {
    const bg = await cluster.blueGreen();
    const greenName = bg.green[0].dnsName;
    const config = { ...cluster.clientConfig(cluster.writer.name), ...TUNING };
    const app = new AwsPGClient(config);
    await app.connect();
    const green = new AwsPGClient({ ...config, host: greenName });
    const later = new AwsPGClient(config);
    try {
      await app.query('CREATE TABLE orders (id int PRIMARY KEY)');
      const status = statusOf(app);
      await reach(status, 'CREATED');
      let held: Promise<unknown> | undefined;
      let releasedBy: { phase: BlueGreenPhase; rollback: boolean } | undefined;
      const result = await bg.switchover({
        rollback: true,
        phaseMs: { initiated: 100, inProgress: 300 },
        onPhase: async (s) => {
          if (s !== 'SWITCHOVER_IN_PROGRESS') return;
          await reach(status, 'IN_PROGRESS');
          // Blue is read-only now: the write is held, and runs when the phase moves on.
          held = app.query('INSERT INTO orders VALUES (1)').then(() => {
            releasedBy = { phase: status.currentPhase, rollback: status.snapshot().rollback };
          });
        },
      });
      await held;
      assert.ok(releasedBy?.rollback, `the held write ran after the rollback (${JSON.stringify(releasedBy)})`);
      assert.is(result.rollback, true);
      assert.equal(
        result.phases.map((p) => p.status),
        ['SWITCHOVER_INITIATED', 'SWITCHOVER_IN_PROGRESS', 'SWITCHOVER_INITIATED', 'AVAILABLE'],
      );
      assert.is(bg.renamed, false, 'nothing moved');
      await reach(status, 'CREATED');
      assert.is(status.snapshot().rollback, true);

      // Blue is writable again and keeps the names; green is still a read-only copy, reachable by its name.
      await app.query('INSERT INTO orders VALUES (2)');
      await later.connect();
      await later.query('INSERT INTO orders VALUES (3)');
      await green.connect();
      assert.is((await green.query('SELECT pg_is_in_recovery() AS r')).rows[0].r, true, 'green is still a copy');
      const direct = new pg.Client(cluster.directConfig(cluster.writer.name));
      await direct.connect();
      try {
        assert.is((await direct.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 3, 'every row on blue');
      } finally {
        await direct.end();
      }
    } finally {
      await green.end().catch(() => undefined);
      await later.end().catch(() => undefined);
      await app.end();
    }
  });
});

test('IAM through the renames: in POST a new client and the moved running connection sign for the green name, the socket goes to the green address', async () => {
  await withCluster(async (cluster) => {
    const bg = await cluster.blueGreen();
    const blueName = cluster.writer.dnsName;
    const greenName = bg.green[0].dnsName;
    const base = cluster.clientConfig(cluster.writer.name);
    const greenAddress = base.hostAddressMap[greenName];
    assert.ok(greenAddress, 'the green name is in the map');
    const services = new WrapperServices();
    const gate = new IamGate({ secrets: { [KEY_ID]: SECRET }, realPassword: base.password });
    // Where the innermost plugins sent each connection: the socket's address and the name the token is for.
    const sent: SentConnection[] = [];
    const recorder = connectRecorder(sent);
    pluginRegistry(services).registerPlugin(gate.factory());
    pluginRegistry(services).registerPlugin(recorder);
    const iamClient = () =>
      new ClientCore<pg.Client>({
        driver: 'pg',
        driverDialect: new PgDriverDialect(),
        services,
        config: {
          ...base,
          ...TUNING,
          password: undefined,
          plugins: ['bg', 'iam', 'test_iam_gate', 'bg_test_recorder'],
          // The status monitors log in with the real password: the lookalike cannot check tokens.
          'blue-green-monitoring-plugins': '',
          'blue-green-monitoring-password': base.password,
        },
      });
    const run = (c: ClientCore<pg.Client>, sql: string) => c.execute('Client.query', [sql], (conn) => conn.query(sql));
    const app = iamClient();
    await app.connect();
    const newcomer = iamClient();
    try {
      assert.is(gate.seen.at(-1)!.token.host, blueName);
      assert.ok(gate.seen.at(-1)!.accepted);
      await run(app, 'CREATE TABLE orders (id int PRIMARY KEY)');
      const status = app.getPlugin<BlueGreenPlugin<pg.Client>>('bg')!.status!;
      await reach(status, 'CREATED');
      let tokensBefore = 0;
      await bg.switchover({
        phaseMs: { initiated: 100, inProgress: 300, post: 200 },
        onPhase: async (s) => {
          if (s !== 'SWITCHOVER_IN_POST_PROCESSING') return;
          await reach(status, 'POST');
          sent.length = 0;
          tokensBefore = gate.seen.length;
          await newcomer.connect();
        },
      });
      assert.equal(sent, [{ host: blueName, to: greenAddress, iamHost: greenName }]);
      const newToken = gate.seen[tokensBefore];
      assert.is(newToken.token.host, greenName, 'token for the green name RDS knows before its renames');
      assert.ok(newToken.accepted, newToken.reason);
      await run(newcomer, 'INSERT INTO orders VALUES (1)');

      // The running client's connection was on blue: it moves to green at its next call, with a green-name token.
      sent.length = 0;
      const seen = gate.seen.length;
      await run(app, 'INSERT INTO orders VALUES (2)');
      assert.equal(sent, [{ host: blueName, to: greenAddress, iamHost: greenName }]);
      assert.is(gate.seen[seen].token.host, greenName);
      assert.ok(gate.seen[seen].accepted, gate.seen[seen].reason);
      const direct = new pg.Client(cluster.directConfig(cluster.writer.name));
      await direct.connect();
      try {
        assert.is(
          (await direct.query('SELECT count(*)::int AS n FROM orders')).rows[0].n,
          2,
          'both rows on the renamed (former green) writer',
        );
      } finally {
        await direct.end();
      }
    } finally {
      await newcomer.end().catch(() => undefined);
      await app.end();
    }
  });
});

test.run();
