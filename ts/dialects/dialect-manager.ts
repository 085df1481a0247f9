/**
 * Picks the database dialect of a client: a custom dialect object always wins; then the user's `wrapperDialect`
 * code; then a dialect detected earlier for the same engine and `host[:port]` (30 minutes, kept in
 * dialectCache()); else a guess from the driver and the host's RDS URL type, refined once, on a connection
 * and only when something needs it (see PluginService.ensureDialect), by probing candidate dialects in order. Within
 * one refinement a probe statement is sent once (several candidates share their first checks).
 *
 * Differences from the Python wrapper, on purpose:
 * - The cache key includes the engine (`pg/host:port`, `mysql/host:port`), so a PG and a MySQL server behind one
 *   host name never see each other's dialect (the Node peer's "Unknown dialect code" defect).
 * - A candidate that matches is refined by its own candidates, so an instance name (guessed rds-*) of an Aurora
 *   global database ends as global-aurora-*, not aurora-*.
 * - A guessed aurora-* / rds-* dialect is verified when no candidate matched: if its own detection definitively
 *   answers "no" (the server replied and lacks the Aurora/RDS functions), the client falls back to rds-* and then
 *   to the plain engine dialect, instead of staying on a dialect whose topology and host-id queries fail. A probe
 *   the server did not answer (timeout, network error) never downgrades and is not cached.
 * - The cache key is the address the client reaches: with a hostAddressMap entry for the host, the mapped address is
 *   part of the key, so one name mapped to different servers (test clusters) never shares an entry.
 * - A dialect taken from the cache is dropped (forget) when its own queries show the server is not what it says,
 *   and detected again; entries also expire after 30 minutes and are kept when the last client ends.
 * - A `wrapperDialect` of the wrong engine for the driver is a ConfigurationError.
 * The `custom` dialect: pass `customDialect` to the constructor (or call setCustomDialect); `wrapperDialect:
 * 'custom'` without one is a ConfigurationError.
 */
import type { DatabaseDialect, DialectCode, QueryRows } from './types.js';
import type { HostInfo } from '../host-info.js';
import type { WrapperServices } from '../services.js';
import { AwsWrapperError, ConfigurationError, QueryTimeoutError } from '../errors.js';
import { getLogger } from '../logger.js';
import { identifyRdsType, RdsUrlType } from '../rds-utils.js';
import { mapHostAddress } from '../options.js';
import { DATABASE_DIALECTS, DIALECT_CODE_ALIASES, WRAPPER_DIALECT_CODES } from './database/index.js';

const log = getLogger('dialect');

/** How long a detected dialect is reused for the same engine and `host[:port]`. */
export const DIALECT_CACHE_TTL_MS = 30 * 60 * 1000;

/** A detected dialect and when it was detected. */
export interface CachedDialect {
  readonly code: DialectCode;
  readonly at: number;
}

/**
 * Detected dialect per engine and `host[:port]` (DialectManager.cacheKey) of `services`. Facts about servers, not
 * state of clients: kept when the last client ends (entries expire after DIALECT_CACHE_TTL_MS), so connecting again
 * detects nothing; the services releaseResources() makes start from an empty cache.
 */
export function dialectCache(services: WrapperServices): Map<string, CachedDialect> {
  return services.kept('dialects:cache', () => new Map<string, CachedDialect>());
}

export type Engine = 'pg' | 'mysql';

export interface DialectManagerOptions {
  /** The `wrapperDialect` option: a dialect code (validated here). */
  readonly wrapperDialect?: string | undefined;
  /** A user-supplied dialect; always wins. */
  readonly customDialect?: DatabaseDialect | undefined;
  /** Where a host name really leads (the `hostAddressMap` option): the mapped address is part of the cache key. */
  readonly hostAddressMap?: Readonly<Record<string, string>> | undefined;
}

export interface RefineOptions {
  /** The host the first connection actually reached; its `host[:port]` is cached too. */
  readonly connectedHost?: HostInfo;
  /** Errors for which the server gave no answer (besides QueryTimeoutError): such a probe is unknown, not "no". */
  readonly isNetworkError?: (err: unknown) => boolean;
}

type ProbeOutcome = 'yes' | 'no' | 'unanswered';

/** The engine a driver talks to: `pg` → pg, `mysql2` → mysql; undefined for any other driver. */
export function engineOfDriver(driver: string): Engine | undefined {
  if (driver === 'pg') return 'pg';
  if (driver === 'mysql2' || driver === 'mysql') return 'mysql';
  return undefined;
}

