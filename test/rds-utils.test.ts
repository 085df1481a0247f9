import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  RdsUrlType,
  RDS_URL_TYPE_TRAITS,
  identifyRdsType,
  isRdsDns,
  isRdsClusterDns,
  isWriterClusterDns,
  isReaderClusterDns,
  isCustomClusterDns,
  isProxyDns,
  isLimitlessShardGroupDns,
  isGlobalDbWriterClusterDns,
  isRdsInstance,
  isIPv4,
  isIPv6,
  isIp,
  getRdsInstanceHostPattern,
  getRdsRegion,
  getRdsClusterId,
  getRdsInstanceId,
  getRdsClusterHostUrl,
  isGreenInstance,
  isOldInstance,
  isNotOldInstance,
  removeGreenInstancePrefix,
} from '../ts/rds-utils.js';

const T = RdsUrlType;
// host, type, region, cluster id, instance id, instance host pattern, cluster host url
type Row = [string, RdsUrlType, string | undefined, string | undefined, string | undefined, string, string | undefined];

const rows: Row[] = [
  // commercial regions
  [
    'database-test-name.cluster-XYZ.us-east-2.rds.amazonaws.com',
    T.RDS_WRITER_CLUSTER,
    'us-east-2',
    'database-test-name',
    undefined,
    '?.XYZ.us-east-2.rds.amazonaws.com',
    'database-test-name.cluster-XYZ.us-east-2.rds.amazonaws.com',
  ],
  [
    'database-test-name.cluster-ro-XYZ.us-east-2.rds.amazonaws.com',
    T.RDS_READER_CLUSTER,
    'us-east-2',
    'database-test-name',
    undefined,
    '?.XYZ.us-east-2.rds.amazonaws.com',
    'database-test-name.cluster-XYZ.us-east-2.rds.amazonaws.com',
  ],
  [
    'database-test-name.cluster-custom-XYZ.us-east-2.rds.amazonaws.com',
    T.RDS_CUSTOM_CLUSTER,
    'us-east-2',
    'database-test-name',
    undefined,
    '?.XYZ.us-east-2.rds.amazonaws.com',
    undefined,
  ],
  [
    'proxy-test-name.proxy-XYZ.us-east-2.rds.amazonaws.com',
    T.RDS_PROXY,
    'us-east-2',
    'proxy-test-name',
    undefined,
    '?.XYZ.us-east-2.rds.amazonaws.com',
    undefined,
  ],
  [
    'instance-test-name.XYZ.us-east-2.rds.amazonaws.com',
    T.RDS_INSTANCE,
    'us-east-2',
    undefined,
    'instance-test-name',
    '?.XYZ.us-east-2.rds.amazonaws.com',
    undefined,
  ],
  [
    'database-test-name.shardgrp-XYZ.us-east-2.rds.amazonaws.com',
    T.RDS_AURORA_LIMITLESS_DB_SHARD_GROUP,
    'us-east-2',
    'database-test-name',
    undefined,
    '?.XYZ.us-east-2.rds.amazonaws.com',
    'database-test-name.shardgrp-XYZ.us-east-2.rds.amazonaws.com',
  ],
  [
    'my-global-db.global-abc123def456.global.rds.amazonaws.com',
    T.RDS_GLOBAL_WRITER_CLUSTER,
    undefined,
    'my-global-db',
    undefined,
    '?.abc123def456.global.rds.amazonaws.com',
    undefined,
  ],
  [
    'test-postgres.cluster-123456789012.us-west-2.rds.amazonaws.com',
    T.RDS_WRITER_CLUSTER,
    'us-west-2',
    'test-postgres',
    undefined,
    '?.123456789012.us-west-2.rds.amazonaws.com',
    'test-postgres.cluster-123456789012.us-west-2.rds.amazonaws.com',
  ],
  [
    'pg-instance-1.czygpppufgy4.eu-central-1.rds.amazonaws.com',
    T.RDS_INSTANCE,
    'eu-central-1',
    undefined,
    'pg-instance-1',
    '?.czygpppufgy4.eu-central-1.rds.amazonaws.com',
    undefined,
  ],
  [
    'mysql-1.abcdefghijkl.ap-southeast-2.rds.amazonaws.com',
    T.RDS_INSTANCE,
    'ap-southeast-2',
    undefined,
    'mysql-1',
    '?.abcdefghijkl.ap-southeast-2.rds.amazonaws.com',
    undefined,
  ],
  // case-insensitive, trailing dot tolerated, spelling kept
  [
    'DB.CLUSTER-RO-XYZ.US-EAST-1.RDS.AMAZONAWS.COM',
    T.RDS_READER_CLUSTER,
    'US-EAST-1',
    'DB',
    undefined,
    '?.XYZ.US-EAST-1.RDS.AMAZONAWS.COM',
    'DB.cluster-XYZ.US-EAST-1.RDS.AMAZONAWS.COM',
  ],
  [
    'Db.Cluster-Xyz.us-east-1.rds.amazonaws.com',
    T.RDS_WRITER_CLUSTER,
    'us-east-1',
    'Db',
    undefined,
    '?.Xyz.us-east-1.rds.amazonaws.com',
    'Db.cluster-Xyz.us-east-1.rds.amazonaws.com',
  ],
  [
    'db.cluster-xyz.us-east-1.rds.amazonaws.com.',
    T.RDS_WRITER_CLUSTER,
    'us-east-1',
    'db',
    undefined,
    '?.xyz.us-east-1.rds.amazonaws.com',
    'db.cluster-xyz.us-east-1.rds.amazonaws.com',
  ],
  [
    'inst-2.xyz.us-east-1.rds.amazonaws.com.',
    T.RDS_INSTANCE,
    'us-east-1',
    undefined,
    'inst-2',
    '?.xyz.us-east-1.rds.amazonaws.com',
    undefined,
  ],
  // China, current form
  [
    'test-postgres.cluster-123456789012.rds.cn-northwest-1.amazonaws.com.cn',
    T.RDS_WRITER_CLUSTER,
    'cn-northwest-1',
    'test-postgres',
    undefined,
    '?.123456789012.rds.cn-northwest-1.amazonaws.com.cn',
    'test-postgres.cluster-123456789012.rds.cn-northwest-1.amazonaws.com.cn',
  ],
  [
    'test-postgres.cluster-ro-123456789012.rds.cn-north-1.amazonaws.com.cn',
    T.RDS_READER_CLUSTER,
    'cn-north-1',
    'test-postgres',
    undefined,
    '?.123456789012.rds.cn-north-1.amazonaws.com.cn',
    'test-postgres.cluster-123456789012.rds.cn-north-1.amazonaws.com.cn',
  ],
  [
    'test-postgres-alias.cluster-custom-123456789012.rds.cn-north-1.amazonaws.com.cn',
    T.RDS_CUSTOM_CLUSTER,
    'cn-north-1',
    'test-postgres-alias',
    undefined,
    '?.123456789012.rds.cn-north-1.amazonaws.com.cn',
    undefined,
  ],
  [
    'test-proxy.proxy-123456789012.rds.cn-north-1.amazonaws.com.cn',
    T.RDS_PROXY,
    'cn-north-1',
    'test-proxy',
    undefined,
    '?.123456789012.rds.cn-north-1.amazonaws.com.cn',
    undefined,
  ],
  [
    'test-postgres-instance-1.123456789012.rds.cn-north-1.amazonaws.com.cn',
    T.RDS_INSTANCE,
    'cn-north-1',
    undefined,
    'test-postgres-instance-1',
    '?.123456789012.rds.cn-north-1.amazonaws.com.cn',
    undefined,
  ],
  [
    'limitless.shardgrp-123456789012.rds.cn-north-1.amazonaws.com.cn',
    T.RDS_AURORA_LIMITLESS_DB_SHARD_GROUP,
    'cn-north-1',
    'limitless',
    undefined,
    '?.123456789012.rds.cn-north-1.amazonaws.com.cn',
    'limitless.shardgrp-123456789012.rds.cn-north-1.amazonaws.com.cn',
  ],
  // China, old form
  [
    'test-postgres.cluster-123456789012.cn-north-1.rds.amazonaws.com.cn',
    T.RDS_WRITER_CLUSTER,
    'cn-north-1',
    'test-postgres',
    undefined,
    '?.123456789012.cn-north-1.rds.amazonaws.com.cn',
    'test-postgres.cluster-123456789012.cn-north-1.rds.amazonaws.com.cn',
  ],
  [
    'test-postgres.cluster-ro-123456789012.cn-north-1.rds.amazonaws.com.cn',
    T.RDS_READER_CLUSTER,
    'cn-north-1',
    'test-postgres',
    undefined,
    '?.123456789012.cn-north-1.rds.amazonaws.com.cn',
    'test-postgres.cluster-123456789012.cn-north-1.rds.amazonaws.com.cn',
  ],
  [
    'test-alias.cluster-custom-123456789012.cn-north-1.rds.amazonaws.com.cn',
    T.RDS_CUSTOM_CLUSTER,
    'cn-north-1',
    'test-alias',
    undefined,
    '?.123456789012.cn-north-1.rds.amazonaws.com.cn',
    undefined,
  ],
  [
    'test-proxy.proxy-123456789012.cn-northwest-1.rds.amazonaws.com.cn',
    T.RDS_PROXY,
    'cn-northwest-1',
    'test-proxy',
    undefined,
    '?.123456789012.cn-northwest-1.rds.amazonaws.com.cn',
    undefined,
  ],
  [
    'instance-1.123456789012.cn-north-1.rds.amazonaws.com.cn',
    T.RDS_INSTANCE,
    'cn-north-1',
    undefined,
    'instance-1',
    '?.123456789012.cn-north-1.rds.amazonaws.com.cn',
    undefined,
  ],
  [
    'sg.shardgrp-123456789012.cn-north-1.rds.amazonaws.com.cn',
    T.RDS_AURORA_LIMITLESS_DB_SHARD_GROUP,
    'cn-north-1',
    'sg',
    undefined,
    '?.123456789012.cn-north-1.rds.amazonaws.com.cn',
    'sg.shardgrp-123456789012.cn-north-1.rds.amazonaws.com.cn',
  ],
  // GovCloud and isolated regions
  [
    'gov.cluster-xyz.rds.us-gov-west-1.amazonaws.com',
    T.RDS_WRITER_CLUSTER,
    'us-gov-west-1',
    'gov',
    undefined,
    '?.xyz.rds.us-gov-west-1.amazonaws.com',
    'gov.cluster-xyz.rds.us-gov-west-1.amazonaws.com',
  ],
  [
    'gov.cluster-ro-xyz.rds.us-gov-east-1.amazonaws.com',
    T.RDS_READER_CLUSTER,
    'us-gov-east-1',
    'gov',
    undefined,
    '?.xyz.rds.us-gov-east-1.amazonaws.com',
    'gov.cluster-xyz.rds.us-gov-east-1.amazonaws.com',
  ],
  [
    'gov-inst.xyz.rds.us-gov-west-1.amazonaws.com',
    T.RDS_INSTANCE,
    'us-gov-west-1',
    undefined,
    'gov-inst',
    '?.xyz.rds.us-gov-west-1.amazonaws.com',
    undefined,
  ],
  [
    'gov-proxy.proxy-xyz.rds.us-gov-west-1.amazonaws.com',
    T.RDS_PROXY,
    'us-gov-west-1',
    'gov-proxy',
    undefined,
    '?.xyz.rds.us-gov-west-1.amazonaws.com',
    undefined,
  ],
  [
    'iso.cluster-xyz.rds.us-iso-east-1.c2s.ic.gov',
    T.RDS_WRITER_CLUSTER,
    'us-iso-east-1',
    'iso',
    undefined,
    '?.xyz.rds.us-iso-east-1.c2s.ic.gov',
    'iso.cluster-xyz.rds.us-iso-east-1.c2s.ic.gov',
  ],
  [
    'iso-inst.xyz.rds.us-iso-east-1.c2s.ic.gov',
    T.RDS_INSTANCE,
    'us-iso-east-1',
    undefined,
    'iso-inst',
    '?.xyz.rds.us-iso-east-1.c2s.ic.gov',
    undefined,
  ],
  [
    'isob.cluster-custom-xyz.rds.us-isob-east-1.sc2s.sgov.gov',
    T.RDS_CUSTOM_CLUSTER,
    'us-isob-east-1',
    'isob',
    undefined,
    '?.xyz.rds.us-isob-east-1.sc2s.sgov.gov',
    undefined,
  ],
  [
    'isob.shardgrp-xyz.rds.us-isob-east-1.sc2s.sgov.gov',
    T.RDS_AURORA_LIMITLESS_DB_SHARD_GROUP,
    'us-isob-east-1',
    'isob',
    undefined,
    '?.xyz.rds.us-isob-east-1.sc2s.sgov.gov',
    'isob.shardgrp-xyz.rds.us-isob-east-1.sc2s.sgov.gov',
  ],
  // Blue/Green names are ordinary instance / cluster names to the recognizer
  [
    'db-1-green-abc123.xyz.us-east-1.rds.amazonaws.com',
    T.RDS_INSTANCE,
    'us-east-1',
    undefined,
    'db-1-green-abc123',
    '?.xyz.us-east-1.rds.amazonaws.com',
    undefined,
  ],
  [
    'db-1-old1.xyz.us-east-1.rds.amazonaws.com',
    T.RDS_INSTANCE,
    'us-east-1',
    undefined,
    'db-1-old1',
    '?.xyz.us-east-1.rds.amazonaws.com',
    undefined,
  ],
  [
    'cl-green-zzz999.cluster-xyz.us-east-1.rds.amazonaws.com',
    T.RDS_WRITER_CLUSTER,
    'us-east-1',
    'cl-green-zzz999',
    undefined,
    '?.xyz.us-east-1.rds.amazonaws.com',
    'cl-green-zzz999.cluster-xyz.us-east-1.rds.amazonaws.com',
  ],
  // IP addresses
  ['10.10.10.10', T.IP_ADDRESS, undefined, undefined, undefined, '?', undefined],
  ['127.0.0.1', T.IP_ADDRESS, undefined, undefined, undefined, '?', undefined],
  ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', T.IP_ADDRESS, undefined, undefined, undefined, '?', undefined],
  ['2001:db8::8a2e:370:7334', T.IP_ADDRESS, undefined, undefined, undefined, '?', undefined],
  ['::1', T.IP_ADDRESS, undefined, undefined, undefined, '?', undefined],
  ['[::1]', T.IP_ADDRESS, undefined, undefined, undefined, '?', undefined],
  ['fe80::', T.IP_ADDRESS, undefined, undefined, undefined, '?', undefined],
  // not RDS
  ['localhost', T.OTHER, undefined, undefined, undefined, '?', undefined],
  ['', T.OTHER, undefined, undefined, undefined, '?', undefined],
  ['db.example.com', T.OTHER, undefined, undefined, undefined, '?', undefined],
  ['my-lb-123.elb.us-west-1.amazonaws.com', T.OTHER, 'us-west-1', undefined, undefined, '?', undefined],
  ['db.cluster-xyz.us-east-1.rds.amazonaws.com.evil.example', T.OTHER, undefined, undefined, undefined, '?', undefined],
  ['xyz.us-east-1.rds.amazonaws.com', T.OTHER, undefined, undefined, undefined, '?', undefined],
  ['256.1.1.1', T.OTHER, undefined, undefined, undefined, '?', undefined],
  ['db.cluster-xyz.us-east-1.rds.amazonaws.co', T.OTHER, undefined, undefined, undefined, '?', undefined],
];

