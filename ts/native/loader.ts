/**
 * Finds and loads the native addon: native/aws-advanced-ts-wrapper.<platform>.node in the package, else the
 * optional package aws-advanced-ts-wrapper-<platform> (napi-rs naming). A missing binary gives an error that
 * names the platform, every path tried and the fix.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AwsWrapperError } from '../errors.js';
import type * as Binding from './binding.js';

export const BINARY_NAME = 'aws-advanced-ts-wrapper';
/** Overrides where the addon is loaded from (an absolute path to a .node file). */
export const NATIVE_PATH_ENV = 'AWS_ADVANCED_TS_WRAPPER_NATIVE_PATH';

/** The addon's exports, as napi-rs declares them from crates/napi/src (binding.d.ts is generated). */
export type NativeBinding = typeof Binding;

/**
 * Every function of the binding. A record rather than a list, so the compiler says when the generated declarations
 * gain a function that is not checked here.
 */
const FUNCTIONS: Record<keyof NativeBinding, true> = {
  probe: true,
  startMonitor: true,
  stopMonitor: true,
  setMonitorAbortSockets: true,
  shutdownSocket: true,
  monitorCount: true,
  setParamsProvider: true,
  nativeThreadCount: true,
  shutdown: true,
  nativeVersion: true,
  efmStart: true,
  efmStop: true,
  efmWatch: true,
  efmUnwatch: true,
  efmNudge: true,
  efmStats: true,
  efmMonitorCount: true,
  startTopologyMonitor: true,
  setTopologyHosts: true,
  topologyForceRefresh: true,
  stopTopologyMonitor: true,
  topologyMonitorCount: true,
  topologyMonitorPanicking: true,
  startBlueGreenMonitor: true,
  setBlueGreenPhase: true,
  stopBlueGreenMonitor: true,
  blueGreenMonitorCount: true,
  startRouterMonitor: true,
  wakeRouterMonitor: true,
  stopRouterMonitor: true,
  routerMonitorCount: true,
};

/** Checks that a loaded module has every function of the binding (a stale or foreign binary would not). */
function asBinding(mod: unknown, file: string): NativeBinding {
  const missing = Object.keys(FUNCTIONS).filter((name) => typeof (mod as Record<string, unknown> | null)?.[name] !== 'function');
  if (missing.length > 0) {
    throw new Error(`${file} is not a compatible aws-advanced-ts-wrapper addon (missing ${missing.join(', ')}); rebuild it`);
  }
  return mod as NativeBinding;
}

/** The native addon is not available for this platform, or failed to load. */
export class NativeAddonUnavailableError extends AwsWrapperError {
  readonly platform: string;
  readonly tried: readonly string[];
  constructor(message: string, platform: string, tried: readonly string[], cause?: unknown) {
    super(message, { code: 'WRAPPER_NATIVE_UNAVAILABLE', cause });
    this.platform = platform;
    this.tried = tried;
  }
}

/** napi-rs platform name: linux-x64-gnu, linux-arm64-musl, darwin-arm64, win32-x64-msvc, ... */
export function platformName(): string {
  const { platform, arch } = process;
  if (platform === 'linux') return `linux-${arch}-${isGlibc() ? 'gnu' : 'musl'}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function isGlibc(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return typeof report?.header?.glibcVersionRuntime === 'string';
}

declare const __dirname: string | undefined;
// The ES module build has no __dirname; scripts/build-ts.mjs sets this to `import.meta.url` there (the source also
// compiles to CommonJS, where `import.meta` is a syntax error).
const importMetaUrl = undefined as string | undefined;

/** Directory of this module: __dirname in CommonJS (and under tsx), import.meta.url in the ES module build. */
function moduleDir(): string {
  if (typeof __dirname === 'string') return __dirname;
  if (importMetaUrl === undefined) throw new Error('cannot locate the aws-advanced-ts-wrapper module directory');
  return path.dirname(fileURLToPath(importMetaUrl));
}

/** The package root: the nearest directory above this module whose package.json is this package's. */
export function packageRoot(): string {
  let dir = moduleDir();
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === BINARY_NAME) return dir;
      } catch {
        // not a readable manifest: keep looking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the ${BINARY_NAME} package root above ${moduleDir()}`);
    dir = parent;
  }
}

/** The platforms with a published prebuilt package (napi.targets in package.json, as napi-rs names them). */
export const PREBUILT_PLATFORMS: readonly string[] = [
  'linux-x64-gnu',
  'linux-arm64-gnu',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc',
];

/** What to do when neither a local build nor the platform package is there. */
function howToGetAddon(root: string, platform: string): string {
  const fromSource = `npm rebuild ${BINARY_NAME} --build-from-source`;
  if (!root.split(path.sep).includes('node_modules') && existsSync(path.join(root, 'Cargo.toml'))) {
    return 'this is a source checkout: build the addon with `npm run build:native` (needs cargo, https://rustup.rs)';
  }
  if (PREBUILT_PLATFORMS.includes(platform)) {
    return (
      `install the prebuilt package (\`npm install ${BINARY_NAME}-${platform}\`; it is an optional dependency, left out ` +
      `by --omit=optional or by a lockfile made on another platform), or build from source with Rust ` +
      `(https://rustup.rs): \`${fromSource}\``
    );
  }
  return (
    `no prebuilt package exists for ${platform} (prebuilt: ${PREBUILT_PLATFORMS.join(', ')}); build from source: ` +
    `install Rust (https://rustup.rs), then run \`${fromSource}\``
  );
}

/**
 * Loads the addon or throws NativeAddonUnavailableError. Order: the override path, a local build under native/
 * (a source checkout, or `--build-from-source`), then the prebuilt package aws-advanced-ts-wrapper-<platform>.
 */
export function loadBinding(): NativeBinding {
  const platform = platformName();
  const packageName = `${BINARY_NAME}-${platform}`;
  const root = packageRoot();
  const requireFromRoot = createRequire(path.join(root, 'package.json'));
  const tried: string[] = [];
  const failures: string[] = [];
  const override = process.env[NATIVE_PATH_ENV];
  const candidates = override ? [override] : [path.join(root, 'native', `${BINARY_NAME}.${platform}.node`), packageName];
  let firstError: unknown;
  for (const candidate of candidates) {
    tried.push(candidate);
    try {
      return asBinding(requireFromRoot(candidate), candidate);
    } catch (err) {
      firstError ??= err;
      const notFound = (err as { code?: unknown }).code === 'MODULE_NOT_FOUND';
      failures.push(`  ${candidate}: ${notFound ? 'not found' : (err as Error).message}`);
    }
  }
  const fix = override ? `correct ${NATIVE_PATH_ENV} (an absolute path to the .node file), or unset it` : howToGetAddon(root, platform);
  throw new NativeAddonUnavailableError(
    `The aws-advanced-ts-wrapper native addon is not available for ${platform} ` +
      `(${process.platform}/${process.arch}${process.platform === 'linux' ? `, ${isGlibc() ? 'glibc' : 'musl'}` : ''}, ` +
      `Node-API ${process.versions.napi ?? '?'}). Looked for the package ${packageName}. Tried:\n${failures.join('\n')}\n` +
      `Fix: ${fix}.`,
    platform,
    tried,
    firstError,
  );
}
