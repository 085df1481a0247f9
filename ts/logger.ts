/**
 * Namespaced module loggers: silent by default, enabled per namespace through the environment or when the
 * application plugs in its own logger.
 *
 * Enabling. `AWS_ADVANCED_TS_WRAPPER_LOG` is a comma list of `namespace[:level]` entries: `failover`,
 * `failover:debug,host-monitoring`, `*` (all), `*:debug`, `plugins.*:warn` (trailing `*` matches a prefix). The
 * level defaults to `info`; the most specific entry wins (exact name, then the longest prefix, then `*`);
 * `:silent` turns a namespace off. A disabled call costs one integer compare: nothing is formatted.
 *
 * Sink contract (setLogger). A sink has `debug`, `info`, `warn` and `error` methods and optionally `child`:
 * - without `child` (console-shaped: `console`, winston, …) each call is `sink[level](line, ...args)` where `line`
 *   is `[aws-advanced-ts-wrapper:<namespace>] <message>`;
 * - with `child` (pino-shaped: pino, bunyan) the wrapper calls `sink.child({ ns: <namespace> })` once per logger
 *   and then `child[level](message, ...args)`, or `child[level]({ err }, message, ...args)` when the last argument
 *   is an Error (pino's `(obj, msg)` order, so the error is serialized as `err`).
 * Messages use util.format placeholders (`%s`, `%d`, `%j`, `%o`), understood by console and pino alike.
 * With a sink set, namespaces are enabled by `options.levels` (same syntax as the variable), else by the variable
 * if set, else all at `info`. `setLogger(undefined)` returns to the default sink: lines on stderr, env-enabled only.
 *
 * Secrets. Every argument and message goes through redact() before reaching a sink (URL passwords and fields
 * named like password/token/secret are masked), and config objects should be logged through describeConfig().
 *
 * The logging configuration (sink + levels) is the one deliberate process-wide setting, like `debug`'s: module
 * loggers are created at import time, before any client or WrapperServices exists.
 */
import { format } from 'node:util';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, ...args: unknown[]): void;
  info(msg: string, ...args: unknown[]): void;
  warn(msg: string, ...args: unknown[]): void;
  error(msg: string, ...args: unknown[]): void;
}

/** What getLogger returns: a Logger that can also say whether a level would be written (to skip costly work). */
export interface ModuleLogger extends Logger {
  readonly namespace: string;
  isLevelEnabled(level: LogLevel): boolean;
}

/** An application logger: console-shaped, or pino-shaped when it has `child`. */
export interface LogSink {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  child?(bindings: Record<string, unknown>): LogSink;
}

export const LOG_ENV_VAR = 'AWS_ADVANCED_TS_WRAPPER_LOG';
const LINE_PREFIX = 'aws-advanced-ts-wrapper';

const LEVEL_VALUE: Readonly<Record<LogLevel | 'silent', number>> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  silent: 1000,
};
const OFF = LEVEL_VALUE.silent;

interface Rule {
  readonly pattern: string;
  readonly threshold: number;
}

function parseSpec(spec: string | undefined): readonly Rule[] {
  if (!spec) return [];
  const rules: Rule[] = [];
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const colon = entry.lastIndexOf(':');
    const pattern = (colon < 0 ? entry : entry.slice(0, colon)).trim();
    const levelName = (
      colon < 0
        ? 'info'
        : entry
            .slice(colon + 1)
            .trim()
            .toLowerCase()
    ) as LogLevel | 'silent' | 'off';
    const threshold = levelName === 'off' ? OFF : (LEVEL_VALUE[levelName] ?? LEVEL_VALUE.info);
    if (pattern) rules.push({ pattern, threshold });
  }
  return rules;
}

function thresholdFor(rules: readonly Rule[], namespace: string): number {
  let best: Rule | undefined;
  let bestScore = -1;
  for (const rule of rules) {
    let score: number;
    if (rule.pattern === namespace) score = Number.MAX_SAFE_INTEGER;
    else if (rule.pattern === '*') score = 0;
    else if (rule.pattern.endsWith('*') && namespace.startsWith(rule.pattern.slice(0, -1))) score = rule.pattern.length;
    else continue;
    if (score >= bestScore) {
      best = rule;
      bestScore = score;
    }
  }
  return best ? best.threshold : OFF;
}

interface LogConfig {
  /** Bumped on every change; loggers re-resolve their threshold when it moves. */
  generation: number;
  rules: readonly Rule[];
  sink: LogSink | undefined;
}

const config: LogConfig = { generation: 0, rules: parseSpec(process.env[LOG_ENV_VAR]), sink: undefined };

/**
 * Sends wrapper logs to an application logger (see the contract above), or back to the default stderr sink with
 * `undefined`. `options.levels` uses the AWS_ADVANCED_TS_WRAPPER_LOG syntax.
 */
export function setLogger(sink: LogSink | undefined, options: { levels?: string } = {}): void {
  if (sink !== undefined) {
    for (const m of ['debug', 'info', 'warn', 'error'] as const) {
      if (typeof sink[m] !== 'function') throw new TypeError(`setLogger: the logger has no ${m}() method`);
    }
  }
  config.sink = sink;
  const env = process.env[LOG_ENV_VAR];
  config.rules = parseSpec(options.levels ?? (sink === undefined ? env : env || '*:info'));
  config.generation++;
}

/** Changes which namespaces are enabled, same syntax as AWS_ADVANCED_TS_WRAPPER_LOG; undefined re-reads the variable. */
export function setLogLevels(spec: string | undefined): void {
  config.rules = parseSpec(spec ?? process.env[LOG_ENV_VAR]);
  config.generation++;
}

