/**
 * The single source of the wrapper's option names, aliases, types, defaults, units and docs. The WrapperOptions
 * type (options.ts), the parser and docs/options.md are all derived from OPTION_TABLE.
 *
 * Adding an option = appending one row here (in its group); nothing else. Rules for rows:
 * - `name` is camelCase. Durations without a unit in the name are milliseconds (Node convention); names with a
 *   unit suffix (`…Ms`, `…Sec`) keep that unit.
 * - `aliases` are the seed (Python wrapper) snake_case names. When the seed's unit differs from ours, set
 *   `aliasUnit` (e.g. `'s'`): values given under an alias are converted to the row's unit.
 * - `default: undefined` makes the option `T | undefined`; any other default makes it `T`.
 * - `secret: true` keeps the value out of error messages.
 * - Durations (rows with a `unit`) are capped at what a Node timer can wait (MAX_TIMER_MS; larger values fire at
 *   once) unless `max` says otherwise; `maxWhy` says why a row's own `max` exists. The cap of each row is
 *   maxOf(row), and docs/options.md's "What is rejected and why" table is rendered from these limits.
 */
import { ConfigurationError } from './errors.js';
import { isCustomClusterDns, isProxyDns } from './rds-utils.js';
import { HOST_SELECTOR_STRATEGIES, parseHostWeightPairs } from './host-selectors.js';

export type OptionType = 'string' | 'int' | 'number' | 'boolean' | 'string-list' | 'map' | 'enum';
export type OptionUnit = 'ms' | 's';

export interface OptionRow {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly type: OptionType;
  readonly default: unknown;
  readonly unit?: OptionUnit;
  /** Unit of values given under an alias, when it differs from `unit`. */
  readonly aliasUnit?: OptionUnit;
  /** For int/number: smallest accepted value (default 0). */
  readonly min?: number;
  /** For int/number: largest accepted value (in the row's unit). Durations default to the timer limit (maxOf). */
  readonly max?: number;
  /** Why `max` is what it is (shown in docs/options.md). */
  readonly maxWhy?: string;
  /** For enum: accepted values (matched case-insensitively, stored as written here). */
  readonly values?: readonly string[];
  readonly doc: string;
  /** Section in docs/options.md: 'core', 'network', or a plugin code. */
  readonly group: string;
  /** Driver config key that also receives the value (in the row's unit), per driver. */
  readonly driverKey?: { readonly pg?: string; readonly mysql2?: string };
  /** Extra validation after type conversion; returns what was expected when the value is wrong. */
  readonly check?: (value: never) => string | undefined;
  /** What `check` rejects and why, in words (docs/options.md's "What is rejected and why"). */
  readonly rejects?: string;
  readonly secret?: boolean;
}

/** Longest delay a Node timer honours (2^31−1 ms, about 24.8 days): larger ones fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Longest duration the native monitors accept (one day; crates/napi checks the same bound). */
export const NATIVE_MAX_MS = 86_400_000;

/** Upper bound of cache lifetimes in seconds (compared with the clock, not timers): a hundred years. */
const CACHE_MAX_SEC = 3_153_600_000;
const CACHE_WHY = 'a cache lifetime beyond a hundred years is a typo';
const TIMER_WHY = 'Node timers fire at once when asked to wait longer';
const NATIVE_WHY = "the native monitors' limit, one day";

function checkHttpUrl(value: string): string | undefined {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  return url !== undefined && (url.protocol === 'https:' || url.protocol === 'http:')
    ? undefined
    : "an http(s) URL like 'https://rds.us-east-1.amazonaws.com'";
}

/** The largest value a row accepts, in its own unit (undefined: no limit). */
export function maxOf(row: OptionRow): number | undefined {
  if (row.max !== undefined) return row.max;
  if (row.unit === 'ms') return MAX_TIMER_MS;
  if (row.unit === 's') return MAX_TIMER_MS / 1000;
  return undefined;
}

/** Why a row has its maximum (undefined for rows without one). */
export function maxWhyOf(row: OptionRow): string | undefined {
  if (row.maxWhy !== undefined) return row.maxWhy;
  return row.unit !== undefined && row.max === undefined ? TIMER_WHY : undefined;
}

/**
 * A duration setting outside the table (pool `connectionTimeoutMillis`, `idleTimeoutMillis`, mysql2 `idleTimeout`,
 * …) checked against the same timer limit; returns `value`. `owner` names the class in the message.
 */
export function checkDuration(owner: string, key: string, value: number, unit: OptionUnit = 'ms'): number {
  const max = unit === 's' ? MAX_TIMER_MS / 1000 : MAX_TIMER_MS;
  if (Number.isFinite(value) && value > max) {
    throw new ConfigurationError(
      `${owner} option '${key}' expects at most ${max} ${unit === 's' ? 'seconds' : 'ms'} (${TIMER_WHY}), got ${value}`,
      key,
    );
  }
  return value;
}

/** host, host:port, [ipv6] or [ipv6]:port; returns undefined when malformed. */
export function parseHostPort(text: string): { host: string; port: number | undefined } | undefined {
  const s = text.trim();
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return undefined;
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portText = rest === '' ? undefined : rest.slice(1);
  } else if (s.indexOf(':') !== s.lastIndexOf(':')) {
    host = s; // bare IPv6 literal, no port
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    portText = colon < 0 ? undefined : s.slice(colon + 1);
  }
  if (host === '' || /[\s/,=@]/.test(host)) return undefined;
  if (portText === undefined) return { host, port: undefined };
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? { host, port } : undefined;
}

function checkHostAddressMap(map: Readonly<Record<string, string>>): string | undefined {
  for (const [from, to] of Object.entries(map)) {
    if (!parseHostPort(from) || !parseHostPort(to))
      return `entries 'name[:port]=address[:port]' (bad entry '${from}=${to}')`;
  }
  return undefined;
}

function checkHostWeightPairs(pairs: string): string | undefined {
  try {
    parseHostWeightPairs(pairs, 'hostWeightPairs');
    return undefined;
  } catch {
    return "'host:weight' pairs separated by commas, each weight an integer ≥ 1";
  }
}

function checkEndpoint(endpoint: string): string | undefined {
  return parseHostPort(endpoint) === undefined ? "'host' or 'host:port'" : undefined;
}

/**
 * The one check of an instance host pattern (`?.my-domain.example[:port]`), used by the option parser and the
 * topology code: what was expected when it is wrong, else undefined.
 */
export function hostPatternProblem(pattern: string): string | undefined {
  const example = "a host pattern with '?' in place of the instance name, like '?.my-domain.example[:port]'";
  const m = /^(.*?)(?::([^:]*))?$/.exec(pattern.trim())!;
  const host = m[1];
  const portText = m[2];
  if (host === '') return example;
  if (!host.includes('?')) return `${example} ('?' is missing)`;
  if (/[^A-Za-z0-9.?_-]/.test(host)) return `${example} (only letters, digits, '.', '-', '_' and '?' in the host part)`;
  if (portText !== undefined && !(/^\d{1,5}$/.test(portText) && Number(portText) >= 1 && Number(portText) <= 65535)) {
    return `${example} (the port must be an integer in 1..65535)`;
  }
  if (isProxyDns(host)) return `${example}, not an RDS Proxy name (instances are not reachable through a proxy)`;
  if (isCustomClusterDns(host)) return `${example}, not a custom cluster endpoint name (give the instance domain)`;
  return undefined;
}

/** Failover modes of gdb_failover (the seed spells them with '-'; '_' is accepted as well). */
const GDB_FAILOVER_MODES = [
  'strict-writer',
  'strict-home-reader',
  'strict-out-of-home-reader',
  'strict-any-reader',
  'home-reader-or-writer',
  'out-of-home-reader-or-writer',
  'any-reader-or-writer',
  'strict_writer',
  'strict_home_reader',
  'strict_out_of_home_reader',
  'strict_any_reader',
  'home_reader_or_writer',
  'out_of_home_reader_or_writer',
  'any_reader_or_writer',
] as const;

