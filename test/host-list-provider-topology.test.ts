// Topology parsing with canned rows (the row arrays are query results as the drivers return them), bad rows,
// instance-template validation, cluster-id derivation and the topology cache keyed by cluster id.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostInfo, HostRole } from '../ts/host-info.js';
import { WrapperServices } from '../ts/services.js';
import { ConfigurationError } from '../ts/errors.js';
import {
  auroraPgDialect,
  globalAuroraPgDialect,
  multiAzMysqlDialect,
  pgDialect,
} from '../ts/dialects/database/index.js';
import {
  deriveClusterId,
  instanceTemplateFor,
  parseGlobalClusterInstanceHostPatterns,
  RdsHostListProvider,
  topologyRowsToHosts,
  TopologyRowError,
  validateClusterInstanceHostPattern,
  ConnectionStringHostListProvider,
  hostFromDriverConfig,
} from '../ts/host-list-providers/index.js';
import { topologyCache } from '../ts/host-list-providers/cluster-state.js';

const D = 'abc123xyz.us-east-1.rds.amazonaws.com';
const template = new HostInfo({ host: `?.${D}`, port: 5432 });
const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:00:05Z');
const noQueries = {
  queryRows: async (): Promise<unknown[][]> => {
    throw new Error('no queries in this test');
  },
};

test('aurora rows: hosts from the template, writer first, ids as hostId and alias', () => {
  const hosts = topologyRowsToHosts(
    'aurora',
    [
      ['instance-2', false, 3.5, 12, t0],
      ['instance-1', true, 9.0, 0, t1],
      ['instance-3', 0, null, null, null], // mysql2 booleans and NULL cpu/lag/update
    ],
    { template },
  )!;
  assert.equal(
    hosts.map((h) => [h.host, h.port, h.role, h.hostId]),
    [
      [`instance-1.${D}`, 5432, HostRole.WRITER, 'instance-1'],
      [`instance-2.${D}`, 5432, HostRole.READER, 'instance-2'],
      [`instance-3.${D}`, 5432, HostRole.READER, 'instance-3'],
    ],
  );
  assert.equal(hosts[1].lastUpdateTime, t0);
  assert.ok(hosts[0].allAliases.has('instance-1'));
});

test('aurora rows: several writers keep the most recently updated; no writer is invalid', () => {
  const hosts = topologyRowsToHosts(
    'aurora',
    [
      ['old-writer', 1, 1, 0, t0],
      ['new-writer', 1, 1, 0, t1],
      ['reader', 0, 1, 0, t1],
    ],
    { template },
  )!;
  assert.equal(
    hosts.map((h) => h.hostId),
    ['new-writer', 'reader'],
  );
  assert.is(topologyRowsToHosts('aurora', [['reader', false, 1, 0, t1]], { template }), undefined);
  assert.is(topologyRowsToHosts('aurora', [], { template }), undefined);
});

test('multi-az rows: instance name from the endpoint, role from the writer id, row ports unless the pattern has one', () => {
  const rows = [
    [101, `node-a.${D}`, 3306],
    ['102', `node-b.${D}`, '3307'],
  ];
  const hosts = topologyRowsToHosts('multi-az', rows, {
    template: new HostInfo({ host: '?.example.internal', port: 3306 }),
    writerId: '102',
  })!;
  assert.equal(
    hosts.map((h) => [h.host, h.port, h.role, h.hostId]),
    [
      ['node-b.example.internal', 3307, HostRole.WRITER, '102'],
      ['node-a.example.internal', 3306, HostRole.READER, '101'],
    ],
  );
  const pinned = topologyRowsToHosts('multi-az', rows, {
    template: new HostInfo({ host: '?.example.internal', port: 6000 }),
    templatePortExplicit: true,
    writerId: '101',
  })!;
  assert.equal(
    pinned.map((h) => h.port),
    [6000, 6000],
  );
  assert.is(
    topologyRowsToHosts('multi-az', rows, { template, writerId: undefined }),
    undefined,
    'unknown writer: invalid',
  );
});

