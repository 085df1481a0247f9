// The TypeScript side is typed from ts/native/binding.d.ts, which napi-rs generates from crates/napi/src. The build
// (`npm run build:native`, part of the test command) writes a fresh copy to native/binding.d.ts next to the addon
// it built: the committed file must be that copy, and declare exactly the functions the addon exports.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadBinding } from '../ts/native/loader.js';

const root = path.join(__dirname, '..');
const committed = path.join(root, 'ts/native/binding.d.ts');
const generated = path.join(root, 'native/binding.d.ts');

/** The first differing line, for a failure message that shows where the files part. */
function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i])
      return `line ${i + 1}:\n  committed: ${x[i] ?? '(end of file)'}\n  generated: ${y[i] ?? '(end of file)'}`;
  }
  return 'no difference';
}

test('the committed declarations are the ones the last build generated', () => {
  assert.ok(
    existsSync(generated),
    `${generated} is missing: build the addon with \`npm run build:native\` (it writes the file)`,
  );
  const want = readFileSync(generated, 'utf8');
  const have = readFileSync(committed, 'utf8');
  assert.ok(
    have === want,
    'ts/native/binding.d.ts is not what napi-rs generates from crates/napi/src; ' +
      `copy native/binding.d.ts over it and commit it. First difference at ${firstDifference(have, want)}`,
  );
});

test('the declarations name every function the addon exports, and no other', () => {
  const declared = [...readFileSync(committed, 'utf8').matchAll(/^export declare function (\w+)/gm)]
    .map((m) => m[1])
    .sort();
  const binding = loadBinding() as unknown as Record<string, unknown>;
  const exported = Object.keys(binding)
    .filter((name) => typeof binding[name] === 'function')
    .sort();
  assert.ok(declared.length > 0, 'no function declarations found in ts/native/binding.d.ts');
  assert.equal(declared, exported);
});

test('string enums are declared as unions of their values (no runtime enum objects to import)', () => {
  const dts = readFileSync(committed, 'utf8');
  assert.match(dts, /export type ProbeKind = 'tcp' \| 'postgres' \| 'mysql'/);
  assert.match(dts, /export type SslMode = 'disable' \| 'prefer' \| 'require' \| 'verify-full'/);
  assert.not.match(dts, /\benum\b/);
});

test.run();
