// A callback connection of ours is assignable to mysql2's Connection type (test/fixtures/mysql-types.ts compiles).
import { test } from 'uvu';
import { assertFixtureCompiles } from './support/typecheck-fixture.js';

test('mysql2.Connection accepts AwsMySQLCallbackConnection (tsc --strict)', () => {
  assertFixtureCompiles('mysql-types.ts');
});

test.run();
