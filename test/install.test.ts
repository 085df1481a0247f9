// Installing as users install: a local registry (verdaccio, loopback, no uplink) gets the packed main package, as
// `napi pre-publish` shapes it, this platform's package (linux-x64-gnu on CI) holding this checkout's native build,
// and pg with its dependencies packed from node_modules (no other network). In a fresh directory with no cargo or
// rustc on PATH, `npm install aws-advanced-ts-wrapper pg` must install the prebuilt addon without building anything,
// and an ES module script run with source maps on must start a lookalike Aurora cluster, connect with the default
// plugins (native monitors loaded from the platform package) and fail over. A platform with no package, or a
// left-out package, gets an error naming the platform, the package and the fix; `npm rebuild --build-from-source`
// runs cargo in the package (a stand-in cargo: see the last test).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { platformName } from '../ts/native/loader.js';
import { resolvePgBinDir } from '../ts/testing/postgres.js';

const execFile = promisify(execFileCb);
const root = path.resolve(__dirname, '..');
const PLATFORM = platformName(); // linux-x64-gnu on CI
const PLATFORM_PACKAGE = `aws-advanced-ts-wrapper-${PLATFORM}`;
const BINARY = `aws-advanced-ts-wrapper.${PLATFORM}.node`;

const work = mkdtempSync(path.join(tmpdir(), 'awsw-install-'));
// The lookalike's PostgreSQL runs as the postgres user when the test runs as root: it must enter this directory.
chmodSync(work, 0o755);
const app = path.join(work, 'app');
let server: Server | undefined;
let registry = '';

/** PATH without the directories that hold cargo or rustc: the user's machine has no Rust toolchain. */
function pathWithoutRust(): string {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && !['cargo', 'rustc', 'rustup'].some((bin) => existsSync(path.join(dir, bin))))
    .join(path.delimiter);
}

/** A user's environment: none of the runner's npm settings, a private cache and home, our registry. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_|^CARGO|^RUST/i.test(k)) env[k] = v;
  return {
    ...env,
    PATH: pathWithoutRust(),
    HOME: path.join(work, 'home'),
    npm_config_registry: registry,
    npm_config_cache: path.join(work, 'npm-cache'),
    npm_config_userconfig: path.join(work, 'npmrc'),
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    ...extra,
  };
}

/** Publishes a tarball the way `npm publish` does (one PUT of the packument with the tarball attached). */
async function publish(tarball: string, token: string): Promise<void> {
  const manifest = JSON.parse(
    execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }),
  ) as {
    name: string;
    version: string;
  };
  const data = readFileSync(tarball);
  const file = `${manifest.name.split('/').pop()}-${manifest.version}.tgz`;
  const body = {
    _id: manifest.name,
    name: manifest.name,
    'dist-tags': { latest: manifest.version },
    versions: {
      [manifest.version]: {
        ...manifest,
        _id: `${manifest.name}@${manifest.version}`,
        dist: {
          shasum: createHash('sha1').update(data).digest('hex'),
          integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`,
          tarball: `${registry}/${manifest.name}/-/${file}`,
        },
      },
    },
    _attachments: {
      [file]: { content_type: 'application/octet-stream', data: data.toString('base64'), length: data.length },
    },
  };
  const res = await fetch(`${registry}/${manifest.name.replace('/', '%2f')}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  assert.ok(res.ok, `publishing ${manifest.name}@${manifest.version}: HTTP ${res.status} ${await res.text()}`);
}

/** The installed directories of `names` and of everything they depend on, from this checkout's node_modules. */
function dependencyClosure(names: string[]): string[] {
  const seen = new Map<string, string>();
  const visit = (name: string, from: string): void => {
    for (let dir = from; ; dir = path.dirname(dir)) {
      const candidate = path.join(dir, 'node_modules', name);
      if (existsSync(path.join(candidate, 'package.json'))) {
        if (seen.has(candidate)) return;
        const manifest = JSON.parse(readFileSync(path.join(candidate, 'package.json'), 'utf8')) as Record<
          string,
          Record<string, string> | undefined
        >;
        seen.set(candidate, name);
        for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies }))
          visit(dep, candidate);
        return;
      }
      if (dir === root || dir === path.dirname(dir)) return; // an optional dependency not installed here
    }
  };
  for (const name of names) visit(name, root);
  return [...seen.keys()];
}

function duKiB(dir: string): number {
  return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]);
}

