/**
 * Splits a user's config — driver config and wrapper options in one object, pg `connectionString` or mysql2 `uri`
 * with wrapper options as query parameters — into the driver config and typed wrapper options.
 *
 * Names, types, defaults and units come from OPTION_TABLE (option-table.ts). Durations without a unit in their
 * name are milliseconds (Node convention); the seed's snake_case aliases keep the seed's unit (seconds for
 * connect_timeout, socket_timeout, tcp_keepalive_time/_interval) and are converted.
 */
import { parse as parsePgConnectionString } from 'pg-connection-string';
import { ConfigurationError } from './errors.js';
import {
  OPTION_TABLE,
  MONITORING_PREFIXES,
  describeExpected,
  maxOf,
  maxWhyOf,
  parseHostPort,
  type MonitoringPrefix,
  type OptionName,
  type OptionRow,
  type OptionUnit,
  type TableOptions,
} from './option-table.js';
import type { ConnectProps } from './plugin.js';
import { redact, redactUrl } from './logger.js';

export {
  OPTION_TABLE,
  MONITORING_PREFIXES,
  type MonitoringPrefix,
  type OptionName,
  type OptionRow,
} from './option-table.js';

/**
 * Parsed wrapper options: one typed property per OPTION_TABLE row (camelCase name), plus the monitoring
 * overrides. Plugin options are rows of the same table, so `options.failoverTimeoutMs` is typed once its row exists.
 */
export interface WrapperOptions extends TableOptions {
  /**
   * Options given with a monitoring prefix (`topology-monitoring-connectTimeout: 2000`), by prefix, with the
   * prefix removed and values as given. Never part of the driver config. Apply with monitoringConnectProps().
   */
  readonly monitoringOverrides: Readonly<Record<MonitoringPrefix, Readonly<Record<string, unknown>>>>;
  /** Plugin-specific options by camelCase name; typed access through their table rows or getOption(). */
  readonly [pluginOption: string]: unknown;
}

// Compile-time guard: the table must keep providing the contract fields other modules code against.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
interface WrapperOptionsContract {
  plugins: readonly string[] | undefined;
  autoSortWrapperPluginOrder: boolean;
  profileName: string | undefined;
  wrapperDialect: string | undefined;
  wrapperDriverDialect: string | undefined;
  auxiliaryQueryTimeoutSec: number;
  topologyRefreshMs: number;
  clusterTopologyHighRefreshRateMs: number;
  clusterId: string | undefined;
  clusterInstanceHostPattern: string | undefined;
  transferSessionStateOnSwitch: boolean;
  resetSessionStateOnClose: boolean;
  rollbackOnSwitch: boolean;
  connectTimeout: number | undefined;
  socketTimeout: number | undefined;
  tcpKeepalive: boolean | undefined;
  tcpKeepaliveTime: number | undefined;
  tcpKeepaliveInterval: number | undefined;
  tcpKeepaliveProbes: number | undefined;
  hostAddressMap: Readonly<Record<string, string>> | undefined;
}
export type TableKeepsContract = Assert<
  Equal<Pick<TableOptions, keyof WrapperOptionsContract>, WrapperOptionsContract>
>;

/** Typed read of an option by name (for code that holds the name in a variable). */
export function getOption<K extends OptionName>(options: WrapperOptions, name: K): WrapperOptions[K] {
  return options[name];
}

// ---------------------------------------------------------------------------------------------------------------
// Lookup tables built once from OPTION_TABLE (immutable).

interface KeyInfo {
  readonly row: OptionRow;
  readonly unit: OptionUnit | undefined;
}
const ROWS: readonly OptionRow[] = OPTION_TABLE;
const KEY_INFO: ReadonlyMap<string, KeyInfo> = (() => {
  const m = new Map<string, KeyInfo>();
  for (const row of ROWS) {
    for (const key of [row.name, ...row.aliases]) {
      if (m.has(key)) throw new Error(`option-table: '${key}' is defined twice`);
      m.set(key, { row, unit: key === row.name ? row.unit : (row.aliasUnit ?? row.unit) });
    }
  }
  return m;
})();

