/**
 * What both MySQL entries re-export from mysql2 unchanged (SQL escaping, type constants, parser cache), so code
 * written against `mysql2` or `mysql2/promise` finds them on ours.
 */
import mysql from 'mysql2';

// mysql2 defines these as getters; read once so they are plain named exports here.
const driver = mysql as unknown as {
  escape: typeof mysql.escape;
  escapeId: typeof mysql.escapeId;
  format: typeof mysql.format;
  raw: typeof mysql.raw;
  Types: Record<string, number>;
  Charsets: Record<string, number>;
  CharsetToEncoding: string[];
  setMaxParserCache(max: number): void;
  clearParserCache(): void;
};

export const escape: typeof mysql.escape = driver.escape;
export const escapeId: typeof mysql.escapeId = driver.escapeId;
export const format: typeof mysql.format = driver.format;
export const raw: typeof mysql.raw = driver.raw;
export const Types = driver.Types;
export const Charsets = driver.Charsets;
export const CharsetToEncoding = driver.CharsetToEncoding;
export const setMaxParserCache = driver.setMaxParserCache;
export const clearParserCache = driver.clearParserCache;
