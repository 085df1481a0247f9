// AwsPGClient / AwsPGPool are assignable to pg's Client / Pool types: runs the TypeScript compiler on
// test/fixtures/pg-types.ts (tsconfig.json covers ts/ only).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

test('pg.Client / pg.Pool / pg.PoolClient accept AwsPGClient / AwsPGPool / AwsPGPoolClient (tsc --strict)', () => {
  const root = path.resolve(__dirname, '..');
  const tsc = createRequire(path.join(root, 'package.json')).resolve('typescript/bin/tsc');
  const args = [
    tsc,
    '--noEmit',
    '--strict',
    '--target',
    'ES2022',
    '--module',
    'NodeNext',
    '--moduleResolution',
    'NodeNext',
    '--esModuleInterop',
    '--skipLibCheck',
    '--types',
    'node',
    path.join(root, 'test/fixtures/pg-types.ts'),
  ];
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`);
});

test.run();
