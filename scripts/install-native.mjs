#!/usr/bin/env node
// The package's `install` script. Users normally get the native addon from the optional package
// aws-advanced-ts-wrapper-<platform> (napi-rs layout), and then this script does nothing. It builds the addon from
// the shipped Rust sources into native/aws-advanced-ts-wrapper.<platform>.node only when asked to:
// `npm rebuild aws-advanced-ts-wrapper --build-from-source` (npm_config_build_from_source),
// AWS_ADVANCED_TS_WRAPPER_BUILD_FROM_SOURCE=1, or `--build` (contributors: `npm run build:native`). Never on its
// own: npm hides install output, and a silent build of minutes is worse than a clear error at first use.
// Without a binary it says which package it looked for and how to get one, and the install carries on (the
// loader reports the same when a feature needs the addon).
//
// In a source checkout with the dev dependencies, a build also writes the binding's TypeScript declarations, which
// napi-derive records while it compiles the crate, to native/binding.d.ts (napi-rs typegen, with the package's
// `napi` settings); test/native-binding-types checks that the committed ts/native/binding.d.ts is the same.
//
// Options: --build (build; fail when impossible), --debug (debug profile, faster to compile).
// Environment: AWS_ADVANCED_TS_WRAPPER_SKIP_NATIVE_BUILD=1 silences the missing-binary message; CARGO names the
// cargo binary; CARGO_TARGET_DIR reuses a build directory (incremental rebuilds).
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BINARY_NAME = 'aws-advanced-ts-wrapper';
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = new Set(process.argv.slice(2));
const profile = args.has('--debug') ? 'debug' : 'release';
const log = (msg) => console.error(`[${BINARY_NAME}] ${msg}`);

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

/** npm sets npm_config_build_from_source for `--build-from-source`; the value may name the packages to build. */
function buildFromSourceRequested() {
  if (args.has('--build')) return true;
  if (/^(1|true)$/i.test(process.env.AWS_ADVANCED_TS_WRAPPER_BUILD_FROM_SOURCE ?? '')) return true;
  const npmFlag = process.env.npm_config_build_from_source ?? '';
  return (
    /^(1|true)$/i.test(npmFlag) ||
    npmFlag
      .split(',')
      .map((s) => s.trim())
      .includes(BINARY_NAME)
  );
}

function platformPackageInstalled(packageName) {
  try {
    createRequire(path.join(root, 'package.json')).resolve(`${packageName}/package.json`);
    return true;
  } catch {
    return false;
  }
}

function findCargo() {
  const candidates = [process.env.CARGO, 'cargo', path.join(os.homedir(), '.cargo', 'bin', 'cargo')].filter(Boolean);
  return candidates.find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
}

const name = platformName();
const packageName = `${BINARY_NAME}-${name}`;
const dest = path.join(root, 'native', `${BINARY_NAME}.${name}.node`);
const requested = buildFromSourceRequested();
// Installed as a dependency, or a source checkout (contributors).
const asDependency = root.split(path.sep).includes('node_modules');

const howToBuild =
  `install Rust (https://rustup.rs) and run \`npm rebuild ${BINARY_NAME} --build-from-source\`` +
  ` (or set AWS_ADVANCED_TS_WRAPPER_BUILD_FROM_SOURCE=1 when installing)`;
const missing =
  `no prebuilt native addon for ${name}: the optional package ${packageName} is not installed ` +
  `(${BINARY_NAME} publishes linux-x64/arm64 (glibc and musl), darwin-x64/arm64 and win32-x64; an install with ` +
  '--omit=optional or a lockfile made on another platform also leaves it out)';

if (!requested) {
  // A prebuilt binary (or an earlier local build) is here: nothing to do, and nothing to say.
  if (
    process.env.AWS_ADVANCED_TS_WRAPPER_SKIP_NATIVE_BUILD ||
    platformPackageInstalled(packageName) ||
    existsSync(dest)
  ) {
    process.exit(0);
  }
  log(
    asDependency
      ? `${missing}. Fix: install ${packageName}, or ${howToBuild}.`
      : 'no native addon built in this checkout yet: run `npm run build:native` (needs cargo).',
  );
  process.exit(0);
}

if (!existsSync(path.join(root, 'Cargo.toml'))) {
  log(`cannot build from source: this copy of ${BINARY_NAME} has no Rust sources (Cargo.toml).`);
  process.exit(1);
}
const cargo = findCargo();
if (!cargo) {
  log(
    `cannot build the native addon for ${name} from source: cargo was not found. Install Rust (https://rustup.rs) or set CARGO.`,
  );
  process.exit(1);
}

// As a dependency (under node_modules) build in a temporary target directory and remove it afterwards.
const ownTargetDir = !process.env.CARGO_TARGET_DIR && asDependency;
const targetDir =
  process.env.CARGO_TARGET_DIR ??
  (asDependency ? mkdtempSync(path.join(os.tmpdir(), 'awsw-native-')) : path.join(root, 'target'));
const env = { ...process.env, CARGO_TARGET_DIR: targetDir };
const typegen = asDependency ? undefined : napiTypegen();
// napi-derive appends each item's declaration to <dir>/<crate> while compiling, so the crate must be compiled with
// the folder set: napi-build reruns (and the crate recompiles) when NAPI_FORCE_BUILD_<crate> changes, as `napi build`
// does when the folder has no file for the crate yet.
const CRATE = 'aws-advanced-ts-wrapper-native';
const typeDefDir = path.join(targetDir, 'napi-type-def', profile);
if (typegen) {
  mkdirSync(typeDefDir, { recursive: true });
  env.NAPI_TYPE_DEF_TMP_FOLDER = typeDefDir;
  if (!existsSync(path.join(typeDefDir, CRATE)))
    env[`NAPI_FORCE_BUILD_${CRATE.replace(/-/g, '_').toUpperCase()}`] = String(Date.now());
}
log(`building the native addon for ${name} from source (cargo, ${profile} profile; a first build takes minutes)...`);
const started = Date.now();
const build = spawnSync(
  cargo,
  ['build', '--lib', '--message-format=json-render-diagnostics', ...(profile === 'release' ? ['--release'] : [])],
  { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 * 1024 * 1024 },
);
if (build.status !== 0) {
  log(
    `cargo build failed (exit ${build.status ?? build.signal}). Fix the error above, or set ` +
      `AWS_ADVANCED_TS_WRAPPER_SKIP_NATIVE_BUILD=1 to install without the native addon.`,
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
renameSync(tmp, dest);
if (ownTargetDir) rmSync(targetDir, { recursive: true, force: true });
log(`built ${path.relative(root, dest)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (typegen) {
  const { napi } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const { dts } = await typegen({ typeDefDir, cwd: root, constEnum: napi.constEnum, configDtsHeader: napi.dtsHeader });
  const types = path.join(root, 'native', 'binding.d.ts');
  writeFileSync(types, dts);
  const committed = path.join(root, 'ts', 'native', 'binding.d.ts');
  if (!existsSync(committed) || readFileSync(committed, 'utf8') !== dts) {
    log(
      `the binding's declarations changed: copy ${path.relative(root, types)} to ${path.relative(root, committed)} and commit it`,
    );
  }
}

/** @napi-rs/cli's typegen (a dev dependency), or undefined when it is not installed. */
function napiTypegen() {
  try {
    return createRequire(path.join(root, 'package.json'))('@napi-rs/cli').generateTypeDef;
  } catch {
    return undefined;
  }
}
