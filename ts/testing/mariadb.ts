/**
 * MariaDB engine of the lookalike cluster, for the flavours `aurora-mysql`, `multi-az-mysql` and `mysql`
 * (contract: ./engine.ts). One mariadbd per instance on an internal 127.0.0.1 port; GTID replication of the
 * readers from the writer (semi-synchronous, AFTER_SYNC, for the HA flavours so acknowledged commits survive a
 * failover); readers run read_only=1 and the wrapper's user lacks READ_ONLY ADMIN, so writes there fail as on
 * RDS. In front of every mariadbd, on `InstanceSpec.port`, `serve()` runs a MySQL-protocol front that answers
 * what MariaDB cannot (Aurora's variables and replica_host_status, version_comment) — see mariadb-metadata.ts.
 * The front does not offer TLS or protocol compression.
 *
 * State lives on disk so any process can drive the cluster: `<ctx.dir>/mariadb-cluster.json` (flavour, current
 * writer, every instance) and per instance `<dataDir>/lookalike.json` (internal port) + `<dataDir>/data`.
 * `serve()` watches the cluster file, so instances added later get their front without a restart.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Engine, EngineContext, GlobalDocument, InstanceSpec, TopologySnapshot } from './engine.js';
import { MysqlFront } from './aurora-mysql-front.js';
import {
  AURORA_SCHEMA,
  createMetadata,
  frontRules,
  isMysqlFlavour,
  RDS_TOPOLOGY_DDL,
  reportHost,
  usesSemiSync,
  writeBlueGreenRows,
  writeTopology,
  type MysqlFlavour,
  type TopologyTarget,
} from './mariadb-metadata.js';
import type { BlueGreenRow } from './state.js';
import {
  delay,
  initDataDir,
  templateDirFor,
  instanceFiles,
  internalPort,
  isServerRunning,
  startServer,
  stopServer,
  withAdmin,
  type MariaDbStartOptions,
} from './mariadb-process.js';
import {
  binlogState,
  createReplicationUser,
  querySecret,
  currentPos,
  replicaStatus,
  drainRelayLog,
  gtidSeq,
  hasDiverged,
  replicateFrom,
  waitApplied,
  waitSemiSyncActive,
} from './mariadb-replication.js';
import { createSqlRewriter } from './mariadb-sql-rewrite.js';

const STATE_FILE = 'mariadb-cluster.json';
const SERVE_MARKER = 'mariadb-serve.json';

interface ClusterState {
  flavour: MysqlFlavour;
  writer: string;
  replicationPassword: string;
  instances: InstanceSpec[];
  /** Schema of the Aurora metadata (a Blue/Green copy has its own; default AURORA_SCHEMA). */
  metadataSchema?: string;
  /** `mysql` playing RDS for MySQL (set when a Blue/Green deployment is made). */
  rds?: boolean;
  /**
   * A region of a global database: whether it is a secondary one (its writer replicates from the primary
   * region's) and the GTID domain of its own metadata writes while it is.
   */
  globalRegion?: { secondary: boolean; gtidDomain: number };
  /** Global database: the view the fronts answer the global status tables from. */
  globalView?: GlobalDocument;
}

/** The services `serve()` runs: one front per instance of the cluster. */
export interface MariaDbFronts {
  close(): Promise<void>;
  /** Re-reads the cluster's instance list now (it is also re-read whenever the cluster file changes). */
  refresh(): Promise<void>;
  /** Instance name → port the front listens on. */
  listening(): ReadonlyMap<string, number>;
}

/** The MariaDB engine as its users see it: `serve()` returns the fronts (an `Engine &` intersection would not). */
export interface MariaDbServingEngine extends Engine {
  serve(ctx: EngineContext, instances: readonly InstanceSpec[]): Promise<MariaDbFronts>;
}

export function createMariaDbEngine(): MariaDbServingEngine {
  return new MariaDbEngine();
}

class MariaDbEngine implements Engine {
  /** The fronts this engine serves (in the supervisor), refreshed at once when the global view changes. */
  private fronts: MariaDbFronts | undefined;

