// Runs the TypeScript compiler (strict, NodeNext) on one fixture file under test/fixtures: the fixtures hold typed
// assignments that must compile (tsconfig.json covers ts/ only).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as assert from 'uvu/assert';

export function assertFixtureCompiles(fixture: string): void {
  const root = path.resolve(__dirname, '../..');
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
    path.join(root, 'test/fixtures', fixture),
  ];
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`);
}
