// The lookalike's RDS API server on its own: what @aws-sdk/client-rds gets for the documented parameters and for
// bad requests (signature, tampered body, unknown action / filter / cluster), and a handler added to its action map.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DescribeDBClusterEndpointsCommand,
  DescribeGlobalClustersCommand,
  RDSClient,
  type DescribeDBClusterEndpointsCommandInput,
} from '@aws-sdk/client-rds';
import {
  describeDbClusterEndpoints,
  RdsApiError,
  RdsApiServer,
  xmlElement,
  xmlList,
  type ClusterEndpointRecord,
} from '../ts/testing/index.js';

const credentials = { accessKeyId: 'AKIATESTRDSAPI00001', secretAccessKey: 'test-secret-key/with+special=chars' };
const endpoints: ClusterEndpointRecord[] = [
  {
    clusterIdentifier: 'app',
    endpoint: 'app.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com',
    endpointType: 'WRITER',
  },
  {
    identifier: 'big',
    clusterIdentifier: 'app',
    endpoint: 'big.cluster-custom-abcdefghijkl.eu-west-1.rds.amazonaws.com',
    endpointType: 'CUSTOM',
    customEndpointType: 'READER',
    staticMembers: ['r-1', 'r<&>2'],
    excludedMembers: [],
  },
  {
    identifier: 'rest',
    clusterIdentifier: 'app',
    endpoint: 'rest.cluster-custom-abcdefghijkl.eu-west-1.rds.amazonaws.com',
    endpointType: 'CUSTOM',
    customEndpointType: 'ANY',
    staticMembers: [],
    excludedMembers: ['r-1'],
  },
];
const server = new RdsApiServer('eu-west-1');
server.accessKeys.set(credentials.accessKeyId, credentials.secretAccessKey);
server.actions.set(
  'DescribeDBClusterEndpoints',
  describeDbClusterEndpoints(() => endpoints),
);
let rds: RDSClient;

async function errorOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'no error',
    (e: Error & { $metadata?: { httpStatusCode?: number } }) =>
      `${e.name} ${e.$metadata?.httpStatusCode}: ${e.message}`,
  );
}

test.before(async () => {
  await server.start();
  rds = new RDSClient({ region: 'eu-west-1', endpoint: server.endpoint, credentials, maxAttempts: 1 });
});

test.after(async () => {
  rds.destroy();
  await server.close();
});

test('DescribeDBClusterEndpoints: identifiers and filters as RDS documents them, values XML-escaped', async () => {
  const ids = async (input: DescribeDBClusterEndpointsCommandInput) =>
    (await rds.send(new DescribeDBClusterEndpointsCommand(input))).DBClusterEndpoints?.map(
      (e) => e.DBClusterEndpointIdentifier ?? e.EndpointType,
    );
  assert.equal(await ids({}), ['WRITER', 'big', 'rest']);
  assert.equal(await ids({ Filters: [{ Name: 'db-cluster-endpoint-type', Values: ['custom'] }] }), ['big', 'rest']);
  assert.equal(await ids({ Filters: [{ Name: 'db-cluster-endpoint-custom-type', Values: ['any'] }] }), ['rest']);
  assert.equal(await ids({ DBClusterEndpointIdentifier: 'nope' }), []);
  const big = (await rds.send(new DescribeDBClusterEndpointsCommand({ DBClusterEndpointIdentifier: 'big' })))
    .DBClusterEndpoints![0];
  assert.equal(
    [big.StaticMembers, big.ExcludedMembers, big.CustomEndpointType, big.Status],
    [['r-1', 'r<&>2'], [], 'READER', 'available'],
  );
  assert.match(
    await errorOf(rds.send(new DescribeDBClusterEndpointsCommand({ DBClusterIdentifier: 'other' }))),
    /^DBClusterNotFoundFault 404: DBCluster other not found/,
  );
  assert.match(
    await errorOf(rds.send(new DescribeDBClusterEndpointsCommand({ Filters: [{ Name: 'engine', Values: ['x'] }] }))),
    /^InvalidParameterValue 400: Unrecognized filter name: engine/,
  );
});

