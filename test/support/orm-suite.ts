// The ORM suites' shared scenarios (test/orms/*.test.ts): one lookalike per engine, each ORM case defines the same
// three checks through its own API — CRUD and transactions, a failover under two workers, readerRouting.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TransactionRollbackError } from 'drizzle-orm/errors';
import { isFailoverError, withFailoverRetry } from '../../ts/failover-errors.js';
import type { Lab } from './failover-lab.js';

/** Thrown inside a transaction callback to roll it back. */
export class Rollback extends Error {}

/** What each case does through its ORM. `orm` column = the case's name, so cases never see each other's rows. */
export interface Orm {
  /** A raw statement through the ORM; resolves with the first row's `v` column when there is one. */
  raw(sql: string): Promise<unknown>;
  insert(id: number, v?: number): Promise<unknown>;
  read(id: number): Promise<number | null | undefined>;
  update(id: number, v: number): Promise<unknown>;
  remove(id: number): Promise<unknown>;
  /** Inserts `ids` in one transaction of the ORM's API; throws Rollback inside it when `rollback`. */
  tx(ids: number[], rollback: boolean): Promise<unknown>;
  /** WHO inside a read-only transaction of the ORM's API, where it has one. */
  readOnlyTx?(): Promise<unknown>;
  /** The pool the ORM was given, when the application owns one (checked for leftover connections). */
  pool?: { totalCount: number };
  end(): Promise<void>;
}

export interface OrmCase {
  name: string;
  /** Builds the ORM on the writer endpoint with these extra wrapper options. */
  make(options: Record<string, unknown>): Promise<Orm>;
  /** The class the ORM wraps a failover error in. */
  errorCheck?(err: unknown): boolean;
}

/** What differs between engines. */
export interface OrmEngine {
  lab(): Lab;
  /** A statement that runs long enough to be in flight when the writer fails. */
  sleep: string;
  /** Names the instance answering (`... AS v`). */
  who: string;
  /** `who` in a form readerRouting may send to a reader. */
  routedWho: string;
  /** Counts the statements starting with `prefix` running on an instance (one row, column `n`). */
  runningSql(prefix: string): string;
}

export const ROUTING = {
  plugins: 'read_write_splitting,failover_v2',
  readerRouting: 'selects',
  readerRoutingStickMs: 0,
};

/** Returns `defineCase`, which registers a case's two tests. */
export function ormSuite(engine: OrmEngine): (c: OrmCase) => void {
  const ids = async (name: string): Promise<number[]> => {
    const rows = await engine
      .lab()
      .direct('writer', (q) => q(`SELECT id FROM orm_rows WHERE orm = '${name}' ORDER BY id`));
    return rows.map((r) => Number(r.id));
  };

  const expectRollback = async (run: Promise<unknown>): Promise<void> => {
    try {
      await run;
      assert.unreachable('the transaction committed');
    } catch (err) {
      if (!(err instanceof Rollback) && !(err instanceof TransactionRollbackError)) throw err;
    }
  };

  const crudAndTransactions = async (name: string, orm: Orm): Promise<void> => {
    await orm.insert(1, 10);
    assert.is(Number(await orm.read(1)), 10, `${name}: read back`);
    await orm.update(1, 11);
    assert.is(Number(await orm.read(1)), 11, `${name}: updated`);
    await orm.remove(1);
    assert.not.ok(await orm.read(1), `${name}: deleted`);
    await orm.tx([2, 3], false);
    await expectRollback(orm.tx([4, 5], true));
    assert.equal(await ids(name), [2, 3], `${name}: committed transaction kept, rolled-back one gone`);
  };

  /** Waits until `n` statements starting with `prefix` run on instance `name`. */
  const waitRunningCount = async (name: string, prefix: string, n: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    await engine.lab().direct(name, async (q) => {
      while (Date.now() < deadline) {
        const [row] = await q(engine.runningSql(prefix));
        if (Number(row.n) >= n) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`fewer than ${n} '${prefix}…' running on ${name} within 10 s`);
    });
  };

  /**
   * Two workers each insert three rows, one unit of work per row through withFailoverRetry; the first unit of each
   * is in flight (the sleep) when the writer fails, so both are retried once on the new writer.
   */
  const failoverTwoWorkers = async (c: OrmCase, orm: Orm): Promise<void> => {
    const lab = engine.lab();
    const before = String(await orm.raw(engine.who));
    const seen: unknown[] = [];
    const worker = async (w: number): Promise<void> => {
      for (let u = 0; u < 3; u++) {
        await withFailoverRetry(
          async (attempt) => {
            if (u === 0 && attempt === 1) await orm.raw(engine.sleep);
            await orm.insert(100 + 10 * w + u, w);
          },
          { onRetry: (err) => seen.push(err) },
        );
      }
    };
    const work = Promise.all([worker(0), worker(1)]);
    await waitRunningCount(before, engine.sleep, 2);
    const { newWriter } = await lab.cluster.failover({ mode: 'immediate' });
    assert.is.not(newWriter, before);
    await work;
    assert.is(seen.length, 2, `${c.name}: one retry per worker`);
    for (const err of seen) {
      assert.ok(isFailoverError(err), `${c.name}: the ORM's error is recognised: ${String(err)}`);
      if (c.errorCheck) assert.ok(c.errorCheck(err), `${c.name}: wrapped by the ORM: ${String(err)}`);
    }
    assert.is(String(await orm.raw(engine.who)), newWriter);
    assert.equal(
      (await ids(c.name)).filter((id) => id >= 100 && id < 200),
      [100, 101, 102, 110, 111, 112],
      `${c.name}: no row lost or duplicated`,
    );
    await orm.end();
    if (orm.pool) assert.is(orm.pool.totalCount, 0, `${c.name}: the pool holds no connection after end()`);
  };

  /** readerRouting 'selects': the ORM's reads and read-only transactions run on the reader, its writes on the writer. */
  const routing = async (c: OrmCase): Promise<void> => {
    const orm = await c.make(ROUTING);
    try {
      const { instances } = await engine.lab().cluster.status();
      const readers = instances.filter((i) => i.role === 'reader').map((i) => i.name);
      const writer = instances.find((i) => i.role === 'writer')!.name;
      const who = engine.routedWho;
      assert.ok(readers.includes(String(await orm.raw(who))), `${c.name}: a plain read on a reader`);
      if (orm.readOnlyTx)
        assert.ok(readers.includes(String(await orm.readOnlyTx())), `${c.name}: a read-only transaction on a reader`);
      await orm.insert(200, 1); // the reader would refuse it: it ran on the writer
      assert.is(
        String(await orm.raw(`${who} FROM orm_rows WHERE id = 200 FOR UPDATE`)),
        writer,
        `${c.name}: a locking read on the writer`,
      );
      assert.ok(readers.includes(String(await orm.raw(who))), `${c.name}: back on a reader (no stick window)`);
    } finally {
      await orm.end();
    }
  };

  return (c: OrmCase): void => {
    test(`${c.name}: CRUD, a committed and a rolled-back transaction, a failover under two workers`, async () => {
      const orm = await c.make({});
      await crudAndTransactions(c.name, orm);
      await failoverTwoWorkers(c, orm);
    });
    test(`${c.name}: readerRouting sends its reads and read-only transactions to the reader`, () => routing(c));
  };
}