test('global rows: per-region templates; a region missing from them is a clear error', () => {
  const regions = parseGlobalClusterInstanceHostPatterns(
    'us-east-1:?.aaa.us-east-1.rds.amazonaws.com, eu-west-1:?.bbb.eu-west-1.rds.amazonaws.com:5433',
    template,
  );
  const rows = [
    ['east-1', true, 0, 'us-east-1'],
    ['west-1', false, 120, 'eu-west-1'],
  ];
  const hosts = topologyRowsToHosts('global-aurora', rows, { template, regionTemplates: regions })!;
  assert.equal(
    hosts.map((h) => [h.host, h.port, h.role]),
    [
      ['east-1.aaa.us-east-1.rds.amazonaws.com', 5432, HostRole.WRITER],
      ['west-1.bbb.eu-west-1.rds.amazonaws.com', 5433, HostRole.READER],
    ],
  );
  assert.throws(
    () =>
      topologyRowsToHosts('global-aurora', [...rows, ['ap-1', false, 5, 'ap-south-1']], {
        template,
        regionTemplates: regions,
      }),
    /Row 3 .* is in region ap-south-1, which globalClusterInstanceHostPatterns does not list \(it lists us-east-1, eu-west-1\)/,
  );
  assert.throws(
    () => parseGlobalClusterInstanceHostPatterns('us-east-1', template),
    /'us-east-1' must be 'region:host-pattern\[:port\]'/,
  );
});

test('bad rows are rejected with the row and the expected shape', () => {
  const cases: [Parameters<typeof topologyRowsToHosts>[0], unknown[], RegExp][] = [
    [
      'aurora',
      [['i-1', true, 1, 0]],
      /Bad row 1 from the aurora topology query: it has 4 columns; expected 5 columns \(id, is_writer, cpu, lag, last_update\), got \["i-1",true,1,0\]/,
    ],
    [
      'aurora',
      [
        ['i-1', true, 1, 0, t0],
        ['', false, 1, 0, t0],
      ],
      /Bad row 2 .*: the instance id \(column 1\) is empty/,
    ],
    ['aurora', [['i-1', 'maybe', 1, 0, t0]], /is_writer \(column 2\) is not a boolean/],
    ['aurora', [['i-1', true, 'lots', 0, t0]], /cpu \(column 3\) is not a number/],
    ['aurora', [['i-1', true, 1, 0, 'yesterday']], /last_update \(column 5\) is not a timestamp/],
    ['aurora', ['i-1'], /the row is not an array/],
    [
      'multi-az',
      [[1, `a.${D}`, 70000]],
      /port \(column 3\) is not an integer in 1\.\.65535; expected 3 columns \(id, endpoint, port\)/,
    ],
    ['multi-az', [[1, '', 3306]], /endpoint \(column 2\) is empty/],
    ['multi-az', [[null, `a.${D}`, 3306]], /instance id \(column 1\) is empty/],
    ['global-aurora', [['g-1', true, 0, null]], /aws_region \(column 4\) is empty/],
  ];
  for (const [kind, rows, message] of cases) {
    try {
      topologyRowsToHosts(kind, rows, { template, writerId: '1' });
      assert.unreachable(`${kind} ${JSON.stringify(rows)} should fail`);
    } catch (err) {
      assert.instance(err, TopologyRowError);
      assert.match((err as Error).message, message);
    }
  }
});

test('clusterInstanceHostPattern validation', () => {
  assert.equal(validateClusterInstanceHostPattern('?.example.internal:6000'), {
    host: '?.example.internal',
    port: 6000,
  });
  assert.equal(validateClusterInstanceHostPattern(`?.${D}`), { host: `?.${D}`, port: undefined });
  const bad: [string, RegExp][] = [
    ['db.example.internal', /'\?' is missing/],
    [`?.proxy-${D}`, /not an RDS Proxy name/],
    [`?.cluster-custom-${D}`, /not a custom cluster endpoint name/],
    ['?.example.internal:0', /got '\?\.example\.internal:0'/],
    ['?.example.internal:99999', /the port must be an integer in 1\.\.65535/],
    ['?.example.internal:', /the port must be an integer/],
    ['?.a,?.b', /only letters, digits/],
    ['', /expects a host pattern/],
    [':abc', /expects a host pattern/],
    ['a b?.x.com', /only letters, digits/],
  ];
  for (const [pattern, message] of bad) {
    try {
      validateClusterInstanceHostPattern(pattern);
      assert.unreachable(pattern);
    } catch (err) {
      assert.instance(err, ConfigurationError);
      assert.is((err as ConfigurationError).key, 'clusterInstanceHostPattern');
      assert.match((err as Error).message, message);
    }
  }
});

test('instance template: the option, else ?.<domain> of an RDS host, else a clear error', () => {
  const initial = new HostInfo({ host: `mydb.cluster-${D}`, port: 5432 });
  assert.equal(
    [instanceTemplateFor(initial, undefined).host.host, instanceTemplateFor(initial, undefined).host.port],
    [`?.${D}`, 5432],
  );
  const explicit = instanceTemplateFor(initial, '?.other.internal:6432');
  assert.equal([explicit.host.host, explicit.host.port, explicit.explicitPort], ['?.other.internal', 6432, true]);
  assert.throws(
    () => instanceTemplateFor(new HostInfo({ host: '127.0.0.1', port: 5432 }), undefined),
    /clusterInstanceHostPattern: required when connecting to '127\.0\.0\.1'/,
  );
  assert.throws(() => instanceTemplateFor(new HostInfo({ host: 'db.example.com' }), undefined), /required/);
});

