// Dialect selection without a server: the Python wrapper's initial-guess table for every URL type, user codes,
// custom dialects, the cache's expiry, and the dialect definitions themselves (codes, ports, candidates).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  dialectCache,
  DialectManager,
  DIALECT_CACHE_TTL_MS,
  guessDialect,
  resolveDialectCode,
} from '../ts/dialects/dialect-manager.js';
import { DATABASE_DIALECTS, pgDialect } from '../ts/dialects/database/index.js';
import type { DatabaseDialect, DialectCode } from '../ts/dialects/types.js';
import { HostInfo } from '../ts/host-info.js';
import { WrapperServices } from '../ts/services.js';
import { ConfigurationError } from '../ts/errors.js';

const D = 'abc123xyz.us-east-1.rds.amazonaws.com';
const URLS = {
  ip: '10.1.2.3',
  ipv6: '2001:db8::1',
  other: 'db.example.com',
  writerCluster: `mydb.cluster-${D}`,
  readerCluster: `mydb.cluster-ro-${D}`,
  customCluster: `custom1.cluster-custom-${D}`,
  proxy: `myproxy.proxy-${D}`,
  instance: `instance-1.${D}`,
  shardGroup: `limitless.shardgrp-${D}`,
  global: 'gdb.global-abc123xyz.global.rds.amazonaws.com',
};

// [url, mysql guess, mysql canUpdate, pg guess, pg canUpdate] — the Python wrapper's initial guess.
const TABLE: [keyof typeof URLS, DialectCode, boolean, DialectCode, boolean][] = [
  ['ip', 'mysql', true, 'pg', true],
  ['ipv6', 'mysql', true, 'pg', true],
  ['other', 'mysql', true, 'pg', true],
  ['writerCluster', 'aurora-mysql', true, 'aurora-pg', true],
  ['readerCluster', 'aurora-mysql', true, 'aurora-pg', true],
  ['customCluster', 'aurora-mysql', true, 'aurora-pg', true],
  ['proxy', 'rds-mysql', true, 'rds-pg', true],
  ['instance', 'rds-mysql', true, 'rds-pg', true],
  ['shardGroup', 'rds-mysql', true, 'aurora-pg', false],
  ['global', 'global-aurora-mysql', false, 'global-aurora-pg', false],
];

for (const [kind, myCode, myUpd, pgCode, pgUpd] of TABLE) {
  test(`initial guess for a ${kind} host: mysql → ${myCode}, pg → ${pgCode}`, () => {
    const my = guessDialect('mysql', URLS[kind]);
    assert.is(my.dialect.code, myCode);
    assert.is(my.canUpdate, myUpd);
    const pg = guessDialect('pg', URLS[kind]);
    assert.is(pg.dialect.code, pgCode);
    assert.is(pg.canUpdate, pgUpd);
    // Through the manager too.
    const m = new DialectManager(new WrapperServices(), 'pg');
    assert.is(m.getDialect(new HostInfo({ host: URLS[kind] })).code, pgCode);
    assert.is(m.canUpdate, pgUpd);
  });
}

test('another driver starts from unknown', () => {
  assert.is(guessDialect(undefined, URLS.writerCluster).dialect.code, 'unknown');
});

test('update candidates and default ports follow the Python wrapper', () => {
  const candidates: Record<string, string[]> = {
    unknown: ['mysql', 'pg', 'rds-mysql', 'rds-pg', 'aurora-mysql', 'aurora-pg', 'multi-az-mysql', 'multi-az-pg'],
    mysql: ['aurora-mysql', 'global-aurora-mysql', 'multi-az-mysql', 'rds-mysql'],
    'rds-mysql': ['aurora-mysql', 'global-aurora-mysql', 'multi-az-mysql'],
    'aurora-mysql': ['global-aurora-mysql', 'multi-az-mysql'],
    'global-aurora-mysql': [],
    'multi-az-mysql': [],
    pg: ['aurora-pg', 'global-aurora-pg', 'multi-az-pg', 'rds-pg'],
    'rds-pg': ['aurora-pg', 'global-aurora-pg', 'multi-az-pg'],
    'aurora-pg': ['global-aurora-pg', 'multi-az-pg'],
    'global-aurora-pg': [],
    'multi-az-pg': [],
  };
  assert.equal([...DATABASE_DIALECTS.keys()].sort(), Object.keys(candidates).sort());
  for (const [code, list] of Object.entries(candidates)) {
    const d = DATABASE_DIALECTS.get(code as DialectCode)!;
    assert.equal([...d.updateCandidates], list, code);
    assert.is(d.defaultPort, code === 'unknown' ? -1 : code.includes('mysql') ? 3306 : 5432, code);
    assert.is(d.topology !== undefined, /aurora|multi-az/.test(code), `${code} topology`);
  }
});