function checkRegion(value: string): string | undefined {
  return /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(value.trim()) ? undefined : "an AWS region name such as 'us-east-1'";
}

function checkGlobalHostPatterns(items: readonly string[]): string | undefined {
  const regions = new Set<string>();
  for (const item of items) {
    const i = item.indexOf(':');
    const problem = i <= 0 ? 'missing region' : hostPatternProblem(item.slice(i + 1));
    if (problem !== undefined)
      return `'region:host-pattern[:port]' entries, each pattern ${problem} (bad entry '${item}')`;
    const region = item.slice(0, i).trim();
    if (regions.has(region))
      return `'region:host-pattern[:port]' entries, each region once (region '${region}' is listed twice)`;
    regions.add(region);
  }
  return undefined;
}

export const OPTION_TABLE = [
  // ---- core ----
  {
    name: 'plugins',
    aliases: ['wrapper_plugins'],
    type: 'string-list',
    default: undefined,
    group: 'core',
    doc: "Plugin codes, comma-separated string or array, in the order to apply them. Unset: the default list for the driver. '' (or []): no plugins.",
  },
  {
    name: 'autoSortWrapperPluginOrder',
    aliases: ['auto_sort_wrapper_plugin_order'],
    type: 'boolean',
    default: true,
    group: 'core',
    doc: 'Sort plugins by their built-in weights instead of keeping the given order.',
  },
  {
    name: 'profileName',
    aliases: ['profile_name'],
    type: 'string',
    default: undefined,
    group: 'core',
    doc: 'Name of a registered configuration profile (plugin list and options preset) to apply.',
  },
  {
    name: 'wrapperDialect',
    aliases: ['wrapper_dialect'],
    type: 'string',
    default: undefined,
    group: 'core',
    doc: 'Database dialect code. Unset: detected from the host name and the server.',
  },
  {
    name: 'wrapperDriverDialect',
    aliases: ['wrapper_driver_dialect'],
    type: 'string',
    default: undefined,
    group: 'core',
    doc: "Driver dialect code: 'pg' for the pg classes, 'mysql2' for the mysql2 ones (any other value is rejected: the driver dialect is always the driver in use). Unset: the driver in use.",
  },
  {
    name: 'auxiliaryQueryTimeoutSec',
    aliases: ['auxiliary_query_timeout_sec'],
    type: 'number',
    default: 5,
    unit: 's',
    min: 0.001,
    group: 'core',
    doc: "Timeout of the wrapper's own queries (dialect detection, host role and id, topology).",
  },
  {
    name: 'topologyRefreshMs',
    aliases: ['topology_refresh_ms'],
    type: 'int',
    default: 30000,
    unit: 'ms',
    min: 1,
    max: NATIVE_MAX_MS,
    maxWhy: NATIVE_WHY,
    group: 'core',
    doc: 'Regular polling period of the cluster topology monitor.',
  },
  {
    name: 'clusterTopologyHighRefreshRateMs',
    aliases: ['cluster_topology_high_refresh_rate_ms'],
    type: 'int',
    default: 100,
    unit: 'ms',
    min: 1,
    max: NATIVE_MAX_MS,
    maxWhy: NATIVE_WHY,
    group: 'core',
    doc: 'Topology polling period while a writer change is suspected (failover, right after connecting).',
  },
  {
    name: 'clusterId',
    aliases: ['cluster_id'],
    type: 'string',
    default: undefined,
    group: 'core',
    doc: 'Key of the shared topology cache and monitors. Clients of different clusters in one process must not share an id. Unset: derived from the cluster endpoint.',
  },
  {
    name: 'clusterInstanceHostPattern',
    aliases: ['cluster_instance_host_pattern'],
    type: 'string',
    default: undefined,
    group: 'core',
    check: hostPatternProblem,
    rejects:
      'no `?`; characters other than letters, digits, `.`, `-`, `_`, `?` in the host part (spaces, `/`, `@`, `:`…); a port outside 1..65535 or not a number; an RDS Proxy or custom-cluster endpoint name — instance host names are built from it, and a pattern that cannot name an instance would leave failover with one host',
    doc: "Template of instance host names, '?' standing for the instance id, e.g. '?.xyz.us-east-1.rds.amazonaws.com[:port]'. Required when connecting through an IP address or custom DNS name; derived from RDS names otherwise.",
  },
  {
    name: 'globalClusterInstanceHostPatterns',
    aliases: ['global_cluster_instance_host_patterns'],
    type: 'string-list',
    default: undefined,
    group: 'core',
    check: checkGlobalHostPatterns,
    rejects: 'an entry without `region:`, a region listed twice, or a pattern `clusterInstanceHostPattern` rejects',
    doc: "Per-region instance host patterns of a global database: 'region:pattern[:port],...'.",
  },
  {
    name: 'transferSessionStateOnSwitch',
    aliases: ['transfer_session_state_on_switch'],
    type: 'boolean',
    default: true,
    group: 'core',
    doc: 'Apply the tracked session state (autocommit, read-only, isolation, catalog/schema) to the new connection when the wrapper switches connections.',
  },
  {
    name: 'resetSessionStateOnClose',
    aliases: ['reset_session_state_on_close'],
    type: 'boolean',
    default: true,
    group: 'core',
    doc: 'Reset the session state changed through the wrapper before a connection is closed or returned to a pool.',
  },
  {
    name: 'rollbackOnSwitch',
    aliases: ['rollback_on_switch'],
    type: 'boolean',
    default: true,
    group: 'core',
    doc: 'Roll back an open transaction on the old connection when the wrapper switches connections.',
  },
  {
    name: 'awsProfile',
    aliases: ['aws_profile'],
    type: 'string',
    default: undefined,
    group: 'core',
    doc: 'AWS shared-config profile used for every AWS API call (IAM, Secrets Manager, RDS API).',
  },
  {
    name: 'defaultHostAvailabilityStrategy',
    aliases: ['default_host_availability_strategy'],
    type: 'enum',
    values: ['exponential_backoff'],
    default: undefined,
    group: 'core',
    doc: "How long a host reported down stays down. Unset: until it is reported up or for 5 minutes. 'exponential_backoff': offered again after 2^failures × hostAvailabilityStrategyInitialBackoffTime, down for good after hostAvailabilityStrategyMaxRetries consecutive failures.",
  },
  {
    name: 'hostAvailabilityStrategyMaxRetries',
    aliases: ['host_availability_strategy_max_retries'],
    type: 'int',
    default: 5,
    min: 1,
    group: 'core',
    doc: 'exponential_backoff: consecutive failures after which a host stays down until reported up.',
  },
  {
    name: 'hostAvailabilityStrategyInitialBackoffTime',
    aliases: ['host_availability_strategy_initial_backoff_time'],
    type: 'int',
    default: 30000,
    unit: 'ms',
    aliasUnit: 's',
    min: 1,
    group: 'core',
    doc: 'exponential_backoff: base of the backoff.',
  },
  {
    name: 'roundRobinDefaultWeight',
    aliases: ['round_robin_default_weight'],
    type: 'int',
    default: 1,
    min: 1,
    group: 'core',
    doc: 'round_robin host selection: consecutive picks of a host not listed in roundRobinHostWeightPairs.',
  },
  {
    name: 'roundRobinHostWeightPairs',
    aliases: ['round_robin_host_weight_pairs'],
    type: 'string',
    default: undefined,
    group: 'core',
    check: checkHostWeightPairs,
    rejects:
      'an entry that is not `host:weight` or a weight that is not an integer ≥ 1 — a host would never (or always) be picked',
    doc: "round_robin host selection: 'host:weight,...' (weights integers ≥ 1), consecutive picks per host name.",
  },
  {
    name: 'weightedRandomDefaultWeight',
    aliases: ['weighted_random_default_weight'],
    type: 'int',
    default: 1,
    min: 1,
    group: 'core',
    doc: 'weighted_random host selection: weight of a host not listed in weightedRandomHostWeightPairs.',
  },
  {
    name: 'weightedRandomHostWeightPairs',
    aliases: ['weighted_random_host_weight_pairs'],
    type: 'string',
    default: undefined,
    group: 'core',
    check: checkHostWeightPairs,
    rejects:
      'an entry that is not `host:weight` or a weight that is not an integer ≥ 1 — a host would never (or always) be picked',
    doc: "weighted_random host selection: 'host:weight,...' (weights integers ≥ 1).",
  },
  // ---- network ----
  {
    name: 'connectTimeout',
    aliases: ['connect_timeout'],
    type: 'number',
    default: undefined,
    unit: 'ms',
    aliasUnit: 's',
    group: 'network',
    driverKey: { mysql2: 'connectTimeout' },
    doc: 'Time allowed to open a connection. For mysql2 also passed to the driver as its own connectTimeout.',
  },
  {
    name: 'socketTimeout',
    aliases: ['socket_timeout'],
    type: 'number',
    default: undefined,
    unit: 'ms',
    aliasUnit: 's',
    group: 'network',
    doc: 'Time allowed for one statement; when it elapses the statement is cancelled on the server (PG CancelRequest, MySQL KILL QUERY) and a QueryTimeoutError raised, the connection staying usable. If the host does not answer the cancel either, the connection is aborted with a network error (code 08S01) that failover acts on. 0 or unset: none.',
  },
  {
    name: 'tcpKeepalive',
    aliases: ['tcp_keepalive'],
    type: 'boolean',
    default: undefined,
    group: 'network',
    doc: 'Enable TCP keep-alive on the connection socket.',
  },
  {
    name: 'tcpKeepaliveTime',
    aliases: ['tcp_keepalive_time'],
    type: 'number',
    default: undefined,
    unit: 'ms',
    aliasUnit: 's',
    group: 'network',
    doc: 'Idle time before the first keep-alive probe.',
  },
  {
    name: 'tcpKeepaliveInterval',
    aliases: ['tcp_keepalive_interval'],
    type: 'number',
    default: undefined,
    unit: 'ms',
    aliasUnit: 's',
    group: 'network',
    doc: 'Time between keep-alive probes.',
  },
  {
    name: 'tcpKeepaliveProbes',
    aliases: ['tcp_keepalive_probes'],
    type: 'int',
    default: undefined,
    min: 1,
    group: 'network',
    doc: 'Unanswered keep-alive probes before the connection is considered dead.',
  },
  {
    name: 'hostAddressMap',
    aliases: ['host_address_map'],
    type: 'map',
    default: undefined,
    group: 'network',
    check: checkHostAddressMap,
    rejects:
      'an entry that is not `name[:port]=address[:port]` (a port outside 1..65535, spaces, `/`, `@`, `,` or `=` in a name) — connections would go to a wrong address',
    doc: "Connect to another address than a host name resolves to: object or 'name[:port]=address[:port],...' string. Keys are host names or host:port (host:port wins); used for SSH tunnels, port forwards and the local lookalike cluster, by every connection the wrapper opens, monitoring probes included.",
  },
  // ---- iam (iamHost, iamDefaultPort and iamRegion also apply to federated_auth and okta) ----
  {
    name: 'iamHost',
    aliases: ['iam_host'],
    type: 'string',
    default: undefined,
    group: 'iam',
    doc: 'Host name the IAM token is generated for, instead of the host connected to. Needed when connecting through an IP address, a custom domain, a tunnel or a custom endpoint. Also used by federated_auth and okta.',
  },
  {
    name: 'iamDefaultPort',
    aliases: ['iam_default_port'],
    type: 'int',
    default: undefined,
    min: 1,
    group: 'iam',
    doc: "Port the IAM token is generated for. Unset: the host's port, else the database's default port. Also used by federated_auth and okta.",
  },
  {
    name: 'iamRegion',
    aliases: ['iam_region'],
    type: 'string',
    default: undefined,
    group: 'iam',
    doc: 'AWS region the IAM token is signed for. Unset: taken from the RDS host name; required for other host names (with iamHost). Also used by federated_auth and okta.',
  },
  {
    name: 'iamExpirationSec',
    aliases: ['iam_expiration'],
    type: 'int',
    default: 900,
    unit: 's',
    min: 1,
    max: CACHE_MAX_SEC,
    maxWhy: CACHE_WHY,
    group: 'iam',
    doc: 'How long a generated IAM token is reused, in seconds. Tokens are valid for 15 minutes, so values above 900 act as 900; a token is replaced shortly before it expires.',
  },
  {
    name: 'iamRdsEndpoint',
    aliases: [],
    type: 'string',
    default: undefined,
    group: 'iam',
    doc: "iam, federated_auth and okta with a global- endpoint and no iamRegion: the RDS API endpoint URL of the DescribeGlobalClusters call that finds the writer's region (a VPC endpoint, or a local RDS API in tests). Unset: the SDK's endpoint for the region of AWS_REGION or the profile.",
  },
  // ---- aws_secrets_manager ----
  {
    name: 'secretsManagerSecretId',
    aliases: ['secrets_manager_secret_id'],
    type: 'string',
    default: undefined,
    group: 'aws_secrets_manager',
    doc: 'Name or ARN of the secret holding the database user name and password (required by aws_secrets_manager).',
  },
  {
    name: 'secretsManagerRegion',
    aliases: ['secrets_manager_region'],
    type: 'string',
    default: undefined,
    group: 'aws_secrets_manager',
    doc: 'Region of the secret. Unset: taken from the secret ARN; required when the secret is given by name.',
  },
  {
    name: 'secretsManagerEndpoint',
    aliases: ['secrets_manager_endpoint'],
    type: 'string',
    default: undefined,
    group: 'aws_secrets_manager',
    doc: "Secrets Manager endpoint URL to use instead of the region's public one (VPC endpoint, local test server), e.g. 'https://vpce-….secretsmanager.us-east-1.vpce.amazonaws.com'.",
  },
  {
    name: 'secretsManagerSecretUsernameKey',
    aliases: ['secrets_manager_secret_username_key', 'secrets_manager_secret_username'],
    type: 'string',
    default: 'username',
    group: 'aws_secrets_manager',
    doc: "Key of the user name in the secret's JSON.",
  },
  {
    name: 'secretsManagerSecretPasswordKey',
    aliases: ['secrets_manager_secret_password_key', 'secrets_manager_secret_password'],
    type: 'string',
    default: 'password',
    group: 'aws_secrets_manager',
    doc: "Key of the password in the secret's JSON.",
  },
  {
    name: 'secretsManagerExpirationSec',
    aliases: ['secrets_manager_expiration'],
    type: 'int',
    default: 31536000,
    unit: 's',
    min: 1,
    max: CACHE_MAX_SEC,
    maxWhy: CACHE_WHY,
    group: 'aws_secrets_manager',
    doc: 'How long fetched credentials are reused, in seconds (default one year). A login failure with reused credentials fetches the secret again (rotation) whatever this is.',
  },
  // ---- federated_auth (ADFS) and okta ----
  {
    name: 'dbUser',
    aliases: ['db_user'],
    type: 'string',
    default: undefined,
    group: 'federated_auth',
    doc: 'Database user to log in as with the IAM token (federated_auth, okta; required).',
  },
  {
    name: 'idpUsername',
    aliases: ['idp_username'],
    type: 'string',
    default: undefined,
    group: 'federated_auth',
    doc: 'User name at the identity provider (federated_auth, okta). Unset: the driver config `user`.',
  },
  {
    name: 'idpPassword',
    aliases: ['idp_password'],
    type: 'string',
    default: undefined,
    group: 'federated_auth',
    secret: true,
    doc: 'Password at the identity provider (federated_auth, okta). Unset: the driver config `password`.',
  },
  {
    name: 'idpEndpoint',
    aliases: ['idp_endpoint'],
    type: 'string',
    default: undefined,
    group: 'federated_auth',
    doc: "Host name of the identity provider, e.g. 'adfs.example.com' or 'example.okta.com' (federated_auth, okta; required).",
  },
  {
    name: 'idpPort',
    aliases: ['idp_port'],
    type: 'int',
    default: 443,
    min: 1,
    group: 'federated_auth',
    doc: 'HTTPS port of the ADFS server (federated_auth).',
  },
  {
    name: 'idpName',
    aliases: ['idp_name'],
    type: 'enum',
    values: ['adfs'],
    default: 'adfs',
    group: 'federated_auth',
    doc: 'Identity provider kind of federated_auth; only ADFS is supported (use the okta plugin for Okta).',
  },
  {
    name: 'rpIdentifier',
    aliases: ['rp_identifier'],
    type: 'string',
    default: 'urn:amazon:webservices',
    group: 'federated_auth',
    doc: 'Relying party identifier of AWS at the ADFS server (federated_auth).',
  },
  {
    name: 'iamRoleArn',
    aliases: ['iam_role_arn'],
    type: 'string',
    default: undefined,
    group: 'federated_auth',
    doc: 'ARN of the IAM role to assume with the SAML assertion (federated_auth, okta; required).',
  },
  {
    name: 'iamIdpArn',
    aliases: ['iam_idp_arn'],
    type: 'string',
    default: undefined,
    group: 'federated_auth',
    doc: 'ARN of the SAML identity provider registered in IAM (federated_auth, okta; required).',
  },
  {
    name: 'iamTokenExpirationSec',
    aliases: ['iam_token_expiration'],
    type: 'int',
    default: 870,
    unit: 's',
    min: 1,
    max: CACHE_MAX_SEC,
    maxWhy: CACHE_WHY,
    group: 'federated_auth',
    doc: 'How long an IAM token obtained through the identity provider is reused, in seconds (federated_auth, okta); at most 900.',
  },
  {
    name: 'httpRequestConnectTimeout',
    aliases: ['http_request_connect_timeout'],
    type: 'int',
    default: 60000,
    unit: 'ms',
    aliasUnit: 's',
    min: 1,
    group: 'federated_auth',
    doc: 'Timeout of each HTTP request to the identity provider (federated_auth, okta).',
  },
  {
    name: 'sslSecure',
    aliases: ['ssl_secure'],
    type: 'boolean',
    default: true,
    group: 'federated_auth',
    doc: "Verify the identity provider's TLS certificate (federated_auth, okta). Turn off only for test servers.",
  },
  {
    name: 'appId',
    aliases: ['app_id'],
    type: 'string',
    default: undefined,
    group: 'okta',
    doc: 'ID of the Amazon Web Services application configured in Okta (okta; required).',
  },
  // ---- custom_endpoint ----
  {
    name: 'customEndpointInfoRefreshRateMs',
    aliases: ['custom_endpoint_info_refresh_rate_ms'],
    type: 'int',
    default: 30000,
    unit: 'ms',
    min: 1,
    group: 'custom_endpoint',
    doc: "How often the custom endpoint's monitor asks the RDS API (DescribeDBClusterEndpoints) for the endpoint's static and excluded members.",
  },
  {
    name: 'customEndpointIdleMonitorExpirationMs',
    aliases: ['custom_endpoint_idle_monitor_expiration_ms'],
    type: 'int',
    default: 900000,
    unit: 'ms',
    min: 1,
    group: 'custom_endpoint',
    doc: 'How long a custom endpoint monitor keeps running after the last client using it ended.',
  },
  {
    name: 'waitForCustomEndpointInfo',
    aliases: ['wait_for_custom_endpoint_info'],
    type: 'boolean',
    default: true,
    group: 'custom_endpoint',
    doc: "Make connects wait until the endpoint's members are known, so no host outside the endpoint is chosen. false: connect at once, unrestricted until the first answer.",
  },
  {
    name: 'waitForCustomEndpointInfoTimeoutMs',
    aliases: ['wait_for_custom_endpoint_info_timeout_ms'],
    type: 'int',
    default: 5000,
    unit: 'ms',
    min: 0,
    group: 'custom_endpoint',
    doc: "How long a connect waits for the endpoint's members before it fails with CustomEndpointInfoTimeoutError.",
  },
  {
    name: 'customEndpointRegion',
    aliases: ['custom_endpoint_region'],
    type: 'string',
    default: undefined,
    group: 'custom_endpoint',
    doc: 'AWS region of the custom endpoint. Unset: taken from the host name (required when connecting through another name).',
  },
  {
    name: 'customEndpointRdsEndpoint',
    aliases: [],
    type: 'string',
    default: undefined,
    group: 'custom_endpoint',
    check: checkHttpUrl,
    rejects: 'a value that is not an http(s) URL — the RDS API calls would fail at every refresh',
    doc: "RDS API endpoint URL to use instead of the region's public one (VPC interface endpoint, the local lookalike's RDS API), e.g. 'https://vpce-….rds.us-east-1.vpce.amazonaws.com'.",
  },
  // ---- failover / failover_v2 ----
  {
    name: 'failoverMode',
    aliases: ['failover_mode'],
    type: 'enum',
    default: undefined,
    group: 'failover',
    values: [
      'strict_writer',
      'strict_reader',
      'reader_or_writer',
      'strict-writer',
      'strict-reader',
      'reader-or-writer',
    ],
    doc: "Where failover reconnects: 'strict_writer' (only the new writer), 'strict_reader' (a reader; the writer only when no reader is left), 'reader_or_writer' (a reader, else the writer). '-' and '_' spellings are equivalent. Unset: 'reader_or_writer' for a reader cluster endpoint (cluster-ro-), 'strict_writer' otherwise.",
  },
  {
    name: 'failoverTimeoutMs',
    aliases: ['failover_timeout_sec'],
    type: 'int',
    default: 300000,
    unit: 'ms',
    aliasUnit: 's',
    min: 1,
    group: 'failover',
    doc: 'Longest time a failover may take; past it the call fails with FailoverFailedError (code 08001).',
  },
  {
    name: 'failoverReaderHostSelectorStrategy',
    aliases: ['failover_reader_host_selector_strategy'],
    type: 'string',
    default: 'random',
    group: 'failover',
    doc: "Host selector strategy (random, round_robin, weighted_random, highest_weight, or a plugin's) picking readers during reader failover.",
  },
  {
    name: 'enableConnectFailover',
    aliases: ['enable_connect_failover'],
    type: 'boolean',
    default: false,
    group: 'failover',
    doc: 'failover_v2: when opening the initial connection fails with a network error, fail over (to the instance the failover mode asks for) instead of failing the connect.',
  },
  {
    name: 'enableFailover',
    aliases: ['enable_failover'],
    type: 'boolean',
    default: true,
    group: 'failover',
    doc: 'failover (v1): set to false to keep the plugin loaded but never fail over. failover_v2 ignores it, as in the seed.',
  },
  {
    name: 'failoverClusterTopologyRefreshRateMs',
    aliases: ['failover_cluster_topology_refresh_rate_sec'],
    type: 'int',
    default: 2000,
    unit: 'ms',
    aliasUnit: 's',
    min: 1,
    group: 'failover',
    doc: 'failover (v1): how often the writer-failover task re-reads the topology while waiting for a new writer.',
  },
  {
    name: 'failoverWriterReconnectIntervalMs',
    aliases: ['failover_writer_reconnect_interval_sec'],
    type: 'int',
    default: 2000,
    unit: 'ms',
    aliasUnit: 's',
    min: 1,
    group: 'failover',
    doc: 'failover (v1): interval between attempts to reconnect to the old writer during writer failover.',
  },
  {
    name: 'failoverReaderConnectTimeoutMs',
    aliases: ['failover_reader_connect_timeout_sec'],
    type: 'int',
    default: 30000,
    unit: 'ms',
    aliasUnit: 's',
    min: 1,
    group: 'failover',
    doc: 'Bound of one connection attempt to a reader during reader failover (both versions; also bounded by the time left of failoverTimeoutMs).',
  },
  {
    name: 'readerHostSelectorStrategy',
    aliases: ['reader_host_selector_strategy'],
    type: 'string',
    default: 'random',
    group: 'core',
    doc: 'Host selector strategy picking a reader (read/write splitting): random, round_robin, weighted_random, highest_weight, least_connections (with internal pools or AwsPGPool / AwsMySQLPool), fastest_response (with the fastest_response_strategy plugin).',
  },
  // ---- host_monitoring / host_monitoring_v2 (enhanced failure monitoring) ----
  {
    name: 'failureDetectionEnabled',
    aliases: ['failure_detection_enabled'],
    type: 'boolean',
    default: true,
    group: 'host_monitoring',
    doc: 'host_monitoring / host_monitoring_v2: set to false to keep the plugin loaded but monitor nothing.',
  },
  {
    name: 'failureDetectionTimeMs',
    aliases: ['failure_detection_time_ms'],
    type: 'int',
    default: 30000,
    unit: 'ms',
    min: 0,
    max: NATIVE_MAX_MS,
    maxWhy: NATIVE_WHY,
    group: 'host_monitoring',
    doc: 'Grace time: a call is monitored only once it has run this long (shorter calls cost no probe at all).',
  },
  {
    name: 'failureDetectionIntervalMs',
    aliases: ['failure_detection_interval_ms'],
    type: 'int',
    default: 5000,
    unit: 'ms',
    min: 1,
    max: NATIVE_MAX_MS,
    maxWhy: NATIVE_WHY,
    group: 'host_monitoring',
    doc: 'Time between two probes of a monitored host (half of it when failureDetectionCount is 1).',
  },
  {
    name: 'failureDetectionCount',
    aliases: ['failure_detection_count'],
    type: 'int',
    default: 3,
    min: 1,
    group: 'host_monitoring',
    doc: 'The host is declared dead once it has not answered for failureDetectionIntervalMs × failureDetectionCount; its monitored calls are then aborted.',
  },
  {
    name: 'monitorDisposalTimeMs',
    aliases: ['monitor_disposal_time_ms'],
    type: 'int',
    default: 600000,
    unit: 'ms',
    min: 0,
    group: 'host_monitoring',
    doc: 'A host monitor no connection uses any more is stopped (probe connection closed) after this long.',
  },
  // ---- initial_connection ----
  {
    name: 'readerInitialConnectionHostSelectorStrategy',
    aliases: ['reader_initial_connection_host_selector_strategy'],
    type: 'string',
    default: 'random',
    group: 'initial_connection',
    doc: 'Host selector strategy picking the reader behind a reader cluster endpoint (cluster-ro-).',
  },
  {
    name: 'openConnectionRetryTimeoutMs',
    aliases: ['open_connection_retry_timeout_ms'],
    type: 'int',
    default: 30000,
    unit: 'ms',
    min: 0,
    group: 'initial_connection',
    doc: 'How long to keep trying to reach a verified writer (or reader) behind a cluster endpoint before falling back to a plain connection through the endpoint.',
  },
  {
    name: 'openConnectionRetryIntervalMs',
    aliases: ['open_connection_retry_interval_ms'],
    type: 'int',
    default: 1000,
    unit: 'ms',
    min: 0,
    group: 'initial_connection',
    doc: 'Pause between those attempts.',
  },
  {
    name: 'readerRouting',
    aliases: [],
    type: 'enum',
    values: ['off', 'explicit', 'selects'],
    default: 'off',
    group: 'read_write_splitting',
    doc: "Routing for ORMs (read_write_splitting or srw needed): 'explicit' runs read-only transactions (BEGIN READ ONLY, START TRANSACTION READ ONLY) and statements starting with /* aws:reader */ on a reader; 'selects' also plain SELECTs outside transactions; 'off' classifies nothing. Writes, locking reads, detectable side effects and inconclusive statements stay on the writer (docs/read-write-splitting.md).",
  },
  {
    name: 'readerRoutingStickMs',
    aliases: [],
    type: 'int',
    default: 1000,
    unit: 'ms',
    min: 0,
    group: 'read_write_splitting',
    doc: 'readerRouting: read-your-writes window. After a write on the same pool (or client), nothing is routed to a reader for this long (0: no window).',
  },
  // ---- read_write_splitting / srw (internal pools) ----
  {
    name: 'internalConnectionPool',
    aliases: [],
    type: 'boolean',
    default: false,
    group: 'read_write_splitting',
    doc: "read_write_splitting: take the instance connections it opens from internal per-instance pools shared by the clients of the same services (the seed's internal pooled connection provider), and return them when switching away. AwsPGPool / AwsMySQLPool always use their own pools.",
  },
  {
    name: 'internalPoolMaxPerHost',
    aliases: [],
    type: 'int',
    default: 10,
    min: 1,
    group: 'read_write_splitting',
    doc: 'Internal connection pool: connections per instance (in use plus idle).',
  },
  {
    name: 'internalPoolIdleTimeoutMs',
    aliases: [],
    type: 'int',
    default: 600000,
    unit: 'ms',
    min: 1,
    group: 'read_write_splitting',
    doc: 'Internal connection pool: an idle pooled connection is closed after this time.',
  },
  {
    name: 'internalPoolAcquireTimeoutMs',
    aliases: [],
    type: 'int',
    default: 10000,
    unit: 'ms',
    min: 1,
    group: 'read_write_splitting',
    doc: 'Internal connection pool: how long a switch waits for a connection of a full instance pool before it fails (read/write splitting then stays on the current connection).',
  },
  {
    name: 'srwReadEndpoint',
    aliases: ['srw_read_endpoint'],
    type: 'string',
    default: undefined,
    group: 'srw',
    check: checkEndpoint,
    rejects: 'anything but `host` or `host:port` with a port in 1..65535',
    doc: "srw (required): 'host[:port]' of the endpoint read-only connections go to (e.g. the cluster reader endpoint). Port default: the connection's port.",
  },
  {
    name: 'srwWriteEndpoint',
    aliases: ['srw_write_endpoint'],
    type: 'string',
    default: undefined,
    group: 'srw',
    check: checkEndpoint,
    rejects: 'anything but `host` or `host:port` with a port in 1..65535',
    doc: "srw (required): 'host[:port]' of the endpoint read-write connections go to (e.g. the cluster writer endpoint).",
  },
  {
    name: 'srwVerifyNewConnections',
    aliases: ['srw_verify_new_connections'],
    type: 'boolean',
    default: true,
    group: 'srw',
    doc: 'srw: check the role of every connection opened through an endpoint (is-reader query) and retry until it is the expected one.',
  },
  {
    name: 'srwVerifyInitialConnectionType',
    aliases: ['srw_verify_initial_connection_type'],
    type: 'enum',
    values: ['reader', 'writer'],
    default: undefined,
    group: 'srw',
    doc: 'srw: verify the initial connection has this role. Unset: verified only when the initial host is a writer or reader cluster endpoint (role from its name).',
  },
  {
    name: 'srwConnectRetryTimeoutMs',
    aliases: ['srw_connect_retry_timeout_ms'],
    type: 'int',
    default: 60000,
    unit: 'ms',
    min: 1,
    group: 'srw',
    doc: 'srw: how long to retry opening a connection of the expected role through an endpoint.',
  },
  {
    name: 'srwConnectRetryIntervalMs',
    aliases: ['srw_connect_retry_interval_ms'],
    type: 'int',
    default: 1000,
    unit: 'ms',
    min: 1,
    group: 'srw',
    doc: 'srw: pause between those attempts.',
  },
  // ---- gdb_failover ----
  {
    name: 'failoverHomeRegion',
    aliases: ['failover_home_region'],
    type: 'string',
    default: undefined,
    group: 'gdb_failover',
    check: checkRegion,
    rejects: 'a value that is not an AWS region name',
    doc: "gdb_failover: the application's home region (e.g. 'us-east-1'). Unset: the region in the initial host name; required with a global- endpoint, an IP address or a custom domain.",
  },
  {
    name: 'activeHomeFailoverMode',
    aliases: ['active_home_failover_mode'],
    type: 'enum',
    values: GDB_FAILOVER_MODES,
    default: undefined,
    group: 'gdb_failover',
    doc: "gdb_failover: where failover reconnects while the writer is in the home region: 'strict-writer', 'strict-home-reader', 'strict-out-of-home-reader', 'strict-any-reader', 'home-reader-or-writer', 'out-of-home-reader-or-writer', 'any-reader-or-writer' ('_' spellings accepted). Unset: 'strict-writer' for a cluster- or global- endpoint, 'home-reader-or-writer' otherwise.",
  },
  {
    name: 'inactiveHomeFailoverMode',
    aliases: ['inactive_home_failover_mode'],
    type: 'enum',
    values: GDB_FAILOVER_MODES,
    default: undefined,
    group: 'gdb_failover',
    doc: 'gdb_failover: the same choice while the writer is outside the home region (after a global failover away from it). Same values and default as activeHomeFailoverMode.',
  },
  // ---- gdb_rw ----
  {
    name: 'gdbRwHomeRegion',
    aliases: ['gdb_rw_home_region'],
    type: 'string',
    default: undefined,
    group: 'gdb_rw',
    check: checkRegion,
    rejects: 'a value that is not an AWS region name',
    doc: 'gdb_rw: the home region readers (and the writer) are restricted to. Unset: the region in the initial host name; required with a global- endpoint, an IP address or a custom domain.',
  },
  {
    name: 'gdbRwRestrictWriterToHomeRegion',
    aliases: ['gdb_rw_restrict_writer_to_home_region'],
    type: 'boolean',
    default: true,
    group: 'gdb_rw',
    doc: 'gdb_rw: setReadOnly(false) fails (ReadWriteSplittingError) when the writer is outside the home region, unless gdbEnableGlobalWriteForwarding.',
  },
  {
    name: 'gdbRwRestrictReaderToHomeRegion',
    aliases: ['gdb_rw_restrict_reader_to_home_region'],
    type: 'boolean',
    default: true,
    group: 'gdb_rw',
    doc: 'gdb_rw: setReadOnly(true) picks readers of the home region only.',
  },
  {
    name: 'gdbEnableGlobalWriteForwarding',
    aliases: ['gdb_enable_global_write_forwarding'],
    type: 'boolean',
    default: false,
    group: 'gdb_rw',
    doc: "gdb_rw: with the writer outside the home region, setReadOnly(false) stays on the home-region reader (Aurora's global write forwarding sends its writes to the writer) instead of failing.",
  },
  // ---- fastest_response_strategy ----
  {
    name: 'responseMeasurementIntervalMs',
    aliases: ['response_measurement_interval_ms'],
    type: 'int',
    default: 30000,
    unit: 'ms',
    min: 1,
    max: NATIVE_MAX_MS,
    maxWhy: NATIVE_WHY,
    group: 'fastest_response_strategy',
    doc: "fastest_response_strategy: period of the native response-time probe of each host (one monitor per host, shared by the clients of the same services). Select it with readerHostSelectorStrategy: 'fastest_response'.",
  },
  // ---- limitless ----
  {
    name: 'limitlessMonitorIntervalMs',
    aliases: ['limitless_transaction_router_monitor_interval_ms'],
    type: 'int',
    default: 7500,
    unit: 'ms',
    min: 1,
    max: NATIVE_MAX_MS,
    maxWhy: NATIVE_WHY,
    group: 'limitless',
    doc: 'limitless: period of the native router monitor reading the transaction routers and their load (one monitor per shard group endpoint, shared by the clients of the same services). Aurora updates the load every 15 s.',
  },
  {
    name: 'limitlessMonitorDisposalTimeMs',
    aliases: ['limitless_transaction_router_monitor_disposal_time_ms'],
    type: 'int',
    default: 600000,
    unit: 'ms',
    min: 1,
    group: 'limitless',
    doc: 'limitless: a router list older than this (the monitor could not read a newer one) is not used; connections then wait for routers or go to the shard group endpoint.',
  },
  {
    name: 'limitlessWaitForRouterInfo',
    aliases: ['limitless_wait_for_transaction_router_info'],
    type: 'boolean',
    default: true,
    group: 'limitless',
    doc: 'limitless: when no router list is known yet, wait for the monitor to read one (limitlessGetRouterMaxRetries polls); false connects through the shard group endpoint instead.',
  },
  {
    name: 'limitlessGetRouterMaxRetries',
    aliases: ['limitless_get_transaction_router_max_retries'],
    type: 'int',
    default: 5,
    min: 0,
    max: 1000,
    maxWhy: 'each retry is a poll of the router list',
    group: 'limitless',
    doc: 'limitless: extra polls of the router list while waiting for routers, after the first.',
  },
  {
    name: 'limitlessGetRouterRetryIntervalMs',
    aliases: ['limitless_get_transaction_router_retry_interval_ms'],
    type: 'int',
    default: 300,
    unit: 'ms',
    min: 0,
    group: 'limitless',
    doc: 'limitless: pause between those polls after a failed one.',
  },
  {
    name: 'limitlessMaxRetries',
    aliases: ['limitless_max_retries_ms'],
    type: 'int',
    default: 5,
    min: 0,
    max: 1000,
    maxWhy: 'each retry is a connection attempt',
    group: 'limitless',
    doc: "limitless: connection attempts to other routers (highest weight first) after the weighted-random choice failed; a count, also under the seed's name limitless_max_retries_ms.",
  },
  // ---- bg ----
  {
    name: 'bgId',
    aliases: ['bg_id'],
    type: 'string',
    default: '1',
    group: 'bg',
    check: (v: string) => (v.trim() === '' ? 'a non-empty deployment id' : undefined),
    rejects: 'an empty id',
    doc: 'bg: names the Blue/Green deployment (compared lower-cased). Clients with the same id share one pair of status monitors; give each deployment the application uses its own id.',
  },
  {
    name: 'bgConnectTimeoutMs',
    aliases: ['bg_connect_timeout_ms'],
    type: 'int',
    default: 30000,
    unit: 'ms',
    min: 1,
    group: 'bg',
    doc: 'bg: longest time a connect or a call is held while a switchover is in progress; then it fails with BlueGreenTimeoutError.',
  },
  {
    name: 'bgIntervalBaselineMs',
    aliases: ['bg_interval_baseline_ms'],
    type: 'int',
    default: 60000,
    unit: 'ms',
    min: 1,
    max: NATIVE_MAX_MS,
    maxWhy: NATIVE_WHY,
    group: 'bg',
    doc: 'bg: status poll period when no deployment exists or after a switchover completed.',
  },
  {
    name: 'bgIntervalIncreasedMs',
    aliases: ['bg_interval_increased_ms'],
    type: 'int',
    default: 1000,
    unit: 'ms',
    min: 1,
    max: NATIVE_MAX_MS,
    maxWhy: NATIVE_WHY,
    group: 'bg',
    doc: 'bg: status poll period while a deployment exists and no switchover has started.',
  },
  {
    name: 'bgIntervalHighMs',
    aliases: ['bg_interval_high_ms'],
    type: 'int',
    default: 100,
    unit: 'ms',
    min: 1,
    max: NATIVE_MAX_MS,
    maxWhy: NATIVE_WHY,
    group: 'bg',
    doc: 'bg: status poll period from the start of a switchover until it completes (and while a status monitor has no connection).',
  },
  {
    name: 'bgSwitchoverTimeoutMs',
    aliases: ['bg_switchover_timeout_ms'],
    type: 'int',
    default: 180000,
    unit: 'ms',
    min: 1,
    group: 'bg',
    doc: 'bg: a switchover not completed this long after it started is taken as completed (as rolled back when a rollback was seen), so routing never stays switched forever.',
  },
  {
    name: 'bgSuspendNewBlueConnections',
    aliases: ['bg_suspend_new_blue_connections'],
    type: 'boolean',
    default: false,
    group: 'bg',
    doc: 'bg: during the switchover, hold new connections to blue hosts as well (by default they go to the blue address seen before the switchover).',
  },
  // ---- telemetry (docs/telemetry.md) ----
  {
    name: 'enableTelemetry',
    aliases: ['enable_telemetry'],
    type: 'boolean',
    default: false,
    group: 'telemetry',
    doc: "OpenTelemetry spans and metrics through '@opentelemetry/api' (an optional peer dependency, loaded on connect only when true; the application registers the SDK and exporters). The diagnostics_channel events are published whatever this says, to whoever subscribes.",
  },
  {
    name: 'telemetryTracesBackend',
    aliases: ['telemetry_traces_backend'],
    type: 'enum',
    values: ['otlp', 'xray', 'none'],
    default: 'otlp',
    group: 'telemetry',
    doc: "Where spans go: 'otlp' (the OpenTelemetry tracer provider the application registered), 'xray' (the same; export OTLP to the X-Ray collector or ADOT), 'none' (no spans).",
  },
  {
    name: 'telemetryMetricsBackend',
    aliases: ['telemetry_metrics_backend'],
    type: 'enum',
    values: ['otlp', 'none'],
    default: 'otlp',
    group: 'telemetry',
    doc: "Where metrics go: 'otlp' (the OpenTelemetry meter provider the application registered) or 'none'.",
  },
  {
    name: 'telemetrySubmitToplevel',
    aliases: ['telemetry_submit_toplevel', 'telemetry_submit_top_level'],
    type: 'boolean',
    default: false,
    group: 'telemetry',
    doc: "Record a call's span also when no span is active (each call starts a trace). By default a call is traced only inside a span of the application (its request span), so background polling starts no traces; failover, EFM and auth spans are always recorded.",
  },
  {
    name: 'telemetryFailoverAdditionalTopTrace',
    aliases: ['telemetry_failover_additional_top_trace'],
    type: 'boolean',
    default: false,
    group: 'telemetry',
    doc: 'Also record each failover as a trace of its own (a root span linked to the span of the call that hit it), so failovers are found without searching the calls.',
  },
] as const satisfies readonly OptionRow[];