/** Resolves a `wrapperDialect` value to a built-in code or `custom`; ConfigurationError listing the valid codes. */
export function resolveDialectCode(value: string): DialectCode {
  const code = value.trim().toLowerCase();
  const resolved = DIALECT_CODE_ALIASES[code] ?? code;
  if (!WRAPPER_DIALECT_CODES.includes(resolved)) {
    throw new ConfigurationError(
      `wrapperDialect: unknown dialect code '${value}'; expected one of ${WRAPPER_DIALECT_CODES.join(', ')}`,
      'wrapperDialect',
    );
  }
  return resolved;
}

/** The initial dialect guess (as the Python wrapper makes it) from the engine and the host's RDS URL type; `canUpdate` false = final. */
export function guessDialect(
  engine: Engine | undefined,
  host: string,
): { dialect: DatabaseDialect; canUpdate: boolean } {
  const type = identifyRdsType(host);
  const isCluster =
    type === RdsUrlType.RDS_WRITER_CLUSTER ||
    type === RdsUrlType.RDS_READER_CLUSTER ||
    type === RdsUrlType.RDS_CUSTOM_CLUSTER;
  const isOtherRds =
    type === RdsUrlType.RDS_INSTANCE ||
    type === RdsUrlType.RDS_PROXY ||
    type === RdsUrlType.RDS_AURORA_LIMITLESS_DB_SHARD_GROUP;
  const pick = (code: DialectCode, canUpdate: boolean) => ({ dialect: DATABASE_DIALECTS.get(code)!, canUpdate });
  if (engine === 'mysql') {
    if (type === RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER) return pick('global-aurora-mysql', false);
    if (isCluster) return pick('aurora-mysql', true);
    if (isOtherRds) return pick('rds-mysql', true);
    return pick('mysql', true);
  }
  if (engine === 'pg') {
    if (type === RdsUrlType.RDS_AURORA_LIMITLESS_DB_SHARD_GROUP) return pick('aurora-pg', false);
    if (type === RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER) return pick('global-aurora-pg', false);
    if (isCluster) return pick('aurora-pg', true);
    if (isOtherRds) return pick('rds-pg', true);
    return pick('pg', true);
  }
  return pick('unknown', true);
}

/** Checks that a user-supplied dialect object has what the wrapper calls; ConfigurationError naming what is missing. */
export function validateCustomDialect(d: unknown): DatabaseDialect {
  const obj = d as Record<string, unknown> | null;
  if (typeof obj !== 'object' || obj === null)
    throw new ConfigurationError('customDialect: expected a DatabaseDialect object', 'customDialect');
  const missing: string[] = [];
  for (const key of ['hostIdQuery', 'isReaderQuery', 'serverVersionQuery'])
    if (typeof obj[key] !== 'string') missing.push(`${key} (string)`);
  if (typeof obj.defaultPort !== 'number') missing.push('defaultPort (number)');
  if (!Array.isArray(obj.updateCandidates)) missing.push('updateCandidates (array)');
  if (typeof obj.isDialect !== 'function') missing.push('isDialect (function)');
  if (obj.aliasQuery !== undefined && typeof obj.aliasQuery !== 'string')
    missing.push('aliasQuery (string or undefined)');
  const topology = obj.topology as Record<string, unknown> | undefined;
  if (topology !== undefined) {
    if (typeof topology !== 'object' || topology === null) missing.push('topology (object or undefined)');
    else {
      if (!['aurora', 'global-aurora', 'multi-az'].includes(topology.kind as string))
        missing.push("topology.kind ('aurora' | 'global-aurora' | 'multi-az')");
      if (typeof topology.topologyQuery !== 'string') missing.push('topology.topologyQuery (string)');
      if (typeof topology.writerIdQuery !== 'string') missing.push('topology.writerIdQuery (string)');
    }
  }
  if (missing.length)
    throw new ConfigurationError(`customDialect: missing or wrong ${missing.join(', ')}`, 'customDialect');
  return d as DatabaseDialect;
}

/** The plain engine dialect and the rds-* one a guessed dialect falls back to when its detection says "no". */
function fallbacksOf(code: DialectCode): DialectCode[] {
  switch (code) {
    case 'aurora-pg':
      return ['rds-pg', 'pg'];
    case 'rds-pg':
      return ['pg'];
    case 'aurora-mysql':
      return ['rds-mysql', 'mysql'];
    case 'rds-mysql':
      return ['mysql'];
    default:
      return [];
  }
}

