/**
 * mariadbd process management for the MySQL-flavour lookalike: data directory initialisation, detached start,
 * readiness, stop, liveness — and the root admin connection the engine uses. Processes are found again through
 * their pid file and /proc, so any process (CLI, supervisor, tests) can manage a cluster another one created.
 *
 * Layout of an instance's `InstanceSpec.dataDir`:
 *   data/            mariadbd's datadir
 *   lookalike.json   { internalPort } — the real server's port behind the instance's front, kept across restarts
 *   mariadbd.pid     pid file
 */
import { execFile, spawn } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { InstanceSpec } from './engine.js';
import { freeLoopbackPort } from './names.js';

const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 60_000;

export interface MariaDbStartOptions {
  readonly readOnly: boolean;
  /** Semi-synchronous replication (wait point AFTER_SYNC) for the HA flavours. */
  readonly semiSync: boolean;
  /** Empty for no `--report-host`. */
  readonly reportHost: string;
}

export interface InstanceFiles {
  readonly dataDir: string;
  readonly datadir: string;
  /** Private tmpdir: concurrent servers sharing /tmp collide on temporary table names. */
  readonly tmpdir: string;
  readonly stateFile: string;
  readonly pidFile: string;
  readonly socket: string;
}

export function instanceFiles(spec: InstanceSpec): InstanceFiles {
  const dataDir = path.resolve(spec.dataDir);
  let socket = path.join(dataDir, 'mariadbd.sock');
  // Unix socket paths are limited to ~107 bytes.
  if (Buffer.byteLength(socket) > 100) {
    socket = path.join(
      tmpdir(),
      `lookalike-mariadbd-${createHash('sha1').update(dataDir).digest('hex').slice(0, 16)}.sock`,
    );
  }
  return {
    dataDir,
    datadir: path.join(dataDir, 'data'),
    tmpdir: path.join(dataDir, 'tmp'),
    stateFile: path.join(dataDir, 'lookalike.json'),
    pidFile: path.join(dataDir, 'mariadbd.pid'),
    socket,
  };
}

/** The real server's internal port for `spec`, allocated (and persisted) on first use. */
export async function internalPort(spec: InstanceSpec): Promise<number> {
  const files = instanceFiles(spec);
  const existing = readInternalPort(files.stateFile);
  if (existing !== undefined) return existing;
  mkdirSync(files.dataDir, { recursive: true });
  const port = await freeLoopbackPort();
  try {
    writeFileSync(files.stateFile, JSON.stringify({ internalPort: port }), { flag: 'wx' });
    return port;
  } catch (err) {
    // Another process allocated it first: use theirs.
    const other = readInternalPort(files.stateFile);
    if (other !== undefined) return other;
    throw err;
  }
}

function readInternalPort(stateFile: string): number | undefined {
  if (!existsSync(stateFile)) return undefined;
  const parsed = JSON.parse(readFileSync(stateFile, 'utf8')) as { internalPort?: unknown };
  if (typeof parsed.internalPort !== 'number') throw new Error(`${stateFile}: expected {"internalPort": <number>}`);
  return parsed.internalPort;
}

function runningAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Options shared by mariadb-install-db and mariadbd so the initialised files match the server's settings. */
const STORAGE_OPTIONS = ['--innodb-log-file-size=16M', '--innodb-buffer-pool-size=64M'];

/**
 * Gives `spec` a fresh, empty datadir (removing any previous one): a copy of `templateDir`, which is created
 * with mariadb-install-db on first use (every instance starts from identical files, and one install-db per
 * cluster is much cheaper than one per instance). install-db output goes to the instance log.
 */
export async function initDataDir(spec: InstanceSpec, templateDir: string): Promise<void> {
  const files = instanceFiles(spec);
  mkdirSync(path.dirname(path.resolve(spec.logFile)), { recursive: true });
  await ensureTemplate(templateDir, spec);
  rmSync(files.datadir, { recursive: true, force: true });
  mkdirSync(files.tmpdir, { recursive: true });
  cpSync(templateDir, files.datadir, { recursive: true });
}

/**
 * Where the pristine datadir template lives: shared by every lookalike cluster of this machine and MariaDB build
 * (keyed by `mariadbd --version` and the storage options), so only the first cluster pays for install-db.
 */
export async function templateDirFor(): Promise<string> {
  const version = await new Promise<string>((resolve, reject) => {
    execFile('mariadbd', ['--version'], (err, stdout) =>
      err ? reject(new Error(`mariadbd --version failed: ${err.message}`)) : resolve(stdout),
    );
  });
  const key = createHash('sha1')
    .update([version.trim(), ...STORAGE_OPTIONS, String(runningAsRoot())].join('\n'))
    .digest('hex')
    .slice(0, 16);
  return path.join(tmpdir(), 'aws-ts-wrapper-lookalike', `mariadb-template-${key}`);
}

async function ensureTemplate(templateDir: string, spec: InstanceSpec): Promise<void> {
  if (!existsSync(path.join(templateDir, 'mysql'))) await installTemplate(templateDir, spec);
}

