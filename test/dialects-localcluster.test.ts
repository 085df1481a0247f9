// Detection and topology against the lookalike Aurora PG cluster (ts/testing LocalCluster): real replication,
// the dialects' unmodified SQL, RDS-shaped names reached through hostAddressMap-style addressing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { LocalCluster } from '../ts/testing/index.js';
import { DialectManager } from '../ts/dialects/dialect-manager.js';
import { HostInfo, HostRole } from '../ts/host-info.js';
import { WrapperServices } from '../ts/services.js';
import { RdsHostListProvider } from '../ts/host-list-providers/index.js';
import { pgQuery, pgQueryRowsDriver } from './support/dialect-fixtures.js';

let cluster: LocalCluster;

test.before(async () => {
  cluster = await LocalCluster.start({ flavour: 'aurora-pg', readers: 1 });
});

test.after(async () => {
  await cluster?.stop();
});

async function connectTo(endpoint: string): Promise<pg.Client> {
  const { host, port } = cluster.addressOf(endpoint);
  const { user, password, database } = cluster.credentials;
  const c = new pg.Client({ host, port, user, password, database });
  await c.connect();
  return c;
}

test('aurora-pg lookalike: a cluster-name guess is verified as aurora-pg, a plain guess is refined to it', async () => {
  const c = await connectTo('writer');
  try {
    const writerEndpoint = new HostInfo({ host: cluster.writerEndpoint.dnsName, port: 5432 });
    const m = new DialectManager(new WrapperServices(), 'pg');
    assert.is(m.getDialect(writerEndpoint).code, 'aurora-pg');
    assert.is((await m.refine(writerEndpoint, pgQuery(c))).code, 'aurora-pg');
    const plain = new DialectManager(new WrapperServices(), 'pg');
    const ip = new HostInfo({ host: '127.0.0.1', port: 1 });
    plain.getDialect(ip);
    assert.is((await plain.refine(ip, pgQuery(c))).code, 'aurora-pg');

    const p = new RdsHostListProvider<pg.Client>({
      initialHost: writerEndpoint,
      dialect: m.dialect!,
      driverDialect: pgQueryRowsDriver,
      options: { clusterInstanceHostPattern: cluster.clusterInstanceHostPattern },
      services: new WrapperServices(),
    });
    const hosts = await p.refresh(c);
    assert.equal(
      hosts.map((h) => h.role),
      [HostRole.WRITER, HostRole.READER],
    );
    assert.equal(
      hosts.map((h) => h.hostId),
      [cluster.writer.name, cluster.readers[0].name],
    );
    assert.is((await p.identifyConnection(c))?.hostId, cluster.writer.name);
    assert.is((await p.forceRefresh(true, 2000, c))[0].hostId, cluster.writer.name);
  } finally {
    await c.end();
  }
});

test('multi-az-pg lookalike: detected from a cluster-name guess; writer and reader agree on the writer', async () => {
  const maz = await LocalCluster.start({ flavour: 'multi-az-pg' });
  const { user, password, database } = maz.credentials;
  const open = async (endpoint: string) => {
    const c = new pg.Client({ ...maz.addressOf(endpoint), user, password, database });
    await c.connect();
    return c;
  };
  const w = await open('writer');
  const r = await open(maz.readers[0].name);
  try {
    const writerEndpoint = new HostInfo({ host: maz.writerEndpoint.dnsName, port: 5432 });
    const m = new DialectManager(new WrapperServices(), 'pg');
    m.getDialect(writerEndpoint);
    assert.is((await m.refine(writerEndpoint, pgQuery(w))).code, 'multi-az-pg');
    const services = new WrapperServices();
    const p = new RdsHostListProvider<pg.Client>({
      initialHost: writerEndpoint,
      dialect: m.dialect!,
      driverDialect: pgQueryRowsDriver,
      options: { clusterInstanceHostPattern: maz.clusterInstanceHostPattern },
      services,
    });
    const fromWriter = await p.forceRefresh(true, 2000, w);
    const fromReader = await p.forceRefresh(true, 2000, r);
    assert.is(fromWriter[0].role, HostRole.WRITER);
    assert.is(fromWriter[0].host.split('.')[0], maz.writer.name);
    assert.equal(
      fromReader.map((h) => [h.host, h.role]),
      fromWriter.map((h) => [h.host, h.role]),
    );
    assert.is((await p.identifyConnection(r))?.host.split('.')[0], maz.readers[0].name);
    assert.is(await p.getHostRole(r), HostRole.READER);
  } finally {
    await w.end();
    await r.end();
    await maz.stop();
  }
});

test.run();