test('refused: a wrong secret, an unknown key, another region, a body changed after signing; an action nobody registered', async () => {
  const as = (c: RDSClient) => errorOf(c.send(new DescribeDBClusterEndpointsCommand({})).finally(() => c.destroy()));
  assert.match(
    await as(
      new RDSClient({
        region: 'eu-west-1',
        endpoint: server.endpoint,
        credentials: { ...credentials, secretAccessKey: 'x' },
        maxAttempts: 1,
      }),
    ),
    /^SignatureDoesNotMatch 403/,
  );
  assert.match(
    await as(
      new RDSClient({
        region: 'eu-west-1',
        endpoint: server.endpoint,
        credentials: { ...credentials, accessKeyId: 'AKIAOTHER' },
        maxAttempts: 1,
      }),
    ),
    /^InvalidClientTokenId 403/,
  );
  assert.match(
    await as(new RDSClient({ region: 'us-east-1', endpoint: server.endpoint, credentials, maxAttempts: 1 })),
    /^SignatureDoesNotMatch 403: Credential should be scoped to a valid region/,
  );
  const tampered = new RDSClient({ region: 'eu-west-1', endpoint: server.endpoint, credentials, maxAttempts: 1 });
  // After signing (the deserialize step wraps the send): same length, another endpoint asked for.
  tampered.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { body: string };
      req.body = req.body.replace('DBClusterEndpointIdentifier=big', 'DBClusterEndpointIdentifier=bog');
      return next(args);
    },
    { step: 'deserialize', name: 'tamper' },
  );
  assert.match(
    await errorOf(
      tampered
        .send(new DescribeDBClusterEndpointsCommand({ DBClusterEndpointIdentifier: 'big' }))
        .finally(() => tampered.destroy()),
    ),
    /^SignatureDoesNotMatch 403/,
  );
  assert.match(
    await errorOf(rds.send(new DescribeGlobalClustersCommand({}))),
    /^InvalidAction 400: The action DescribeGlobalClusters is not valid/,
  );
  assert.equal(
    server.calls.slice(-5).map((c) => c.errorCode),
    [
      'SignatureDoesNotMatch',
      'InvalidClientTokenId',
      'SignatureDoesNotMatch',
      'SignatureDoesNotMatch',
      'InvalidAction',
    ],
  );
});

test('a handler added to the action map answers through the SDK, and its RdsApiError becomes an AWS error answer', async () => {
  server.actions.set('DescribeGlobalClusters', ({ params }) => {
    const id = params.get('GlobalClusterIdentifier');
    if (id !== 'orders') throw new RdsApiError('GlobalClusterNotFoundFault', `GlobalCluster ${id} not found.`, 404);
    return xmlList('GlobalClusters', 'GlobalClusterMember', [
      xmlElement('GlobalClusterIdentifier', 'orders') +
        xmlList('GlobalClusterMembers', 'GlobalClusterMember', [
          xmlElement('DBClusterArn', 'arn:aws:rds:eu-west-1:123456789012:cluster:orders-eu') +
            xmlElement('IsWriter', true),
        ]),
    ]);
  });
  try {
    const out = await rds.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'orders' }));
    assert.equal(
      out.GlobalClusters?.map((g) => [
        g.GlobalClusterIdentifier,
        g.GlobalClusterMembers?.map((m) => [m.DBClusterArn, m.IsWriter]),
      ]),
      [['orders', [['arn:aws:rds:eu-west-1:123456789012:cluster:orders-eu', true]]]],
    );
    assert.match(
      await errorOf(rds.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'x' }))),
      /^GlobalClusterNotFoundFault 404: GlobalCluster x not found/,
    );
  } finally {
    server.actions.delete('DescribeGlobalClusters');
  }
});

test.run();
