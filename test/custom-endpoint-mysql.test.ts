// custom_endpoint on the aurora-mysql lookalike: the connection through the custom endpoint lands on a member,
// read/write splitting picks readers among the members only, and a membership change reaches a running client.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { AwsMySQLClient } from '../ts/clients/mysql-client.js';
import { customEndpointMonitors } from '../ts/plugins/custom-endpoint.js';
import { WrapperServices } from '../ts/services.js';
import { LocalCluster } from '../ts/testing/index.js';

let cluster: LocalCluster;
const dir = mkdtempSync(path.join(tmpdir(), 'custom-endpoint-mysql-'));

async function serverId(c: AwsMySQLClient): Promise<string> {
  const [rows] = await c.query<RowDataPacket[]>('SELECT @@aurora_server_id AS id');
  return String(rows[0].id);
}

test.before(async () => {
  cluster = await LocalCluster.start({ flavour: 'aurora-mysql', readers: 2, dir });
  process.env.AWS_ACCESS_KEY_ID = cluster.rdsApi.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = cluster.rdsApi.credentials.secretAccessKey;
});

test.after(async () => {
  await cluster?.stop({ keepLogs: false });
  rmSync(dir, { recursive: true, force: true });
});

test('read/write splitting stays inside the custom endpoint; a membership change reaches a running client; one shared monitor', async () => {
  await cluster.customEndpoints.create('reporting', { members: ['instance-1', 'instance-3'] });
  const services = new WrapperServices();
  const config = {
    ...cluster.clientConfig('reporting'),
    plugins: 'custom_endpoint,read_write_splitting',
    customEndpointRdsEndpoint: cluster.rdsApi.endpoint,
    customEndpointInfoRefreshRateMs: 50,
  };
  const c = new AwsMySQLClient(config, { services });
  const other = new AwsMySQLClient(config, { services });
  try {
    await c.connect();
    await other.connect();
    assert.ok(['instance-1', 'instance-3'].includes(await serverId(c)), 'the endpoint leads to a member');
    assert.is(customEndpointMonitors(services).size, 1, 'clients of one endpoint share its monitor');
    for (let i = 0; i < 4; i++) {
      await c.setReadOnly(true);
      assert.is(await serverId(c), 'instance-3');
      await c.setReadOnly(false);
      assert.is(await serverId(c), 'instance-1');
    }
    await cluster.customEndpoints.modify('reporting', { members: ['instance-1', 'instance-2'] });
    const deadline = Date.now() + 15_000; // the monitor refreshes every 50 ms; room for a loaded machine
    let seen = '';
    while (seen !== 'instance-2' && Date.now() < deadline) {
      await c.setReadOnly(false);
      await c.setReadOnly(true);
      seen = await serverId(c);
      if (seen !== 'instance-2') await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.is(seen, 'instance-2', 'the new member is used once the monitor saw the change');
    await other.setReadOnly(true);
    assert.is(await serverId(other), 'instance-2', 'and by every client of the endpoint');
  } finally {
    await c.end();
    await other.end();
  }
});

test.run();
