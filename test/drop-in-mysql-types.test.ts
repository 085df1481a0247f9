// A callback connection of ours is assignable to mysql2's Connection type: runs the TypeScript compiler on
// test/fixtures/mysql-types.ts (tsconfig.json covers ts/ only).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

test('mysql2.Connection accepts AwsMySQLCallbackConnection (tsc --strict)', () => {
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
    path.join(root, 'test/fixtures/mysql-types.ts'),
  ];
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`);
});

test.run();
