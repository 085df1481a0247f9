#!/usr/bin/env node
// Test runner: runs the quality gate (scripts/gate.mjs: typechecks, lint, formatting, clippy; each step counted as
// one test), starts the shared PostgreSQL and MariaDB servers, runs every test/**/*.test.ts file in its own
// Node process (uvu, TypeScript through tsx), and ends with one plain line "N passed, N failed".
// Usage: node test/run.mjs [substring-filter ...]   (`gate` selects the gate's steps, `cargo` the Rust tests)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServers } from './support/servers.mjs';
import { GATE_STEPS, runGate } from '../scripts/gate.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 300_000);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

function runFile(file, env) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, ...env, NODE_DISABLE_COLORS: '1', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += `\n[runner] ${path.relative(root, file)} timed out after ${FILE_TIMEOUT_MS} ms; killed\n`;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const num = (label) => {
        const m = out.match(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm'));
        return m ? Number(m[1]) : undefined;
      };
      const total = num('Total');
      const passed = num('Passed');
      const skipped = num('Skipped') ?? 0;
      let failed;
      if (total === undefined || passed === undefined)
        failed = 1; // crashed before uvu's summary
      else failed = total - passed - skipped;
      if (code !== 0 && failed === 0) failed = 1; // exited non-zero after a clean summary (e.g. a hang at exit)
      resolve({ file, out, passed: passed ?? 0, failed, skipped, code, signal, ms: Date.now() - started });
    });
  });
}

/** The Rust core's own tests (`cargo test`), counted like a test file. Release profile: reuses the addon's build. */
function runCargoTests() {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn('cargo', ['test', '--release', '-p', 'monitor-core'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (err) =>
      resolve({ file: 'cargo test -p monitor-core', out: String(err), passed: 0, failed: 1, skipped: 0, ms: 0 }),
    );
    child.on('close', (code) => {
      let passed = 0;
      let failed = 0;
      let ignored = 0;
      for (const m of out.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/g)) {
        passed += Number(m[1]);
        failed += Number(m[2]);
        ignored += Number(m[3]);
      }
      if (code !== 0 && failed === 0) failed = 1;
      resolve({ file: 'cargo test -p monitor-core', out, passed, failed, skipped: ignored, ms: Date.now() - started });
    });
  });
}

const filters = process.argv.slice(2);
const files = findTests(here).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const gateSteps = Object.keys(GATE_STEPS).filter(
  (name) => filters.length === 0 || filters.some((s) => `gate: ${name}`.includes(s)),
);

let passed = 0;
let failed = 0;
let skipped = 0;
/** The gate first: it needs no server, and a failing step shows at the top. */
const gate = gateSteps.length > 0 ? runGate(gateSteps) : Promise.resolve([]);
const runs = [];
for (const [i] of gateSteps.entries()) runs.push(async () => (await gate)[i]);
if (filters.length === 0 || filters.some((f) => 'cargo'.includes(f))) runs.push(runCargoTests);
if (files.length > 0) {
  const servers = await startServers();
  process.on('exit', () => servers.stop());
  runs.push(...files.map((file) => () => runFile(file, servers.env)));
}
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
for (const run of runs) {
  const r = await run();
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  const rel = path.isAbsolute(r.file) ? path.relative(root, r.file) : r.file;
  const status = r.failed ? 'FAIL' : 'ok  ';
  console.log(
    `${status} ${rel}  (${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped, ${(r.ms / 1000).toFixed(1)} s)`,
  );
  if (r.failed || process.env.TEST_VERBOSE) console.log(r.out.replace(/^/gm, '    '));
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed ? 1 : 0;