function defaultSinkWrite(level: LogLevel, line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${line}\n`);
}

class NamespacedLogger implements ModuleLogger {
  private generation = -1;
  private threshold = OFF;
  private target: LogSink | undefined;

  constructor(readonly namespace: string) {}

  private refresh(): void {
    this.generation = config.generation;
    this.threshold = thresholdFor(config.rules, this.namespace);
    const sink = config.sink;
    this.target = sink && typeof sink.child === 'function' ? sink.child({ ns: this.namespace }) : sink;
  }

  isLevelEnabled(level: LogLevel): boolean {
    if (this.generation !== config.generation) this.refresh();
    return LEVEL_VALUE[level] >= this.threshold;
  }

  debug(msg: string, ...args: unknown[]): void {
    if (this.generation !== config.generation) this.refresh();
    if (this.threshold <= 10) this.emit('debug', msg, args);
  }

  info(msg: string, ...args: unknown[]): void {
    if (this.generation !== config.generation) this.refresh();
    if (this.threshold <= 20) this.emit('info', msg, args);
  }

  warn(msg: string, ...args: unknown[]): void {
    if (this.generation !== config.generation) this.refresh();
    if (this.threshold <= 30) this.emit('warn', msg, args);
  }

  error(msg: string, ...args: unknown[]): void {
    if (this.generation !== config.generation) this.refresh();
    if (this.threshold <= 40) this.emit('error', msg, args);
  }

  private emit(level: LogLevel, msg: string, args: unknown[]): void {
    try {
      const message = redactUrl(String(msg));
      const safeArgs = args.map(redact);
      const sink = config.sink;
      const target = this.target;
      if (!sink || !target) {
        defaultSinkWrite(level, `[${LINE_PREFIX}:${this.namespace}] ${format(message, ...safeArgs)}`);
      } else if (target !== sink) {
        // pino-shaped child: (obj, msg) order when there is an error to serialize.
        const last = safeArgs[safeArgs.length - 1];
        if (last instanceof Error) target[level]({ err: last }, message, ...safeArgs.slice(0, -1));
        else target[level](message, ...safeArgs);
      } else {
        target[level](`[${LINE_PREFIX}:${this.namespace}] ${message}`, ...safeArgs);
      }
    } catch {
      // A failing application logger must never break a database call.
    }
  }
}

/** A logger for one module (`failover`, `host-monitoring`, …). Cheap: create it once at module level. */
export function getLogger(namespace: string): ModuleLogger {
  return new NamespacedLogger(namespace);
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets.

const SECRET_KEY = /passw(or)?d|passphrase|^pwd$|token|secret|saml|assertion|credential|api_?key|private_?key|^pfx$/i;
const URL_PARAM_SECRET =
  /([?&;](?:[a-z_-]*(?:password|passwd|pwd|token|secret|assertion|saml|signature|credential)[a-z_-]*)=)[^&;#\s]*/gi;
/** A URL up to the end of its non-blank run; its userinfo is masked by maskUserinfo. */
const URL_TOKEN = /\b([a-z][a-z0-9+.-]*:\/\/)(\S*)/gi;
const MASK = '***';

/**
 * Masks everything after the user name up to the LAST `@` of the URL's text, so a password with unencoded `/`,
 * `#`, `?` or `@` is hidden whole (the price: a URL without userinfo but with `@` in its path or query has that
 * part masked too — never the other way round).
 */
function maskUserinfo(scheme: string, rest: string): string {
  const at = rest.lastIndexOf('@');
  if (at < 0) return scheme + rest;
  const colon = rest.indexOf(':');
  if (colon < 0 || colon > at) return scheme + rest; // no password part: user@host
  return `${scheme}${rest.slice(0, colon)}:${MASK}${rest.slice(at)}`;
}

/** `postgres://user:pw@host/db?password=x` → `postgres://user:***@host/db?password=***`; other text unchanged. */
export function redactUrl(text: string): string {
  if (!text.includes('://') && !text.includes('=')) return text;
  return text
    .replace(URL_TOKEN, (_m, scheme: string, rest: string) => maskUserinfo(scheme, rest))
    .replace(URL_PARAM_SECRET, `$1${MASK}`);
}

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? '[Function]' : value;
  if (value instanceof Error || value instanceof Date || value instanceof RegExp) return value;
  if (Buffer.isBuffer(value)) return `[Buffer ${value.length} bytes]`;
  if (seen.has(value)) return '[Circular]';
  if (depth > 4) return '[Object]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1, seen));
  if (value instanceof Map)
    return new Map(
      [...value].map(([k, v]) => [
        k,
        typeof k === 'string' && SECRET_KEY.test(k) ? MASK : redactValue(v, depth + 1, seen),
      ]),
    );
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return `[${value.constructor?.name ?? 'Object'}]`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      SECRET_KEY.test(k) || (k === 'key' && depth > 0)
        ? v === undefined || v === null
          ? v
          : MASK
        : redactValue(v, depth + 1, seen);
  }
  return out;
}

/**
 * A copy of a value safe to log: fields named like password/token/secret/sessionToken/samlAssertion (and TLS
 * `key`s inside nested objects) masked, URL passwords masked, class instances reduced to their class name.
 */
export function redact(value: unknown): unknown {
  return redactValue(value, 0, new WeakSet());
}

/** A driver config / connect options object as it may be logged: secrets masked, connection URLs redacted. */
export function describeConfig(config: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  if (!config) return {};
  return redact(config) as Record<string, unknown>;
}
