#!/usr/bin/env node
// CLI shim: runs the compiled CLI (dist/cjs/cli.js) or, in a source checkout, ts/cli.ts through tsx so the
// command always matches the source.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const source = path.join(root, 'ts', 'cli.ts');
const compiled = path.join(root, 'dist', 'cjs', 'cli.js');

function load() {
  if (fs.existsSync(source)) {
    try {
      require('tsx/cjs/api').register();
      return require(source);
    } catch (err) {
      if (!fs.existsSync(compiled)) throw err;
    }
  }
  if (!fs.existsSync(compiled)) {
    throw new Error(`aws-advanced-ts-wrapper: ${compiled} is missing; run 'npm run build'`);
  }
  return require(compiled);
}

// `cluster status | head`: a reader that stops reading is no error (and the command still runs to its end).
process.stdout.on('error', (err) => {
  if (err.code !== 'EPIPE') throw err;
});

load()
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
