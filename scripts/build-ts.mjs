// Builds dist/cjs and dist/esm (with .d.ts) from ts/ with the TypeScript compiler.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const run = (args) => execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json'), ...args], { stdio: 'inherit', cwd: root });
run(['--module', 'commonjs', '--moduleResolution', 'node10', '--outDir', 'dist/cjs']);
run(['--module', 'es2022', '--moduleResolution', 'bundler', '--outDir', 'dist/esm']);
// Each build directory declares its own module type so one package serves both.
writeFileSync(path.join(root, 'dist/cjs/package.json'), '{"type":"commonjs"}\n');
writeFileSync(path.join(root, 'dist/esm/package.json'), '{"type":"module"}\n');
