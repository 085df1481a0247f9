/**
 * SQL text rewriting for the MySQL-flavour lookalike front: MariaDB cannot provide Aurora MySQL's
 * `@@aurora_server_id`, `information_schema.replica_host_status`, `aurora_version`, nor a settable
 * `version_comment`, so the front rewrites the few statements that name them into equivalent SQL the real
 * server answers. Every other statement passes through byte for byte.
 *
 * Works on latin1-decoded text (one char per byte) so any client character set survives the round trip: the
 * names matched are ASCII and multi-byte UTF-8 sequences never contain ASCII bytes. String literals, quoted
 * identifiers and comments are never rewritten.
 */

/** What one instance's front answers instead of the server. */
export interface SqlRewriteRules {
  /** `@@name` (also `@@global.name` / `@@session.name`) → SQL expression, keyed by lower-case name. */
  readonly variables: ReadonlyMap<string, string>;
  /** `SHOW [GLOBAL|SESSION] VARIABLES LIKE 'name'` → SQL expression for the Value column, keyed by lower-case name. */
  readonly showVariables: ReadonlyMap<string, string>;
  /**
   * `schema.table` (lower-case, unquoted) → replacement `schema.table`, or a parenthesised derived table (given
   * the table's name as alias unless the statement names one).
   */
  readonly tables: ReadonlyMap<string, string>;
  /** Zero-argument function `name()` (lower-case) → SQL expression. */
  readonly functions: ReadonlyMap<string, string>;
  /**
   * Tables the server lacks but `information_schema.tables` must list: a statement that reads
   * `information_schema.tables` and names one of `names` (case-insensitive) reads the derived table `tables`
   * instead. Other statements on `information_schema.tables` are left alone.
   */
  readonly catalog?: { readonly names: readonly string[]; readonly tables: string };
}

type TokenKind = 'space' | 'comment' | 'string' | 'quoted' | 'word' | 'sysvar' | 'punct';

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
}

/** Quotes a value as a MySQL string literal (the values here are names and versions we choose, not user input). */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * Builds the rewriter for a rule set: returns the rewritten SQL, or undefined when the statement does not
 * touch any rule (the caller then forwards the original bytes).
 */
export function createSqlRewriter(rules: SqlRewriteRules): (sql: string) => string | undefined {
  const names = [
    ...rules.variables.keys(),
    ...rules.showVariables.keys(),
    ...rules.functions.keys(),
    ...[...rules.tables.keys()].map((t) => t.split('.')[1] ?? t),
  ];
  if (names.length === 0) return () => undefined;
  const prefilter = new RegExp(names.map(escapeRegExp).join('|'), 'i');
  const catalog = rules.catalog;
  const catalogNames = catalog && new RegExp(catalog.names.map(escapeRegExp).join('|'), 'i');
  const withCatalog: SqlRewriteRules | undefined = catalog && {
    ...rules,
    tables: new Map([...rules.tables, ['information_schema.tables', catalog.tables]]),
  };
  return (sql) => {
    if (!prefilter.test(sql)) return undefined;
    const shown = rewriteShowVariables(sql, rules);
    if (shown !== undefined) return shown;
    const out = rewriteTokens(tokenize(sql), withCatalog && catalogNames!.test(sql) ? withCatalog : rules);
    return out === sql ? undefined : out;
  };
}

const SHOW_VARIABLES = /^\s*SHOW\s+(?:(?:GLOBAL|SESSION|LOCAL)\s+)?VARIABLES\s+LIKE\s+'([^'\\%]*)'\s*;?\s*$/i;

/** `SHOW VARIABLES LIKE 'x'` for an overridden x (no `%` wildcard) → a SELECT with the same two columns. */
function rewriteShowVariables(sql: string, rules: SqlRewriteRules): string | undefined {
  const m = SHOW_VARIABLES.exec(sql);
  if (!m) return undefined;
  const pattern = new RegExp(`^${m[1].split('_').map(escapeRegExp).join('.')}$`, 'i');
  const matches = [...rules.showVariables.entries()].filter(([name]) => pattern.test(name));
  if (matches.length !== 1) return undefined;
  const [name, valueExpr] = matches[0];
  return `SELECT ${sqlString(name)} AS Variable_name, ${valueExpr} AS Value`;
}

/** Clause keywords that decide whether a select-list item may get an alias. */
const CLAUSES = new Set([
  'SELECT',
  'FROM',
  'WHERE',
  'GROUP',
  'ORDER',
  'HAVING',
  'LIMIT',
  'SET',
  'VALUES',
  'ON',
  'INTO',
  'UNION',
  'WINDOW',
  'RETURNING',
  'UPDATE',
  'CALL',
  'DO',
]);
/** Words that may follow a table reference without being its alias. */
const NOT_ALIAS = new Set([
  'WHERE',
  'GROUP',
  'ORDER',
  'HAVING',
  'LIMIT',
  'UNION',
  'JOIN',
  'INNER',
  'LEFT',
  'RIGHT',
  'CROSS',
  'NATURAL',
  'STRAIGHT_JOIN',
  'ON',
  'USING',
  'FOR',
  'LOCK',
  'INTO',
  'WINDOW',
  'PROCEDURE',
  'EXCEPT',
  'INTERSECT',
  'RETURNING',
]);
const ITEM_START = new Set(['SELECT', ',', 'DISTINCT', 'ALL']);
const ITEM_END = new Set([',', ';', 'FROM', 'UNION', 'INTO', 'WHERE', 'GROUP', 'ORDER', 'HAVING', 'LIMIT']);