/** Prefixes of options that override the config of the wrapper's monitoring connections. */
export const MONITORING_PREFIXES = [
  'topology-monitoring-',
  'monitoring-',
  'frt-',
  'blue-green-monitoring-',
  'limitless-router-monitor-',
] as const;
export type MonitoringPrefix = (typeof MONITORING_PREFIXES)[number];

type Row = (typeof OPTION_TABLE)[number];
export type OptionName = Row['name'];

type ValueOfRow<R> = R extends { type: 'enum'; values: readonly (infer V)[] }
  ? V
  : R extends { type: 'string' | 'enum' }
    ? string
    : R extends { type: 'int' | 'number' }
      ? number
      : R extends { type: 'boolean' }
        ? boolean
        : R extends { type: 'string-list' }
          ? readonly string[]
          : R extends { type: 'map' }
            ? Readonly<Record<string, string>>
            : never;

/** Option values as parsed: `T | undefined` for rows without a default. */
export type TableOptions = {
  [R in Row as R['name']]: R extends { default: undefined } ? ValueOfRow<R> | undefined : ValueOfRow<R>;
};

/** The row's maximum expressed in `unit` (the unit of the key the value was given under). */
export function maxIn(row: OptionRow, unit: OptionUnit | undefined = row.unit): number | undefined {
  const max = maxOf(row);
  if (max === undefined) return undefined;
  return unit === 's' && row.unit === 'ms' ? max / 1000 : max;
}

