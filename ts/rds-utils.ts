/**
 * Recognition of Amazon RDS / Aurora DNS names: which kind of endpoint a host is, its region,
 * cluster or instance name, and the `?.<domain>` pattern from which instance host names are built.
 *
 * Endpoint shapes (values in <> depend on the cluster; <xyz> is the account/region-specific DNS id):
 *   writer cluster   <cluster>.cluster-<xyz>.<region>.rds.amazonaws.com
 *   reader cluster   <cluster>.cluster-ro-<xyz>.<region>.rds.amazonaws.com
 *   custom cluster   <alias>.cluster-custom-<xyz>.<region>.rds.amazonaws.com
 *   proxy            <proxy>.proxy-<xyz>.<region>.rds.amazonaws.com
 *   limitless        <shard-group>.shardgrp-<xyz>.<region>.rds.amazonaws.com
 *   global writer    <global-db>.global-<xyz>.global.rds.amazonaws.com
 *   instance         <instance>.<xyz>.<region>.rds.amazonaws.com
 *   China            <name>.[prefix]<xyz>.rds.<region>.amazonaws.com.cn  (old form: .<region>.rds.amazonaws.com.cn)
 *   GovCloud/ISO     <name>.[prefix]<xyz>.rds.<region>.(amazonaws.com | c2s.ic.gov | sc2s.sgov.gov)
 * Blue/Green deployments rename instances to `<name>-green-<6 chars>` (new) and `<name>-old1` (retired).
 *
 * Matching is case-insensitive and tolerates a trailing dot (fully qualified names); returned parts keep the
 * caller's spelling. Plain functions with no cache: a match is a handful of anchored regex tests.
 */
import { isIPv4 as netIsIPv4, isIPv6 as netIsIPv6 } from 'node:net';

export enum RdsUrlType {
  IP_ADDRESS = 'IP_ADDRESS',
  RDS_WRITER_CLUSTER = 'RDS_WRITER_CLUSTER',
  RDS_READER_CLUSTER = 'RDS_READER_CLUSTER',
  RDS_CUSTOM_CLUSTER = 'RDS_CUSTOM_CLUSTER',
  RDS_PROXY = 'RDS_PROXY',
  RDS_INSTANCE = 'RDS_INSTANCE',
  RDS_AURORA_LIMITLESS_DB_SHARD_GROUP = 'RDS_AURORA_LIMITLESS_DB_SHARD_GROUP',
  RDS_GLOBAL_WRITER_CLUSTER = 'RDS_GLOBAL_WRITER_CLUSTER',
  OTHER = 'OTHER',
}

/** Per-type flags of the Python wrapper's RdsUrlType: is an RDS name, is a cluster endpoint, carries a region. */
export const RDS_URL_TYPE_TRAITS: Readonly<
  Record<RdsUrlType, { readonly isRds: boolean; readonly isRdsCluster: boolean; readonly hasRegion: boolean }>
> = {
  [RdsUrlType.IP_ADDRESS]: { isRds: false, isRdsCluster: false, hasRegion: false },
  [RdsUrlType.RDS_WRITER_CLUSTER]: { isRds: true, isRdsCluster: true, hasRegion: true },
  [RdsUrlType.RDS_READER_CLUSTER]: { isRds: true, isRdsCluster: true, hasRegion: true },
  [RdsUrlType.RDS_CUSTOM_CLUSTER]: { isRds: true, isRdsCluster: true, hasRegion: true },
  [RdsUrlType.RDS_PROXY]: { isRds: true, isRdsCluster: false, hasRegion: true },
  [RdsUrlType.RDS_INSTANCE]: { isRds: true, isRdsCluster: false, hasRegion: true },
  [RdsUrlType.RDS_AURORA_LIMITLESS_DB_SHARD_GROUP]: { isRds: true, isRdsCluster: false, hasRegion: true },
  [RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER]: { isRds: true, isRdsCluster: true, hasRegion: false },
  [RdsUrlType.OTHER]: { isRds: false, isRdsCluster: false, hasRegion: false },
};

type DnsPrefix = 'cluster-' | 'cluster-ro-' | 'cluster-custom-' | 'proxy-' | 'shardgrp-' | 'global-';