/** One client's dialect selection. Process-wide detection results live in dialectCache(services). */
export class DialectManager {
  readonly engine: Engine | undefined;
  private custom: DatabaseDialect | undefined;
  private readonly userCode: DialectCode | undefined;
  private current: DatabaseDialect | undefined;
  private updatable = true;
  private cachedHit = false;
  private readonly hostAddressMap: Readonly<Record<string, string>> | undefined;

  constructor(
    private readonly services: WrapperServices,
    readonly driver: string,
    options: DialectManagerOptions = {},
  ) {
    this.engine = engineOfDriver(driver);
    this.hostAddressMap = options.hostAddressMap;
    this.custom = options.customDialect === undefined ? undefined : validateCustomDialect(options.customDialect);
    this.userCode = options.wrapperDialect ? resolveDialectCode(options.wrapperDialect) : undefined;
    if (this.userCode === 'custom' && !this.custom) {
      throw new ConfigurationError(
        "wrapperDialect: 'custom' needs a custom dialect object (customDialect / DialectManager.setCustomDialect)",
        'wrapperDialect',
      );
    }
    const userDialect = this.userCode && this.userCode !== 'custom' ? DATABASE_DIALECTS.get(this.userCode) : undefined;
    if (userDialect?.engine && this.engine && userDialect.engine !== this.engine) {
      throw new ConfigurationError(
        `wrapperDialect: '${this.userCode}' is a ${userDialect.engine} dialect but the driver is ${driver}; expected one of ${WRAPPER_DIALECT_CODES.filter((c) => c === 'custom' || DATABASE_DIALECTS.get(c as DialectCode)?.engine === this.engine).join(', ')}`,
        'wrapperDialect',
      );
    }
  }

  /** Installs (or removes) a user-supplied dialect; it wins over every other choice from the next getDialect on. */
  setCustomDialect(dialect: DatabaseDialect | undefined): void {
    this.custom = dialect === undefined ? undefined : validateCustomDialect(dialect);
  }

  /** The dialect chosen so far (undefined before getDialect). */
  get dialect(): DatabaseDialect | undefined {
    return this.current;
  }

  /** Whether refine() may still change the dialect. */
  get canUpdate(): boolean {
    return this.updatable;
  }

  /** Whether the current dialect came from the cache (not chosen by the user nor detected by this client). */
  get fromCache(): boolean {
    return this.cachedHit;
  }

  /**
   * `<engine>/host:port`, the engine's default port filled in so `db` and `db:5432` share an entry; with a
   * hostAddressMap entry for the host, `@address:port` of the server it leads to is appended.
   */
  cacheKey(host: HostInfo): string {
    const defaultPort = this.engine === 'pg' ? 5432 : this.engine === 'mysql' ? 3306 : -1;
    const h = host.hasPort || defaultPort < 0 ? host : host.with({ port: defaultPort });
    const key = `${this.engine ?? this.driver}/${h.hostAndPort}`;
    if (this.hostAddressMap === undefined || !h.hasPort) return key;
    const to = mapHostAddress(this.hostAddressMap, h.host, h.port);
    return to.host === h.host && to.port === h.port ? key : `${key}@${to.host}:${to.port}`;
  }

  /** The dialect to use before connecting to `host` (the initial host of the client). */
  getDialect(host: HostInfo): DatabaseDialect {
    if (this.custom) return this.choose(this.custom, false);
    if (this.userCode)
      return this.choose(this.userCode === 'custom' ? this.custom! : DATABASE_DIALECTS.get(this.userCode)!, false);
    const cached = dialectCache(this.services).get(this.cacheKey(host));
    if (cached && Date.now() - cached.at < DIALECT_CACHE_TTL_MS) {
      const d = DATABASE_DIALECTS.get(cached.code);
      if (d && d.code !== 'unknown') return this.choose(d, false, true);
    }
    const guess = guessDialect(this.engine, host.host);
    return this.choose(guess.dialect, guess.canUpdate);
  }

  /**
   * Drops what is cached for `hosts` and starts over from the guess for the first one (the next refine() probes
   * again, even from a guess that is otherwise final): the server behind a cached name turned out not to be what
   * the cache says.
   */
  forget(...hosts: HostInfo[]): DatabaseDialect {
    for (const h of hosts) dialectCache(this.services).delete(this.cacheKey(h));
    return this.choose(guessDialect(this.engine, hosts[0].host).dialect, true);
  }

  private choose(dialect: DatabaseDialect, canUpdate: boolean, fromCache = false): DatabaseDialect {
    this.current = dialect;
    this.updatable = canUpdate;
    this.cachedHit = fromCache;
    return dialect;
  }

