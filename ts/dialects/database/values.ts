/**
 * Reading single values out of auxiliary-query rows the same way for both drivers: pg returns booleans, numbers
 * and strings (bigint/numeric as strings); mysql2 returns 0/1 numbers for booleans and BIGINT as numbers or strings.
 */
import type { RowsWithColumns } from '../types.js';

/** A SQL boolean as either driver returns it: true, 1, 1n, '1', 't', 'true', 'on', 'yes' (any case). */
export function isTrueValue(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string') return ['1', 't', 'true', 'on', 'yes', 'y'].includes(v.trim().toLowerCase());
  if (v instanceof Uint8Array) return v.length > 0 && v.some((b) => b !== 0 && b !== 0x30); // BIT(1) / '0'
  return false;
}

/** A SQL boolean as either driver returns it, or undefined when the value is not one. */
export function asBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v === 1 ? true : v === 0 ? false : undefined;
  if (typeof v === 'bigint') return v === 1n ? true : v === 0n ? false : undefined;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['1', 't', 'true', 'on', 'yes', 'y'].includes(s)) return true;
    if (['0', 'f', 'false', 'off', 'no', 'n'].includes(s)) return false;
  }
  return undefined;
}

/** A value as an identifier string (ids come back as strings, numbers or bigints); undefined for null/empty. */
export function asText(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}

/** A number from a number, bigint or numeric string; undefined otherwise. */
export function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export function firstValue(rows: readonly unknown[][]): unknown {
  return rows[0]?.[0];
}

/** Column `name` (case-insensitive) of row 0 when the driver reported column names, else column `fallbackIndex`. */
export function valueByColumnName(
  rows: RowsWithColumns,
  names: readonly string[],
  fallbackIndex: number | undefined,
): unknown {
  const row = rows[0];
  if (!row) return undefined;
  if (rows.columns) {
    const lower = rows.columns.map((c) => c.toLowerCase());
    for (const name of names) {
      const i = lower.indexOf(name.toLowerCase());
      if (i >= 0) return row[i];
    }
    return undefined;
  }
  return fallbackIndex === undefined ? undefined : row[fallbackIndex];
}