/** Expected-value phrase for error messages, e.g. "a non-negative number of milliseconds". */
export function describeExpected(row: OptionRow, unit: OptionUnit | undefined = row.unit, withMax = false): string {
  const units = unit === 'ms' ? ' of milliseconds' : unit === 's' ? ' of seconds' : '';
  const min = row.min ?? 0;
  const sign =
    min === 0
      ? 'non-negative'
      : min === 1 && row.type === 'int'
        ? 'positive'
        : min > 0 && min < 1
          ? 'positive'
          : `≥ ${min}`;
  const max = withMax ? maxIn(row, unit) : undefined;
  const upTo = max === undefined ? '' : ` up to ${max}`;
  switch (row.type) {
    case 'int':
      return `a ${sign} integer${units}${upTo}`;
    case 'number':
      return `a ${sign} number${units}${upTo}`;
    case 'boolean':
      return "true or false ('true'/'false'/'1'/'0')";
    case 'string':
      return 'a string';
    case 'string-list':
      return 'a comma-separated string or an array of strings';
    case 'map':
      return "an object of strings or a 'key=value,...' string";
    case 'enum':
      return `one of ${(row.values ?? []).map((v) => `'${v}'`).join(', ')}`;
  }
}

function mdCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function formatDefault(value: unknown): string {
  if (value === undefined) return '—';
  if (typeof value === 'string') return value === '' ? "`''`" : `\`${value}\``;
  return `\`${JSON.stringify(value)}\``;
}