test.before(async () => {
  assert.ok(existsSync(path.join(root, 'dist/esm/index.js')), 'dist/ is missing: run `npm run build:ts` first');
  const nativeBuild = path.join(root, 'native', BINARY);
  assert.ok(existsSync(nativeBuild), `${nativeBuild} is missing: run \`npm run build:native\` first`);

  // The registry: loopback only, no uplinks, anyone may publish.
  const storage = path.join(work, 'registry');
  mkdirSync(storage);
  const config = path.join(storage, 'config.yaml');
  writeFileSync(
    config,
    [
      `storage: ${path.join(storage, 'storage')}`,
      'auth:',
      `  htpasswd: { file: ${path.join(storage, 'htpasswd')}, max_users: 10 }`,
      'uplinks: {}',
      'packages:',
      "  '**': { access: $all, publish: $authenticated }",
      'web: { enable: false }',
      'max_body_size: 200mb',
      'log: { type: stdout, format: pretty, level: error }',
      '',
    ].join('\n'),
  );
  const { runServer } = (await import('verdaccio')) as unknown as {
    runServer: (configPath: string) => Promise<Server>;
  };
  server = await runServer(config);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const user = await fetch(`${registry}/-/user/org.couchdb.user:ci`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ci', password: 'ci-password' }),
  });
  const { token } = (await user.json()) as { token: string };
  writeFileSync(path.join(work, 'npmrc'), '');

  // Pack: the main package from this checkout, its platform package, and pg with its dependencies.
  const packs = path.join(work, 'packs');
  mkdirSync(packs);
  const platformDir = path.join(work, 'platform-package');
  cpSync(path.join(root, 'npm', PLATFORM), platformDir, { recursive: true });
  cpSync(nativeBuild, path.join(platformDir, BINARY));
  const dirs = [root, platformDir, ...dependencyClosure(['pg', 'pg-connection-string'])];
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packs, ...dirs], {
      encoding: 'utf8',
      cwd: work,
    }),
  ) as { filename: string; name: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const main = packed.find((p) => p.name === 'aws-advanced-ts-wrapper')!;
  const files = main.files.map((f) => f.path);
  console.log(
    `main package: ${(main.size / 1024).toFixed(0)} KiB packed, ${(main.unpackedSize / 1024).toFixed(0)} KiB, ${files.length} files`,
  );
  assert.not.ok(
    files.some((f) => f.endsWith('.map') || f.endsWith('.node') || f.startsWith('ts/') || f.startsWith('target/')),
    'main package ships maps, binaries or TS sources',
  );
  const platformPack = packed.find((p) => p.name === PLATFORM_PACKAGE)!;
  assert.equal(platformPack.files.map((f) => f.path).sort(), [BINARY, 'README.md', 'package.json'].sort());

  // `napi pre-publish` adds every target's package to the main package's optionalDependencies at release time.
  const mainTarball = path.join(packs, main.filename);
  const staged = path.join(work, 'staged');
  mkdirSync(staged);
  execFileSync('tar', ['-xzf', mainTarball, '-C', staged]);
  const manifestPath = path.join(staged, 'package', 'package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    version: string;
    optionalDependencies?: Record<string, string>;
  };
  manifest.optionalDependencies = Object.fromEntries(
    readdirSync(path.join(root, 'npm')).map((dir) => [`aws-advanced-ts-wrapper-${dir}`, manifest.version]),
  );
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  execFileSync('tar', ['-czf', mainTarball, '-C', staged, 'package']);

  for (const p of packed) await publish(path.join(packs, p.filename), token);
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
});

test.after(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  rmSync(work, { recursive: true, force: true });
});

test('npm install aws-advanced-ts-wrapper pg: the prebuilt addon, no Rust toolchain, nothing built', async () => {
  const env = userEnv();
  const which = await execFile('sh', ['-c', 'command -v cargo rustc || true'], { env });
  assert.is(which.stdout.trim(), '', 'cargo or rustc is still on PATH');
  const started = Date.now();
  const out = await execFile('npm', ['install', 'aws-advanced-ts-wrapper', 'pg'], { cwd: app, env });
  const ms = Date.now() - started;
  const modules = path.join(app, 'node_modules');
  console.log(
    `npm install: ${(ms / 1000).toFixed(1)} s, node_modules ${(duKiB(modules) / 1024).toFixed(1)} MiB ` +
      `(aws-advanced-ts-wrapper ${duKiB(path.join(modules, 'aws-advanced-ts-wrapper'))} KiB, ` +
      `${PLATFORM_PACKAGE} ${duKiB(path.join(modules, PLATFORM_PACKAGE))} KiB)`,
  );
  assert.ok(statSync(path.join(modules, PLATFORM_PACKAGE, BINARY)).size > 0);
  assert.not.ok(
    existsSync(path.join(modules, 'aws-advanced-ts-wrapper', 'native')),
    'the install script built or copied a binary',
  );
  assert.not.match(out.stderr, /aws-advanced-ts-wrapper\]/, 'the install script had something to say');
});

