// Writer detection against the table the native monitor is tested with too (crates/monitor-core/tests/
// writer_detection.rs): the TypeScript path and the native monitor read the same answers the same way.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkWriter } from '../ts/dialects/database/writer.js';
import type { QueryRows, RowsWithColumns, TopologyQueries, WriterIdMeaning } from '../ts/dialects/types.js';
import { HostInfo } from '../ts/host-info.js';
import { probeVerdict, type ProbeVerdict } from '../ts/host-list-providers/panic-probe.js';
import { topologyRowsToHosts, type TopologyKind } from '../ts/host-list-providers/topology.js';

type Cell = string | null;

interface WriterCheckCase {
  readonly name: string;
  readonly meaning: WriterIdMeaning;
  readonly columns?: string[];
  readonly index?: number;
  readonly writerIdRows: { readonly columns: string[] | null; readonly rows: Cell[][] };
  readonly ownIdRows: Cell[][] | null;
  readonly expect: { readonly isWriter: boolean; readonly writerId: string | null; readonly ownId: string | null };
}

interface VerdictCase {
  readonly name: string;
  readonly shape: TopologyKind;
  readonly rows: Cell[][];
  readonly check: WriterCheckCase['expect'];
  readonly isReader: boolean | null;
  readonly previousWriterId: string | null;
  readonly expect: { readonly rowsWriter: string | null; readonly verdict: ProbeVerdict };
}

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/writer-detection.json', import.meta.url), 'utf8')) as {
  readonly writerCheck: WriterCheckCase[];
  readonly verdict: VerdictCase[];
};

const orUndefined = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

test('checkWriter reads every writer-id answer of the shared table as the native monitor does', async () => {
  assert.ok(fixtures.writerCheck.length >= 10);
  for (const c of fixtures.writerCheck) {
    const queries: TopologyQueries = {
      kind: c.meaning === 'row-means-writer' ? 'aurora' : 'multi-az',
      topologyQuery: 'topology',
      writerIdQuery: 'writer-id',
      writerIdMeaning: c.meaning,
      ...(c.ownIdRows !== null ? { ownIdQuery: 'own-id' } : {}),
      ...(c.columns !== undefined ? { writerIdColumns: c.columns } : {}),
      ...(c.index !== undefined ? { writerIdColumnIndex: c.index } : {}),
    };
    const asked: string[] = [];
    const query: QueryRows = async (sql) => {
      asked.push(sql);
      if (sql === 'own-id') return c.ownIdRows!;
      const rows: RowsWithColumns = c.writerIdRows.rows.map((r) => [...r]);
      if (c.writerIdRows.columns !== null) rows.columns = c.writerIdRows.columns;
      return rows;
    };
    const got = await checkWriter(queries, query);
    assert.equal(
      got,
      { isWriter: c.expect.isWriter, writerId: orUndefined(c.expect.writerId), ownId: orUndefined(c.expect.ownId) },
      c.name,
    );
    assert.is(asked[0], 'writer-id', c.name);
  }
});

test('the panic probe reaches the verdicts of the shared table', () => {
  assert.ok(fixtures.verdict.length >= 10);
  const template = new HostInfo({ host: '?.cluster-abc.us-east-1.rds.amazonaws.com', port: 5432 });
  for (const c of fixtures.verdict) {
    const check = {
      isWriter: c.check.isWriter,
      writerId: orUndefined(c.check.writerId),
      ownId: orUndefined(c.check.ownId),
    };
    const hosts = topologyRowsToHosts(c.shape, c.rows, { template, writerId: check.writerId });
    assert.is(hosts?.[0]?.hostId ?? null, c.expect.rowsWriter, `${c.name}: writer of the rows`);
    assert.is(
      probeVerdict(check, hosts, orUndefined(c.previousWriterId), orUndefined(c.isReader)),
      c.expect.verdict,
      c.name,
    );
  }
});

test.run();