const GROUP_TITLES: Readonly<Record<string, string>> = {
  core: 'Core',
  network: 'Network',
  failover: 'Plugins `failover_v2` and `failover`',
  telemetry: 'Telemetry',
};

/** docs/options.md, rendered from OPTION_TABLE (scripts/gen-options-doc.mjs writes it; a test checks it is current). */
export function renderOptionsMarkdown(rows: readonly OptionRow[] = OPTION_TABLE): string {
  const out: string[] = [
    '# Wrapper options',
    '',
    '<!-- Generated by scripts/gen-options-doc.mjs from ts/option-table.ts. Do not edit by hand. -->',
    '',
    'Wrapper options are given in the same object as the driver config (`new Client({ host, user, ..., plugins: "failover" })`),',
    'or as query parameters of a pg `connectionString` / mysql2 `uri` (`postgres://u@host/db?plugins=failover&topologyRefreshMs=5000`).',
    "Names are camelCase; the Python wrapper's snake_case names are accepted as aliases. Options given explicitly override",
    'the same options in the URL. Wrapper options are removed from what the driver sees.',
    '',
    '**Units.** Durations without a unit in their name are milliseconds (`connectTimeout`, `socketTimeout`, `tcpKeepaliveTime`,',
    "`tcpKeepaliveInterval`). Their snake_case aliases keep the Python wrapper's unit, seconds, and are converted",
    '(`connect_timeout: 10` = `connectTimeout: 10000`). Names with a unit suffix keep it (`auxiliaryQueryTimeoutSec`, `topologyRefreshMs`).',
    '',
    '**Values.** Booleans accept `true`/`false` and the strings `"true"`/`"false"`/`"1"`/`"0"` (any case); numbers accept numeric strings.',
    'A wrong value, or an unknown option close to a known name (`topologyRefreshMS`), raises a `ConfigurationError` naming the key.',
    '',
    '**Monitoring connections.** Options prefixed with ' +
      MONITORING_PREFIXES.map((p) => `\`${p}\``).join(', ') +
      ' apply only to',
    'the connections of the matching monitor (e.g. `topology-monitoring-connectTimeout: 2000`); they never reach the driver.',
    '',
  ];
  out.push(renderOptionTables(rows, undefined, '##'));
  out.push(renderRejectedTable(rows));
  return out.join('\n');
}