async function installTemplate(templateDir: string, spec: InstanceSpec): Promise<void> {
  // Built aside and renamed into place, so another process never copies a half-initialised template.
  mkdirSync(path.dirname(templateDir), { recursive: true });
  const building = `${templateDir}.${process.pid}.${Date.now()}.tmp`;
  const tmp = path.join(`${building}-tmpdir`);
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  const args = [
    '--no-defaults',
    `--datadir=${building}`,
    `--tmpdir=${tmp}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    ...STORAGE_OPTIONS,
    ...(runningAsRoot() ? ['--user=root'] : []),
  ];
  const fd = openSync(spec.logFile, 'a');
  try {
    writeSync(fd, `${new Date().toISOString()} [lookalike] mariadb-install-db into ${templateDir}\n`);
    await new Promise<void>((resolve, reject) => {
      execFile('mariadb-install-db', args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        writeSync(fd, stdout);
        writeSync(fd, stderr);
        if (err) reject(new Error(`mariadb-install-db failed (see ${spec.logFile}): ${err.message}`));
        else resolve();
      });
    });
  } finally {
    closeSync(fd);
    rmSync(tmp, { recursive: true, force: true });
  }
  try {
    renameSync(building, templateDir);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(path.join(templateDir, 'mysql'))) throw err;
  }
}

/** Starts mariadbd for `spec` detached (it outlives this process) and waits until it accepts root queries. */
export async function startServer(spec: InstanceSpec, options: MariaDbStartOptions): Promise<void> {
  if (isServerRunning(spec)) throw new Error(`mariadbd for ${spec.name} is already running`);
  const files = instanceFiles(spec);
  const port = await internalPort(spec);
  mkdirSync(files.tmpdir, { recursive: true });
  const args = [
    '--no-defaults',
    `--datadir=${files.datadir}`,
    `--tmpdir=${files.tmpdir}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${files.socket}`,
    `--pid-file=${files.pidFile}`,
    `--server-id=${spec.serverId}`,
    '--log-bin=mariadb-bin',
    '--relay-log=relay-bin',
    '--binlog-format=ROW',
    '--gtid-domain-id=0',
    '--gtid-strict-mode',
    '--log-slave-updates',
    '--skip-slave-start',
    '--skip-name-resolve',
    `--read-only=${options.readOnly ? 1 : 0}`,
    '--slave-net-timeout=10',
    '--max-allowed-packet=64M',
    '--max-connections=500',
    // Durability across a process crash only needs the OS page cache (SIGKILL does not lose it).
    '--innodb-flush-log-at-trx-commit=2',
    '--sync-binlog=0',
    '--innodb-doublewrite=0',
    ...STORAGE_OPTIONS,
    ...(options.reportHost ? [`--report-host=${options.reportHost}`] : []),
    ...(options.semiSync
      ? [
          '--rpl-semi-sync-master-enabled=ON',
          '--rpl-semi-sync-slave-enabled=ON',
          '--rpl-semi-sync-master-wait-point=AFTER_SYNC',
          '--rpl-semi-sync-master-timeout=2000',
          // With no replica connected the writer commits at once instead of stalling for the timeout.
          '--rpl-semi-sync-master-wait-no-slave=OFF',
        ]
      : []),
    ...(runningAsRoot() ? ['--user=root'] : []),
  ];
  // stderr is the error log: unlike --log-error it keeps the exact file name (no `.err` suffix is added).
  const fd = openSync(spec.logFile, 'a');
  let exited: { code: number | null; signal: string | null } | undefined;
  let child;
  try {
    writeSync(fd, `${new Date().toISOString()} [lookalike] starting mariadbd for ${spec.name} on 127.0.0.1:${port}\n`);
    child = spawn('mariadbd', args, { detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  child.on('exit', (code, signal) => (exited = { code, signal }));
  child.on('error', () => (exited = { code: null, signal: null }));
  child.unref();
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited)
      throw new Error(
        `mariadbd for ${spec.name} exited during startup (${exited.code ?? exited.signal}); see ${spec.logFile}`,
      );
    try {
      const conn = await adminConnect(port, 2000);
      await conn.end();
      return;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`mariadbd for ${spec.name} not ready within ${READY_TIMEOUT_MS} ms; see ${spec.logFile}`);
      await delay(100);
    }
  }
}

/** The pid of `spec`'s running mariadbd, or undefined (stale pid files and zombies count as not running). */
export function serverPid(spec: InstanceSpec): number | undefined {
  const files = instanceFiles(spec);
  let pid: number;
  try {
    pid = Number(readFileSync(files.pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  return isMariaDbProcess(pid, files.datadir) ? pid : undefined;
}

export function isServerRunning(spec: InstanceSpec): boolean {
  return serverPid(spec) !== undefined;
}

function isMariaDbProcess(pid: number, datadir: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(`--datadir=${datadir}`);
  } catch {
    return false;
  }
}

/** 'fast' = SIGTERM (clean shutdown, clients get the shutdown error), 'immediate' = SIGKILL. Waits for exit. */
export async function stopServer(spec: InstanceSpec, mode: 'fast' | 'immediate'): Promise<void> {
  const pid = serverPid(spec);
  if (pid === undefined) return;
  const datadir = instanceFiles(spec).datadir;
  signal(pid, mode === 'fast' ? 'SIGTERM' : 'SIGKILL');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isMariaDbProcess(pid, datadir)) {
    if (Date.now() > deadline) {
      signal(pid, 'SIGKILL');
      if (Date.now() > deadline + 10_000) throw new Error(`mariadbd for ${spec.name} (pid ${pid}) did not exit`);
    }
    await delay(20);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** A root connection to the real server on its internal port (no password; loopback only). */
export async function adminConnect(port: number, connectTimeout = 5000): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: '127.0.0.1',
    port,
    user: 'root',
    connectTimeout,
    multipleStatements: true,
    supportBigNumbers: true,
  });
}

/** Runs `fn` with a root connection to `spec`'s server. */
export async function withAdmin<T>(spec: InstanceSpec, fn: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await adminConnect(await internalPort(spec));
  try {
    return await fn(conn);
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
