// The `cluster` CLI and LocalCluster drive the same cluster through its state directory; `down --purge` leaves
// no process and no directory behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect, promisify } from 'node:util';
import pg from 'pg';
import { LocalCluster } from '../ts/testing/index.js';

const run = promisify(execFile);
const BIN = path.resolve('bin/aws-advanced-ts-wrapper.js');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, 'cluster', ...args], { timeout: 180_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

test('bad input gets a clear error and exit code 2', async () => {
  const r = await cli('up', '--flavour', 'oracle', '--dir', path.join(tmpdir(), 'never-created'));
  assert.is(r.code, 1);
  assert.match(r.stderr, /unknown flavour 'oracle': expected one of aurora-pg/);
  const u = await cli('frobnicate');
  assert.is(u.code, 2);
  assert.match(u.stderr, /unknown cluster command 'frobnicate'/);
});

test('output into a closed pipe (`cluster --help | head -0`) is no crash: exit 0, nothing on stderr', async () => {
  const child = spawn(process.execPath, [BIN, 'cluster', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader is gone before the CLI writes
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.is(stderr, '');
  assert.is(code, 0);
});

test('up, status, kill, heal, failover from the shell; LocalCluster.attach sees the same cluster; down --purge cleans up', async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'lookalike-cli-'));
  chmodSync(parent, 0o755); // as root the servers run as 'postgres', which must enter it
  const dir = path.join(parent, 'state');
  try {
    const up = await cli('up', '--flavour', 'pg', '--readers', '1', '--dir', dir, '--dns-lag-ms', '0', '--json');
    assert.is(up.code, 0, up.stderr);
    const upOut = JSON.parse(up.stdout) as {
      result: { upMs: number };
      state: { credentials: { password?: string } };
      hostAddressMap: Record<string, string>;
    };
    assert.type(upOut.result.upMs, 'number');
    assert.is(upOut.state.credentials.password, undefined, 'the password is not printed');
    assert.is(Object.keys(upOut.hostAddressMap).length, 4);

    const cluster = await LocalCluster.attach(dir);
    assert.equal(
      cluster.instances.map((i) => [i.name, i.role, i.running]),
      [
        ['instance-1', 'writer', true],
        ['instance-2', 'reader', true],
      ],
    );
    // console.log(cluster) in a CI log shows where things are, never the password, the RDS API's secret key or
    // the supervisor's control token.
    const secrets = [
      cluster.credentials.password,
      cluster.rdsApi.credentials.secretAccessKey,
      String(cluster.lastState.control?.token),
    ];
    for (const shown of [inspect(cluster, { depth: Infinity }), JSON.stringify(cluster)]) {
      assert.ok(shown.includes(cluster.writerEndpoint.dnsName) && shown.includes(cluster.rdsApi.endpoint), shown);
      for (const secret of secrets) assert.not.ok(shown.includes(secret), `a secret is shown: ${shown}`);
    }

    const kill = await cli('kill', 'instance-2', '--dir', dir);
    assert.is(kill.code, 0, kill.stderr);
    assert.match(kill.stdout, /instance-2 +reader +running .*fault=kill/);
    const refused = await new pg.Client(cluster.directConfig('instance-2')).connect().then(
      () => 'connected',
      (e: NodeJS.ErrnoException) => e.code,
    );
    assert.is(refused, 'ECONNREFUSED');
    assert.is((await cluster.status()).instances[1].fault, 'kill', 'the API sees the fault set from the shell');
    assert.is((await cli('heal', '--dir', dir)).code, 0);

    assert.is((await cli('dns-lag', '300', '--dir', dir)).code, 0);
    const fo = await cli('failover', '--dir', dir, '--json');
    assert.is(fo.code, 0, fo.stderr);
    const foOut = JSON.parse(fo.stdout) as {
      result: { newWriter: string; endpointsMoveAt: number };
      state: { writerEndpoint: { targets: string[] } };
    };
    assert.is(foOut.result.newWriter, 'instance-2');
    assert.equal(
      foOut.state.writerEndpoint.targets,
      ['instance-1'],
      'inside the DNS lag the writer endpoint still leads to the old writer',
    );
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, foOut.result.endpointsMoveAt - Date.now())));
    // The supervisor's own timer moves the endpoint: on a loaded machine it may fire a little late.
    const deadline = Date.now() + 10_000;
    for (;;) {
      await cluster.status();
      if (cluster.writerEndpoint.targets[0] === 'instance-2' || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.is(cluster.writer.name, 'instance-2');
    assert.equal(cluster.writerEndpoint.targets, ['instance-2'], 'after the DNS lag it leads to the new writer');
    const c = new pg.Client(cluster.directConfig('writer'));
    await c.connect();
    assert.equal((await c.query('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows, [{ r: false }]);
    await c.end();

    // Custom endpoints from the shell: the name leads to the members, the RDS API's secret is not printed.
    const ce = await cli(
      'custom-endpoint',
      'create',
      'reports',
      '--members',
      'instance-2',
      '--type',
      'any',
      '--dir',
      dir,
      '--json',
    );
    assert.is(ce.code, 0, ce.stderr);
    const ceOut = JSON.parse(ce.stdout) as {
      result: { dnsName: string; targets: string[] };
      state: { rdsApi: { endpoint: string; secretAccessKey?: string } };
      hostAddressMap: Record<string, string>;
    };
    assert.is(ceOut.result.dnsName, `reports.cluster-custom-${cluster.clusterId}.us-east-1.rds.amazonaws.com`);
    assert.equal(ceOut.result.targets, ['instance-2']);
    assert.ok(ceOut.hostAddressMap[ceOut.result.dnsName], 'the custom endpoint is in the hostAddressMap');
    assert.match(ceOut.state.rdsApi.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.is(ceOut.state.rdsApi.secretAccessKey, undefined, 'the RDS API secret is not printed');
    await cluster.status();
    const viaEndpoint = new pg.Client(cluster.directConfig('reports'));
    await viaEndpoint.connect();
    assert.equal(
      (await viaEndpoint.query('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows,
      [{ r: false }],
      'the member, the writer since the failover',
    );
    await viaEndpoint.end();
    const mod = await cli('custom-endpoint', 'modify', 'reports', '--type', 'READER', '--dir', dir);
    assert.is(mod.code, 0, mod.stderr);
    assert.match(
      mod.stdout,
      /custom endpoint reports\.cluster-custom-\S+ -> \S+ \(READER, members instance-2; now: -\)/,
      'a READER endpoint leaves the writer out',
    );
    const bad = await cli('custom-endpoint', 'modify', 'reports', '--members', 'instance-9', '--dir', dir);
    assert.is(bad.code, 1);
    assert.match(bad.stderr, /no instance 'instance-9'/);
    assert.is((await cli('custom-endpoint', 'delete', 'reports', '--dir', dir)).code, 0);

    const state = JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as {
      supervisorPid: number;
      instances: { dataDir: string; running: boolean }[];
    };
    const postmasters = state.instances
      .filter((i) => i.running)
      .map((i) => Number(readFileSync(path.join(i.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]));
    assert.is(postmasters.length, 1);
    const down = await cli('down', '--purge', '--dir', dir);
    assert.is(down.code, 0, down.stderr);
    assert.not.ok(existsSync(dir), 'state directory removed');
    assert.not.ok(alive(state.supervisorPid), 'supervisor gone');
    for (const pid of postmasters) assert.not.ok(alive(pid), `postgres ${pid} gone`);
  } finally {
    if (existsSync(path.join(dir, 'cluster.json'))) await cli('down', '--purge', '--dir', dir);
    rmSync(parent, { recursive: true, force: true });
  }
});

test.run();