/** Rules that involve more than one row, the driver in use or settings outside the table (checked where noted). */
export const OTHER_REJECTIONS: readonly { readonly what: string; readonly rejected: string; readonly why: string }[] = [
  {
    what: '`connectionString` (pg), `uri` (mysql2)',
    rejected:
      'an unparsable URL, a port outside 1..65535, several hosts, or an `@` after the first `/`, `?` or `#` (a user name or password with an unencoded `/`, `#`, `?` or `@`; an `@` of the path or query must be written `%40`); the message masks everything between the user name and the last `@`',
    why: 'the URL would name a wrong host or database, or the password would end up in a host or database name; percent-encode those characters (encodeURIComponent)',
  },
  {
    what: '`wrapperDriverDialect`',
    rejected:
      'any value other than the driver of the class in use (`pg` for AwsPGClient / AwsPGPool, `mysql2` for AwsMySQLClient / AwsMySQLPool)',
    why: "the driver dialect is the driver: a client cannot speak another driver's protocol",
  },
  {
    what: '`connectTimeout`, `socketTimeout` (or `monitoring-connectTimeout`, `monitoring-socketTimeout`) with `host_monitoring` / `host_monitoring_v2`',
    rejected: `above ${NATIVE_MAX_MS} ms (checked when the client is created)`,
    why: "they bound the host monitors' probes unless the `monitoring-` ones are set, and the native monitors' limit is one day",
  },
  {
    what: '`failoverReaderHostSelectorStrategy`, `readerHostSelectorStrategy`, `readerInitialConnectionHostSelectorStrategy` (when a plugin using them is loaded)',
    rejected: `a name that is none of ${HOST_SELECTOR_STRATEGIES.map((x) => `\`${x}\``).join(', ')}, \`least_connections\`, \`fastest_response\` and that no loaded plugin accepts (checked when the client is created)`,
    why: 'the strategy would fail at failover or switch time, when the error can only be swallowed',
  },
  {
    what: 'AwsPGPool `connectionTimeoutMillis`, `idleTimeoutMillis`, `maxLifetimeSeconds`; AwsMySQLPool `idleTimeout`',
    rejected: `above ${MAX_TIMER_MS} ms (${MAX_TIMER_MS / 1000} s)`,
    why: TIMER_WHY,
  },
  {
    what: 'any number',
    rejected: '`NaN`, `Infinity`, text that is not a number, a fraction for an integer option',
    why: 'a timer or count cannot use it',
  },
  {
    what: 'any option',
    rejected:
      'the same option twice (camelCase and alias), or an unknown key within two edits of a known name (`topologyRefreshMS`)',
    why: 'one of the two values would be silently ignored',
  },
];

