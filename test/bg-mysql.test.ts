/**
 * bg plugin on a real MariaDB server standing in for RDS MySQL: the test owns `mysql.rds_topology` and walks its
 * rows through a switchover.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type mysql from 'mysql2/promise';
import { ClientCore } from '../ts/client-core.js';
import { Mysql2DriverDialect } from '../ts/dialects/driver/mysql2.js';
import { BlueGreenRejectedError, type BlueGreenPlugin } from '../ts/plugins/bg.js';
import type { BlueGreenPhase } from '../ts/plugins/bg-monitor.js';
import { blueGreenMonitorCount } from '../ts/plugins/bg-monitor.js';
import type { BlueGreenStatusProvider } from '../ts/plugins/bg-status.js';
import { WrapperServices } from '../ts/services.js';
import { mysqlConnect } from './support/dialect-fixtures.js';

const PORT = Number(process.env.TEST_MYSQL_PORT);
const BLUE = 'shop.cluster-c1aaaaaaaaaa.us-east-1.rds.amazonaws.com';
const GREEN = 'shop-green-abc123.cluster-c2bbbbbbbbbb.us-east-1.rds.amazonaws.com';

let admin: mysql.Connection;

async function setStatus(s: string): Promise<void> {
  await admin.query('UPDATE mysql.rds_topology SET status = ?', [s]);
}

function newClient(services: WrapperServices, host: string): ClientCore<mysql.Connection> {
  return new ClientCore<mysql.Connection>({
    driver: 'mysql2',
    driverDialect: new Mysql2DriverDialect(),
    services,
    config: {
      host,
      port: PORT,
      user: process.env.TEST_MYSQL_USER,
      password: process.env.TEST_MYSQL_PASSWORD,
      database: process.env.TEST_MYSQL_DATABASE,
      plugins: 'bg',
      wrapperDialect: 'rds-mysql',
      hostAddressMap: { [BLUE]: `127.0.0.1:${PORT}`, [GREEN]: `127.0.0.1:${PORT}` },
      bgIntervalBaselineMs: 200,
      bgIntervalIncreasedMs: 50,
      bgIntervalHighMs: 20,
    },
  });
}

function provider(core: ClientCore<mysql.Connection>): BlueGreenStatusProvider {
  const p = core.getPlugin<BlueGreenPlugin<mysql.Connection>>('bg')!.status;
  assert.ok(p);
  return p;
}

async function reach(p: BlueGreenStatusProvider, phase: BlueGreenPhase): Promise<void> {
  assert.ok(
    await p.waitUntil(() => p.currentPhase === phase, 10_000),
    `phase ${phase} reached (now ${p.currentPhase})`,
  );
}

test.before(async () => {
  admin = await mysqlConnect();
  await admin.query('DROP TABLE IF EXISTS mysql.rds_topology');
  await admin.query(
    'CREATE TABLE mysql.rds_topology (id INT PRIMARY KEY, version VARCHAR(8), endpoint VARCHAR(255), port INT, role VARCHAR(64), status VARCHAR(64))',
  );
  await admin.query(
    `INSERT INTO mysql.rds_topology VALUES (1, '1.0', ?, ?, 'BLUE_GREEN_DEPLOYMENT_SOURCE', 'AVAILABLE'), (2, '1.0', ?, ?, 'BLUE_GREEN_DEPLOYMENT_TARGET', 'AVAILABLE')`,
    [BLUE, PORT, GREEN, PORT],
  );
});

test.after(async () => {
  await admin?.query('DROP TABLE IF EXISTS mysql.rds_topology');
  await admin?.end();
});

test('MySQL: phases from mysql.rds_topology; calls held in IN_PROGRESS resume in POST; green names rejected in POST', async () => {
  const services = new WrapperServices();
  const app = newClient(services, BLUE);
  await app.connect();
  const green = newClient(services, GREEN);
  try {
    const p = provider(app);
    await reach(p, 'CREATED');
    assert.is(blueGreenMonitorCount(), 2);
    assert.is(p.snapshot().corresponding.get(BLUE), GREEN);
    await setStatus('SWITCHOVER_IN_PROGRESS');
    await reach(p, 'IN_PROGRESS');
    const order: string[] = [];
    const held = app
      .execute('Client.query', [], (c) => c.query('select 1 as one'))
      .then((r) => {
        order.push('query');
        return r;
      });
    order.push('post');
    await setStatus('SWITCHOVER_IN_POST_PROCESSING');
    const [rows] = await held;
    assert.is((rows as { one: number }[])[0].one, 1);
    assert.equal(order, ['post', 'query'], 'the call resumed only after the phase moved on');
    await reach(p, 'POST');
    const err = await green.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, BlueGreenRejectedError, String(err));
    assert.match((err as Error).message, /New connection can't be opened/);
  } finally {
    await green.end().catch(() => undefined);
    await app.end();
  }
  assert.is(blueGreenMonitorCount(), 0);
});

test.run();