  private remember(host: HostInfo, entry: CachedDialect): void {
    const cache = dialectCache(this.services);
    // Entries outlive the clients (they expire instead): drop the expired ones so the map stays small.
    for (const [key, e] of cache) if (entry.at - e.at >= DIALECT_CACHE_TTL_MS) cache.delete(key);
    cache.set(this.cacheKey(host), entry);
  }

  /**
   * After the first physical connection to `host`: probes the current dialect's candidates in order through
   * `query` (each call bounded by auxiliaryQueryTimeoutSec by its provider) and returns the final dialect.
   * Runs once; later calls return the current dialect.
   */
  async refine(host: HostInfo, query: QueryRows, options: RefineOptions = {}): Promise<DatabaseDialect> {
    const start = this.current ?? this.getDialect(host);
    if (!this.updatable) return start;
    let unanswered = false;
    // Candidates repeat each other's first checks (is it pg, which rds.extensions): each statement is sent once.
    const answers = new Map<string, Promise<unknown[][]>>();
    const once: QueryRows = (sql) => {
      let answer = answers.get(sql);
      if (answer === undefined) answers.set(sql, (answer = query(sql)));
      return answer;
    };
    const probe = async (code: DialectCode): Promise<ProbeOutcome> => {
      const d = DATABASE_DIALECTS.get(code);
      if (!d) return 'no';
      try {
        return (await d.isDialect(once)) ? 'yes' : 'no';
      } catch (err) {
        if (err instanceof QueryTimeoutError || options.isNetworkError?.(err)) {
          unanswered = true;
          log.debug(`dialect probe ${code} on ${host.hostAndPort} got no answer: ${(err as Error).message}`);
          return 'unanswered';
        }
        log.debug(`dialect probe ${code} on ${host.hostAndPort} failed (counts as no): ${(err as Error).message}`);
        return 'no';
      }
    };

    // A match is refined in turn (rds-pg → aurora-pg → global-aurora-pg): an instance name of a global database
    // is then detected as global too, where the Python wrapper stops at aurora.
    let chosen: DatabaseDialect | undefined;
    const probed = new Set<DialectCode>();
    for (let candidates = start.updateCandidates; candidates.length > 0;) {
      let next: DatabaseDialect | undefined;
      for (const code of candidates) {
        if (probed.has(code)) continue;
        probed.add(code);
        if ((await probe(code)) === 'yes') {
          next = DATABASE_DIALECTS.get(code);
          break;
        }
      }
      if (next === undefined) break;
      chosen = next;
      candidates = next.updateCandidates;
    }
    if (!chosen && start.code === 'unknown') {
      throw new AwsWrapperError(
        `Unable to determine the database dialect of ${host.hostAndPort}: none of ${start.updateCandidates.join(', ')} matched` +
          (unanswered ? ' (some probes got no answer)' : '') +
          `. Set wrapperDialect to one of ${WRAPPER_DIALECT_CODES.join(', ')}.`,
      );
    }
    if (!chosen && fallbacksOf(start.code).length > 0 && !unanswered && (await probe(start.code)) === 'no') {
      // The URL looked like Aurora/RDS but the server says it is not: fall back rather than keep failing queries.
      for (const code of fallbacksOf(start.code)) {
        const outcome = await probe(code);
        if (outcome === 'unanswered') break;
        const isBase = code === 'pg' || code === 'mysql';
        if (outcome === 'yes' || isBase) {
          chosen = DATABASE_DIALECTS.get(code);
          break;
        }
      }
      if (chosen) log.info(`${host.hostAndPort} looks like ${start.code} by name but is ${chosen.code}`);
    }
    const result = chosen ?? start;
    this.choose(result, false);
    if (!unanswered) {
      const entry = { code: result.code, at: Date.now() };
      this.remember(host, entry);
      if (options.connectedHost) this.remember(options.connectedHost, entry);
    }
    log.debug(`dialect of ${host.hostAndPort}: ${result.code}${result !== start ? ` (was ${start.code})` : ''}`);
    return result;
  }
}

/**
 * The server rejected a statement for naming a function, table, schema or variable it does not have (SQLSTATE
 * 42883 / 42P01 / 3F000 / 42704; MySQL 1146 / 1109 / 1193 / 1305): the dialect's SQL does not fit the server.
 */
export function isMissingObjectError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, errno } = err as { code?: unknown; errno?: unknown };
  if (typeof code === 'string' && ['42883', '42P01', '3F000', '42704'].includes(code)) return true;
  return typeof errno === 'number' && [1146, 1109, 1193, 1305].includes(errno);
}
