/**
 * Session state the user set through the client API (or that the client detected from its own statements),
 * kept so it can be re-applied to a new physical connection after a switch (failover, read/write splitting).
 * Each field has the value the user set and the pristine value: what the connection had before the first change,
 * which a pool or a preserved connection can be reset to.
 */
import { ConfigurationError } from './errors.js';
import type { IsolationLevel, SessionState } from './dialects/types.js';

export type SessionField = keyof SessionState;

const FIELDS: readonly SessionField[] = ['autoCommit', 'readOnly', 'isolationLevel', 'catalog', 'schema'];

const ISOLATION_LEVELS: readonly IsolationLevel[] = [
  'READ UNCOMMITTED',
  'READ COMMITTED',
  'REPEATABLE READ',
  'SERIALIZABLE',
];

/** What a freshly opened connection has, for the fields that have a driver-independent default. */
const FRESH_CONNECTION: Readonly<SessionState> = { autoCommit: true, readOnly: false };

/** Throws a ConfigurationError naming the field when a patch holds a value of the wrong type or an unknown key. */
export function validateSessionState(patch: Readonly<Partial<SessionState>>): void {
  for (const key of Object.keys(patch)) {
    const value = (patch as Record<string, unknown>)[key];
    switch (key) {
      case 'autoCommit':
      case 'readOnly':
        if (typeof value !== 'boolean')
          throw new ConfigurationError(`Session state '${key}' must be a boolean, got ${typeof value}`, key);
        break;
      case 'isolationLevel':
        if (!ISOLATION_LEVELS.includes(value as IsolationLevel)) {
          throw new ConfigurationError(
            `Session state 'isolationLevel' must be one of ${ISOLATION_LEVELS.join(', ')}; got '${String(value)}'`,
            key,
          );
        }
        break;
      case 'catalog':
      case 'schema':
        if (typeof value !== 'string' || value === '')
          throw new ConfigurationError(`Session state '${key}' must be a non-empty string`, key);
        break;
      default:
        throw new ConfigurationError(`Unknown session state field '${key}'; expected one of ${FIELDS.join(', ')}`, key);
    }
  }
}

/** Tracks the session state of one logical client. */
export class SessionStateTracker {
  private readonly values: SessionState = {};
  private readonly pristine: SessionState = {};

  /** The values the user set (only the fields that were set). */
  get current(): Readonly<SessionState> {
    return this.values;
  }

  /** Pristine values of the fields that were changed (undefined where the driver default is not known). */
  get pristineValues(): Readonly<SessionState> {
    return this.pristine;
  }

  get isEmpty(): boolean {
    return FIELDS.every((f) => this.values[f] === undefined);
  }

  /** Records values the connection now has; the first change of a field captures its pristine value. */
  record(patch: Readonly<Partial<SessionState>>): void {
    for (const field of FIELDS) {
      const value = patch[field];
      if (value === undefined) continue;
      if (!(field in this.pristine)) assign(this.pristine, field, FRESH_CONNECTION[field]);
      assign(this.values, field, value);
    }
  }

  /**
   * The fields whose current value differs from a known pristine value, set to that pristine value: what must be
   * applied to give a connection back its original state.
   */
  resetPatch(): Partial<SessionState> {
    const patch: SessionState = {};
    for (const field of FIELDS) {
      const p = this.pristine[field];
      if (p !== undefined && p !== this.values[field]) assign(patch, field, p);
    }
    return patch;
  }

  /** Forgets everything (a new logical session: initial connection). */
  reset(): void {
    for (const field of FIELDS) {
      delete this.values[field];
      delete this.pristine[field];
    }
  }
}

function assign<K extends SessionField>(target: SessionState, field: K, value: SessionState[K] | undefined): void {
  if (value === undefined) delete target[field];
  else target[field] = value;
}
