// custom_endpoint on the aurora-pg lookalike: the lookalike's RDS API answers DescribeDBClusterEndpoints as
// @aws-sdk/client-rds expects and refuses bad signatures; read/write splitting and failover choose only members of
// the custom endpoint, and a membership change reaches running clients; the wait for the members times out with
// a clear error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DescribeDBClusterEndpointsCommand, RDSClient } from '@aws-sdk/client-rds';
import { AwsPGClient } from '../ts/clients/pg-client.js';
import { FailoverFailedError, FailoverSuccessError } from '../ts/errors.js';
import { CustomEndpointInfoTimeoutError, customEndpointMonitors } from '../ts/plugins/custom-endpoint.js';
import { ReadWriteSplittingError } from '../ts/plugins/rw-common.js';
import { WrapperServices } from '../ts/services.js';
import { LocalCluster } from '../ts/testing/index.js';
import { where } from './support/rw-lab.js';

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'custom-endpoint-pg-'));
const open: AwsPGClient[] = [];

async function client(
  endpoint: string,
  extra: Record<string, unknown> = {},
  services = new WrapperServices(),
): Promise<AwsPGClient> {
  const c = new AwsPGClient(
    {
      ...cluster.clientConfig(endpoint),
      customEndpointRdsEndpoint: cluster.rdsApi.endpoint,
      customEndpointInfoRefreshRateMs: 50,
      ...extra,
    },
    { services },
  );
  open.push(c);
  await c.connect();
  return c;
}

/** Toggles read-only until the reader is `id` (the monitor's next refresh), within 15 s (loaded machine). */
async function readerBecomes(c: AwsPGClient, id: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let seen = '';
  while (Date.now() < deadline) {
    await c.setReadOnly(false);
    await c.setReadOnly(true);
    seen = (await where(c)).id;
    if (seen === id) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.unreachable(`the reader stayed ${seen}, expected ${id}`);
}

test.before(async () => {
  cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 3, dir, database: 'app' });
  process.env.AWS_ACCESS_KEY_ID = cluster.rdsApi.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = cluster.rdsApi.credentials.secretAccessKey;
});

test.after(async () => {
  for (const c of open) await c.end().catch(() => {});
  await cluster?.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
});

test('the RDS API answers DescribeDBClusterEndpoints as the SDK parses it, and refuses bad signatures with AWS errors', async () => {
  const ce = await cluster.customEndpoints.create('api-check', {
    members: ['instance-2', 'instance-3'],
    type: 'READER',
  });
  assert.is(ce.dnsName, `api-check.cluster-custom-${cluster.clusterId}.us-east-1.rds.amazonaws.com`);
  assert.equal(ce.targets, ['instance-2', 'instance-3']);
  const { endpoint, region, credentials } = cluster.rdsApi;
  const rds = new RDSClient({ region, endpoint, credentials });
  const out = await rds.send(
    new DescribeDBClusterEndpointsCommand({
      DBClusterEndpointIdentifier: 'api-check',
      Filters: [{ Name: 'db-cluster-endpoint-type', Values: ['custom'] }],
    }),
  );
  assert.equal(
    out.DBClusterEndpoints?.map((e) => [
      e.DBClusterEndpointIdentifier,
      e.Endpoint,
      e.EndpointType,
      e.CustomEndpointType,
      e.StaticMembers,
      e.ExcludedMembers,
    ]),
    [['api-check', ce.dnsName, 'CUSTOM', 'READER', ['instance-2', 'instance-3'], []]],
  );
  const all = await rds.send(new DescribeDBClusterEndpointsCommand({}));
  assert.equal(
    all.DBClusterEndpoints?.map((e) => e.EndpointType),
    ['WRITER', 'READER', 'CUSTOM'],
  );
  rds.destroy();

  const refused = async (client: RDSClient) => {
    try {
      await client.send(new DescribeDBClusterEndpointsCommand({}));
      return 'accepted';
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      return `${e.name} ${e.$metadata?.httpStatusCode}`;
    } finally {
      client.destroy();
    }
  };
  const noRetry = { maxAttempts: 1 };
  assert.is(
    await refused(
      new RDSClient({ region, endpoint, credentials: { ...credentials, secretAccessKey: 'wrong' }, ...noRetry }),
    ),
    'SignatureDoesNotMatch 403',
  );
  assert.is(
    await refused(
      new RDSClient({ region, endpoint, credentials: { ...credentials, accessKeyId: 'AKIAUNKNOWN' }, ...noRetry }),
    ),
    'InvalidClientTokenId 403',
  );
  assert.is(
    await refused(new RDSClient({ region: 'eu-west-1', endpoint, credentials, ...noRetry })),
    'SignatureDoesNotMatch 403',
  );
  await cluster.customEndpoints.delete('api-check');
});

