#!/usr/bin/env node
// Writes docs/options.md and the options section of README.md from the options table (ts/option-table.ts).
// Usage: node --import tsx scripts/gen-options-doc.mjs [--check]
//   --check: exit 1 (writing nothing) when either is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderOptionsMarkdown, renderReadmeOptions } from '../ts/option-table.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outputs = [
  [path.join(root, 'docs', 'options.md'), () => renderOptionsMarkdown()],
  [path.join(root, 'README.md'), (current) => renderReadmeOptions(current)],
];
let stale = false;
for (const [target, render] of outputs) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    /* missing = out of date */
  }
  const text = render(current);
  if (current === text) continue;
  if (process.argv.includes('--check')) {
    console.error(`${path.relative(root, target)} is out of date: run node --import tsx scripts/gen-options-doc.mjs`);
    stale = true;
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${path.relative(root, target)}`);
  }
}
if (stale) process.exit(1);
