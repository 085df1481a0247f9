/**
 * The Aurora Limitless shard group of the lookalike (aurora-pg with `routers: N`): N transaction routers, each a
 * fault-injecting proxy at its own address in front of the cluster's writer, a shard group endpoint
 * (`<name>.shardgrp-<id>…`) that spreads new connections over the routers that accept connections (as its DNS
 * does), and `pg_catalog.aurora_limitless_router_endpoints()` answering each router's DNS name and the load set
 * with `cluster router load` (a table on the writer, so every session sees a change at once).
 * One PostgreSQL server stands behind every router: the lookalike reproduces what a client sees (router list,
 * load, a router that dies or hangs), not sharding.
 */
import pg from 'pg';
import {
  formatAddress,
  freeLoopbackPort,
  routerDnsName,
  ROUTER_OCTET_BASE,
  SHARD_GROUP_OCTET,
  shardGroupDnsName,
  type Address,
} from './names.js';
import { EndpointProxy, InstanceProxy, type Fault } from './proxy.js';

/** Most routers a shard group gets (their addresses must stay below the next cluster's block). */
export const MAX_ROUTERS = 16;

export interface RouterState {
  readonly name: string;
  readonly dnsName: string;
  /** Public address `host:port` of the router. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Load as aurora_limitless_router_endpoints() reports it, 0 (idle) to 1 (saturated). */
  load: number;
  fault: Fault;
  /** Connections the router accepted since the cluster started. */
  accepted: number;
}

export interface ShardGroupState {
  readonly dnsName: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  routers: RouterState[];
}

export interface ShardGroupSetup {
  readonly routers: number;
  readonly clusterName: string;
  readonly clusterId: string;
  readonly region: string;
  readonly addressBlock: string | null;
  readonly publicPort: number;
}

/** Where the shard group's SQL runs: the writer's server, as superuser. */
export interface WriterConnection {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

const INSTALL_SQL = [
  'SET allow_system_table_mods = on',
  `CREATE TABLE IF NOT EXISTS aws_lookalike.limitless_routers (router_endpoint text PRIMARY KEY, load double precision NOT NULL)`,
  `CREATE OR REPLACE FUNCTION pg_catalog.aurora_limitless_router_endpoints()
     RETURNS TABLE (router_endpoint text, load double precision)
     LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
     AS $$ SELECT router_endpoint, load FROM aws_lookalike.limitless_routers ORDER BY router_endpoint $$`,
  'GRANT EXECUTE ON FUNCTION pg_catalog.aurora_limitless_router_endpoints() TO PUBLIC',
];

export function checkLoad(load: unknown): number {
  if (typeof load !== 'number' || !Number.isFinite(load) || load < 0 || load > 1) {
    throw new RangeError(`router load must be a number from 0 (idle) to 1 (saturated), got ${String(load)}`);
  }
  return load;
}

export class ShardGroup {
  private readonly proxies = new Map<string, InstanceProxy>();
  private endpoint!: EndpointProxy;

  private constructor(
    readonly state: ShardGroupState,
    private readonly writer: WriterConnection,
  ) {}

  /** Makes the addresses and names of a shard group (nothing listens yet). */
  static async plan(setup: ShardGroupSetup): Promise<ShardGroupState> {
    if (!Number.isInteger(setup.routers) || setup.routers < 1 || setup.routers > MAX_ROUTERS) {
      throw new Error(`routers must be an integer from 1 to ${MAX_ROUTERS}, got ${String(setup.routers)}`);
    }
    const at = async (octet: number): Promise<Address> =>
      setup.addressBlock
        ? { host: `${setup.addressBlock}.${octet}`, port: setup.publicPort }
        : { host: '127.0.0.1', port: await freeLoopbackPort() };
    const routers: RouterState[] = [];
    for (let i = 1; i <= setup.routers; i++) {
      const a = await at(ROUTER_OCTET_BASE + i);
      const name = `router-${i}`;
      routers.push({
        name,
        dnsName: routerDnsName(name, setup.clusterId, setup.region),
        address: formatAddress(a),
        host: a.host,
        port: a.port,
        load: 0,
        fault: 'none',
        accepted: 0,
      });
    }
    const e = await at(SHARD_GROUP_OCTET);
    return {
      dnsName: shardGroupDnsName(setup.clusterName, setup.clusterId, setup.region),
      address: formatAddress(e),
      host: e.host,
      port: e.port,
      routers,
    };
  }

