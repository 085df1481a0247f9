// The failover cases, written once for every lookalike flavour (each test file runs them on one cluster).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Flavour } from '../../ts/testing/index.js';
import { FailoverFailedError, FailoverSuccessError, TransactionResolutionUnknownError } from '../../ts/errors.js';
import { HostRole } from '../../ts/host-info.js';
import { Lab, rejection, type Db } from './failover-lab.js';
import { openedConnections } from '../../ts/opened-connections.js';

const NAME = (h: { host: string } | undefined) => h?.host.split('.')[0];

/** The error that triggered failover is a network-class error of the driver (or the wrapper's 08S01). */
function assertNetworkCause(db: Db, err: { cause?: unknown }): void {
  assert.ok(err.cause !== undefined, 'failover error carries the triggering error as cause');
  assert.ok(
    (db.raw.core.pluginService as { isNetworkError(e: unknown): boolean }).isNetworkError(err.cause),
    `cause is a network error: ${String(err.cause)}`,
  );
}

async function assertOnWriter(db: Db, name: string): Promise<void> {
  const who = await db.whoami();
  assert.is(who.name, name, 'server-side instance');
  assert.is(who.reader, false, 'server says writer');
  assert.is(db.currentName, name, "wrapper's current host");
}

export function failoverSuite(flavour: Flavour, scope: 'full' | 'smoke'): ReturnType<typeof suite> {
  const t = suite(`failover on ${flavour}`);
  let lab: Lab;

  t.before(async () => {
    lab = await Lab.start(flavour);
    if (lab.engine === 'pg')
      await lab.direct('writer', (q) => q('CREATE TABLE IF NOT EXISTS ft (id int PRIMARY KEY, v text)'));
    else await lab.direct('writer', (q) => q('CREATE TABLE IF NOT EXISTS ft (id int PRIMARY KEY, v varchar(100))'));
  });
  t.after(async () => {
    await lab?.stop();
  });
  t.after.each(async () => {
    await lab.restore();
  });

  t(
    'writer failover while idle: FailoverSuccessError (08S02), client on the verified new writer, failover event',
    async () => {
      const db = await lab.client('writer');
      const old = lab.cluster.writer.name;
      assert.is(db.currentName, old, 'initial_connection resolved the endpoint to the writer instance');
      const event = db.nextFailover();
      const result = await lab.cluster.failover({ mode: 'immediate' });
      const err = await rejection(db.query('SELECT 1 AS one'));
      assert.instance(err, FailoverSuccessError);
      assert.is(err.code, '08S02');
      assertNetworkCause(db, err);
      const e = await event;
      assert.is(e.outcome, 'success');
      assert.is(NAME(e.from), old);
      assert.is(NAME(e.to), result.newWriter);
      assert.ok(e.durationMs >= 0 && e.durationMs < 10_000);
      await assertOnWriter(db, result.newWriter);
      assert.equal(await db.query('SELECT 1 AS one'), [{ one: 1 }]);
    },
  );

  t(
    'writer failover during a query (clean shutdown): the admin-shutdown error triggers failover like a network error',
    async () => {
      const db = await lab.client('writer');
      const old = lab.cluster.writer.name;
      const running = rejection(db.query(db.sleepSql(20)));
      await lab.waitRunning(old, db.sleepSql(20).slice(0, 20));
      const result = await lab.cluster.failover({ mode: 'fast' });
      const err = await running;
      assert.instance(err, FailoverSuccessError);
      assertNetworkCause(db, err);
      if (db.engine === 'pg') assert.is((err.cause as { code?: string }).code, '57P01', 'pg reports admin_shutdown');
      await assertOnWriter(db, result.newWriter);
    },
  );

  t(
    'writer failover during a transaction: TransactionResolutionUnknownError (08007) for the next statement and for COMMIT; nothing committed',
    async () => {
      const a = await lab.client('writer');
      const b = await lab.client('writer');
      await a.begin();
      await a.query(a.engine === 'pg' ? 'INSERT INTO ft VALUES ($1, $2)' : 'INSERT INTO ft VALUES (?, ?)', [
        101,
        'in tx',
      ]);
      await b.begin();
      await b.query(b.engine === 'pg' ? 'INSERT INTO ft VALUES ($1, $2)' : 'INSERT INTO ft VALUES (?, ?)', [
        102,
        'in tx',
      ]);
      const result = await lab.cluster.failover({ mode: 'immediate' });
      const errA = await rejection(a.query('SELECT 1'));
      assert.instance(errA, TransactionResolutionUnknownError);
      assert.is(errA.code, '08007');
      const errB = await rejection(b.commit());
      assert.instance(
        errB,
        TransactionResolutionUnknownError,
        'a COMMIT that fails on the dead writer has an unknown outcome',
      );
      assertNetworkCause(b, errB);
      await assertOnWriter(a, result.newWriter);
      assert.equal(
        await a.query('SELECT id FROM ft WHERE id IN (101, 102)'),
        [],
        'the interrupted transactions did not commit',
      );
      // The client is usable again: a new transaction commits on the new writer.
      await a.begin();
      await a.query(a.engine === 'pg' ? 'INSERT INTO ft VALUES ($1, $2)' : 'INSERT INTO ft VALUES (?, ?)', [
        103,
        'after',
      ]);
      await a.commit();
      assert.equal(await b.query('SELECT id FROM ft WHERE id = 103'), [{ id: 103 }]);
    },
  );

  t('non-failover errors pass through untouched', async () => {
    const db = await lab.client('writer');
    const err = await rejection(db.query('SELEC 1'));
    assert.not.instance(err, FailoverSuccessError);
    assert.is(err.code, db.engine === 'pg' ? '42601' : 'ER_PARSE_ERROR');
    assert.is(db.events.length, 0);
  });

  if (scope === 'smoke') return t;

  t('reader failover: the reader behind cluster-ro is lost, the client moves to another instance', async () => {
    const db = await lab.client('reader');
    const first = await db.whoami();
    assert.is(first.reader, true, 'initial_connection picked a reader');
    assert.is(db.currentName, first.name);
    await lab.cluster.kill(first.name);
    const err = await rejection(db.query('SELECT 1'));
    assert.instance(err, FailoverSuccessError);
    const now = await db.whoami();
    assert.is.not(now.name, first.name);
    assert.is(db.currentName, now.name);
  });

  t("strict_reader ('strict-reader' spelling): after the writer is lost the client is on a reader", async () => {
    const db = await lab.client('writer', { failoverMode: 'strict-reader' });
    const old = lab.cluster.writer.name;
    await lab.cluster.failover({ mode: 'immediate' });
    const err = await rejection(db.query('SELECT 1'));
    assert.instance(err, FailoverSuccessError);
    const who = await db.whoami();
    assert.is(who.reader, true);
    assert.is.not(who.name, old);
    assert.is(db.currentHost?.role, HostRole.READER);
  });

  t('reader_or_writer: after the writer is lost the client is on a live instance', async () => {
    const db = await lab.client('writer', { failover_mode: 'reader_or_writer' });
    const old = lab.cluster.writer.name;
    await lab.cluster.failover({ mode: 'fast' });
    assert.instance(await rejection(db.query('SELECT 1')), FailoverSuccessError);
    const who = await db.whoami();
    assert.is.not(who.name, old);
    assert.is(db.currentName, who.name);
  });

  t('strict_writer: a read-only error (client on a reader instance) fails over to the writer', async () => {
    const reader = lab.cluster.readers[0].name;
    const db = await lab.client(reader, { failoverMode: 'strict_writer' });
    assert.is((await db.whoami()).reader, true);
    const err = await rejection(
      db.query(db.engine === 'pg' ? 'INSERT INTO ft VALUES ($1, $2)' : 'INSERT INTO ft VALUES (?, ?)', [201, 'ro']),
    );
    assert.instance(err, FailoverSuccessError);
    await assertOnWriter(db, lab.cluster.writer.name);
    await db.query(db.engine === 'pg' ? 'INSERT INTO ft VALUES ($1, $2)' : 'INSERT INTO ft VALUES (?, ?)', [201, 'rw']);
  });

  t(
    'hung writer (black hole): detected within socketTimeout + connectTimeout, failover completes once a new writer is promoted',
    async () => {
      const services = lab.newServices();
      const db = await lab.client('writer', { socketTimeout: 1000, connectTimeout: 1000 }, services);
      const idle = await lab.client('writer', {}, services);
      const old = lab.cluster.writer.name;
      await lab.cluster.hang(old);
      const started = Date.now();
      const call = rejection(db.query('SELECT 1'));
      const result = await lab.cluster.failover({ mode: 'immediate' });
      const err = await call;
      const elapsed = Date.now() - started;
      assert.instance(err, FailoverSuccessError);
      assertNetworkCause(db, err);
      // The call cannot end before the lookalike has promoted a writer (its own time, long on a loaded machine):
      // bounded by that plus socketTimeout + connectTimeout, with room for load.
      assert.ok(
        elapsed < result.totalMs + 1000 + 1000 + 8000,
        `bounded: ${elapsed} ms (promotion ${result.totalMs} ms)`,
      );
      await assertOnWriter(db, result.newWriter);
      // The idle client has no socketTimeout: its frozen connection to the old writer was closed by the connection
      // tracker when the new writer was published, so its next call fails over at once instead of hanging.
      const t0 = Date.now();
      assert.instance(await rejection(idle.query('SELECT 1')), FailoverSuccessError);
      assert.ok(Date.now() - t0 < 15_000, 'no wait on the black hole (it has no timeout: it would wait for ever)');
      await assertOnWriter(idle, result.newWriter);
    },
  );

  t(
    'aurora_connection_tracker: idle connections of other clients to the old writer are closed when a failover publishes the new writer',
    async () => {
      const services = lab.newServices();
      const a = await lab.client('writer', { socketTimeout: 1000, connectTimeout: 1000 }, services);
      const others = [await lab.client('writer', {}, services), await lab.client('writer', {}, services)];
      const old = lab.cluster.writer.name;
      const physical = others.map((o) => o.raw.core.connection);
      const oldKey = a.currentHost!.hostAndPort;
      assert.is(openedConnections(services).count(oldKey), 3);
      await lab.cluster.hang(old); // connections freeze, nothing closes them from the server side
      const call = rejection(a.query('SELECT 1'));
      await lab.cluster.failover({ mode: 'immediate' });
      assert.instance(await call, FailoverSuccessError);
      for (const [i, o] of others.entries()) {
        assert.ok(
          o.raw.core.driverDialect.isClosed(physical[i] as never),
          'idle connection to the old writer was aborted',
        );
        assert.instance(await rejection(o.query('SELECT 1')), FailoverSuccessError);
      }
      assert.is(openedConnections(services).count(oldKey), 0);
    },
  );

  t('old writer rejoins as a reader, then is promoted again: the client follows both times', async () => {
    const db = await lab.client('writer');
    const first = lab.cluster.writer.name;
    const r1 = await lab.cluster.failover({ mode: 'fast' });
    assert.instance(await rejection(db.query('SELECT 1')), FailoverSuccessError);
    await assertOnWriter(db, r1.newWriter);
    await lab.cluster.rejoin(first);
    await lab.direct(first, async (q) => {
      const rows = await q(
        lab.engine === 'pg' ? 'SELECT pg_catalog.pg_is_in_recovery() AS r' : 'SELECT @@read_only AS r',
      );
      assert.ok(rows[0].r === true || Number(rows[0].r) === 1, 'rejoined as a reader');
    });
    const r2 = await lab.cluster.failover({ mode: 'fast', target: first });
    assert.is(r2.newWriter, first);
    assert.instance(await rejection(db.query('SELECT 1')), FailoverSuccessError);
    await assertOnWriter(db, first);
  });

  t(
    'stale DNS: the writer endpoint still leads to the demoted writer (now a reader); stale_dns and initial_connection connect to the real writer',
    async () => {
      await lab.cluster.setDnsLag(60_000);
      const first = lab.cluster.writer.name;
      const r = await lab.cluster.failover({ mode: 'fast' });
      await lab.cluster.rejoin(first);
      // Plain driver through the writer endpoint: lands on the demoted writer.
      const viaEndpoint = await lab.direct('writer', (q) =>
        q(lab.engine === 'pg' ? 'SELECT pg_catalog.pg_is_in_recovery() AS r' : 'SELECT @@read_only AS r'),
      );
      assert.ok(viaEndpoint[0].r === true || Number(viaEndpoint[0].r) === 1, 'the endpoint is stale');
      const stale = await lab.client('writer', { plugins: 'stale_dns' });
      await assertOnWriter(stale, r.newWriter);
      const dflt = await lab.client('writer');
      await assertOnWriter(dflt, r.newWriter);
      await lab.cluster.setDnsLag(0);
      await lab.cluster.rejoin(first); // re-targets the endpoints without lag
    },
  );

  t('readers added and removed: the topology follows; a client on a removed reader fails over', async () => {
    const added = await lab.cluster.addReader();
    const db = await lab.client(added, { failoverMode: 'reader_or_writer' });
    assert.is((await db.whoami()).name, added);
    assert.ok(
      db.raw.core.pluginService.allHosts.some((h) => NAME(h) === added),
      'new reader in the topology',
    );
    await lab.cluster.removeReader(added);
    assert.instance(await rejection(db.query('SELECT 1')), FailoverSuccessError);
    const who = await db.whoami();
    assert.is.not(who.name, added);
    const fresh = await lab.client('writer');
    await fresh.raw.core.pluginService.forceRefreshHostList(true, 5000);
    assert.not.ok(
      fresh.raw.core.pluginService.allHosts.some((h) => NAME(h) === added),
      'removed reader left the topology',
    );
  });

  t(
    'failover timeout: every instance down → FailoverFailedError (08001) within failoverTimeoutMs; the client recovers afterwards',
    async () => {
      const db = await lab.client('writer', { failoverTimeoutMs: 1500, connectTimeout: 1000 });
      const event = db.nextFailover();
      for (const i of lab.cluster.instances) await lab.cluster.kill(i.name);
      const started = Date.now();
      const err = await rejection(db.query('SELECT 1'));
      const elapsed = Date.now() - started;
      assert.instance(err, FailoverFailedError);
      assert.is(err.code, '08001');
      assertNetworkCause(db, err);
      // failoverTimeoutMs + one connectTimeout in flight, with room for a loaded machine.
      assert.ok(elapsed < 1500 + 1000 + 4000, `bounded by failoverTimeoutMs: ${elapsed} ms`);
      assert.is((await event).outcome, 'failed');
      await lab.cluster.heal();
      assert.instance(await rejection(db.query('SELECT 1')), FailoverSuccessError, 'the next call fails over again');
      assert.equal(await db.query('SELECT 1 AS one'), [{ one: 1 }]);
    },
  );

  t('session state set through the client API is re-applied on the new writer', async () => {
    const db = await lab.client('writer');
    if (db.raw instanceof (await import('../../ts/clients/pg-client.js')).AwsPGClient) {
      await db.raw.setTransactionIsolation('SERIALIZABLE');
      await db.raw.setSchema('public');
      await lab.cluster.failover({ mode: 'fast' });
      assert.instance(await rejection(db.query('SELECT 1')), FailoverSuccessError);
      assert.equal(await db.query('SHOW transaction_isolation'), [{ transaction_isolation: 'serializable' }]);
      assert.equal(await db.query('SHOW search_path'), [{ search_path: 'public' }]);
    } else {
      const m = db.raw;
      await m.setAutoCommit(false);
      await m.setTransactionIsolation('SERIALIZABLE');
      await lab.cluster.failover({ mode: 'fast' });
      assert.instance(await rejection(db.query('SELECT 1')), FailoverSuccessError);
      assert.equal(await db.query('SELECT @@autocommit AS a, @@tx_isolation AS i'), [{ a: 0, i: 'SERIALIZABLE' }]);
    }
  });

  t(
    'initial_connection retries within its timeout: a new client while the writer is down lands on the new writer',
    async () => {
      const services = lab.newServices();
      await lab.client('writer', {}, services); // these services know the topology
      const old = lab.cluster.writer.name;
      await lab.cluster.kill(old);
      const connecting = lab.client('writer', {}, services);
      const r = await lab.cluster.failover({ mode: 'immediate' });
      await assertOnWriter(await connecting, r.newWriter);
    },
  );

  t(
    'enableConnectFailover: an initial connection refused by the dead writer fails over instead of failing',
    async () => {
      const services = lab.newServices();
      await lab.client('writer', { plugins: 'failover_v2' }, services);
      const old = lab.cluster.writer.name;
      await lab.cluster.kill(old);
      const refused = await rejection(lab.client('writer', { plugins: 'failover_v2' }, services));
      assert.ok(
        (lab.clients.at(-1)!.raw.core.pluginService as { isNetworkError(e: unknown): boolean }).isNetworkError(refused),
        'without it: the network error',
      );
      const connecting = lab.client('writer', { plugins: 'failover_v2', enableConnectFailover: true }, services);
      const event = lab.clients.at(-1)!.nextFailover();
      const r = await lab.cluster.failover({ mode: 'immediate' });
      const db = await connecting;
      await assertOnWriter(db, r.newWriter);
      assert.is((await event).outcome, 'success');
    },
  );

  t("failover (v1) plugin: writer failover with the seed's v1 semantics", async () => {
    const db = await lab.client('writer', { plugins: 'initial_connection,failover' });
    const r = await lab.cluster.failover({ mode: 'immediate' });
    assert.instance(await rejection(db.query('SELECT 1')), FailoverSuccessError);
    await assertOnWriter(db, r.newWriter);
  });

  return t;
}
