// Builds dist/cjs and dist/esm (with .d.ts) from ts/ with the TypeScript compiler. No source maps: the package
// does not ship ts/, and maps pointing at missing sources only mislead debuggers and stack traces.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const run = (args) =>
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json'), '--sourceMap', 'false', ...args], { stdio: 'inherit', cwd: root });
run(['--module', 'commonjs', '--moduleResolution', 'node10', '--outDir', 'dist/cjs']);
run(['--module', 'es2022', '--moduleResolution', 'bundler', '--outDir', 'dist/esm']);
// Each build directory declares its own module type so one package serves both.
writeFileSync(path.join(root, 'dist/cjs/package.json'), '{"type":"commonjs"}\n');
writeFileSync(path.join(root, 'dist/esm/package.json'), '{"type":"module"}\n');

// Modules that need their own location declare `const importMetaUrl = undefined as string | undefined` (CommonJS
// uses __filename / __dirname instead); the ES module build gets the real `import.meta.url`.
const MARKER = 'const importMetaUrl = undefined;';
const EXPECTED = ['native/loader.js', 'testing/module-path.js'];
const esm = path.join(root, 'dist/esm');
const patched = [];
for (const rel of readdirSync(esm, { recursive: true })) {
  if (!rel.endsWith('.js')) continue;
  const file = path.join(esm, rel);
  const text = readFileSync(file, 'utf8');
  if (!text.includes(MARKER)) continue;
  writeFileSync(file, text.replace(MARKER, 'const importMetaUrl = import.meta.url;'));
  patched.push(rel.split(path.sep).join('/'));
}
const missed = EXPECTED.filter((rel) => !patched.includes(rel));
if (missed.length > 0) throw new Error(`build-ts: no "${MARKER}" line in dist/esm/${missed.join(', dist/esm/')}`);