  async create(ctx: EngineContext, instances: readonly InstanceSpec[], upstream?: InstanceSpec): Promise<void> {
    const flavour = checkContext(ctx);
    checkInstances(instances);
    if (existsSync(statePath(ctx)))
      throw new Error(`MariaDB cluster ${ctx.clusterId} already exists (${statePath(ctx)})`);
    if (upstream !== undefined) return this.createSecondary(ctx, flavour, instances, upstream);
    const [writer, ...readers] = instances as [InstanceSpec, ...InstanceSpec[]];
    const state: ClusterState = {
      flavour,
      writer: writer.name,
      replicationPassword: randomBytes(18).toString('base64url'),
      instances: instances.map(plainSpec),
    };
    saveState(ctx, state);
    for (const spec of instances) await internalPort(spec);
    try {
      ctx.log(`mariadb: initialising ${instances.length} instance(s)`);
      const template = await templateDirFor();
      await initDataDir(writer, template); // creates the template the others copy, if it is missing
      await settleAll(readers.map((spec) => initDataDir(spec, template)));
      await settleAll(instances.map((spec, i) => startServer(spec, startOptions(flavour, spec, i > 0))));
      await withAdmin(writer, async (conn) => {
        await createReplicationUser(conn, state.replicationPassword);
        await querySecret(conn, 'CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [ctx.user, '%', ctx.password]);
        await conn.query('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [ctx.user, '%']);
        // Without READ_ONLY ADMIN the user's writes on a read_only reader fail, as on RDS.
        await conn.query('REVOKE READ_ONLY ADMIN ON *.* FROM ?@?', [ctx.user, '%']);
        await conn.query(`CREATE DATABASE IF NOT EXISTS ${conn.escapeId(ctx.database)}`);
        await createMetadata(conn, flavour);
        await writeTopology(conn, flavour, { writer, readers }, ctx.publicPort);
      });
      await Promise.all(readers.map((spec) => this.attach(ctx, state, spec, writer, false)));
      await this.waitCaughtUp(writer, readers);
      if (usesSemiSync(flavour) && readers.length > 0 && !(await waitSemiSyncActive(writer))) {
        ctx.log(`mariadb: semi-sync replication on ${writer.name} did not become active`);
      }
    } catch (err) {
      // Leave nothing running behind a failed create.
      await Promise.allSettled(instances.map((spec) => stopServer(spec, 'immediate')));
      throw err;
    }
    ctx.log(`mariadb: ${flavour} cluster up, writer ${writer.name}`);
  }

  async start(ctx: EngineContext, instance: InstanceSpec): Promise<void> {
    const state = loadState(ctx);
    checkKnown(state, instance);
    if (isServerRunning(instance)) return;
    const isWriter = state.writer === instance.name;
    if (!existsSync(path.join(instanceFiles(instance).datadir, 'mysql'))) {
      if (isWriter)
        throw new Error(`writer ${instance.name} has no data directory (${instanceFiles(instance).datadir})`);
      await initDataDir(instance, await templateDirFor());
    }
    await startServer(instance, startOptions(state.flavour, instance, !isWriter));
    if (!isWriter) await this.attach(ctx, state, instance, specOf(state, state.writer), true);
    ctx.log(`mariadb: started ${instance.name} as ${isWriter ? 'writer' : 'reader'}`);
  }

  async stop(ctx: EngineContext, instance: InstanceSpec, mode: 'fast' | 'immediate'): Promise<void> {
    if (mode !== 'fast' && mode !== 'immediate')
      throw new Error(`stop mode: expected 'fast' or 'immediate', got ${String(mode)}`);
    ctx.log(`mariadb: stopping ${instance.name} (${mode})`);
    const state = existsSync(statePath(ctx)) ? loadState(ctx) : undefined;
    if (mode === 'fast' && state?.globalRegion && state.writer === instance.name && isServerRunning(instance)) {
      // A planned global switchover loses nothing: the writer stops once every replica (the other region's
      // writer too) has received its whole binlog.
      await withAdmin(instance, (conn) => conn.query('SHUTDOWN WAIT FOR ALL SLAVES')).catch(() => undefined);
    }
    await stopServer(instance, mode);
  }

  async promote(ctx: EngineContext, newWriter: InstanceSpec, topology: TopologySnapshot): Promise<void> {
    const state = loadState(ctx);
    checkKnown(state, newWriter);
    if (!isServerRunning(newWriter)) throw new Error(`cannot promote ${newWriter.name}: its server is not running`);
    const oldWriter =
      state.writer === newWriter.name ? undefined : state.instances.find((i) => i.name === state.writer);
    if (oldWriter && isServerRunning(oldWriter)) {
      // Fenced by the framework already; also refuse writes at the database in case something still reaches it.
      await withAdmin(oldWriter, (conn) => conn.query('SET GLOBAL read_only = 1')).catch(() => undefined);
    }
    const replicas = uniqueByName([newWriter, ...topology.readers]).filter(
      (i) => i.name !== oldWriter?.name && isServerRunning(i),
    );
    // Apply everything each replica received, then let the new writer catch up from the most advanced one.
    const positions = await Promise.all(replicas.map((r) => withAdmin(r, (conn) => drainRelayLog(conn, r.name))));
    let best = 0;
    positions.forEach((pos, i) => {
      if (gtidSeq(pos) > gtidSeq(positions[best])) best = i;
    });
    const source = replicas[best];
    if (source.name !== newWriter.name && gtidSeq(positions[best]) > gtidSeq(positions[0])) {
      ctx.log(`mariadb: ${newWriter.name} catching up from ${source.name} before promotion`);
      const sourcePort = await internalPort(source);
      await withAdmin(newWriter, async (conn) => {
        await replicateFrom(conn, sourcePort, state.replicationPassword);
        await waitApplied(conn, positions[best], newWriter.name);
      });
    }
    await withAdmin(newWriter, async (conn) => {
      await conn.query('STOP SLAVE');
      await conn.query('RESET SLAVE ALL');
      await conn.query('SET GLOBAL read_only = 0');
    });
    state.writer = newWriter.name;
    state.instances = uniqueByName([...state.instances, newWriter, ...topology.readers].map(plainSpec));
    saveState(ctx, state);
    const others = replicas.filter((r) => r.name !== newWriter.name);
    if (oldWriter && isServerRunning(oldWriter) && topology.readers.some((r) => r.name === oldWriter.name))
      others.push(oldWriter);
    await Promise.all(others.map((r) => this.attach(ctx, state, r, newWriter, true)));
    if (usesSemiSync(state.flavour) && others.length > 0) await waitSemiSyncActive(newWriter);
    await withAdmin(newWriter, (conn) =>
      writeTopology(conn, state.flavour, topology, ctx.publicPort, topologyTarget(state)),
    );
    ctx.log(`mariadb: promoted ${newWriter.name}`);
  }

  /** The candidate that received the most of the writer's history (so promoting it loses nothing). */
  async pickPromotionTarget(ctx: EngineContext, candidates: readonly InstanceSpec[]): Promise<InstanceSpec> {
    if (candidates.length === 0) throw new Error('pickPromotionTarget: no candidates');
    const received = await Promise.all(
      candidates.map((c) =>
        withAdmin(c, async (conn) => {
          const status = await replicaStatus(conn);
          return Math.max(gtidSeq(String(status?.Gtid_IO_Pos ?? '')), gtidSeq(await currentPos(conn)));
        }).catch(() => -1),
      ),
    );
    let best = 0;
    received.forEach((seq, i) => {
      if (seq > received[best]) best = i;
    });
    ctx.log(`mariadb: promotion target ${candidates[best].name} (received up to seq ${received[best]})`);
    return candidates[best];
  }

  async rejoin(ctx: EngineContext, instance: InstanceSpec, topology: TopologySnapshot): Promise<void> {
    const state = loadState(ctx);
    checkKnown(state, instance);
    if (state.writer === instance.name) throw new Error(`cannot rejoin ${instance.name}: it is the cluster's writer`);
    if (isServerRunning(instance)) await this.attach(ctx, state, instance, specOf(state, state.writer), true);
    else await this.start(ctx, instance);
    await this.publishTopology(ctx, topology);
    ctx.log(`mariadb: ${instance.name} rejoined as a reader of ${state.writer}`);
  }

  async addReader(ctx: EngineContext, instance: InstanceSpec, topology: TopologySnapshot): Promise<void> {
    checkSpec(instance);
    const state = loadState(ctx);
    if (state.instances.some((i) => i.name === instance.name))
      throw new Error(`instance ${instance.name} already exists`);
    state.instances.push(plainSpec(instance));
    saveState(ctx, state);
    const writer = specOf(state, state.writer);
    await internalPort(instance);
    await initDataDir(instance, await templateDirFor());
    await startServer(instance, startOptions(state.flavour, instance, true));
    await this.attach(ctx, state, instance, writer, false);
    await this.waitCaughtUp(writer, [instance]);
    await this.publishTopology(ctx, topology);
    await waitForFront(ctx, instance);
    ctx.log(`mariadb: added reader ${instance.name}`);
  }

  async removeReader(ctx: EngineContext, instance: InstanceSpec, topology: TopologySnapshot): Promise<void> {
    const state = loadState(ctx);
    if (state.writer === instance.name) throw new Error(`cannot remove ${instance.name}: it is the cluster's writer`);
    await stopServer(instance, 'fast');
    state.instances = state.instances.filter((i) => i.name !== instance.name);
    saveState(ctx, state);
    await this.publishTopology(ctx, topology);
    ctx.log(`mariadb: removed reader ${instance.name}`);
  }

  async publishTopology(ctx: EngineContext, topology: TopologySnapshot): Promise<void> {
    const state = loadState(ctx);
    if (topology.writer.name !== state.writer) {
      throw new Error(`publishTopology: ${topology.writer.name} is not the writer (${state.writer}); promote it first`);
    }
    await withAdmin(topology.writer, (conn) =>
      writeTopology(conn, state.flavour, topology, ctx.publicPort, topologyTarget(state)),
    );
  }

  async serve(ctx: EngineContext, instances: readonly InstanceSpec[]): Promise<MariaDbFronts> {
    const flavour = checkContext(ctx);
    mkdirSync(ctx.dir, { recursive: true });
    // Keyed by listen port: a renamed instance (Blue/Green switchover) keeps its front and gets the new rules.
    const fronts = new Map<number, { name: string; front: MysqlFront; rewrite: (sql: string) => string | undefined }>();
    let chain: Promise<void> = Promise.resolve();
    let closed = false;
    const sync = async (): Promise<void> => {
      if (closed) return;
      const state = existsSync(statePath(ctx)) ? loadState(ctx) : undefined;
      const specs = state ? state.instances : [...instances];
      const options = {
        schema: state ? schemaOf(state) : AURORA_SCHEMA,
        rds: state?.rds ?? false,
        global: state?.globalView,
      };
      for (const spec of specs) {
        const rewrite = createSqlRewriter(frontRules(flavour, spec.name, options));
        const known = fronts.get(spec.port);
        if (known) {
          known.name = spec.name;
          known.rewrite = rewrite;
          continue;
        }
        const entry = { name: spec.name, rewrite, front: undefined as unknown as MysqlFront };
        entry.front = new MysqlFront({
          listenPort: spec.port,
          targetPort: await internalPort(spec),
          rewrite: (sql) => entry.rewrite(sql),
        });
        await entry.front.listen();
        fronts.set(spec.port, entry);
      }
      for (const [port, entry] of fronts) {
        if (!specs.some((s) => s.port === port)) {
          fronts.delete(port);
          await entry.front.close();
        }
      }
    };
    const refresh = (): Promise<void> => {
      chain = chain.then(sync, sync);
      return chain;
    };
    await refresh();
    const watcher: FSWatcher = watch(ctx.dir, (_event, filename) => {
      if (filename === STATE_FILE)
        refresh().catch((err: Error) => ctx.log(`mariadb: front refresh failed: ${err.message}`));
    });
    writeFileSync(path.join(ctx.dir, SERVE_MARKER), JSON.stringify({ pid: process.pid }));
    const served: MariaDbFronts = {
      refresh,
      listening: () => new Map([...fronts.values()].map((e) => [e.name, e.front.port])),
      close: async () => {
        if (this.fronts === served) this.fronts = undefined;
        closed = true;
        watcher.close();
        await chain.catch(() => undefined);
        await Promise.all([...fronts.values()].map((e) => e.front.close()));
        fronts.clear();
        rmSync(path.join(ctx.dir, SERVE_MARKER), { force: true });
      },
    };
    this.fronts = served;
    return served;
  }

  // ---- global database -------------------------------------------------------------------------------------

  /**
   * A global database's secondary region: fresh instances, the writer replicating the primary region's writer
   * (`upstream`, another cluster of this machine: same replication account), the readers replicating the writer.
   */
  private async createSecondary(
    ctx: EngineContext,
    flavour: MysqlFlavour,
    instances: readonly InstanceSpec[],
    upstream: InstanceSpec,
  ): Promise<void> {
    if (flavour !== 'aurora-mysql')
      throw new Error(`MariaDB engine: only aurora-mysql has global databases, got '${flavour}'`);
    const [writer] = instances as [InstanceSpec, ...InstanceSpec[]];
    const state: ClusterState = {
      flavour,
      writer: writer.name,
      replicationPassword: loadStateIn(clusterDirOf(upstream)).replicationPassword,
      instances: instances.map(plainSpec),
      metadataSchema: `${AURORA_SCHEMA}_${writer.serverId}`,
      globalRegion: { secondary: true, gtidDomain: writer.serverId },
    };
    saveState(ctx, state);
    for (const spec of instances) await internalPort(spec);
    try {
      await this.cloneRegion(ctx, state, instances, upstream);
    } catch (err) {
      await Promise.allSettled(instances.map((spec) => stopServer(spec, 'immediate')));
      throw err;
    }
    ctx.log(`mariadb: secondary region up, ${writer.name} replicating from ${upstream.name}`);
  }

  /**
   * Global database: with `upstream`, this region becomes a secondary one (every instance rebuilt from the new
   * primary region's binlog, as Aurora rebuilds the old primary region); without, its writer stops replicating
   * and takes writes (the primary region).
   */
  async follow(ctx: EngineContext, upstream: InstanceSpec | undefined, topology: TopologySnapshot): Promise<void> {
    const state = loadState(ctx);
    if (topology.writer.name !== state.writer)
      throw new Error(`follow: ${topology.writer.name} is not the writer of this region (${state.writer})`);
    const gtidDomain = state.globalRegion?.gtidDomain ?? Math.min(...state.instances.map((i) => i.serverId));
    state.globalRegion = { secondary: upstream !== undefined, gtidDomain };
    saveState(ctx, state);
    if (upstream === undefined) {
      await this.promote(ctx, topology.writer, topology);
      return;
    }
    const instances = [topology.writer, ...topology.readers];
    await Promise.all(state.instances.map((spec) => stopServer(spec, 'immediate')));
    await this.cloneRegion(ctx, state, instances, upstream);
    ctx.log(`mariadb: rebuilt as a secondary region of ${upstream.name}`);
  }

  /** Fresh instances replay `upstream`'s whole binlog (never purged); then the region writes its own topology. */
  private async cloneRegion(
    ctx: EngineContext,
    state: ClusterState,
    instances: readonly InstanceSpec[],
    upstream: InstanceSpec,
  ): Promise<void> {
    const [writer, ...readers] = instances as [InstanceSpec, ...InstanceSpec[]];
    const template = await templateDirFor();
    await settleAll(instances.map((spec) => initDataDir(spec, template)));
    await settleAll(instances.map((spec) => startServer(spec, startOptions(state.flavour, spec, true))));
    const upstreamPort = await internalPort(upstream);
    await withAdmin(writer, (conn) => replicateFrom(conn, upstreamPort, state.replicationPassword));
    await this.waitCaughtUp(upstream, [writer]);
    const writerPort = await internalPort(writer);
    await Promise.all(
      readers.map((r) => withAdmin(r, (conn) => replicateFrom(conn, writerPort, state.replicationPassword))),
    );
    await withAdmin(writer, async (conn) => {
      await conn.query(`SET SESSION gtid_domain_id = ${state.globalRegion!.gtidDomain}`);
      await createMetadata(conn, state.flavour, schemaOf(state));
      await writeTopology(conn, state.flavour, { writer, readers }, ctx.publicPort, topologyTarget(state));
    });
    await this.waitCaughtUp(writer, readers);
  }

  /** The global view, answered by every front of this cluster from now on. */
  async publishGlobal(ctx: EngineContext, doc: GlobalDocument): Promise<void> {
    const state = loadState(ctx);
    state.globalView = doc;
    state.globalRegion ??= { secondary: false, gtidDomain: Math.min(...state.instances.map((i) => i.serverId)) };
    saveState(ctx, state);
    await this.fronts?.refresh();
  }

  // ---- Blue/Green ------------------------------------------------------------------------------------------

  async prepareBlueGreen(ctx: EngineContext, writer: InstanceSpec): Promise<void> {
    const state = loadState(ctx);
    await withAdmin(writer, (conn) => conn.query(RDS_TOPOLOGY_DDL));
    if (state.flavour === 'mysql' && !state.rds) {
      state.rds = true;
      saveState(ctx, state); // the fronts answer "Source distribution" from now on
    }
  }

  /** On this side's writer, unless it still replicates from blue (then the rows arrive by replication). */
  async publishBlueGreen(
    _ctx: EngineContext,
    topology: TopologySnapshot,
    rows: readonly BlueGreenRow[],
  ): Promise<void> {
    await withAdmin(topology.writer, async (conn) => {
      if (await replicaStatus(conn)) return;
      await writeBlueGreenRows(conn, rows);
    });
  }

  async createCopy(
    ctx: EngineContext,
    instances: readonly InstanceSpec[],
    source: InstanceSpec,
    sourceCtx: EngineContext,
  ): Promise<void> {
    const flavour = checkContext(ctx);
    checkInstances(instances);
    const sourceState = loadState(sourceCtx);
    const [writer, ...readers] = instances as [InstanceSpec, ...InstanceSpec[]];
    const suffix = /-green-([a-z0-9]+)$/.exec(writer.name)?.[1] ?? String(writer.serverId);
    const state: ClusterState = {
      flavour,
      writer: writer.name,
      replicationPassword: sourceState.replicationPassword,
      instances: instances.map(plainSpec),
      metadataSchema: `${AURORA_SCHEMA}_${suffix}`,
      rds: sourceState.rds,
    };
    saveState(ctx, state);
    for (const spec of instances) await internalPort(spec);
    const t0 = Date.now();
    try {
      const template = await templateDirFor();
      await settleAll(instances.map((spec) => initDataDir(spec, template)));
      await settleAll(instances.map((spec) => startServer(spec, startOptions(flavour, spec, true))));
      // A fresh instance replays blue's whole binlog (never purged): the green writer from blue's writer, the
      // green readers from the green writer.
      const sourcePort = await internalPort(source);
      await withAdmin(writer, (conn) => replicateFrom(conn, sourcePort, state.replicationPassword));
      await this.waitCaughtUp(source, [writer]);
      const writerPort = await internalPort(writer);
      await Promise.all(
        readers.map((r) => withAdmin(r, (conn) => replicateFrom(conn, writerPort, state.replicationPassword))),
      );
      await this.waitCaughtUp(writer, readers);
      if (flavour === 'aurora-mysql') {
        // Green's own topology, in its own schema and GTID domain (blue's binlog never carries it).
        await withAdmin(writer, async (conn) => {
          await conn.query(`SET SESSION gtid_domain_id = ${greenDomain(suffix)}`);
          await createMetadata(conn, flavour, schemaOf(state));
          await writeTopology(conn, flavour, { writer, readers }, ctx.publicPort, topologyTarget(state));
        });
        await this.waitCaughtUp(writer, readers);
      }
    } catch (err) {
      await Promise.allSettled(instances.map((spec) => stopServer(spec, 'immediate')));
      throw err;
    }
    ctx.log(
      `mariadb: blue-green copy ${instances.map((i) => i.name).join(', ')} of ${source.name} in ${Date.now() - t0} ms`,
    );
  }

  async setReadOnly(_ctx: EngineContext, writer: InstanceSpec, readOnly: boolean): Promise<void> {
    await withAdmin(writer, (conn) => conn.query(`SET GLOBAL read_only = ${readOnly ? 1 : 0}`));
  }

  async promoteCopy(
    ctx: EngineContext,
    writer: InstanceSpec,
    source: InstanceSpec,
    topology: TopologySnapshot,
  ): Promise<void> {
    const state = loadState(ctx);
    const t0 = Date.now();
    const pos = await withAdmin(source, currentPos);
    await withAdmin(writer, async (conn) => {
      await waitApplied(conn, pos, writer.name);
      await conn.query('STOP SLAVE');
      await conn.query('RESET SLAVE ALL');
      await conn.query('SET GLOBAL read_only = 0');
    });
    await withAdmin(writer, (conn) =>
      writeTopology(conn, state.flavour, topology, ctx.publicPort, topologyTarget(state)),
    );
    ctx.log(`mariadb: blue-green ${writer.name} caught up with ${source.name} and promoted in ${Date.now() - t0} ms`);
  }

  async rename(
    ctx: EngineContext,
    renamed: ReadonlyMap<string, InstanceSpec>,
    topology: TopologySnapshot,
  ): Promise<void> {
    const state = loadState(ctx);
    state.instances = state.instances.map((i) => {
      const next = renamed.get(i.name);
      return next ? plainSpec({ ...i, name: next.name, dnsName: next.dnsName }) : i;
    });
    state.writer = renamed.get(state.writer)?.name ?? state.writer;
    saveState(ctx, state);
    await withAdmin(topology.writer, (conn) =>
      writeTopology(conn, state.flavour, topology, ctx.publicPort, topologyTarget(state)),
    );
  }

  async destroy(ctx: EngineContext, instances: readonly InstanceSpec[]): Promise<void> {
    const known = existsSync(statePath(ctx)) ? loadState(ctx).instances : [];
    const all = uniqueByName([...instances, ...known]);
    await Promise.all(all.map((spec) => stopServer(spec, 'immediate')));
    for (const spec of all) {
      const { socket, dataDir } = instanceFiles(spec);
      if (!socket.startsWith(dataDir)) rmSync(socket, { force: true });
    }
  }

  /** Makes `instance` (running) replicate from `writer`; re-clones it first if its history diverged. */
  private async attach(
    ctx: EngineContext,
    state: ClusterState,
    instance: InstanceSpec,
    writer: InstanceSpec,
    checkDivergence: boolean,
  ): Promise<void> {
    let diverged = false;
    if (checkDivergence && isServerRunning(writer)) {
      const writerState = await withAdmin(writer, binlogState);
      diverged = await withAdmin(instance, async (conn) => hasDiverged(await binlogState(conn), writerState));
    }
    if (diverged) {
      ctx.log(`mariadb: ${instance.name} diverged from ${writer.name}; re-cloning it from the writer's binlog`);
      await stopServer(instance, 'immediate');
      await initDataDir(instance, await templateDirFor());
      await startServer(instance, startOptions(state.flavour, instance, true));
    }
    const writerPort = await internalPort(writer);
    await withAdmin(instance, (conn) => replicateFrom(conn, writerPort, state.replicationPassword));
  }

  private async waitCaughtUp(writer: InstanceSpec, readers: readonly InstanceSpec[]): Promise<void> {
    const pos = await withAdmin(writer, currentPos);
    await Promise.all(readers.map((r) => withAdmin(r, (conn) => waitApplied(conn, pos, r.name))));
  }
}

/** Like Promise.all, but only settles once every promise has (so nothing is still running on failure). */
async function settleAll<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

function startOptions(flavour: MysqlFlavour, spec: InstanceSpec, readOnly: boolean): MariaDbStartOptions {
  return { readOnly, semiSync: usesSemiSync(flavour), reportHost: reportHost(flavour, spec.dnsName) };
}

function schemaOf(state: ClusterState): string {
  return state.metadataSchema ?? AURORA_SCHEMA;
}

function topologyTarget(state: ClusterState): TopologyTarget {
  const secondary = state.globalRegion?.secondary === true;
  return {
    schema: schemaOf(state),
    secondary,
    gtidDomain: secondary ? state.globalRegion!.gtidDomain : undefined,
  };
}

/** The state directory of the cluster an instance belongs to (instances live in `<cluster dir>/data/<name>`). */
function clusterDirOf(spec: InstanceSpec): string {
  return path.dirname(path.dirname(path.resolve(spec.dataDir)));
}

/** GTID domain of a green copy's own metadata writes (blue's transactions are in domain 0). */
function greenDomain(suffix: string): number {
  return 1 + (parseInt(suffix, 36) % 4_000_000);
}

function statePath(ctx: EngineContext): string {
  return path.join(ctx.dir, STATE_FILE);
}

function loadState(ctx: EngineContext): ClusterState {
  return loadStateIn(ctx.dir);
}

function loadStateIn(dir: string): ClusterState {
  const file = path.join(dir, STATE_FILE);
  if (!existsSync(file)) throw new Error(`no MariaDB cluster in ${dir} (missing ${STATE_FILE}); create it first`);
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
}

function saveState(ctx: EngineContext, state: ClusterState): void {
  mkdirSync(ctx.dir, { recursive: true });
  const tmp = `${statePath(ctx)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  renameSync(tmp, statePath(ctx));
}

function specOf(state: ClusterState, name: string): InstanceSpec {
  const spec = state.instances.find((i) => i.name === name);
  if (!spec) throw new Error(`instance ${name} is not part of the cluster`);
  return spec;
}

function checkKnown(state: ClusterState, instance: InstanceSpec): void {
  specOf(state, instance.name);
}

function plainSpec(spec: InstanceSpec): InstanceSpec {
  const { name, serverId, dataDir, logFile, port, dnsName } = spec;
  return { name, serverId, dataDir, logFile, port, dnsName };
}

function uniqueByName(specs: readonly InstanceSpec[]): InstanceSpec[] {
  const seen = new Map<string, InstanceSpec>();
  for (const s of specs) if (!seen.has(s.name)) seen.set(s.name, s);
  return [...seen.values()];
}

function checkContext(ctx: EngineContext): MysqlFlavour {
  if (!isMysqlFlavour(ctx.flavour))
    throw new Error(`MariaDB engine: flavour must be aurora-mysql, multi-az-mysql or mysql, got '${ctx.flavour}'`);
  if (!ctx.user) throw new Error('MariaDB engine: ctx.user must be a non-empty user name');
  if (!ctx.database) throw new Error('MariaDB engine: ctx.database must be a non-empty database name');
  if (!Number.isInteger(ctx.publicPort) || ctx.publicPort <= 0 || ctx.publicPort > 65535) {
    throw new Error(`MariaDB engine: ctx.publicPort must be a TCP port, got ${String(ctx.publicPort)}`);
  }
  return ctx.flavour;
}

function checkSpec(spec: InstanceSpec): void {
  if (!spec.name) throw new Error('instance: name must be non-empty');
  if (!Number.isInteger(spec.serverId) || spec.serverId <= 0 || spec.serverId > 0xffffffff) {
    throw new Error(
      `instance ${spec.name}: serverId must be an integer in 1..4294967295, got ${String(spec.serverId)}`,
    );
  }
  if (!Number.isInteger(spec.port) || spec.port <= 0 || spec.port > 65535) {
    throw new Error(`instance ${spec.name}: port must be a TCP port, got ${String(spec.port)}`);
  }
  if (!spec.dataDir || !spec.logFile) throw new Error(`instance ${spec.name}: dataDir and logFile must be set`);
}

function checkInstances(instances: readonly InstanceSpec[]): void {
  if (instances.length === 0) throw new Error('MariaDB engine: create needs at least one instance (the writer)');
  instances.forEach(checkSpec);
  for (const key of ['name', 'serverId', 'port', 'dataDir'] as const) {
    if (new Set(instances.map((i) => i[key])).size !== instances.length)
      throw new Error(`MariaDB engine: instance ${key}s must be unique`);
  }
}

/** When a supervisor is serving this cluster, waits until the new instance's front accepts connections. */
async function waitForFront(ctx: EngineContext, instance: InstanceSpec): Promise<void> {
  const marker = path.join(ctx.dir, SERVE_MARKER);
  if (!existsSync(marker)) return;
  const { pid } = JSON.parse(readFileSync(marker, 'utf8')) as { pid: number };
  try {
    process.kill(pid, 0);
  } catch {
    return;
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(instance.port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await delay(50);
  }
  ctx.log(`mariadb: the front of ${instance.name} is not listening on ${instance.port} yet`);
}