/** Each option's default, in table order: parseConnectProps starts from a copy. */
const DEFAULT_OPTIONS: Readonly<Record<string, unknown>> = Object.freeze(
  Object.fromEntries(ROWS.map((row) => [row.name, row.default])),
);
const ROW_INDEX: ReadonlyMap<OptionRow, number> = new Map(ROWS.map((row, i) => [row, i]));
/** The options that are also a driver's own config key (mysql2's connectTimeout). */
const DRIVER_KEY_ROWS: readonly OptionRow[] = ROWS.filter((row) => row.driverKey !== undefined);
/** monitoringOverrides when none is given (frozen, so one object serves every parse). */
const NO_MONITORING_OVERRIDES = Object.freeze(
  Object.fromEntries(MONITORING_PREFIXES.map((p) => [p, Object.freeze({})])),
) as Readonly<Record<MonitoringPrefix, Readonly<Record<string, unknown>>>>;

/** Known config keys of each driver, so a driver option close to a wrapper name is never taken for a typo. */
const DRIVER_KEYS: Readonly<Record<'pg' | 'mysql2', ReadonlySet<string>>> = {
  pg: new Set([
    'user',
    'database',
    'password',
    'port',
    'host',
    'connectionString',
    'keepAlive',
    'keepAliveInitialDelayMillis',
    'stream',
    'statement_timeout',
    'lock_timeout',
    'idle_in_transaction_session_timeout',
    'query_timeout',
    'ssl',
    'types',
    'options',
    'application_name',
    'fallback_application_name',
    'connectionTimeoutMillis',
    'client_encoding',
    'binary',
    'Promise',
    'enableChannelBinding',
    'replication',
    'max',
    'min',
    'idleTimeoutMillis',
    'maxUses',
    'maxLifetimeSeconds',
    'allowExitOnIdle',
    'log',
    'parseInputDatesAsUTC',
    'sslmode',
    'sslcert',
    'sslkey',
    'sslrootcert',
    'keepalives',
    'keepalives_idle',
  ]),
  mysql2: new Set([
    'authPlugins',
    'authSwitchHandler',
    'bigNumberStrings',
    'charset',
    'charsetNumber',
    'compress',
    'connectAttributes',
    'connectTimeout',
    'database',
    'dateStrings',
    'debug',
    'decimalNumbers',
    'enableKeepAlive',
    'flags',
    'host',
    'insecureAuth',
    'infileStreamFactory',
    'isServer',
    'keepAliveInitialDelay',
    'localAddress',
    'maxPreparedStatements',
    'multipleStatements',
    'namedPlaceholders',
    'nestTables',
    'password',
    'password1',
    'password2',
    'password3',
    'passwordSha1',
    'pool',
    'port',
    'queryFormat',
    'rowsAsArray',
    'socketPath',
    'ssl',
    'stream',
    'stringifyObjects',
    'supportBigNumbers',
    'timezone',
    'trace',
    'typeCast',
    'uri',
    'user',
    'disableEval',
    'enableCleartextPlugin',
    'connectionLimit',
    'maxIdle',
    'idleTimeout',
    'Promise',
    'queueLimit',
    'resetOnRelease',
    'waitForConnections',
    'jsonStrings',
    'gracefulEnd',
  ]),
};

// ---------------------------------------------------------------------------------------------------------------
// Value conversion.

function shown(row: OptionRow, value: unknown): string {
  if (row.secret) return '***';
  if (typeof value === 'number') return String(value); // NaN and Infinity, which JSON shows as null
  if (typeof value === 'bigint' || typeof value === 'symbol' || typeof value === 'function') return typeof value;
  // Masked before it is cut short: a cut URL could end inside its password, past the reach of the mask.
  if (typeof value === 'string') {
    const text = redactUrl(value);
    return `'${text.length > 80 ? `${text.slice(0, 80)}…` : text}'`;
  }
  try {
    const raw = JSON.stringify(redact(value));
    const json = raw === undefined ? undefined : redactUrl(raw);
    if (json !== undefined) return json.length > 80 ? `${json.slice(0, 80)}…` : json;
  } catch {
    /* fall through: cyclic */
  }
  return typeof value;
}

function fail(
  key: string,
  row: OptionRow,
  unit: OptionUnit | undefined,
  value: unknown,
  expected = describeExpected(row, unit),
): never {
  // The expectation may quote the value (a bad map entry): masked as a whole.
  throw new ConfigurationError(`Option '${key}' expects ${redactUrl(expected)}, got ${shown(row, value)}`, key);
}