  /** Installs the router function on the writer and starts the routers and the shard group endpoint. */
  static async start(state: ShardGroupState, writer: WriterConnection): Promise<ShardGroup> {
    const group = new ShardGroup(state, writer);
    await group.sql(async (c) => {
      for (const sql of INSTALL_SQL) await c.query(sql);
      await c.query('DELETE FROM aws_lookalike.limitless_routers');
      for (const r of state.routers)
        await c.query('INSERT INTO aws_lookalike.limitless_routers VALUES ($1, $2)', [r.dnsName, r.load]);
    });
    const upstream = { host: '127.0.0.1', port: writer.port };
    for (const r of state.routers) {
      const proxy = new InstanceProxy(r.name, { host: r.host, port: r.port }, upstream);
      group.proxies.set(r.name, proxy);
      await proxy.setServerUp(true);
    }
    group.endpoint = new EndpointProxy('shard-group-endpoint', { host: state.host, port: state.port });
    await group.endpoint.start([]);
    group.retarget();
    return group;
  }

  private async sql(fn: (c: pg.Client) => Promise<void>): Promise<void> {
    const c = new pg.Client({
      host: '127.0.0.1',
      ...this.writer,
      application_name: 'lookalike-supervisor',
      connectionTimeoutMillis: 10_000,
    });
    c.on('error', () => {});
    await c.connect();
    try {
      await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  }

  router(name: unknown): RouterState {
    const r = this.state.routers.find((x) => x.name === name || x.dnsName === name);
    if (!r)
      throw new RangeError(
        `no router '${String(name)}' in the shard group (routers: ${this.state.routers.map((x) => x.name).join(', ')})`,
      );
    return r;
  }

  /** The shard group endpoint, like its DNS, leads only to routers that accept connections. */
  private retarget(): void {
    const up = this.state.routers.filter((r) => r.fault !== 'kill');
    this.endpoint.retarget(
      up.map((r) => ({ host: r.host, port: r.port })),
      0,
    );
  }

  /** Connections accepted so far are copied into the state (for status). */
  refreshCounts(): void {
    for (const r of this.state.routers) r.accepted = this.proxies.get(r.name)?.accepted ?? r.accepted;
  }

  async kill(name: unknown): Promise<RouterState> {
    const r = this.router(name);
    await this.proxies.get(r.name)!.kill();
    r.fault = 'kill';
    this.retarget();
    return r;
  }

  async hang(name: unknown): Promise<RouterState> {
    const r = this.router(name);
    await this.proxies.get(r.name)!.hang();
    r.fault = 'hang';
    return r;
  }

  /** Clears the faults of one router, or all. */
  async heal(name?: unknown): Promise<RouterState[]> {
    const targets = name === undefined || name === null ? this.state.routers : [this.router(name)];
    for (const r of targets) {
      await this.proxies.get(r.name)!.heal();
      r.fault = 'none';
    }
    this.retarget();
    return targets;
  }

  /** Sets the load aurora_limitless_router_endpoints() reports for a router (0 to 1). */
  async setLoad(name: unknown, load: unknown): Promise<RouterState> {
    const r = this.router(name);
    const value = checkLoad(load);
    await this.sql(async (c) => {
      await c.query('UPDATE aws_lookalike.limitless_routers SET load = $2 WHERE router_endpoint = $1', [
        r.dnsName,
        value,
      ]);
    });
    r.load = value;
    return r;
  }

  close(): void {
    for (const p of this.proxies.values()) p.close();
    this.endpoint?.close();
  }
}
