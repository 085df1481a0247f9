// The region rules gdb_failover and gdb_rw share, without servers: home region, region of a host, mode parsing and
// defaults, and the option checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostInfo } from '../ts/host-info.js';
import { ConfigurationError } from '../ts/errors.js';
import { homeRegionFrom, regionMatchers, regionOfHost } from '../ts/plugins/gdb-common.js';
import { gdbFailoverModeFrom, GdbFailoverMode } from '../ts/plugins/gdb-failover.js';
import { parseConnectProps } from '../ts/options.js';

const host = (h: string) => new HostInfo({ host: h, port: 5432 });

test('home region: the option, else the initial host name; a global-, IP or custom name without it is a ConfigurationError naming the key', () => {
  assert.is(
    homeRegionFrom(' eu-west-1 ', 'failoverHomeRegion', host('db.global-abc.global.rds.amazonaws.com')),
    'eu-west-1',
  );
  assert.is(
    homeRegionFrom(undefined, 'failoverHomeRegion', host('app.cluster-abc.us-west-2.rds.amazonaws.com')),
    'us-west-2',
  );
  assert.is(
    homeRegionFrom(undefined, 'gdbRwHomeRegion', host('instance-1.abc.ap-south-1.rds.amazonaws.com')),
    'ap-south-1',
  );
  for (const [h, what] of [
    ['db.global-abc.global.rds.amazonaws.com', 'a global database endpoint'],
    ['10.0.0.7', 'an IP address'],
    ['db.example.com', 'a name without an AWS region'],
  ]) {
    try {
      homeRegionFrom(undefined, 'gdbRwHomeRegion', host(h));
      assert.unreachable('expected a ConfigurationError');
    } catch (err) {
      assert.instance(err, ConfigurationError);
      assert.is((err as ConfigurationError).key, 'gdbRwHomeRegion');
      assert.ok((err as Error).message.includes(what), (err as Error).message);
    }
  }
});

test('region of a host: the globalClusterInstanceHostPatterns entry its name matches (port ignored), else its RDS name', () => {
  const m = regionMatchers(['us-east-1:?.aaa.example.com:5433', 'eu-west-1:?.bbb.example.com']);
  assert.is(regionOfHost(host('db-1.aaa.example.com'), m), 'us-east-1');
  assert.is(regionOfHost(host('db-9.bbb.example.com'), m), 'eu-west-1');
  assert.is(regionOfHost(host('x.y.aaa.example.com'), m), undefined, "'?' stands for one label");
  assert.is(regionOfHost(host('instance-3.xyz.ca-central-1.rds.amazonaws.com'), m), 'ca-central-1');
  assert.is(
    regionOfHost(
      host('instance-3.xyz.ca-central-1.rds.amazonaws.com'),
      regionMatchers('us-east-1:?.xyz.ca-central-1.rds.amazonaws.com'),
    ),
    'us-east-1',
    'a pattern wins',
  );
});

test("gdb_failover modes: '-' or '_' spellings; unset: strict-writer behind cluster- and global- writer endpoints, else home-reader-or-writer", () => {
  assert.is(
    gdbFailoverModeFrom('STRICT_HOME_READER', 'activeHomeFailoverMode', host('x')),
    GdbFailoverMode.STRICT_HOME_READER,
  );
  assert.is(
    gdbFailoverModeFrom('out-of-home-reader-or-writer', 'k', host('x')),
    GdbFailoverMode.OUT_OF_HOME_READER_OR_WRITER,
  );
  assert.is(
    gdbFailoverModeFrom(undefined, 'k', host('app.cluster-abc.us-east-1.rds.amazonaws.com')),
    GdbFailoverMode.STRICT_WRITER,
  );
  assert.is(
    gdbFailoverModeFrom(undefined, 'k', host('app.global-abc.global.rds.amazonaws.com')),
    GdbFailoverMode.STRICT_WRITER,
  );
  assert.is(
    gdbFailoverModeFrom(undefined, 'k', host('app.cluster-ro-abc.us-east-1.rds.amazonaws.com')),
    GdbFailoverMode.HOME_READER_OR_WRITER,
  );
  assert.is(
    gdbFailoverModeFrom(undefined, 'k', host('instance-1.abc.us-east-1.rds.amazonaws.com')),
    GdbFailoverMode.HOME_READER_OR_WRITER,
  );
  assert.throws(
    () => gdbFailoverModeFrom('reader_or_writer', 'inactiveHomeFailoverMode', host('x')),
    /inactiveHomeFailoverMode must be one of strict-writer, .*; got 'reader_or_writer'/,
  );
});

test('options: seed aliases, defaults, and rejected values name the key', () => {
  const p = parseConnectProps('pg', {
    host: 'h',
    failover_home_region: 'us-east-1',
    active_home_failover_mode: 'strict-home-reader',
    gdb_rw_home_region: 'eu-west-1',
    gdb_enable_global_write_forwarding: 'true',
  });
  assert.is(p.options.failoverHomeRegion, 'us-east-1');
  assert.is(p.options.activeHomeFailoverMode, 'strict-home-reader');
  assert.is(p.options.inactiveHomeFailoverMode, undefined);
  assert.is(p.options.gdbRwHomeRegion, 'eu-west-1');
  assert.is(p.options.gdbEnableGlobalWriteForwarding, true);
  assert.is(p.options.gdbRwRestrictWriterToHomeRegion, true);
  assert.is(p.options.gdbRwRestrictReaderToHomeRegion, true);
  assert.throws(
    () => parseConnectProps('pg', { host: 'h', gdbRwHomeRegion: 'home' }),
    (e: Error) => e instanceof ConfigurationError && /gdbRwHomeRegion/.test(e.message),
  );
  assert.throws(
    () => parseConnectProps('pg', { host: 'h', inactiveHomeFailoverMode: 'writer' }),
    (e: Error) => e instanceof ConfigurationError && /inactiveHomeFailoverMode/.test(e.message),
  );
});

test.run();