function rewriteTokens(tokens: Token[], rules: SqlRewriteRules): string {
  const out: string[] = [];
  let depth = 0;
  let clause = '';
  const sigBefore = (i: number): Token | undefined => {
    for (let j = i - 1; j >= 0; j--) if (isSignificant(tokens[j])) return tokens[j];
    return undefined;
  };
  const sigAfter = (i: number): number => {
    for (let j = i + 1; j < tokens.length; j++) if (isSignificant(tokens[j])) return j;
    return -1;
  };
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (tok.kind === 'punct') {
      if (tok.text === '(') depth++;
      else if (tok.text === ')') depth = Math.max(0, depth - 1);
      else if (tok.text === ';') {
        depth = 0;
        clause = '';
      }
      out.push(tok.text);
      continue;
    }
    if (tok.kind === 'word' && depth === 0 && CLAUSES.has(tok.text.toUpperCase())) clause = tok.text.toUpperCase();
    if (tok.kind === 'sysvar') {
      const name = /^@@(?:(?:global|session|local)\.)?(.*)$/i.exec(tok.text)![1].toLowerCase();
      const expr = rules.variables.get(name);
      if (expr !== undefined) {
        const before = sigBefore(i);
        const afterIdx = sigAfter(i);
        const after = afterIdx < 0 ? undefined : tokens[afterIdx];
        const isItem =
          depth === 0 &&
          clause === 'SELECT' &&
          before !== undefined &&
          ITEM_START.has(before.text.toUpperCase()) &&
          (after === undefined || ITEM_END.has(after.text.toUpperCase()));
        // Keep the column name clients see for `SELECT @@x`, as the real server would name it.
        out.push(isItem ? `${expr} AS \`${tok.text.replace(/`/g, '``')}\`` : expr);
        continue;
      }
    }
    if (tok.kind === 'word' || tok.kind === 'quoted') {
      const dot = sigAfter(i);
      const second = dot >= 0 && tokens[dot].text === '.' ? sigAfter(dot) : -1;
      if (second >= 0 && (tokens[second].kind === 'word' || tokens[second].kind === 'quoted')) {
        const key = `${identName(tok)}.${identName(tokens[second])}`.toLowerCase();
        const table = rules.tables.get(key);
        if (table !== undefined) {
          out.push(table);
          if (table.startsWith('(')) {
            // A derived table needs an alias: the table's own name, unless the statement gives one.
            const next = sigAfter(second);
            const named =
              next >= 0 &&
              (tokens[next].kind === 'quoted' ||
                (tokens[next].kind === 'word' && !NOT_ALIAS.has(tokens[next].text.toUpperCase())));
            if (!named) out.push(` AS \`${identName(tokens[second]).replace(/`/g, '``')}\``);
          }
          i = second;
          continue;
        }
      }
      if (tok.kind === 'word') {
        const fn = rules.functions.get(tok.text.toLowerCase());
        const open = sigAfter(i);
        const close = open >= 0 && tokens[open].text === '(' ? sigAfter(open) : -1;
        if (fn !== undefined && close >= 0 && tokens[close].text === ')') {
          out.push(fn);
          i = close;
          continue;
        }
      }
    }
    out.push(tok.text);
  }
  return out.join('');
}

function isSignificant(tok: Token): boolean {
  return tok.kind !== 'space' && tok.kind !== 'comment';
}

function identName(tok: Token): string {
  return tok.kind === 'quoted' ? tok.text.slice(1, -1).replace(/``/g, '`') : tok.text;
}

/** Splits MySQL SQL text into tokens; concatenating the token texts gives back the input exactly. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i];
    const start = i;
    if (/\s/.test(c)) {
      while (i < n && /\s/.test(sql[i])) i++;
      tokens.push({ kind: 'space', text: sql.slice(start, i) });
    } else if (c === '#' || (c === '-' && sql[i + 1] === '-' && (i + 2 >= n || /\s/.test(sql[i + 2])))) {
      while (i < n && sql[i] !== '\n') i++;
      tokens.push({ kind: 'comment', text: sql.slice(start, i) });
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      tokens.push({ kind: 'comment', text: sql.slice(start, i) });
    } else if (c === "'" || c === '"') {
      i = skipQuoted(sql, i, c, true);
      tokens.push({ kind: 'string', text: sql.slice(start, i) });
    } else if (c === '`') {
      i = skipQuoted(sql, i, c, false);
      tokens.push({ kind: 'quoted', text: sql.slice(start, i) });
    } else if (c === '@' && sql[i + 1] === '@') {
      const m = /^@@(?:(?:global|session|local)\.)?[A-Za-z0-9_$]*/i.exec(sql.slice(i, i + 200))!;
      i += m[0].length;
      tokens.push({ kind: 'sysvar', text: m[0] });
    } else if (/[A-Za-z0-9_$@\x80-\xff]/.test(c)) {
      while (i < n && /[A-Za-z0-9_$@\x80-\xff]/.test(sql[i])) i++;
      tokens.push({ kind: 'word', text: sql.slice(start, i) });
    } else {
      i++;
      tokens.push({ kind: 'punct', text: c });
    }
  }
  return tokens;
}

/** Index just past the quoted run starting at `start` (doubled quotes, and backslash escapes in strings). */
function skipQuoted(sql: string, start: number, quote: string, backslash: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslash && c === '\\') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
