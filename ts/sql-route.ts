/**
 * Classifies one SQL statement for readerRouting: may it run on a reader? Only a bounded prefix of the text is read
 * (ROUTE_PREFIX_CHARS), so the cost does not grow with the statement; whatever the prefix cannot settle is a write.
 *
 * The rules err towards the writer: a false "write" only costs reader share, a false "read" would run a write (or a
 * session-bound function) on a reader. So literals and comments are not parsed away: a keyword seen anywhere in
 * the prefix, even inside a string, keeps the statement on the writer.
 */

/** How many characters of a statement the classifier reads. A longer read statement is inconclusive: writer. */
export const ROUTE_PREFIX_CHARS = 4096;

/**
 * - `read`: a plain read (SELECT / WITH / VALUES / TABLE without writes, locks or side effects);
 * - `hinted-read`: the same, marked with a leading `/* aws:reader *\/` comment;
 * - `begin-read-only`: starts a read-only transaction (the whole transaction may run on a reader);
 * - `set-transaction-read-only`: `SET TRANSACTION … READ ONLY` (on MySQL it makes the next transaction read-only:
 *   Kysely's MysqlDialect sends it before `begin`);
 * - `begin`: starts a transaction without saying its access mode (`BEGIN`, `START TRANSACTION`);
 * - `write`: everything else, including read-write transaction starts and inconclusive statements.
 */
export type StatementRoute =
  'read' | 'hinted-read' | 'begin-read-only' | 'set-transaction-read-only' | 'begin' | 'write';

const HINT = /^\/\*\s*aws:reader\s*\*\//i;

/** Leading keywords of statements that can be reads. */
const READ_START = /^(?:select|with|values|table)\b/;
const BEGIN_START = /^(?:begin|start\s+transaction)\b/;
const SET_TRANSACTION_START = /^set\s+transaction\b/;

/**
 * What keeps a read on the writer: writes (writable CTEs, SELECT … INTO), locking reads, and functions with effects
 * or with per-connection results (sequences, advisory and named locks, last insert id, …). Matched on the
 * lower-cased prefix.
 */
const NOT_A_READ = new RegExp(
  [
    String.raw`\b(?:insert|update|delete|merge|into|lock)\b`, // writable CTEs, SELECT … INTO, FOR UPDATE, LOCK IN SHARE MODE
    String.raw`\bfor\s+(?:no\s+key\s+update|key\s+share|share)\b`,
    String.raw`\b(?:nextval|setval|currval|lastval|pg_advisory\w*|pg_try_advisory\w*|pg_notify|set_config|txid_current\w*|pg_current_xact_id\w*|lo_\w+|dblink\w*|get_lock|release_lock|release_all_locks|is_used_lock|last_insert_id|found_rows|row_count|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_switch_wal|pg_create\w*|pg_drop\w*)\s*\(`,
    ':=', // MySQL user variable assignment
    String.raw`@@(?!global\.)`, // MySQL session variables (per connection); @@global.x reads the same everywhere
    String.raw`\bsql_calc_found_rows\b`,
  ].join('|'),
);

/** Skips whitespace and comments at `i`; undefined when a block comment is not closed within the prefix. */
function skipSpace(s: string, i: number): number | undefined {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 40 /* ( */) {
      i++;
    } else if (c === 45 && s.charCodeAt(i + 1) === 45) {
      const nl = s.indexOf('\n', i);
      if (nl < 0) return s.length;
      i = nl + 1;
    } else if (c === 47 && s.charCodeAt(i + 1) === 42) {
      const end = s.indexOf('*/', i + 2);
      if (end < 0) return undefined;
      i = end + 2;
    } else {
      return i;
    }
  }
}

/** Whether more than one statement is sent (a `;` followed by anything but whitespace or comments). */
function hasSecondStatement(s: string): boolean {
  let from = 0;
  for (;;) {
    const semi = s.indexOf(';', from);
    if (semi < 0) return false;
    const next = skipSpace(s, semi + 1);
    if (next === undefined || next < s.length) return true;
    from = semi + 1;
    if (from >= s.length) return false;
  }
}

/** The route of `sql` (see StatementRoute). Reads at most ROUTE_PREFIX_CHARS characters. */
export function classifyStatement(sql: string): StatementRoute {
  const truncated = sql.length > ROUTE_PREFIX_CHARS;
  const raw = truncated ? sql.slice(0, ROUTE_PREFIX_CHARS) : sql;
  let start = 0;
  while (start < raw.length && raw.charCodeAt(start) <= 32) start++;
  const hinted = HINT.test(raw.slice(start, start + 64));
  const at = skipSpace(raw, start);
  if (at === undefined || at >= raw.length) return 'write';
  const s = raw.toLowerCase();
  const head = s.slice(at, at + 32);
  const begin = BEGIN_START.test(head);
  if (begin || SET_TRANSACTION_START.test(head)) {
    // Transaction starts are short: one that does not fit, or that sends more, is not trusted.
    if (truncated || hasSecondStatement(s)) return 'write';
    const body = s.slice(at);
    if (/\bread\s+write\b/.test(body)) return 'write';
    if (/\bread\s+only\b/.test(body)) return begin ? 'begin-read-only' : 'set-transaction-read-only';
    return begin && /^(?:begin|start\s+transaction)(?:\s+(?:work|transaction))?\s*;?\s*$/.test(body)
      ? 'begin'
      : 'write';
  }
  if (!READ_START.test(head)) return 'write';
  if (truncated || NOT_A_READ.test(s) || hasSecondStatement(s)) return 'write';
  return hinted ? 'hinted-read' : 'read';
}