function numberLimits(row: OptionRow): { rejected: string; why: string } | undefined {
  if (row.type !== 'int' && row.type !== 'number') return undefined;
  const unit = row.unit === 'ms' ? ' ms' : row.unit === 's' ? ' s' : '';
  const min = row.min ?? 0;
  const parts = [min === 0 ? 'negative' : `below ${min}${unit}`];
  const why: string[] = [
    row.unit === undefined
      ? min === 0
        ? 'a negative count means nothing'
        : `a count, weight or port is at least ${min}`
      : min === 0
        ? 'a negative time means nothing'
        : 'a zero delay would spin or give up at once (see the description for how to turn it off)',
  ];
  const max = maxOf(row);
  if (max !== undefined) {
    const aliasMax =
      row.aliasUnit === 's' && row.unit === 'ms'
        ? ` (${max / 1000} s under ${row.aliases.map((a) => `\`${a}\``).join(', ')})`
        : '';
    parts.push(`above ${max}${unit}${aliasMax}`);
    why.push(maxWhyOf(row)!);
  }
  if (row.type === 'int') parts.push('not an integer');
  return { rejected: parts.join('; '), why: why.join('; ') };
}

/** docs/options.md's "What is rejected and why": every limit of the table, then the rules checked elsewhere. */
export function renderRejectedTable(rows: readonly OptionRow[] = OPTION_TABLE): string {
  const out: string[] = [
    '## What is rejected and why',
    '',
    'Each of these raises a `ConfigurationError` (code `WRAPPER_CONFIG`, `key` = the option as given) when the client or',
    'pool is created, with the key, what was expected and the value given (secrets masked). Generated from the limits of',
    'the option table, so the table and the checks cannot disagree.',
    '',
    '| Option | Rejected | Why |',
    '|---|---|---|',
  ];
  for (const row of rows) {
    const limits = numberLimits(row);
    if (limits) out.push(`| \`${row.name}\` | ${mdCell(limits.rejected)} | ${mdCell(limits.why)} |`);
    else if (row.type === 'enum')
      out.push(
        `| \`${row.name}\` | anything but ${(row.values ?? []).map((v) => `\`${v}\``).join(', ')} (any case) | other values mean nothing to the wrapper |`,
      );
    else if (row.rejects !== undefined) {
      const [rejected, why] = row.rejects.split(' — ');
      out.push(`| \`${row.name}\` | ${mdCell(rejected)} | ${mdCell(why ?? '—')} |`);
    }
  }
  for (const r of OTHER_REJECTIONS) out.push(`| ${mdCell(r.what)} | ${mdCell(r.rejected)} | ${mdCell(r.why)} |`);
  out.push('');
  return out.join('\n');
}

