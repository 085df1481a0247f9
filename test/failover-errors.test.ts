// isFailoverError / failoverOutcome / withFailoverRetry against the error classes ORMs really wrap driver errors in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QueryFailedError } from 'typeorm';
import { DatabaseError as SequelizeDatabaseError, ConnectionError as SequelizeConnectionError } from 'sequelize';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { DriverException, ConnectionException, UniqueConstraintViolationException } from '@mikro-orm/core';
import {
  FailoverFailedError,
  FailoverSuccessError,
  TransactionResolutionUnknownError,
  QueryTimeoutError,
} from '../ts/errors.js';
import { failoverOutcome, isFailoverError, withFailoverRetry, type FailoverOutcome } from '../ts/failover-errors.js';

const lost = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });

test('the wrapper errors themselves', () => {
  assert.is(failoverOutcome(new FailoverSuccessError(undefined, { cause: lost })), 'success');
  assert.is(failoverOutcome(new TransactionResolutionUnknownError()), 'transaction-unknown');
  assert.is(failoverOutcome(new FailoverFailedError()), 'failed');
  assert.ok(isFailoverError(new FailoverFailedError()));
  for (const other of [lost, new QueryTimeoutError('timeout'), null, undefined, 'FailoverSuccessError', 42, {}]) {
    assert.is(failoverOutcome(other), undefined);
    assert.is(isFailoverError(other), false);
  }
});

test('a second copy of the package (ESM next to CJS) is recognised by name and code, a look-alike name alone is not', () => {
  class FailoverSuccessError extends Error {
    code = '08S02';
    override name = 'FailoverSuccessError';
  }
  assert.is(failoverOutcome(new FailoverSuccessError()), 'success');
  assert.is(failoverOutcome(Object.assign(new Error('x'), { name: 'FailoverSuccessError', code: '57P01' })), undefined);
  // a server-side 08001 is an ordinary connection error, not a failed failover
  assert.is(failoverOutcome(Object.assign(new Error('x'), { code: '08001' })), undefined);
});

test('TypeORM QueryFailedError keeps the driver error as driverError (and cause)', () => {
  const err = new QueryFailedError('SELECT 1', [], new FailoverSuccessError());
  assert.is(failoverOutcome(err), 'success');
  const tx = new QueryFailedError('COMMIT', [], new TransactionResolutionUnknownError());
  assert.is(failoverOutcome(tx), 'transaction-unknown');
  assert.is(failoverOutcome(new QueryFailedError('SELECT 1', [], lost)), undefined);
});

test('Sequelize DatabaseError / ConnectionError keep it as original and parent', () => {
  const err = new SequelizeDatabaseError(new FailoverSuccessError() as never);
  assert.is(err.original instanceof FailoverSuccessError, true);
  assert.is(failoverOutcome(err), 'success');
  assert.is(failoverOutcome(new SequelizeConnectionError(new FailoverFailedError())), 'failed');
});

test('Drizzle DrizzleQueryError keeps it as cause', () => {
  assert.is(
    failoverOutcome(new DrizzleQueryError('select 1', [], new TransactionResolutionUnknownError())),
    'transaction-unknown',
  );
});

test("MikroORM's DriverException family copies the driver error's own properties (code) but not its class or name", () => {
  assert.is(failoverOutcome(new DriverException(new FailoverSuccessError())), 'success');
  assert.is(failoverOutcome(new ConnectionException(new TransactionResolutionUnknownError())), 'transaction-unknown');
  // 08001 is an ordinary SQLSTATE too: through MikroORM a FailoverFailedError is not told apart from one
  assert.is(failoverOutcome(new DriverException(new FailoverFailedError())), undefined);
  assert.is(
    failoverOutcome(new UniqueConstraintViolationException(Object.assign(new Error('dup'), { code: '23505' }))),
    undefined,
  );
  assert.is(
    failoverOutcome(Object.assign(new Error('x'), { code: '08S02' })),
    undefined,
    'the code alone is not enough',
  );
});