test('TypeScript, skipLibCheck off: the declarations need none of the optional packages (AWS SDK, OpenTelemetry, htmlparser2, mysql2)', async () => {
  // The app has pg only. @types/pg is the user's (mapped from this checkout); nothing else is.
  writeFileSync(
    path.join(app, 'check.ts'),
    `import { AwsPGClient, AwsPGPool } from 'aws-advanced-ts-wrapper/pg';
import { LocalCluster, LocalGlobalDatabase } from 'aws-advanced-ts-wrapper/testing';
import { CHANNEL_NAMES, MissingDependencyError, type FailoverEndMessage } from 'aws-advanced-ts-wrapper';
export const used = [AwsPGClient, AwsPGPool, LocalCluster, LocalGlobalDatabase, CHANNEL_NAMES, MissingDependencyError];
export type Used = FailoverEndMessage;
`,
  );
  const types = path.join(root, 'node_modules', '@types');
  writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        typeRoots: [types],
        types: ['node'],
        paths: { pg: [path.join(types, 'pg')] },
      },
      files: ['check.ts'],
    }),
  );
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await execFile(process.execPath, [tsc, '-p', app], { cwd: app, env: userEnv() }).catch(
    (e: { stdout: string }) => e,
  );
  assert.is(result.stdout.trim(), '', 'tsc reported errors');
});

test('an ES module with source maps on: lookalike Aurora, default plugins with native monitors, failover', async () => {
  const script = path.join(app, 'failover.mjs');
  writeFileSync(
    script,
    `import { LocalCluster } from 'aws-advanced-ts-wrapper/testing';
import { AwsPGClient, FailoverSuccessError, releaseResources } from 'aws-advanced-ts-wrapper/pg';

const cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 1, dir: process.argv[2], database: 'app' });
const result = {};
try {
  const client = new AwsPGClient(cluster.clientConfig('writer'));
  client.on('error', () => {});
  await client.connect();
  await client.query('CREATE TABLE orders (id int PRIMARY KEY)');
  await client.query('INSERT INTO orders VALUES (1)');
  result.oldWriter = cluster.writer.name;
  result.nativeLibraries = process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node'));
  result.newWriter = (await cluster.failover()).newWriter;
  try {
    await client.query('INSERT INTO orders VALUES (2)');
  } catch (err) {
    result.error = err instanceof FailoverSuccessError ? 'FailoverSuccessError' : String(err);
  }
  await client.query('INSERT INTO orders VALUES (2) ON CONFLICT DO NOTHING');
  result.connectedTo = (await client.query('SELECT pg_catalog.aurora_db_instance_identifier() AS id')).rows[0].id;
  result.orders = (await client.query('SELECT count(*)::int AS n FROM orders')).rows[0].n;
  await client.end();
} finally {
  await cluster.stop({ keepLogs: false });
  await releaseResources();
}
console.log(JSON.stringify(result));
`,
  );
  const clusterDir = path.join(work, 'cluster');
  const env = userEnv({ PG_BIN_DIR: await resolvePgBinDir() });
  const { stdout } = await execFile(process.execPath, ['--enable-source-maps', script, clusterDir], {
    cwd: app,
    env,
    timeout: 90_000,
  });
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  assert.equal(result.nativeLibraries, [path.join(app, 'node_modules', PLATFORM_PACKAGE, BINARY)]);
  assert.is.not(result.newWriter, result.oldWriter);
  assert.is(result.error, 'FailoverSuccessError');
  assert.is(result.connectedTo, result.newWriter);
  assert.is(result.orders, 2);
});

// Runs Node in the installed app as if it were linux on riscv64, a platform with no prebuilt package.
const FAKE_PLATFORM = "Object.defineProperty(process, 'arch', { value: 'riscv64' });";

