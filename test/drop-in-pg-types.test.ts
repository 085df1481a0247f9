// AwsPGClient / AwsPGPool are assignable to pg's Client / Pool types (test/fixtures/pg-types.ts compiles).
import { test } from 'uvu';
import { assertFixtureCompiles } from './support/typecheck-fixture.js';

test('pg.Client / pg.Pool / pg.PoolClient accept AwsPGClient / AwsPGPool / AwsPGPoolClient (tsc --strict)', () => {
  assertFixtureCompiles('pg-types.ts');
});

test.run();