test("Prisma's shapes: meta.driverAdapterError with the adapter's mapped cause, or the raw error as cause", () => {
  // @prisma/driver-adapter-utils DriverAdapterError: { name: 'DriverAdapterError', cause: { kind, originalCode, originalMessage } }
  const adapterError = Object.assign(new Error('postgres'), {
    name: 'DriverAdapterError',
    cause: {
      kind: 'postgres',
      code: '08S02',
      severity: 'ERROR',
      message: 'changed',
      originalCode: '08S02',
      originalMessage: 'The active connection has changed',
    },
  });
  const known = Object.assign(new Error('Invalid `prisma.user.findMany()` invocation'), {
    name: 'PrismaClientKnownRequestError',
    code: 'P2010',
    meta: { driverAdapterError: adapterError },
  });
  assert.is(failoverOutcome(known), 'success');
  // what Prisma 7 + @prisma/adapter-pg really raise for FailoverSuccessError (test/orms/pg.test.ts): class and cause gone, code kept
  const rethrown = Object.assign(
    new Error('Invalid `prisma.$queryRawUnsafe()` invocation: The active connection has changed'),
    {
      name: 'PrismaClientKnownRequestError',
      code: '08S02',
      meta: undefined,
      clientVersion: '7.10.1',
    },
  );
  assert.is(failoverOutcome(rethrown), 'success');
  assert.is(
    failoverOutcome(Object.assign(new Error('x'), { name: 'PrismaClientKnownRequestError', code: '08001' })),
    'failed',
  );
  assert.is(
    failoverOutcome(Object.assign(new Error('x'), { name: 'PrismaClientKnownRequestError', code: 'P2002' })),
    undefined,
  );
  const unknown = Object.assign(new Error('x'), {
    name: 'PrismaClientUnknownRequestError',
    cause: new TransactionResolutionUnknownError(),
  });
  assert.is(failoverOutcome(unknown), 'transaction-unknown');
});

test('deep chains are followed to the bound, cycles end the walk', () => {
  let err: Error = new FailoverSuccessError();
  for (let i = 0; i < 8; i++) err = new Error(`wrap ${i}`, { cause: err });
  assert.is(failoverOutcome(err), 'success');
  err = new Error('one too deep', { cause: err });
  assert.is(failoverOutcome(err), undefined);
  const a = new Error('a') as Error & { cause?: unknown };
  const b = new Error('b', { cause: a });
  a.cause = b;
  assert.is(failoverOutcome(a), undefined);
  const agg = new AggregateError([lost, new QueryFailedError('x', [], new FailoverSuccessError())], 'all failed');
  assert.is(failoverOutcome(agg), 'success');
  const throwing = new Error('getter');
  Object.defineProperty(throwing, 'original', {
    get: () => {
      throw new Error('no');
    },
  });
  assert.is(failoverOutcome(throwing), undefined);
});

test('withFailoverRetry re-runs only after success / transaction-unknown, up to attempts', async () => {
  const retries: Array<[FailoverOutcome, number]> = [];
  let runs = 0;
  const value = await withFailoverRetry(
    async (attempt) => {
      runs++;
      if (attempt === 1) throw new QueryFailedError('SELECT 1', [], new FailoverSuccessError());
      return 'ok';
    },
    { onRetry: (_e, outcome, attempt) => retries.push([outcome, attempt]) },
  );
  assert.is(value, 'ok');
  assert.is(runs, 2);
  assert.equal(retries, [['success', 2]]);

  runs = 0;
  const failed = new SequelizeDatabaseError(new FailoverFailedError() as never);
  try {
    await withFailoverRetry(
      () => {
        runs++;
        throw failed;
      },
      { attempts: 5 },
    );
    assert.unreachable();
  } catch (e) {
    assert.is(e, failed, 'FailoverFailedError is thrown as is: no instance was reachable');
  }
  assert.is(runs, 1);

  runs = 0;
  try {
    await withFailoverRetry(
      () => {
        runs++;
        throw lost;
      },
      { attempts: 5 },
    );
    assert.unreachable();
  } catch (e) {
    assert.is(e, lost);
  }
  assert.is(runs, 1);

  runs = 0;
  const unknown = new TransactionResolutionUnknownError();
  try {
    await withFailoverRetry(
      () => {
        runs++;
        throw unknown;
      },
      { attempts: 3 },
    );
    assert.unreachable();
  } catch (e) {
    assert.is(e, unknown, 'the last failover error is thrown once attempts are used up');
  }
  assert.is(runs, 3);
});

test('withFailoverRetry names a bad argument', async () => {
  for (const attempts of [0, 1.5, -1, Number.NaN]) {
    try {
      await withFailoverRetry(async () => 1, { attempts });
      assert.unreachable();
    } catch (e) {
      assert.match((e as Error).message, /attempts must be an integer >= 1/);
    }
  }
  try {
    await withFailoverRetry(undefined as never);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /fn must be a function/);
  }
});

test('every entry point exports the helpers', async () => {
  const root = await import('../ts/index.js');
  for (const entry of [
    await import('../ts/pg.js'),
    await import('../ts/mysql.js'),
    await import('../ts/mysql-promise.js'),
  ]) {
    assert.is(entry.isFailoverError, root.isFailoverError);
    assert.is(entry.failoverOutcome, root.failoverOutcome);
    assert.is(entry.withFailoverRetry, root.withFailoverRetry);
  }
});

test.run();
