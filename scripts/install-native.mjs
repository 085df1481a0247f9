#!/usr/bin/env node
// The package's `install` script: makes sure native/aws-advanced-ts-wrapper.<platform>.node exists.
//
// - A prebuilt binary for this platform (native/*.node, or the optional package aws-advanced-ts-wrapper-<platform>)
//   is used as is, unless this is a source checkout whose Rust sources are newer than the binary.
// - Otherwise, when cargo is available, the addon is built from source (release profile) and copied into native/.
// - Otherwise a message explains what is missing and the install carries on; the loader explains again at use.
//
// Options: --build (always build; fail when impossible), --debug (debug profile, faster to compile).
// Environment: AWS_ADVANCED_TS_WRAPPER_SKIP_NATIVE_BUILD=1 skips everything; CARGO names the cargo binary.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BINARY_NAME = 'aws-advanced-ts-wrapper';
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = new Set(process.argv.slice(2));
const force = args.has('--build');
const profile = args.has('--debug') ? 'debug' : 'release';
const log = (msg) => console.error(`[aws-advanced-ts-wrapper] ${msg}`);

/** napi-rs platform names: linux-x64-gnu, linux-arm64-musl, darwin-arm64, win32-x64-msvc, ... */
function platformName() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const report = process.report?.getReport?.();
    const glibc = typeof report === 'object' && report !== null && report.header?.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** Newest modification time of the Rust sources, or 0 when this is not a source checkout. */
function newestSourceTime() {
  let newest = 0;
  const visit = (p) => {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) {
      for (const name of readdirSync(p)) if (name !== 'target') visit(path.join(p, name));
    } else if (/\.(rs|toml)$|^Cargo\.lock$/.test(path.basename(p))) {
      newest = Math.max(newest, st.mtimeMs);
    }
  };
  for (const p of ['Cargo.toml', 'Cargo.lock', 'build.rs', 'crates']) visit(path.join(root, p));
  return newest;
}

function platformPackageInstalled(name) {
  try {
    createRequire(path.join(root, 'package.json')).resolve(`${BINARY_NAME}-${name}`);
    return true;
  } catch {
    return false;
  }
}

function findCargo() {
  const candidates = [process.env.CARGO, 'cargo', path.join(os.homedir(), '.cargo', 'bin', 'cargo')].filter(Boolean);
  for (const c of candidates) {
    const r = spawnSync(c, ['--version'], { stdio: 'ignore' });
    if (r.status === 0) return c;
  }
  return undefined;
}

function giveUp(msg) {
  log(msg);
  process.exit(force ? 1 : 0);
}

const name = platformName();
const dest = path.join(root, 'native', `${BINARY_NAME}.${name}.node`);

if (!force) {
  if (process.env.AWS_ADVANCED_TS_WRAPPER_SKIP_NATIVE_BUILD) {
    log('AWS_ADVANCED_TS_WRAPPER_SKIP_NATIVE_BUILD is set: not building the native addon.');
    process.exit(0);
  }
  const binary = statSync(dest, { throwIfNoEntry: false });
  if (binary && binary.mtimeMs >= newestSourceTime()) process.exit(0);
  if (!binary && platformPackageInstalled(name)) process.exit(0);
}

if (!existsSync(path.join(root, 'Cargo.toml'))) {
  giveUp(
    `no prebuilt native addon for ${name} and no Rust sources to build it from. ` +
      `Install the package ${BINARY_NAME}-${name}, or install from a source checkout with a Rust toolchain.`,
  );
}
const cargo = findCargo();
if (!cargo) {
  giveUp(
    `no prebuilt native addon for ${name}, and cargo was not found to build it from source. ` +
      `Install Rust (https://rustup.rs), then run \`npm rebuild ${BINARY_NAME}\`. ` +
      'Features that need the native addon will report this when used.',
  );
}

// As a dependency (under node_modules) build in a temporary target directory and remove it afterwards.
const asDependency = root.split(path.sep).includes('node_modules');
const targetDir = process.env.CARGO_TARGET_DIR ?? (asDependency ? mkdtempSync(path.join(os.tmpdir(), 'awsw-native-')) : path.join(root, 'target'));
log(`building the native addon for ${name} from source (cargo, ${profile} profile)...`);
const started = Date.now();
const build = spawnSync(
  cargo,
  ['build', '--lib', '--message-format=json-render-diagnostics', ...(profile === 'release' ? ['--release'] : [])],
  { cwd: root, env: { ...process.env, CARGO_TARGET_DIR: targetDir }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 * 1024 * 1024 },
);
if (build.status !== 0) {
  log(
    `cargo build failed (exit ${build.status ?? build.signal}). Fix the error above, or set ` +
      'AWS_ADVANCED_TS_WRAPPER_SKIP_NATIVE_BUILD=1 to install without the native addon.',
  );
  process.exit(1);
}
// The cdylib's path, from cargo's own report rather than a guessed file name.
let artifact;
for (const line of build.stdout.toString().split('\n')) {
  if (!line.startsWith('{')) continue;
  const msg = JSON.parse(line);
  if (msg.reason === 'compiler-artifact' && msg.target?.kind?.includes('cdylib')) {
    artifact = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f));
  }
}
if (!artifact) {
  log('cargo build succeeded but reported no cdylib artifact.');
  process.exit(1);
}
mkdirSync(path.dirname(dest), { recursive: true });
// Copy then rename: a process that has the old binary mapped keeps its (unlinked) copy intact.
const tmp = `${dest}.${process.pid}.tmp`;
copyFileSync(artifact, tmp);
// Date the binary at the build's start: a source edited during the build makes it stale for the next install.
utimesSync(tmp, new Date(started), new Date(started));
renameSync(tmp, dest);
if (asDependency && !process.env.CARGO_TARGET_DIR) rmSync(targetDir, { recursive: true, force: true });
log(`built ${path.relative(root, dest)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