test('table has at least 40 rows', () => {
  assert.ok(rows.length >= 40, `${rows.length}`);
});

for (const [host, type, region, clusterId, instanceId, pattern, clusterUrl] of rows) {
  test(`recognizes ${JSON.stringify(host)}`, () => {
    assert.is(identifyRdsType(host), type, 'type');
    assert.is(getRdsRegion(host), region, 'region');
    assert.is(getRdsClusterId(host), clusterId, 'cluster id');
    assert.is(getRdsInstanceId(host), instanceId, 'instance id');
    assert.is(getRdsInstanceHostPattern(host), pattern, 'pattern');
    assert.is(getRdsClusterHostUrl(host), clusterUrl, 'cluster host url');
    const traits = RDS_URL_TYPE_TRAITS[type];
    assert.is(isRdsDns(host), traits.isRds, 'isRdsDns');
    assert.is(isIp(host), type === T.IP_ADDRESS, 'isIp');
    assert.is(isRdsInstance(host), type === T.RDS_INSTANCE, 'isRdsInstance');
    assert.is(isRdsClusterDns(host), type === T.RDS_WRITER_CLUSTER || type === T.RDS_READER_CLUSTER, 'isRdsClusterDns');
    assert.is(isWriterClusterDns(host), type === T.RDS_WRITER_CLUSTER, 'isWriterClusterDns');
    assert.is(isReaderClusterDns(host), type === T.RDS_READER_CLUSTER, 'isReaderClusterDns');
    assert.is(isCustomClusterDns(host), type === T.RDS_CUSTOM_CLUSTER, 'isCustomClusterDns');
    assert.is(isProxyDns(host), type === T.RDS_PROXY, 'isProxyDns');
    assert.is(
      isLimitlessShardGroupDns(host),
      type === T.RDS_AURORA_LIMITLESS_DB_SHARD_GROUP,
      'isLimitlessShardGroupDns',
    );
    assert.is(isGlobalDbWriterClusterDns(host), type === T.RDS_GLOBAL_WRITER_CLUSTER, 'isGlobalDbWriterClusterDns');
  });
}