interface RdsHostParts {
  /** The label(s) before the DNS id: instance name, or cluster/proxy/shard-group name when a prefix is present. */
  readonly name: string;
  /** Lower-cased endpoint prefix, undefined for an instance name. */
  readonly prefix: DnsPrefix | undefined;
  /** `<xyz>.<region>.rds.amazonaws.com` etc.: what follows the prefix. */
  readonly domain: string;
  readonly region: string;
}

const PREFIX = '(?<prefix>proxy-|cluster-|cluster-ro-|cluster-custom-|shardgrp-|global-)?';
const RDS_HOST_PATTERNS: readonly RegExp[] = [
  // Commercial regions.
  new RegExp(`^(?<name>.+)\\.${PREFIX}(?<domain>[a-z0-9]+\\.(?<region>[a-z0-9-]+)\\.rds\\.amazonaws\\.com)$`, 'i'),
  // China, current form.
  new RegExp(`^(?<name>.+)\\.${PREFIX}(?<domain>[a-z0-9]+\\.rds\\.(?<region>[a-z0-9-]+)\\.amazonaws\\.com\\.cn)$`, 'i'),
  // China, old form.
  new RegExp(`^(?<name>.+)\\.${PREFIX}(?<domain>[a-z0-9]+\\.(?<region>[a-z0-9-]+)\\.rds\\.amazonaws\\.com\\.cn)$`, 'i'),
  // GovCloud and isolated regions.
  new RegExp(
    `^(?<name>.+)\\.${PREFIX}(?<domain>[a-z0-9]+\\.rds\\.(?<region>[a-z0-9-]+)\\.(?:amazonaws\\.com|c2s\\.ic\\.gov|sc2s\\.sgov\\.gov))$`,
    'i',
  ),
];
const ELB_PATTERN = /^(?<name>.+)\.elb\.(?<region>[a-z0-9-]+)\.amazonaws\.com$/i;
const BG_GREEN_HOST_PATTERN = /-green-[0-9a-z]{6}\./i;
const BG_GREEN_ID_PATTERN = /^(.*)-green-[0-9a-z]{6}$/i;
const BG_OLD_HOST_PATTERN = /-old1\./i;
const BG_OLD_ID_PATTERN = /-old1$/i;

/** Host without a trailing dot and, for IPv6 literals, without brackets. */
function normalize(host: string | undefined | null): string {
  if (!host) return '';
  let h = host.trim();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h;
}

function parseRdsHost(host: string): RdsHostParts | undefined {
  const h = normalize(host);
  if (!h) return undefined;
  for (const pattern of RDS_HOST_PATTERNS) {
    const groups = pattern.exec(h)?.groups;
    if (groups) {
      return {
        name: groups.name,
        prefix: groups.prefix ? (groups.prefix.toLowerCase() as DnsPrefix) : undefined,
        domain: groups.domain,
        region: groups.region,
      };
    }
  }
  return undefined;
}

function hasPrefix(host: string, prefix: DnsPrefix): boolean {
  return parseRdsHost(host)?.prefix === prefix;
}

export function isIPv4(host: string): boolean {
  return netIsIPv4(normalize(host));
}

/** Full and compressed forms; brackets (`[::1]`) are accepted. */
export function isIPv6(host: string): boolean {
  return netIsIPv6(normalize(host));
}

export function isIp(host: string): boolean {
  return isIPv4(host) || isIPv6(host);
}

/** Any RDS DNS name: instance, any cluster endpoint, proxy, shard group or global writer. */
export function isRdsDns(host: string): boolean {
  return parseRdsHost(host) !== undefined;
}

/** Writer or reader cluster endpoint (`cluster-`, `cluster-ro-`); custom endpoints are not, see isCustomClusterDns. */
export function isRdsClusterDns(host: string): boolean {
  const prefix = parseRdsHost(host)?.prefix;
  return prefix === 'cluster-' || prefix === 'cluster-ro-';
}

export function isWriterClusterDns(host: string): boolean {
  return hasPrefix(host, 'cluster-');
}

export function isReaderClusterDns(host: string): boolean {
  return hasPrefix(host, 'cluster-ro-');
}

export function isCustomClusterDns(host: string): boolean {
  return hasPrefix(host, 'cluster-custom-');
}

export function isProxyDns(host: string): boolean {
  return hasPrefix(host, 'proxy-');
}

export function isLimitlessShardGroupDns(host: string): boolean {
  return hasPrefix(host, 'shardgrp-');
}

