/**
 * What gdb_failover and gdb_rw share: the application's home region and the region of a topology host. A host's
 * region comes from the `globalClusterInstanceHostPatterns` entry its name matches, else from its RDS name
 * (`<instance>.<id>.<region>.rds.amazonaws.com`).
 */
import { ConfigurationError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import { getRdsRegion, identifyRdsType, isIp, RdsUrlType } from '../rds-utils.js';

/** The configured home region, else the region in the initial host name; ConfigurationError naming `key` if neither. */
export function homeRegionFrom(option: string | undefined, key: string, initial: HostInfo): string {
  if (option !== undefined && option.trim() !== '') return option.trim();
  const region = getRdsRegion(initial.host);
  if (region !== undefined) return region;
  const what =
    identifyRdsType(initial.host) === RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER
      ? 'a global database endpoint, which names no region'
      : isIp(initial.host)
        ? 'an IP address'
        : 'a name without an AWS region';
  throw new ConfigurationError(
    `${key}: required when connecting to '${initial.host}' (${what}): give the home region, e.g. 'us-east-1'`,
    key,
  );
}

/** Per-region host name matchers from `globalClusterInstanceHostPatterns` (already validated by the option parser). */
export function regionMatchers(
  patterns: readonly string[] | string | undefined,
): readonly { readonly region: string; readonly test: RegExp }[] {
  if (patterns === undefined) return [];
  const items = typeof patterns === 'string' ? patterns.split(',') : patterns;
  const out: { region: string; test: RegExp }[] = [];
  for (const raw of items) {
    const item = raw.trim();
    const i = item.indexOf(':');
    if (i <= 0) continue;
    const host = item
      .slice(i + 1)
      .trim()
      .replace(/:\d+$/, '');
    const body = host
      .split('?')
      .map((part) => part.replace(/[.*+^${}()|[\]\\]/g, '\\$&'))
      .join('[^.]+');
    out.push({ region: item.slice(0, i).trim(), test: new RegExp(`^${body}$`, 'i') });
  }
  return out;
}

/** The AWS region of a topology host; undefined when neither a pattern nor its name tells. */
export function regionOfHost(
  host: HostInfo,
  matchers: readonly { readonly region: string; readonly test: RegExp }[],
): string | undefined {
  for (const m of matchers) if (m.test.test(host.host)) return m.region;
  return getRdsRegion(host.host);
}
