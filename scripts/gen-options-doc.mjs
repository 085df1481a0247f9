#!/usr/bin/env node
// Writes docs/options.md from the options table (ts/option-table.ts).
// Usage: node --import tsx scripts/gen-options-doc.mjs [--check]
//   --check: exit 1 (writing nothing) when docs/options.md is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderOptionsMarkdown } from '../ts/option-table.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const target = path.join(root, 'docs', 'options.md');
const text = renderOptionsMarkdown();
if (process.argv.includes('--check')) {
  let current = '';
  try { current = readFileSync(target, 'utf8'); } catch { /* missing = out of date */ }
  if (current !== text) {
    console.error('docs/options.md is out of date: run node --import tsx scripts/gen-options-doc.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  console.log(`wrote ${path.relative(root, target)}`);
}