test('IPv4 / IPv6 split', () => {
  assert.ok(isIPv4('192.168.0.1'));
  assert.not.ok(isIPv6('192.168.0.1'));
  assert.ok(isIPv6('2001:db8:0:0:0:0:2:1'));
  assert.ok(isIPv6('::'));
  assert.not.ok(isIPv4('::1'));
  assert.not.ok(isIp('1.2.3'));
  assert.not.ok(isIp('2001:db8:::1'));
  assert.not.ok(isIp('gggg::1'));
});

test('Blue/Green names', () => {
  assert.ok(isGreenInstance('db-1-green-abc123.xyz.us-east-1.rds.amazonaws.com'));
  assert.ok(isGreenInstance('DB-1-GREEN-ABC123.XYZ.US-EAST-1.RDS.AMAZONAWS.COM'));
  assert.ok(isGreenInstance('db-1-green-abc123'));
  assert.not.ok(isGreenInstance('db-1.xyz.us-east-1.rds.amazonaws.com'));
  assert.not.ok(
    isGreenInstance('db-1-green-abc12.xyz.us-east-1.rds.amazonaws.com'),
    'five chars is not a green suffix',
  );
  assert.ok(isOldInstance('db-1-old1.xyz.us-east-1.rds.amazonaws.com'));
  assert.ok(isOldInstance('db-1-old1'));
  assert.not.ok(isOldInstance('db-1.xyz.us-east-1.rds.amazonaws.com'));
  assert.not.ok(isNotOldInstance('db-1-old1.xyz.us-east-1.rds.amazonaws.com'));
  assert.ok(isNotOldInstance('db-1-green-abc123.xyz.us-east-1.rds.amazonaws.com'));
  assert.is(
    removeGreenInstancePrefix('db-1-green-abc123.xyz.us-east-1.rds.amazonaws.com'),
    'db-1.xyz.us-east-1.rds.amazonaws.com',
  );
  assert.is(
    removeGreenInstancePrefix('cl-green-a1b2c3.cluster-xyz.us-east-1.rds.amazonaws.com'),
    'cl.cluster-xyz.us-east-1.rds.amazonaws.com',
  );
  assert.is(removeGreenInstancePrefix('db-1-green-abc123'), 'db-1');
  assert.is(removeGreenInstancePrefix('db-1.xyz.us-east-1.rds.amazonaws.com'), 'db-1.xyz.us-east-1.rds.amazonaws.com');
  assert.is(removeGreenInstancePrefix(''), '');
});

test('traits match the Python wrapper flags', () => {
  assert.equal(RDS_URL_TYPE_TRAITS[T.RDS_GLOBAL_WRITER_CLUSTER], { isRds: true, isRdsCluster: true, hasRegion: false });
  assert.equal(RDS_URL_TYPE_TRAITS[T.RDS_PROXY], { isRds: true, isRdsCluster: false, hasRegion: true });
  assert.equal(RDS_URL_TYPE_TRAITS[T.OTHER], { isRds: false, isRdsCluster: false, hasRegion: false });
});

test.run();