test('wrapperDialect: every code, doc spellings, and a clear error listing valid codes', () => {
  for (const code of ['mysql', 'rds-mysql', 'aurora-mysql', 'global-aurora-mysql', 'multi-az-mysql']) {
    const m = new DialectManager(new WrapperServices(), 'mysql2', { wrapperDialect: code });
    assert.is(m.getDialect(new HostInfo({ host: URLS.writerCluster })).code, code);
    assert.not.ok(m.canUpdate);
  }
  assert.is(resolveDialectCode('rds-multi-az-pg-cluster'), 'multi-az-pg');
  assert.is(resolveDialectCode('MariaDB'), 'mysql');
  try {
    new DialectManager(new WrapperServices(), 'pg', { wrapperDialect: 'aurora-postgres' });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigurationError);
    assert.is((err as ConfigurationError).key, 'wrapperDialect');
    assert.match(
      (err as Error).message,
      /unknown dialect code 'aurora-postgres'; expected one of mysql, rds-mysql, aurora-mysql, global-aurora-mysql, multi-az-mysql, pg, rds-pg, aurora-pg, global-aurora-pg, multi-az-pg, custom/,
    );
  }
  assert.throws(
    () => new DialectManager(new WrapperServices(), 'mysql2', { wrapperDialect: 'aurora-pg' }),
    /'aurora-pg' is a pg dialect but the driver is mysql2/,
  );
});

test('custom dialect: always wins, is validated, and is required by wrapperDialect custom', async () => {
  const custom: DatabaseDialect = { ...pgDialect, code: 'custom', updateCandidates: [] };
  const m = new DialectManager(new WrapperServices(), 'pg', { wrapperDialect: 'aurora-pg', customDialect: custom });
  assert.is(m.getDialect(new HostInfo({ host: URLS.writerCluster })), custom);
  assert.not.ok(m.canUpdate);
  assert.is(await m.refine(new HostInfo({ host: URLS.writerCluster }), async () => []), custom, 'no probing');
  assert.throws(
    () => new DialectManager(new WrapperServices(), 'pg', { wrapperDialect: 'custom' }),
    /'custom' needs a custom dialect object/,
  );
  assert.throws(
    () =>
      new DialectManager(new WrapperServices(), 'pg', {
        customDialect: { code: 'custom' } as unknown as DatabaseDialect,
      }),
    /customDialect: missing or wrong hostIdQuery \(string\), isReaderQuery \(string\), serverVersionQuery \(string\), defaultPort \(number\), updateCandidates \(array\), isDialect \(function\)/,
  );
  const later = new DialectManager(new WrapperServices(), 'pg');
  later.setCustomDialect(custom);
  assert.is(later.getDialect(new HostInfo({ host: 'x' })), custom);
});

test('cached dialects expire after 30 minutes', () => {
  const services = new WrapperServices();
  const host = new HostInfo({ host: 'db.example.com', port: 5432 });
  dialectCache(services).set('pg/db.example.com:5432', {
    code: 'aurora-pg',
    at: Date.now() - DIALECT_CACHE_TTL_MS - 1,
  });
  const m = new DialectManager(services, 'pg');
  assert.is(m.getDialect(host).code, 'pg');
  assert.ok(m.canUpdate);
  dialectCache(services).set('pg/db.example.com:5432', { code: 'aurora-pg', at: Date.now() - 1000 });
  assert.is(m.getDialect(host).code, 'aurora-pg');
  assert.not.ok(m.canUpdate);
  assert.is(m.getDialect(new HostInfo({ host: 'db.example.com' })).code, 'aurora-pg', 'no port = the default port');
});

test('SQL is the Python wrapper text, byte for byte where it matters (trailing spaces, OPERATOR forms)', () => {
  const aurora = DATABASE_DIALECTS.get('aurora-mysql')!.topology!.topologyQuery;
  assert.ok(aurora.endsWith("OR SESSION_ID = 'MASTER_SESSION_ID' "));
  assert.ok(
    DATABASE_DIALECTS.get('global-aurora-mysql')!.topology!.topologyQuery.endsWith('aurora_global_db_instance_status '),
  );
  assert.ok(
    DATABASE_DIALECTS.get('aurora-pg')!.topology!.topologyQuery.includes(
      'EXTRACT(EPOCH FROM(pg_catalog.NOW() OPERATOR(pg_catalog.-) LAST_UPDATE_TIMESTAMP)) OPERATOR(pg_catalog.<=) 300',
    ),
  );
  assert.is(
    DATABASE_DIALECTS.get('multi-az-pg')!.topology!.topologyQuery,
    "SELECT id, endpoint, port FROM rds_tools.show_topology('aws_python_driver-3.0.0')",
  );
  assert.is(
    DATABASE_DIALECTS.get('rds-mysql')!.hostIdQuery,
    "SELECT id, SUBSTRING_INDEX(endpoint, '.', 1) FROM mysql.rds_topology WHERE id = @@server_id",
  );
});

test.run();
