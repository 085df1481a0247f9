/**
 * Failover errors as ORMs surface them. Drizzle, TypeORM, Sequelize and Prisma wrap driver errors in their own classes,
 * so `err instanceof FailoverSuccessError` never matches there; these helpers walk the cause chains ORMs build and
 * recognise the wrapper's errors by class or by name + code (a second copy of the package — ESM next to CJS — has its
 * own classes).
 */
import { FailoverFailedError, FailoverSuccessError, TransactionResolutionUnknownError } from './errors.js';

/**
 * What a failover did to the connection an error came from:
 * - 'success': failover reconnected outside a transaction; the statement did not run, the connection is usable.
 * - 'transaction-unknown': failover reconnected while a transaction was open; it may or may not have committed.
 * - 'failed': no instance could be reached within failoverTimeoutMs; the connection is unusable.
 */
export type FailoverOutcome = 'success' | 'transaction-unknown' | 'failed';

/** How deep a cause chain is followed; real ORM chains are 1–3 links. */
const MAX_DEPTH = 8;

/** Properties ORMs keep the underlying error under: Error.cause (Drizzle, Knex), TypeORM's driverError, Sequelize's original / parent, mssql-style originalError, Prisma's meta.driverAdapterError. */
const CAUSE_KEYS = ['cause', 'driverError', 'original', 'parent', 'originalError'] as const;

const BY_NAME: Record<string, { code: string; outcome: FailoverOutcome }> = {
  FailoverSuccessError: { code: '08S02', outcome: 'success' },
  TransactionResolutionUnknownError: { code: '08007', outcome: 'transaction-unknown' },
  FailoverFailedError: { code: '08001', outcome: 'failed' },
};

function ownOutcome(value: object): FailoverOutcome | undefined {
  if (value instanceof FailoverSuccessError) return 'success';
  if (value instanceof TransactionResolutionUnknownError) return 'transaction-unknown';
  if (value instanceof FailoverFailedError) return 'failed';
  const { name, code, originalCode } = value as { name?: unknown; code?: unknown; originalCode?: unknown };
  const known = typeof name === 'string' ? BY_NAME[name] : undefined;
  if (known && code === known.code) return known.outcome;
  // Prisma raises PrismaClientKnownRequestError with the driver error's message and code but neither its class nor
  // the error itself; its own codes are P1xxx/P2xxx, so one of ours there came from the wrapper.
  if (typeof name === 'string' && name.startsWith('PrismaClient')) {
    for (const k of Object.values(BY_NAME)) if (code === k.code) return k.outcome;
  }
  // MikroORM's DriverException (and subclasses) copies the driver error's own properties, code included, but takes its
  // own class and name. Only the two codes that mean "failover reconnected" count, 08001 being an ordinary SQLSTATE.
  if (isMikroOrmDriverException(value)) {
    if (code === '08S02') return 'success';
    if (code === '08007') return 'transaction-unknown';
  }
  // Prisma's driver adapters turn a driver error into { kind, originalCode, originalMessage }: the class is gone, the
  // code stays. 08001 is also an ordinary SQLSTATE, so only the two codes that mean "failover reconnected" count.
  if (typeof (value as { originalMessage?: unknown }).originalMessage === 'string') {
    if (originalCode === '08S02') return 'success';
    if (originalCode === '08007') return 'transaction-unknown';
  }
  return undefined;
}

/** Whether `value`'s class is MikroORM's DriverException or extends it (by name: no import of an optional dependency). */
function isMikroOrmDriverException(value: object): boolean {
  for (
    let p: unknown = Object.getPrototypeOf(value);
    p !== null && p !== Error.prototype;
    p = Object.getPrototypeOf(p)
  ) {
    if ((p as { constructor?: { name?: unknown } }).constructor?.name === 'DriverException') return true;
  }
  return false;
}

function links(value: object): unknown[] {
  const out: unknown[] = [];
  for (const key of CAUSE_KEYS) {
    let v: unknown;
    try {
      v = (value as Record<string, unknown>)[key];
    } catch {
      continue; // a throwing getter is not a cause
    }
    if (v !== null && typeof v === 'object') out.push(v);
  }
  const meta = (value as { meta?: unknown }).meta;
  if (meta !== null && typeof meta === 'object') {
    const adapterError = (meta as { driverAdapterError?: unknown }).driverAdapterError;
    if (adapterError !== null && typeof adapterError === 'object') out.push(adapterError);
  }
  if (value instanceof AggregateError)
    for (const e of value.errors) if (e !== null && typeof e === 'object') out.push(e);
  return out;
}

/**
 * The failover outcome carried by `err` or anything in its cause chain (breadth-first, at most 8 links deep, cycles
 * ignored), or undefined when `err` is not a failover error.
 */
export function failoverOutcome(err: unknown): FailoverOutcome | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const seen = new Set<object>([err]);
  let level: object[] = [err];
  for (let depth = 0; depth <= MAX_DEPTH && level.length > 0; depth++) {
    const next: object[] = [];
    for (const value of level) {
      const outcome = ownOutcome(value);
      if (outcome) return outcome;
      for (const link of links(value)) {
        if (!seen.has(link as object)) {
          seen.add(link as object);
          next.push(link as object);
        }
      }
    }
    level = next;
  }
  return undefined;
}

/** Whether `err`, or an error it wraps (TypeORM, Sequelize, Drizzle, Prisma, MikroORM, Knex…), is one of the wrapper's failover errors. */
export function isFailoverError(err: unknown): boolean {
  return failoverOutcome(err) !== undefined;
}

export interface FailoverRetryOptions {
  /** Total runs of `fn`, first included (default 2: one retry). An integer >= 1. */
  attempts?: number;
  /** Called before each re-run with the error that caused it, its outcome, and the number of the coming attempt (2, 3…). */
  onRetry?: (err: unknown, outcome: FailoverOutcome, attempt: number) => void;
}

/**
 * Runs `fn` and re-runs it when it fails with FailoverSuccessError or TransactionResolutionUnknownError (however
 * deeply an ORM wrapped it), up to `attempts` runs in all. Any other error — FailoverFailedError included, since no
 * instance was reachable — is thrown at once. `fn` must be a unit that is safe to run again: a read, an idempotent
 * write, or a whole transaction (begin to commit) — after 'transaction-unknown' the earlier run may have committed,
 * so a transaction that is not idempotent must check for its own effect first.
 */
export async function withFailoverRetry<T>(
  fn: (attempt: number) => Promise<T> | T,
  options: FailoverRetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 2;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new TypeError(`withFailoverRetry: attempts must be an integer >= 1, got ${String(attempts)}`);
  }
  if (typeof fn !== 'function') throw new TypeError(`withFailoverRetry: fn must be a function, got ${typeof fn}`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const outcome = failoverOutcome(err);
      if (attempt >= attempts || (outcome !== 'success' && outcome !== 'transaction-unknown')) throw err;
      options.onRetry?.(err, outcome, attempt + 1);
    }
  }
}