/** One markdown table per option group (all groups, or the given ones), headed at `level`. */
export function renderOptionTables(
  rows: readonly OptionRow[] = OPTION_TABLE,
  only?: readonly string[],
  level = '##',
): string {
  const out: string[] = [];
  const groups = [...new Set(rows.map((r) => r.group))].filter((g) => only === undefined || only.includes(g));
  for (const group of groups) {
    out.push(`${level} ${GROUP_TITLES[group] ?? `Plugin \`${group}\``}`, '');
    out.push('| Name | Seed alias | Type | Default | Unit | Description |', '|---|---|---|---|---|---|');
    for (const row of rows.filter((r) => r.group === group)) {
      const aliases = row.aliases.map((a) => `\`${a}\`${row.aliasUnit ? ` (${row.aliasUnit})` : ''}`).join(', ') || '—';
      const type = row.type === 'enum' ? (row.values ?? []).map((v) => `\`${v}\``).join(' \\| ') : row.type;
      out.push(
        `| \`${row.name}\` | ${aliases} | ${type} | ${formatDefault(row.default)} | ${row.unit ?? ''} | ${mdCell(row.doc)} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

/** The wrapper-level groups README.md shows; plugin options are in docs/options.md. */
export const README_OPTION_GROUPS: readonly string[] = ['core', 'network'];

/** README.md with its generated options section (between the options-table markers) brought up to date. */
export function renderReadmeOptions(readme: string): string {
  const start = '<!-- options-table:start -->';
  const end = '<!-- options-table:end -->';
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md lacks the ${start} … ${end} markers`);
  const body = `\n<!-- Generated by scripts/gen-options-doc.mjs from ts/option-table.ts. Do not edit by hand. -->\n\n${renderOptionTables(OPTION_TABLE, README_OPTION_GROUPS, '###')}`;
  return readme.slice(0, i + start.length) + body + readme.slice(j);
}
