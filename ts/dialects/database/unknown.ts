/**
 * The dialect of a server not identified yet (a driver the wrapper has no guess for). It only exists until the
 * first connection's refinement, which must replace it or fail with a clear error, so its queries are empty.
 */
import type { DatabaseDialect } from '../types.js';

export const unknownDialect: DatabaseDialect = {
  code: 'unknown',
  defaultPort: -1,
  updateCandidates: [
    'mysql',
    'pg',
    'rds-mysql',
    'rds-pg',
    'aurora-mysql',
    'aurora-pg',
    'multi-az-mysql',
    'multi-az-pg',
  ],
  hostIdQuery: '',
  isReaderQuery: '',
  aliasQuery: undefined,
  serverVersionQuery: '',
  topology: undefined,
  async isDialect() {
    return false;
  },
};