test('read/write splitting picks readers among the members only; a membership change reaches a running client', async () => {
  await cluster.customEndpoints.create('mixed', { members: ['instance-1', 'instance-3'], type: 'ANY' });
  const c = await client('mixed', { plugins: 'custom_endpoint,read_write_splitting' });
  for (let i = 0; i < 5; i++) {
    await c.setReadOnly(true);
    assert.is((await where(c)).id, 'instance-3', 'the only reader among the members');
    await c.setReadOnly(false);
    assert.is((await where(c)).id, 'instance-1');
  }
  await cluster.customEndpoints.modify('mixed', { members: ['instance-1', 'instance-4'] });
  await readerBecomes(c, 'instance-4');
  for (let i = 0; i < 5; i++) {
    await c.setReadOnly(false);
    await c.setReadOnly(true);
    assert.is((await where(c)).id, 'instance-4', 'never back to the former member');
  }
  // Excluded members: every instance but those.
  await cluster.customEndpoints.modify('mixed', { excluded: ['instance-2', 'instance-4'] });
  await readerBecomes(c, 'instance-3');
});

test('setReadOnly(false) behind a READER custom endpoint: the error says the writer is not a member', async () => {
  await cluster.customEndpoints.create('readers', { members: ['instance-2', 'instance-3'], type: 'READER' });
  const c = await client('readers', { plugins: 'custom_endpoint,read_write_splitting' });
  await c.setReadOnly(true);
  assert.match((await where(c)).id, /^instance-[23]$/);
  const err = await c.setReadOnly(false).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.instance(err, ReadWriteSplittingError);
  assert.match(String(err?.message), /the members instance-2, instance-3, from custom_endpoint/);
  assert.match(String(err?.message), /writer is not a member of the custom endpoint/);
  await cluster.customEndpoints.delete('readers');
});

test('failover chooses only members of the custom endpoint, even when a non-member answers first', async () => {
  await cluster.customEndpoints.create('failover-set', { members: ['instance-2', 'instance-3'], type: 'READER' });
  // The selector strongly prefers instance-4, which answers at once: only the restriction keeps failover off it.
  const c = await client('failover-set', {
    plugins: 'custom_endpoint,failover_v2',
    failoverMode: 'strict_reader',
    failoverTimeoutMs: 20_000,
    failoverReaderHostSelectorStrategy: 'weighted_random',
    weightedRandomHostWeightPairs: `${cluster.instances[3].dnsName}:1000`,
  });
  const current = (await where(c)).id;
  assert.ok(['instance-2', 'instance-3'].includes(current), current);
  const other = current === 'instance-2' ? 'instance-3' : 'instance-2';
  await cluster.latency(other, 300);
  try {
    await cluster.kill(current);
    const err = await c.query('SELECT 1').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, FailoverSuccessError);
    assert.is((await where(c)).id, other);
  } finally {
    await cluster.heal();
  }
});

test('no members within waitForCustomEndpointInfoTimeoutMs: the connect fails naming the endpoint and the reason', async () => {
  const name = `missing.cluster-custom-${cluster.clusterId}.us-east-1.rds.amazonaws.com`;
  const c = new AwsPGClient(
    {
      ...cluster.clientConfig('writer'),
      host: name,
      plugins: 'custom_endpoint',
      customEndpointRdsEndpoint: cluster.rdsApi.endpoint,
      // Long enough for the first DescribeDBClusterEndpoints answer (the reason) on a loaded machine.
      waitForCustomEndpointInfoTimeoutMs: 3000,
    },
    { services: new WrapperServices() },
  );
  const err = await c.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, CustomEndpointInfoTimeoutError);
  assert.match(
    (err as Error).message,
    `the members of custom endpoint '${name}' were not known within 3000 ms (waitForCustomEndpointInfoTimeoutMs): custom endpoint 'missing' was not found in region us-east-1`,
  );
  await c.end().catch(() => {});
});

