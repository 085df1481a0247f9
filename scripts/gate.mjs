#!/usr/bin/env node
// The quality gate: typechecks (ts/, test/, bench/ and the docs' code blocks), ESLint, Prettier, rustfmt and clippy.
// Each step is reported like a test file by test/run.mjs (which runs the gate before the tests, so the README's test
// command counts a failing step as failed); `node scripts/gate.mjs [step ...]` runs it alone. Two steps at a time
// (2 cores); nothing is cached in the repository.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = (pkg, file) => path.join(path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), file);
const node = (script, ...args) => [process.execPath, script, ...args];

/** name → command. */
export const GATE_STEPS = {
  'tsc ts/': node(bin('typescript', 'bin/tsc'), '-p', 'tsconfig.json', '--noEmit'),
  'tsc test/': node(bin('typescript', 'bin/tsc'), '-p', 'tsconfig.test.json'),
  'tsc bench/': node(bin('typescript', 'bin/tsc'), '-p', 'tsconfig.bench.json'),
  'doc code blocks': node(path.join(root, 'scripts/check-doc-blocks.mjs')),
  eslint: node(bin('eslint', 'bin/eslint.js'), '.', '--max-warnings', '0'),
  prettier: node(
    bin('prettier', 'bin/prettier.cjs'),
    '--check',
    '--log-level',
    'warn',
    'ts',
    'test',
    'bench',
    'scripts',
    'bin',
    'eslint.config.mjs',
  ),
  'cargo fmt': ['cargo', 'fmt', '--all', '--check'],
  'cargo clippy': ['cargo', 'clippy', '--workspace', '--all-targets', '--quiet', '--', '-D', 'warnings'],
};

function runStep(name) {
  const [cmd, ...args] = GATE_STEPS[name];
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(cmd, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const file = `gate: ${name}`;
    child.on('error', (err) =>
      resolve({ file, out: String(err), passed: 0, failed: 1, skipped: 0, ms: Date.now() - started }),
    );
    child.on('close', (code) => {
      const ok = code === 0;
      resolve({ file, out, passed: ok ? 1 : 0, failed: ok ? 0 : 1, skipped: 0, ms: Date.now() - started });
    });
  });
}

/** Runs the named steps (all by default), `parallel` at a time; results in step order. */
export async function runGate(names = Object.keys(GATE_STEPS), parallel = 2) {
  const unknown = names.filter((n) => !(n in GATE_STEPS));
  if (unknown.length > 0)
    throw new Error(`gate: unknown step(s) ${unknown.join(', ')}; steps: ${Object.keys(GATE_STEPS).join(', ')}`);
  const results = new Array(names.length);
  let next = 0;
  const lane = async () => {
    while (next < names.length) {
      const i = next++;
      results[i] = await runStep(names[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, names.length) }, lane));
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await runGate(process.argv.length > 2 ? process.argv.slice(2) : undefined);
  for (const r of results) {
    console.log(`${r.failed ? 'FAIL' : 'ok  '} ${r.file}  (${(r.ms / 1000).toFixed(1)} s)`);
    if (r.failed) console.log(r.out.replace(/^/gm, '    '));
  }
  const failed = results.filter((r) => r.failed).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
