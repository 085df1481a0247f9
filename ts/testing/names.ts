/**
 * RDS-shaped names for the lookalike cluster: cluster ids, instance / endpoint DNS names, resource ids, and the
 * loopback addresses that stand in for them.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';

export const DEFAULT_REGION = 'us-east-1';
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A 12-character lower-case id like the one in real RDS endpoint names (`xyz123abc456`). */
export function newClusterId(): string {
  const bytes = randomBytes(12);
  let id = '';
  for (const b of bytes) id += ALNUM[b % ALNUM.length];
  // RDS ids never start with a digit; keep the first character a letter.
  return ALNUM[bytes[0] % 26] + id.slice(1);
}

export function assertClusterId(id: string): void {
  if (!/^[a-z][a-z0-9]{2,62}$/.test(id)) {
    throw new Error(
      `clusterId '${id}' is invalid: expected a lower-case letter followed by 2-62 lower-case letters or digits`,
    );
  }
}

export function assertClusterName(name: string): void {
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
    throw new Error(
      `cluster name '${name}' is invalid: expected a lower-case letter followed by lower-case letters, digits or '-'`,
    );
  }
}

export function instanceDnsName(instance: string, clusterId: string, region = DEFAULT_REGION): string {
  return `${instance}.${clusterId}.${region}.rds.amazonaws.com`;
}

export function writerEndpointDnsName(clusterName: string, clusterId: string, region = DEFAULT_REGION): string {
  return `${clusterName}.cluster-${clusterId}.${region}.rds.amazonaws.com`;
}

export function readerEndpointDnsName(clusterName: string, clusterId: string, region = DEFAULT_REGION): string {
  return `${clusterName}.cluster-ro-${clusterId}.${region}.rds.amazonaws.com`;
}

export function customEndpointDnsName(endpointName: string, clusterId: string, region = DEFAULT_REGION): string {
  return `${endpointName}.cluster-custom-${clusterId}.${region}.rds.amazonaws.com`;
}

/** RDS endpoint identifiers: a letter, then letters, digits and single hyphens, at most 63, no trailing hyphen. */
export function assertEndpointName(name: string): void {
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(name) || name.includes('--') || name.endsWith('-')) {
    throw new Error(
      `custom endpoint name '${name}' is invalid: expected a lower-case letter followed by up to 62 lower-case letters, digits or single hyphens, not ending with a hyphen`,
    );
  }
}

/** Aurora Limitless shard group endpoint, e.g. `lookalike.shardgrp-abc123xyz456.us-east-1.rds.amazonaws.com`. */
export function shardGroupDnsName(clusterName: string, clusterId: string, region = DEFAULT_REGION): string {
  return `${clusterName}.shardgrp-${clusterId}.${region}.rds.amazonaws.com`;
}

/** DNS name of a Limitless transaction router, as aurora_limitless_router_endpoints() reports it. */
export function routerDnsName(router: string, clusterId: string, region = DEFAULT_REGION): string {
  return `${router}.${clusterId}.${region}.rds.amazonaws.com`;
}

/** The wrapper's `clusterInstanceHostPattern` for this cluster. */
export function instanceHostPattern(clusterId: string, region = DEFAULT_REGION): string {
  return `?.${clusterId}.${region}.rds.amazonaws.com`;
}

/** A stable `db-` + 26 upper-case characters id, as RDS DbiResourceIds look. */
export function resourceIdFor(clusterId: string, instance: string): string {
  const digest = createHash('sha256').update(`${clusterId}/${instance}`).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let out = '';
  for (let i = 0; i < 26; i++) out += alphabet[digest[i] % alphabet.length];
  return `db-${out}`;
}

export interface Address {
  readonly host: string;
  readonly port: number;
}

export function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Host octets of the per-cluster address block: instances use .1-.199, endpoints .200 and up. */
export const WRITER_ENDPOINT_OCTET = 200;
export const READER_ENDPOINT_OCTET = 201;
/** Green (Blue/Green copy) cluster endpoints. */
export const GREEN_WRITER_ENDPOINT_OCTET = 202;
export const GREEN_READER_ENDPOINT_OCTET = 203;
/** The `global-` writer endpoint of a global database, in the address block of the region that serves it. */
export const GLOBAL_ENDPOINT_OCTET = 204;
/** The Limitless shard group endpoint. */
export const SHARD_GROUP_OCTET = 205;
/** Limitless router N (1-16) listens on .(ROUTER_OCTET_BASE + N). */
export const ROUTER_OCTET_BASE = 210;
/** Custom endpoints take .230 to .254. */
export const FIRST_CUSTOM_ENDPOINT_OCTET = 230;

export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1';
}

/** Resolves when `address` can be bound (then released), rejects with the bind error otherwise. */
export function probeBind(address: Address): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: address.host, port: address.port, exclusive: true }, () => srv.close(() => resolve()));
  });
}

/**
 * A port for a server started later. Drawn below Linux's ephemeral range (32768+), so an outgoing connection made in
 * the meantime cannot take it, and never handed out twice by this process (a port is free again once its probe
 * closes, so two back-to-back probes on port 0 could return the same one).
 */
export async function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + randomInt(12_000);
    if (handedOut.has(port)) continue;
    try {
      await probeBind({ host, port });
    } catch {
      continue;
    }
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in 20000..31999 on ${host} after 100 tries`);
}

/** Ports freeLoopbackPort returned in this process. */
const handedOut = new Set<number>();

/**
 * Picks a 127.X.Y.0/24 block whose first address can take `port` (the flavour's real port), so every instance and
 * endpoint keeps the real port on its own address. Returns null where only 127.0.0.1 is configured (macOS without
 * aliases): the caller then falls back to 127.0.0.1 with one port per instance.
 */
export async function pickAddressBlock(port: number): Promise<string | null> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const b = randomBytes(2);
    // Stay clear of 127.0.0.x and 127.0.1.x (Debian maps the host name to 127.0.1.1).
    const block = `127.${10 + (b[0] % 240)}.${b[1]}`;
    try {
      await probeBind({ host: `${block}.1`, port });
      await probeBind({ host: `${block}.${WRITER_ENDPOINT_OCTET}`, port });
      return block;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRNOTAVAIL') return null;
      if (code === 'EACCES') return null; // privileged port without the right to bind it
      // EADDRINUSE: another cluster took this block; try another.
    }
  }
  return null;
}

/** Green instance octets: blue instance k lives at .k, its green copy at .(GREEN_INSTANCE_OCTET + k). */
export const GREEN_INSTANCE_OCTET = 100;

/** A 6-character suffix like the one RDS gives green resources (`-green-abc123`). */
export function newGreenSuffix(): string {
  const bytes = randomBytes(6);
  let s = '';
  for (const b of bytes) s += ALNUM[b % ALNUM.length];
  return s;
}

export function assertGreenSuffix(suffix: string): void {
  if (!/^[a-z0-9]{6}$/.test(suffix))
    throw new Error(`Blue/Green suffix '${suffix}' is invalid: expected 6 lower-case letters or digits`);
}

/** `instance-1` → `instance-1-green-abc123`; the same for a cluster name. */
export function greenName(name: string, suffix: string): string {
  return `${name}-green-${suffix}`;
}

/** What RDS renames the blue resources to after a switchover: `instance-1` → `instance-1-old1`. */
export function oldName(name: string): string {
  return `${name}-old1`;
}