test('cluster id: the option, else derived so different clusters never share', () => {
  const id = (host: string, port = 5432, option?: string) => deriveClusterId(new HostInfo({ host, port }), option);
  assert.is(id(`mydb.cluster-${D}`, 5432, 'my-cluster'), 'my-cluster');
  assert.is(id(`mydb.cluster-${D}`), `mydb.cluster-${D}`);
  assert.is(id(`mydb.cluster-ro-${D}`), `mydb.cluster-${D}`, 'reader endpoint shares the writer endpoint cache');
  assert.is.not(id(`otherdb.cluster-${D}`), id(`mydb.cluster-${D}`));
  assert.is(id(`custom1.cluster-custom-${D}`), `custom1.cluster-custom-${D}`);
  assert.is(id(`instance-1.${D}`), `instance-1.${D}:5432`);
  assert.is(id('10.0.0.1', 6000), '10.0.0.1:6000');
});

test('topology cache is keyed by cluster id: two clusters in one process never see each other', async () => {
  const services = new WrapperServices();
  const make = (host: string, clusterId?: string) =>
    new RdsHostListProvider({
      initialHost: new HostInfo({ host, port: 5432 }),
      dialect: auroraPgDialect,
      driverDialect: noQueries,
      options: { clusterId },
      services,
    });
  const a = make(`a.cluster-${D}`);
  const aReader = make(`a.cluster-ro-${D}`);
  const b = make(`b.cluster-${D}`);
  a.storeTopology(
    a.parseTopology([
      ['a-1', true, 0, 0, t0],
      ['a-2', false, 0, 0, t0],
    ])!,
  );
  assert.equal(
    (await aReader.refresh()).map((h) => h.hostId),
    ['a-1', 'a-2'],
  );
  assert.equal(
    (await b.refresh()).map((h) => h.host),
    [`b.cluster-${D}`],
    'nothing known: the initial host',
  );
  assert.equal([...topologyCache(services).keys()], [`a.cluster-${D}`]);
  // An explicit clusterId joins clusters on purpose.
  assert.equal(
    (await make(`b.cluster-${D}`, `a.cluster-${D}`).refresh()).map((h) => h.hostId),
    ['a-1', 'a-2'],
  );
});

test('RDS provider: needs a topology dialect; initial port defaults to the dialect port; bad pattern surfaces on use', async () => {
  const services = new WrapperServices();
  assert.throws(
    () =>
      new RdsHostListProvider({
        initialHost: new HostInfo({ host: 'x' }),
        dialect: pgDialect,
        driverDialect: noQueries,
        options: {},
        services,
      }),
    /'pg' has no topology queries/,
  );
  const p = new RdsHostListProvider({
    initialHost: new HostInfo({ host: `mydb.cluster-${D}` }),
    dialect: multiAzMysqlDialect,
    driverDialect: noQueries,
    options: {},
    services,
  });
  assert.is(p.initialHostInfo.port, 3306);
  const bad = new RdsHostListProvider({
    initialHost: new HostInfo({ host: `mydb.cluster-${D}` }),
    dialect: globalAuroraPgDialect,
    driverDialect: noQueries,
    options: { clusterInstanceHostPattern: 'no-placeholder.internal' },
    services,
  });
  try {
    await bad.refresh({});
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigurationError);
  }
});

test('connection-string provider: one writer host from host/port, cluster id <none>, no topology refresh', async () => {
  const h = hostFromDriverConfig({ host: 'db.example.com', port: '6432' });
  assert.equal([h.host, h.port, h.role], ['db.example.com', 6432, HostRole.WRITER]);
  assert.equal([hostFromDriverConfig({}).host, hostFromDriverConfig({}).port], ['localhost', -1]);
  assert.throws(
    () => hostFromDriverConfig({ host: 'x', port: 'abc' }),
    /port: expected an integer in 1\.\.65535, got "abc"/,
  );
  const p = new ConnectionStringHostListProvider({ initialHost: h });
  assert.is(p.clusterId, '<none>');
  assert.not.ok(p.isDynamic);
  assert.equal(await p.refresh(), [h]);
  assert.is(await p.identifyConnection(), undefined);
  try {
    await p.forceRefresh();
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /no cluster topology to refresh/);
  }
});

test.run();
