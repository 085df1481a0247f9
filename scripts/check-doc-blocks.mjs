#!/usr/bin/env node
// Typechecks every ```ts / ```typescript / ```js code block of README.md and docs/*.md under `strict`, against the
// package's own types: `aws-advanced-ts-wrapper[/...]` is mapped to the ts/ source of each package.json export, as
// an ES module consumer sees it (the dist/esm build: bundler resolution). A block whose info string contains
// `fragment` (```ts fragment) is a deliberate excerpt and is skipped. Blocks are written to a temporary directory
// (nothing is cached in the repository); errors are reported at their line in the Markdown file.
// Usage: node scripts/check-doc-blocks.mjs [file.md ...]   Exit code 1 when a block does not compile.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

// The names the examples use for "your values": declared here once rather than in every block.
const PLACEHOLDERS = `export {};
declare global {
  const host: string;
  const user: string;
  const username: string;
  const password: string;
  const database: string;
}
`;

const LANGS = { ts: '.ts', typescript: '.ts', js: '.js' };

/** Code blocks of one Markdown file: { lang, fragment, line (1-based line of the first code line), code }. */
export function extractBlocks(text) {
  const blocks = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\s*([\w-]*)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const fence = open[1];
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end].startsWith(fence)) end++;
    blocks.push({
      lang: open[2].toLowerCase(),
      fragment: /\bfragment\b/.test(open[3]),
      line: start + 1,
      code: lines.slice(start, end).join('\n'),
    });
    i = end;
  }
  return blocks;
}

/** `aws-advanced-ts-wrapper[/sub]` → ts/ source, from package.json's exports (the ESM build's entry points). */
function exportPaths() {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const paths = {};
  for (const [sub, target] of Object.entries(pkg.exports)) {
    const entry = target?.import?.default;
    if (typeof entry !== 'string' || !entry.startsWith('./dist/esm/')) continue;
    const source = path.join(root, 'ts', entry.slice('./dist/esm/'.length).replace(/\.js$/, '.ts'));
    paths[pkg.name + sub.slice(1)] = [source];
  }
  return paths;
}

export function checkDocBlocks(files) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'doc-blocks-'));
  try {
    // The blocks import pg, mysql2, ORMs...: resolved from the repository's node_modules.
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    writeFileSync(path.join(dir, 'placeholders.d.ts'), PLACEHOLDERS);
    const origin = new Map(); // temp file name -> { file, line }
    let checked = 0;
    let fragments = 0;
    for (const file of files) {
      const rel = path.relative(root, file);
      for (const block of extractBlocks(readFileSync(file, 'utf8'))) {
        const ext = LANGS[block.lang];
        if (!ext) continue;
        if (block.fragment) {
          fragments++;
          continue;
        }
        const name = `${rel.replace(/[^\w]+/g, '_')}_${block.line}${ext}`;
        // `export {}` keeps each block a module of its own (top-level await, no name clashes between blocks).
        writeFileSync(path.join(dir, name), `${block.code}\nexport {};\n`);
        origin.set(name, { file: rel, line: block.line });
        checked++;
      }
    }
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022'],
        module: 'preserve',
        moduleResolution: 'bundler',
        strict: true,
        noEmit: true,
        allowJs: true,
        checkJs: true,
        esModuleInterop: true,
        skipLibCheck: true,
        types: ['node'],
        paths: exportPaths(),
      },
      include: ['*.ts', '*.js'],
    };
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], {
        cwd: dir,
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (err) {
      output = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    }
    const errors = [];
    for (const line of output.split('\n')) {
      if (!line.trim()) continue;
      const m = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(line);
      const at = m && origin.get(path.basename(m[1]));
      if (at && path.dirname(path.resolve(dir, m[1])) === dir)
        errors.push(`${at.file}:${at.line + Number(m[2]) - 1}:${m[3]} ${m[4]}`);
      else if (errors.length > 0 && /^\s/.test(line)) errors[errors.length - 1] += `\n${line}`;
      else errors.push(m ? `${path.relative(dir, m[1]) || m[1]}(${m[2]},${m[3]}): ${m[4]}` : line);
    }
    return { checked, fragments, errors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const docs = path.join(root, 'docs');
  const files =
    args.length > 0
      ? args.map((f) => path.resolve(f))
      : [
          path.join(root, 'README.md'),
          ...readdirSync(docs)
            .filter((f) => f.endsWith('.md'))
            .sort()
            .map((f) => path.join(docs, f)),
        ];
  const { checked, fragments, errors } = checkDocBlocks(files);
  for (const e of errors) console.log(e);
  console.log(`doc blocks: ${checked} checked, ${fragments} fragments skipped, ${errors.length} errors`);
  process.exitCode = errors.length > 0 ? 1 : 0;
}