test('a platform with no package, or its package left out: the install and the loader name the platform, the package and the fix', async () => {
  const pkg = path.join(app, 'node_modules', 'aws-advanced-ts-wrapper');
  const fake = path.join(work, 'fake-platform.cjs');
  writeFileSync(fake, FAKE_PLATFORM);
  const env = userEnv();
  const install = await execFile(process.execPath, ['--require', fake, path.join(pkg, 'scripts/install-native.mjs')], {
    cwd: pkg,
    env,
  });
  assert.match(install.stderr, 'no prebuilt native addon for linux-riscv64-gnu');
  assert.match(install.stderr, 'aws-advanced-ts-wrapper-linux-riscv64-gnu');
  assert.match(install.stderr, 'npm rebuild aws-advanced-ts-wrapper --build-from-source');

  const load = `try { require(${JSON.stringify(path.join(pkg, 'dist/cjs/native/loader.js'))}).loadBinding(); console.log('loaded'); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, platform: e.platform, message: e.message })); }`;
  const { stdout } = await execFile(process.execPath, ['--require', fake, '-e', load], { cwd: app, env });
  const err = JSON.parse(stdout) as { name: string; code: string; platform: string; message: string };
  assert.is(err.code, 'WRAPPER_NATIVE_UNAVAILABLE');
  assert.is(err.platform, 'linux-riscv64-gnu');
  assert.match(err.message, 'not available for linux-riscv64-gnu (linux/riscv64, glibc');
  assert.match(err.message, 'Looked for the package aws-advanced-ts-wrapper-linux-riscv64-gnu');
  assert.match(err.message, 'no prebuilt package exists for linux-riscv64-gnu');
  assert.match(
    err.message,
    'install Rust (https://rustup.rs), then run `npm rebuild aws-advanced-ts-wrapper --build-from-source`',
  );

  // A prebuilt platform whose package was left out (--omit=optional, a lockfile from another OS).
  const platformPackage = path.join(app, 'node_modules', PLATFORM_PACKAGE);
  renameSync(platformPackage, `${platformPackage}.away`);
  try {
    const missing = JSON.parse(
      (await execFile(process.execPath, ['-e', load], { cwd: app, env })).stdout,
    ) as typeof err;
    assert.is(missing.platform, PLATFORM);
    assert.match(missing.message, `Fix: install the prebuilt package (\`npm install ${PLATFORM_PACKAGE}\``);
  } finally {
    renameSync(`${platformPackage}.away`, platformPackage);
  }
});

// What --build-from-source decides and does, with a stand-in for cargo that reports the checkout's own build as its
// artifact: a real release build (thin LTO of the whole addon) takes minutes even when every dependency is already
// compiled, too slow for a test that runs on every CI run.
test('npm rebuild --build-from-source (or the env variable) runs cargo in the package and the loader prefers the result', async () => {
  const pkg = path.join(app, 'node_modules', 'aws-advanced-ts-wrapper');
  const built = path.join(pkg, 'native', BINARY);
  const calls = path.join(work, 'cargo-calls.log');
  const cargo = path.join(work, 'cargo-stand-in');
  const artifact = path.join(work, 'libaws_advanced_ts_wrapper.so');
  cpSync(path.join(root, 'native', BINARY), artifact);
  writeFileSync(
    cargo,
    `#!/bin/sh
[ "$1" = --version ] && { echo 'cargo 1.95.0 (stand-in)'; exit 0; }
echo "$PWD $*" >> ${JSON.stringify(calls)}
echo '{"reason":"compiler-artifact","target":{"kind":["cdylib"]},"filenames":[${JSON.stringify(artifact)}]}'
`,
    { mode: 0o755 },
  );
  const env = userEnv({ CARGO: cargo });
  await execFile('npm', ['rebuild', 'aws-advanced-ts-wrapper', '--build-from-source'], { cwd: app, env });
  assert.equal(readFileSync(calls, 'utf8').trim().split('\n'), [
    `${pkg} build --lib --message-format=json-render-diagnostics --release`,
  ]);
  assert.ok(existsSync(built), `${built} was not built`);
  rmSync(built);
  await execFile('npm', ['rebuild', 'aws-advanced-ts-wrapper'], {
    cwd: app,
    env: { ...env, AWS_ADVANCED_TS_WRAPPER_BUILD_FROM_SOURCE: '1' },
  });
  assert.is(readFileSync(calls, 'utf8').trim().split('\n').length, 2);
  // A plain rebuild with the platform package installed builds nothing.
  await execFile('npm', ['rebuild', 'aws-advanced-ts-wrapper'], { cwd: app, env });
  assert.is(readFileSync(calls, 'utf8').trim().split('\n').length, 2);

  const load = `require(${JSON.stringify(path.join(pkg, 'dist/cjs/native/loader.js'))}).loadBinding();
    console.log(JSON.stringify(process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node'))));`;
  const { stdout } = await execFile(process.execPath, ['-e', load], { cwd: app, env: userEnv() });
  assert.equal(JSON.parse(stdout), [built]);
});

test.run();