const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function toNumber(key: string, row: OptionRow, unit: OptionUnit | undefined, value: unknown): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && NUMBER_TEXT.test(value.trim())) n = Number(value.trim());
  else return fail(key, row, unit, value);
  if (!Number.isFinite(n) || n < (row.min ?? 0) || (row.type === 'int' && !Number.isInteger(n)))
    fail(key, row, unit, value);
  // Seed aliases in seconds → the row's milliseconds.
  if (unit === 's' && row.unit === 'ms') n = Math.round(n * 1000);
  const max = maxOf(row);
  if (max !== undefined && n > max) {
    const why = maxWhyOf(row);
    fail(key, row, unit, value, `${describeExpected(row, unit, true)}${why ? ` (${why})` : ''}`);
  }
  return n;
}

function toBoolean(key: string, row: OptionRow, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') {
    const s = value.trim().toLowerCase();
    if (s === 'true' || s === '1') return true;
    if (s === 'false' || s === '0') return false;
  }
  return fail(key, row, undefined, value);
}

function toStringList(key: string, row: OptionRow, value: unknown): readonly string[] {
  const items =
    typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : fail(key, row, undefined, value);
  const out: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string') fail(key, row, undefined, value);
    const t = item.trim();
    if (t !== '') out.push(t);
  }
  return Object.freeze(out);
}

function toMap(key: string, row: OptionRow, value: unknown): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  if (typeof value === 'string') {
    for (const entry of value.split(',')) {
      if (entry.trim() === '') continue;
      const eq = entry.indexOf('=');
      if (eq <= 0) fail(key, row, undefined, value);
      out[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
    }
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string' && typeof v !== 'number') fail(key, row, undefined, value);
      out[k.trim()] = String(v).trim();
    }
  } else {
    fail(key, row, undefined, value);
  }
  return Object.freeze(out);
}