test('requests the RDS API refuses (bad signature) end in the same error, with the AWS error as the reason', async () => {
  await cluster.customEndpoints.create('signed', { type: 'ANY' });
  const secret = process.env.AWS_SECRET_ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
  try {
    const c = new AwsPGClient(
      {
        ...cluster.clientConfig('signed'),
        plugins: 'custom_endpoint',
        customEndpointRdsEndpoint: cluster.rdsApi.endpoint,
        waitForCustomEndpointInfoTimeoutMs: 3000, // room for the refused request's answer on a loaded machine
      },
      { services: new WrapperServices() },
    );
    const err = await c.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, CustomEndpointInfoTimeoutError);
    assert.match((err as Error).message, /The request signature we calculated does not match/);
    assert.not.match((err as Error).message, /not-the-secret/);
    await c.end().catch(() => {});
  } finally {
    process.env.AWS_SECRET_ACCESS_KEY = secret;
  }
});

test('waitForCustomEndpointInfo false: the connect goes on at once, unrestricted until the members are known', async () => {
  await cluster.customEndpoints.create('no-wait', { members: ['instance-2'] });
  const secret = process.env.AWS_SECRET_ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret'; // the RDS API refuses every refresh
  try {
    const c = await client('no-wait', { plugins: 'custom_endpoint', waitForCustomEndpointInfo: false });
    assert.is((await where(c)).id, 'instance-2', 'connected through the endpoint');
    assert.is(c.core.pluginService.allowedAndBlockedHosts, undefined, 'no members known, no restriction');
  } finally {
    process.env.AWS_SECRET_ACCESS_KEY = secret;
  }
});

test('a monitor without clients stops after customEndpointIdleMonitorExpirationMs; one in use keeps running', async () => {
  await cluster.customEndpoints.create('idle', { type: 'ANY' });
  const services = new WrapperServices();
  services.acquire(); // kept open by the test, so only the idle expiry can stop the monitor
  try {
    const extra = {
      plugins: 'custom_endpoint',
      customEndpointInfoRefreshRateMs: 20,
      customEndpointIdleMonitorExpirationMs: 200,
    };
    const a = await client('idle', extra, services);
    const b = await client('idle', extra, services);
    assert.is(customEndpointMonitors(services).size, 1);
    await a.end();
    const endedAt = Date.now();
    // b still uses it: it outlives the expiry.
    while (Date.now() - endedAt < 400) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.is(customEndpointMonitors(services).size, 1, 'in use');
    await b.end();
    const deadline = Date.now() + 15_000;
    while (customEndpointMonitors(services).size > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.is(customEndpointMonitors(services).size, 0, 'stopped once idle');
  } finally {
    await services.release();
  }
});

test('the plugin does nothing for other host names: no RDS API call, no restriction', async () => {
  const c = await client('writer', { plugins: 'custom_endpoint,read_write_splitting' });
  await c.setReadOnly(true);
  assert.ok(['instance-2', 'instance-3', 'instance-4'].includes((await where(c)).id));
  assert.is(c.core.pluginService.allowedAndBlockedHosts, undefined);
});

// Last: it moves the cluster's writer for good.
test('a writer failover to an instance outside the custom endpoint fails at once, naming why', async () => {
  await cluster.customEndpoints.create('writer-only', { members: ['instance-1'], type: 'ANY' });
  const c = await client('writer-only', {
    plugins: 'custom_endpoint,failover_v2',
    failoverMode: 'strict_writer',
    failoverTimeoutMs: 10_000,
  });
  assert.is((await where(c)).id, 'instance-1');
  await cluster.failover({ target: 'instance-2' });
  const err = await c.query('SELECT 1').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, FailoverFailedError);
  // Waiting out failoverTimeoutMs would end in "Writer failover timed out" instead.
  assert.match((err as Error).message, 'the new writer is not among the hosts allowed for this connection');
});

test.run();