export function isGlobalDbWriterClusterDns(host: string): boolean {
  return hasPrefix(host, 'global-');
}

/** An RDS instance endpoint: RDS DNS without an endpoint prefix. */
export function isRdsInstance(host: string): boolean {
  const parts = parseRdsHost(host);
  return parts !== undefined && parts.prefix === undefined;
}

export function identifyRdsType(host: string): RdsUrlType {
  if (!normalize(host)) return RdsUrlType.OTHER;
  if (isIp(host)) return RdsUrlType.IP_ADDRESS;
  const parts = parseRdsHost(host);
  if (!parts) return RdsUrlType.OTHER; // ELB and custom DNS names included
  switch (parts.prefix) {
    case 'global-':
      return RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER;
    case 'cluster-':
      return RdsUrlType.RDS_WRITER_CLUSTER;
    case 'cluster-ro-':
      return RdsUrlType.RDS_READER_CLUSTER;
    case 'shardgrp-':
      return RdsUrlType.RDS_AURORA_LIMITLESS_DB_SHARD_GROUP;
    case 'cluster-custom-':
      return RdsUrlType.RDS_CUSTOM_CLUSTER;
    case 'proxy-':
      return RdsUrlType.RDS_PROXY;
    case undefined:
      return RdsUrlType.RDS_INSTANCE;
  }
}

/** `?.<domain>` — the template instance host names of this cluster follow; `?` when the host is not RDS DNS. */
export function getRdsInstanceHostPattern(host: string): string {
  const parts = parseRdsHost(host);
  return parts ? `?.${parts.domain}` : '?';
}

/** AWS region of an RDS (or ELB) name; undefined for global writer endpoints, which have none. */
export function getRdsRegion(host: string): string | undefined {
  const parts = parseRdsHost(host);
  if (parts) return parts.prefix === 'global-' ? undefined : parts.region;
  return ELB_PATTERN.exec(normalize(host))?.groups?.region;
}

/** The cluster / proxy / shard-group / global database name of an endpoint; undefined for instance names. */
export function getRdsClusterId(host: string): string | undefined {
  const parts = parseRdsHost(host);
  return parts?.prefix !== undefined ? parts.name : undefined;
}

/** The instance name of an RDS instance endpoint; undefined for endpoints with a prefix and non-RDS names. */
export function getRdsInstanceId(host: string): string | undefined {
  const parts = parseRdsHost(host);
  return parts && parts.prefix === undefined ? parts.name : undefined;
}

/**
 * The writer cluster endpoint for a writer or reader cluster endpoint (`<name>.cluster-<domain>`), the shard-group
 * endpoint itself for a limitless shard group (`<name>.shardgrp-<domain>`); undefined for anything else.
 */
export function getRdsClusterHostUrl(host: string): string | undefined {
  const parts = parseRdsHost(host);
  if (!parts) return undefined;
  if (parts.prefix === 'cluster-' || parts.prefix === 'cluster-ro-') return `${parts.name}.cluster-${parts.domain}`;
  if (parts.prefix === 'shardgrp-') return `${parts.name}.shardgrp-${parts.domain}`;
  return undefined;
}

/** Blue/Green: a green (new) instance, named `<name>-green-<6 chars>`; accepts a host name or a bare instance id. */
export function isGreenInstance(host: string): boolean {
  const h = normalize(host);
  return BG_GREEN_HOST_PATTERN.test(h) || BG_GREEN_ID_PATTERN.test(h);
}

/** Blue/Green: a retired blue instance after switchover, named `<name>-old1`. */
export function isOldInstance(host: string): boolean {
  const h = normalize(host);
  return BG_OLD_HOST_PATTERN.test(h) || BG_OLD_ID_PATTERN.test(h);
}

export function isNotOldInstance(host: string): boolean {
  return !isOldInstance(host);
}

/** `db-1-green-abc123.xyz.us-east-1.rds.amazonaws.com` → `db-1.xyz.us-east-1.rds.amazonaws.com`; `db-1-green-abc123` → `db-1`. */
export function removeGreenInstancePrefix(host: string): string {
  if (!host) return host;
  const withDot = /-green-[0-9a-z]{6}\./i.exec(host);
  if (withDot) return host.slice(0, withDot.index) + host.slice(withDot.index + withDot[0].length - 1);
  const id = BG_GREEN_ID_PATTERN.exec(host);
  return id ? id[1] : host;
}
