/**
 * Where the hosts of a topology live (the instance template) and which shared cache a client uses (the cluster id).
 *
 * Instance template: the `clusterInstanceHostPattern` option (`?.my-domain.example[:port]`), or `?.<domain>` taken
 * from an RDS initial host name. Cluster id: the `clusterId` option, or derived so that two clusters never share
 * a cache by accident (Python defaults every client to "1"): the writer cluster DNS for writer/reader cluster
 * endpoints (so both share one cache), the endpoint itself for other cluster-like endpoints, and the initial
 * `host[:port]` for instance, proxy, IP and custom names.
 */
import { HostInfo } from '../host-info.js';
import { ConfigurationError } from '../errors.js';
import { getRdsClusterHostUrl, getRdsInstanceHostPattern, identifyRdsType, isIp, RdsUrlType } from '../rds-utils.js';
import { hostPatternProblem } from '../option-table.js';

export interface InstanceTemplate {
  /** Host with `?` standing for the instance id; port = explicit pattern port, else the initial host's port. */
  readonly host: HostInfo;
  /** The pattern gave a port (it then wins over ports reported by Multi-AZ topology rows). */
  readonly explicitPort: boolean;
}

/**
 * Validates a `host[:port]` instance pattern with the option parser's rule (hostPatternProblem): contains `?`, a
 * host name pattern, an optional port in 1..65535, not a proxy or custom-cluster name.
 */
export function validateClusterInstanceHostPattern(
  pattern: string,
  key = 'clusterInstanceHostPattern',
): { host: string; port: number | undefined } {
  const problem = typeof pattern === 'string' ? hostPatternProblem(pattern) : 'a host pattern string';
  if (problem !== undefined)
    throw new ConfigurationError(`Option '${key}' expects ${problem}, got '${String(pattern)}'`, key);
  const m = /^(.*?)(?::(\d+))?$/.exec(pattern.trim())!;
  return { host: m[1], port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** The instance template for a client whose initial host is `initial`; ConfigurationError when none can be found. */
export function instanceTemplateFor(initial: HostInfo, pattern: string | undefined): InstanceTemplate {
  if (pattern !== undefined && pattern !== '') {
    const { host, port } = validateClusterInstanceHostPattern(pattern);
    return { host: new HostInfo({ host, port: port ?? initial.port }), explicitPort: port !== undefined };
  }
  const derived = getRdsInstanceHostPattern(initial.host);
  if (derived === '?' || isIp(initial.host)) {
    throw new ConfigurationError(
      `clusterInstanceHostPattern: required when connecting to '${initial.host}' (an IP address or a non-RDS name): ` +
        `give the pattern instance host names follow, e.g. '?.my-cluster.example.com[:port]'`,
      'clusterInstanceHostPattern',
    );
  }
  return { host: new HostInfo({ host: derived, port: initial.port }), explicitPort: false };
}

/** Parses `globalClusterInstanceHostPatterns` (`region:host[:port]` items, or one comma-separated string) into validated per-region templates. */
export function parseGlobalClusterInstanceHostPatterns(value: unknown, initial: HostInfo): Map<string, HostInfo> {
  const key = 'globalClusterInstanceHostPatterns';
  // The option parser gives a string list; a comma-separated string is accepted as well.
  const items =
    Array.isArray(value) && value.every((v) => typeof v === 'string')
      ? value
      : typeof value === 'string'
        ? value.split(',')
        : undefined;
  if (items === undefined || items.every((s) => s.trim() === ''))
    throw new ConfigurationError(`${key}: expected 'region:?.domain[:port],...'`, key);
  const out = new Map<string, HostInfo>();
  for (const item of items.map((s) => s.trim()).filter(Boolean)) {
    const i = item.indexOf(':');
    if (i <= 0) throw new ConfigurationError(`${key}: '${item}' must be 'region:host-pattern[:port]'`, key);
    const region = item.slice(0, i).trim();
    const { host, port } = validateClusterInstanceHostPattern(item.slice(i + 1), key);
    if (out.has(region)) throw new ConfigurationError(`${key}: region '${region}' is listed twice`, key);
    out.set(region, new HostInfo({ host, port: port ?? initial.port }));
  }
  return out;
}

/** The cache key of the cluster a client whose initial host is `initial` belongs to (see module comment). */
export function deriveClusterId(initial: HostInfo, option: string | undefined): string {
  if (option !== undefined && option.trim() !== '') return option.trim();
  const clusterUrl = getRdsClusterHostUrl(initial.host);
  if (clusterUrl) return clusterUrl.toLowerCase();
  const type = identifyRdsType(initial.host);
  if (type === RdsUrlType.RDS_CUSTOM_CLUSTER || type === RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER)
    return initial.host.toLowerCase();
  return initial.hostAndPort.toLowerCase();
}
