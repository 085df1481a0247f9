// Detection and topology against the lookalike Aurora MySQL and Multi-AZ MySQL clusters (MariaDB behind a
// MySQL-protocol front that answers the Aurora / RDS metadata SQL).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import { LocalCluster } from '../ts/testing/index.js';
import type { Flavour } from '../ts/testing/index.js';
import { DialectManager } from '../ts/dialects/dialect-manager.js';
import { HostInfo, HostRole } from '../ts/host-info.js';
import { WrapperServices } from '../ts/services.js';
import { RdsHostListProvider } from '../ts/host-list-providers/index.js';
import { mysqlQuery, mysqlQueryRowsDriver } from './support/dialect-fixtures.js';

for (const flavour of ['aurora-mysql', 'multi-az-mysql'] as Flavour[]) {
  test(`${flavour} lookalike: detected from a cluster-name guess and from a plain guess; writer/reader views agree`, async () => {
    const cluster = await LocalCluster.start({ flavour, readers: flavour.startsWith('multi-az') ? 2 : 1 });
    const { user, password, database } = cluster.credentials;
    const open = (endpoint: string) =>
      mysql.createConnection({ ...cluster.addressOf(endpoint), user, password, database });
    const w = await open('writer');
    const r = await open(cluster.readers[0].name);
    try {
      const writerEndpoint = new HostInfo({ host: cluster.writerEndpoint.dnsName, port: 3306 });
      const m = new DialectManager(new WrapperServices(), 'mysql2');
      assert.is(m.getDialect(writerEndpoint).code, 'aurora-mysql');
      assert.is((await m.refine(writerEndpoint, mysqlQuery(w))).code, flavour);
      const plain = new DialectManager(new WrapperServices(), 'mysql2');
      const ip = new HostInfo({ host: '127.0.0.1', port: 1 });
      plain.getDialect(ip);
      assert.is((await plain.refine(ip, mysqlQuery(w))).code, flavour);

      const p = new RdsHostListProvider<mysql.Connection>({
        initialHost: writerEndpoint,
        dialect: m.dialect!,
        driverDialect: mysqlQueryRowsDriver,
        options: { clusterInstanceHostPattern: cluster.clusterInstanceHostPattern },
        services: new WrapperServices(),
      });
      const fromWriter = await p.forceRefresh(true, 2000, w);
      const fromReader = await p.forceRefresh(true, 2000, r);
      assert.is(fromWriter[0].role, HostRole.WRITER);
      assert.is(fromWriter[0].host.split('.')[0], cluster.writer.name);
      assert.equal(
        fromReader.map((h) => [h.host, h.role]),
        fromWriter.map((h) => [h.host, h.role]),
      );
      assert.is((await p.identifyConnection(w))?.host.split('.')[0], cluster.writer.name);
      assert.is((await p.identifyConnection(r))?.host.split('.')[0], cluster.readers[0].name);
      assert.is(await p.getHostRole(r), HostRole.READER);
      assert.is(await p.getHostRole(w), HostRole.WRITER);
    } finally {
      await w.end();
      await r.end();
      await cluster.stop();
    }
  });
}

test.run();
