/** Every built-in database dialect by code, plus the spellings the Python docs use. */
import type { DatabaseDialect, DialectCode } from '../types.js';
import { MYSQL_DIALECTS } from './mysql.js';
import { PG_DIALECTS } from './pg.js';
import { unknownDialect } from './unknown.js';

export * from './mysql.js';
export * from './pg.js';
export { unknownDialect } from './unknown.js';
export { checkWriter, readOwnHostId, type WriterCheck } from './writer.js';

export const DATABASE_DIALECTS: ReadonlyMap<DialectCode, DatabaseDialect> = new Map(
  [...MYSQL_DIALECTS, ...PG_DIALECTS, unknownDialect].map((d) => [d.code, d]),
);

/** Codes the `wrapperDialect` option accepts (built-in codes and `custom`). */
export const WRAPPER_DIALECT_CODES: readonly string[] = [...MYSQL_DIALECTS, ...PG_DIALECTS]
  .map((d) => d.code)
  .concat('custom');

/** Codes written in the Python wrapper's docs that differ from the codes its code accepts. */
export const DIALECT_CODE_ALIASES: Readonly<Record<string, DialectCode>> = {
  'rds-multi-az-mysql-cluster': 'multi-az-mysql',
  'rds-multi-az-pg-cluster': 'multi-az-pg',
  mariadb: 'mysql',
};

export function dialectByCode(code: DialectCode): DatabaseDialect | undefined {
  return DATABASE_DIALECTS.get(code);
}