function convert(key: string, info: KeyInfo, value: unknown): unknown {
  const { row, unit } = info;
  let v: unknown;
  switch (row.type) {
    case 'string':
      if (typeof value !== 'string') fail(key, row, unit, value);
      v = value;
      break;
    case 'enum': {
      const found =
        typeof value === 'string' ? row.values?.find((x) => x.toLowerCase() === value.trim().toLowerCase()) : undefined;
      if (found === undefined) fail(key, row, unit, value);
      v = found;
      break;
    }
    case 'int':
    case 'number':
      v = toNumber(key, row, unit, value);
      break;
    case 'boolean':
      v = toBoolean(key, row, value);
      break;
    case 'string-list':
      v = toStringList(key, row, value);
      break;
    case 'map':
      v = toMap(key, row, value);
      break;
  }
  if (row.check) {
    const expected = (row.check as (x: unknown) => string | undefined)(v);
    if (expected !== undefined) fail(key, row, unit, value, expected);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Unknown-key detection.

function squash(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The wrapper option name a key is probably a misspelling of, if any. */
function suggestionFor(driver: 'pg' | 'mysql2', key: string): string | undefined {
  if (DRIVER_KEYS[driver].has(key)) return undefined;
  const k = squash(key);
  if (k.length < 5) return undefined;
  let best: { name: string; d: number } | undefined;
  for (const [known, info] of KEY_INFO) {
    const d = editDistance(k, squash(known));
    if (d <= 2 && (!best || d < best.d)) best = { name: info.row.name, d };
  }
  return best?.name;
}

function monitoringPrefixOf(key: string): MonitoringPrefix | undefined {
  return MONITORING_PREFIXES.find((p) => key.startsWith(p) && key.length > p.length);
}

// ---------------------------------------------------------------------------------------------------------------
// URLs.

const ENCODING_HINT =
  "; characters like '/', '#', '?', '@' and ':' in the user name or password must be percent-encoded (encodeURIComponent)";

/** An `@` after the first `/`, `?` or `#` of the authority: probably a password with one of those unencoded. */
function looksLikeUnencodedUserinfo(url: string): boolean {
  const start = url.indexOf('://');
  if (start < 0) return false;
  const rest = url.slice(start + 3);
  const at = rest.lastIndexOf('@');
  const cut = rest.search(/[/?#]/);
  return at >= 0 && cut >= 0 && cut < at;
}

/**
 * An `@` after the first `/`, `?` or `#` of the authority: a user name or password with one of those unencoded. The
 * URL may still parse — into a wrong host, with the rest of the password as database name or fragment — so it is
 * rejected whatever the driver would make of it (an `@` meant for the path or query must be written `%40`).
 */
function checkUserinfoEncoding(key: string, url: string): void {
  if (looksLikeUnencodedUserinfo(url))
    throw urlError(key, url, "has an '@' after the host part (write an '@' of the path or query as %40)", true);
}

function urlError(key: string, url: string, what: string, hint = looksLikeUnencodedUserinfo(url)): ConfigurationError {
  return new ConfigurationError(`Option '${key}' ${what}${hint ? ENCODING_HINT : ''}, got '${redactUrl(url)}'`, key);
}

function checkSingleHost(key: string, url: string, host: unknown): void {
  if (typeof host === 'string' && host.includes(',')) {
    throw urlError(
      key,
      url,
      'names several hosts; give one host (the wrapper discovers the other cluster members itself)',
    );
  }
}

/** pg connectionString → driver-shaped entries (host, port, user, password, database, ssl, query parameters). */
function parsePgUrl(url: string): Record<string, unknown> {
  const key = 'connectionString';
  // pg reads any scheme as postgres (`pg://`, `tcp://`, ...); only another database's URL is refused, since pg would
  // speak the PostgreSQL protocol to that server's port.
  if ((!/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith('/')) || /^(mysql|mariadb|mysqlx):/i.test(url)) {
    throw urlError(key, url, "expects a 'postgres://' or 'postgresql://' URL");
  }
  checkUserinfoEncoding(key, url);
  let parsed: Record<string, unknown>;
  try {
    parsed = parsePgConnectionString(url);
  } catch {
    throw urlError(key, url, 'expects a valid postgres:// URL', true);
  }
  checkSingleHost(key, url, parsed.host);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (
      v === undefined ||
      v === null ||
      (v === '' && (k === 'user' || k === 'password' || k === 'port' || k === 'host'))
    )
      continue;
    if (k === 'port') {
      const port = Number(v);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw urlError(key, url, 'expects a port between 1 and 65535', true);
      out.port = port;
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** Query parameters of a mysql URI, separate so wrapper options keep their raw text. */
function parseMysqlUrl(url: string): { fields: Record<string, unknown>; query: [string, string][] } {
  const key = 'uri';
  checkUserinfoEncoding(key, url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw urlError(key, url, "expects a 'mysql://user:password@host:port/database' URL", true);
  }
  if (!/^(mysql|mariadb):$/i.test(u.protocol)) throw urlError(key, url, "expects a 'mysql://' URL");
  const host = decodeURIComponent(u.hostname.replace(/^\[(.*)\]$/, '$1'));
  checkSingleHost(key, url, host);
  const fields: Record<string, unknown> = {};
  if (host) fields.host = host;
  if (u.port) fields.port = Number(u.port);
  if (u.username) fields.user = decodeURIComponent(u.username);
  if (u.password) fields.password = decodeURIComponent(u.password);
  const db = decodeURIComponent(u.pathname.slice(1));
  if (db) fields.database = db;
  return { fields, query: [...u.searchParams] };
}

/** mysql2's own rule for URI query values: JSON when it parses (ssl={"rejectUnauthorized":false}), else text. */
function mysqlQueryValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The parser.

interface Given {
  readonly key: string;
  readonly value: unknown;
}

/**
 * Splits a user's config into the driver config (wrapper options, monitoring-prefixed keys, `connectionString`
 * and `uri` removed; URL parts expanded into host/port/user/password/database/…) and typed wrapper options.
 * Explicit config keys override the same keys in the URL. Throws ConfigurationError naming the key and what was
 * expected; secrets are never part of a message.
 */
export function parseConnectProps(driver: 'pg' | 'mysql2', config: Readonly<Record<string, unknown>>): ConnectProps {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigurationError(
      `The ${driver} config must be an object, got ${config === null ? 'null' : Array.isArray(config) ? 'an array' : typeof config}`,
    );
  }
  const urlDriver: Record<string, unknown> = {};
  const explicitDriver: Record<string, unknown> = {};
  const urlGiven = new Map<OptionRow, Given>();
  const explicitGiven = new Map<OptionRow, Given>();
  const overrides: Record<MonitoringPrefix, Record<string, unknown>> = {
    'topology-monitoring-': {},
    'monitoring-': {},
    'frt-': {},
    'blue-green-monitoring-': {},
    'limitless-router-monitor-': {},
  };
  let anyOverride = false;

  const take = (
    key: string,
    value: unknown,
    given: Map<OptionRow, Given>,
    driverOut: Record<string, unknown>,
    checkTypos: boolean,
  ): void => {
    const info = KEY_INFO.get(key);
    if (info) {
      if (value === undefined || value === null) return;
      const prev = given.get(info.row);
      if (prev && prev.key !== key) {
        throw new ConfigurationError(
          `Option '${info.row.name}' is given twice, as '${prev.key}' and as '${key}'; give it once`,
          key,
        );
      }
      given.set(info.row, { key, value });
      return;
    }
    const prefix = monitoringPrefixOf(key);
    if (prefix) {
      if (value !== undefined) {
        overrides[prefix][key.slice(prefix.length)] = value;
        anyOverride = true;
      }
      return;
    }
    if (checkTypos) {
      const suggestion = suggestionFor(driver, key);
      if (suggestion) throw new ConfigurationError(`Unknown option '${key}'. Did you mean '${suggestion}'?`, key);
    }
    driverOut[key] = value;
  };

  const urlKey = driver === 'pg' ? 'connectionString' : 'uri';
  const url = config[urlKey];
  if (url !== undefined && url !== null) {
    if (typeof url !== 'string') {
      throw new ConfigurationError(
        `Option '${urlKey}' expects a ${driver === 'pg' ? 'postgres://' : 'mysql://'} URL string, got ${typeof url}`,
        urlKey,
      );
    }
    if (driver === 'pg') {
      for (const [k, v] of Object.entries(parsePgUrl(url))) take(k, v, urlGiven, urlDriver, true);
    } else {
      const { fields, query } = parseMysqlUrl(url);
      Object.assign(urlDriver, fields);
      for (const [k, text] of query) {
        if (k in fields) continue; // as mysql2 does: URL parts are not overridden by query parameters
        const wrapperKey = KEY_INFO.has(k) || monitoringPrefixOf(k) !== undefined;
        take(k, wrapperKey ? text : mysqlQueryValue(text), urlGiven, urlDriver, true);
      }
    }
  }

  for (const [k, v] of Object.entries(config)) {
    if (k === urlKey) continue;
    take(k, v, explicitGiven, explicitDriver, true);
  }

  // The defaults, then the given options converted in table order (so the first bad one in the table is reported).
  const options: Record<string, unknown> = { ...DEFAULT_OPTIONS };
  const givenRows = new Set([...explicitGiven.keys(), ...urlGiven.keys()]);
  for (const row of givenRows.size > 1
    ? [...givenRows].sort((a, b) => ROW_INDEX.get(a)! - ROW_INDEX.get(b)!)
    : givenRows) {
    const given = (explicitGiven.get(row) ?? urlGiven.get(row))!;
    options[row.name] = convert(given.key, KEY_INFO.get(given.key)!, given.value);
  }
  // The driver dialect is the driver of the class in use; naming another one is a mistake, not a choice.
  const driverDialect = options.wrapperDriverDialect as string | undefined;
  if (driverDialect !== undefined && driverDialect.trim().toLowerCase() !== driver) {
    const given = (explicitGiven.get(KEY_INFO.get('wrapperDriverDialect')!.row) ??
      urlGiven.get(KEY_INFO.get('wrapperDriverDialect')!.row))!;
    throw new ConfigurationError(
      `Option '${given.key}' expects '${driver}' (the driver of this ${driver === 'pg' ? 'AwsPGClient / AwsPGPool' : 'AwsMySQLClient / AwsMySQLPool'}; use the other package entry point for the other driver), got '${driverDialect}'`,
      given.key,
    );
  }
  if (driverDialect !== undefined) options.wrapperDriverDialect = driver;
  // Monitoring overrides of wrapper options are converted where they are used; check them now, at construction.
  for (const [prefix, entries] of Object.entries(overrides)) {
    for (const [k, v] of Object.entries(entries)) {
      const info = KEY_INFO.get(k);
      if (info && v !== undefined && v !== null) convert(`${prefix}${k}`, info, v);
    }
  }
  options.monitoringOverrides = anyOverride
    ? Object.freeze(
        Object.fromEntries(Object.entries(overrides).map(([p, o]) => [p, Object.freeze(o)])) as Record<
          MonitoringPrefix,
          Readonly<Record<string, unknown>>
        >,
      )
    : NO_MONITORING_OVERRIDES;

  const driverConfig: Record<string, unknown> = { ...urlDriver };
  for (const [k, v] of Object.entries(explicitDriver)) {
    if (v !== undefined || !(k in driverConfig)) driverConfig[k] = v;
  }
  // Options that are also the driver's own (mysql2 connectTimeout): the driver gets the converted value.
  for (const row of DRIVER_KEY_ROWS) {
    const driverKey = row.driverKey?.[driver];
    if (driverKey && options[row.name] !== undefined) driverConfig[driverKey] = options[row.name];
  }

  return { driver: driverConfig, options: options as WrapperOptions };
}

/**
 * The connect props of a monitoring connection: the client's driver config and options, with the defaults for this
 * monitor (`defaults`, used when the user gave no override, e.g. `{ connectTimeout: 5000 }`) and then the user's
 * `<prefix>…` overrides applied. Override keys may be wrapper options (any name or alias) or driver keys.
 */
export function monitoringConnectProps(
  driverName: 'pg' | 'mysql2',
  props: ConnectProps,
  prefix: MonitoringPrefix,
  defaults: Readonly<Record<string, unknown>> = {},
): ConnectProps {
  const driver: Record<string, unknown> = { ...props.driver };
  const options: Record<string, unknown> = { ...props.options };
  const userOverrides = props.options.monitoringOverrides[prefix];
  const userRows = new Set<OptionRow>();
  for (const k of Object.keys(userOverrides)) {
    const info = KEY_INFO.get(k);
    if (info) userRows.add(info.row);
  }
  const apply = (
    entries: Readonly<Record<string, unknown>>,
    label: (k: string) => string,
    skipUserSet: boolean,
  ): void => {
    for (const [k, v] of Object.entries(entries)) {
      const info = KEY_INFO.get(k);
      if (info) {
        if (skipUserSet && userRows.has(info.row)) continue;
        options[info.row.name] = v === undefined || v === null ? info.row.default : convert(label(k), info, v);
        const driverKey = info.row.driverKey?.[driverName];
        if (driverKey) driver[driverKey] = options[info.row.name];
      } else {
        if (skipUserSet && k in userOverrides) continue;
        driver[k] = v;
      }
    }
  };
  apply(defaults, (k) => k, true);
  apply(userOverrides, (k) => `${prefix}${k}`, false);
  return { driver, options: options as WrapperOptions };
}

/**
 * Where to actually connect for a host: hostAddressMap entry for `host:port` first, then for `host` (case-insensitive
 * host names); the port of the mapped address, when given, replaces the port.
 */
export function mapHostAddress(
  map: Readonly<Record<string, string>> | undefined,
  host: string,
  port: number,
): { host: string; port: number } {
  if (!map) return { host, port };
  const h = host.toLowerCase();
  let target: string | undefined;
  let fallback: string | undefined;
  for (const [from, to] of Object.entries(map)) {
    const parsed = parseHostPort(from);
    if (!parsed || parsed.host.toLowerCase() !== h) continue;
    if (parsed.port === port) {
      target = to;
      break;
    }
    if (parsed.port === undefined) fallback = to;
  }
  const chosen = target ?? fallback;
  if (chosen === undefined) return { host, port };
  const to = parseHostPort(chosen);
  if (to === undefined)
    throw new ConfigurationError(
      `hostAddressMap['${host}'] = '${chosen}': expected 'address' or 'address:port' with a port between 1 and 65535`,
      'hostAddressMap',
    );
  return { host: to.host, port: to.port ?? port };
}
