// Each entry point loads only the driver it is for: a pg application need not install mysql2, and vice versa.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';

function driversLoadedBy(entry: string): string[] {
  const code = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(entry)});
    const cache = createRequire(import.meta.url).cache;
    const drivers = new Set(Object.keys(cache).map((k) => (k.match(/node_modules\\/(pg|mysql2)\\//) ?? [])[1]).filter(Boolean));
    console.log(JSON.stringify([...drivers].sort()));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: process.cwd(),
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!) as string[];
}

test('the root entry loads no driver', () => {
  assert.equal(driversLoadedBy('./ts/index.ts'), []);
});

test('aws-advanced-ts-wrapper/pg loads pg only', () => {
  assert.equal(driversLoadedBy('./ts/pg.ts'), ['pg']);
});

test('aws-advanced-ts-wrapper/mysql loads mysql2 only', () => {
  assert.equal(driversLoadedBy('./ts/mysql.ts'), ['mysql2']);
});

test('the driver entries re-export the errors and releaseResources', async () => {
  const pgEntry = await import('../ts/pg.js');
  const myEntry = await import('../ts/mysql.js');
  const root = await import('../ts/index.js');
  for (const entry of [pgEntry, myEntry]) {
    assert.is(entry.FailoverSuccessError, root.FailoverSuccessError);
    assert.is(entry.releaseResources, root.releaseResources);
  }
});

test('the root entry exports the logging hooks the README documents', async () => {
  const root = await import('../ts/index.js');
  const logger = await import('../ts/logger.js');
  assert.is(root.setLogger, logger.setLogger);
  assert.is(root.setLogLevels, logger.setLogLevels);
});

test.run();
