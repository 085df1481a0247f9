/**
 * "Is this connection on the writer, and which node is the writer?" with true semantics for every topology kind
 * (the Python wrapper's queries answer it differently per kind): Aurora's writer-id query returns a row only on the writer; Multi-AZ MySQL's
 * `SHOW REPLICA STATUS` returns a row only on replicas (naming the writer's server id); Multi-AZ PG's query returns
 * the writer's resource id on every node, compared with the node's own id. An empty id counts as unknown.
 *
 * The native topology monitor reads the same answers in Rust (crates/monitor-core/src/topology.rs `writer_check`);
 * both are tested against one table, test/fixtures/writer-detection.json.
 */
import type { DatabaseDialect, QueryRows, RowsWithColumns, TopologyQueries } from '../types.js';
import { AwsWrapperError } from '../../errors.js';
import { asText, firstValue, valueByColumnName } from './values.js';

export interface WriterCheck {
  /** The connection is on the writer. */
  readonly isWriter: boolean;
  /** The writer's topology id, when this connection can tell. */
  readonly writerId: string | undefined;
  /** The connected node's own topology id, when it was read. */
  readonly ownId: string | undefined;
}

/** An id cell as text; empty = unknown. */
function idOf(v: unknown): string | undefined {
  const id = asText(v);
  return id === '' ? undefined : id;
}

async function readOwnId(topology: TopologyQueries, query: QueryRows): Promise<string | undefined> {
  return topology.ownIdQuery ? idOf(firstValue(await query(topology.ownIdQuery))) : undefined;
}

export async function checkWriter(topology: TopologyQueries, query: QueryRows): Promise<WriterCheck> {
  const rows = (await query(topology.writerIdQuery)) as RowsWithColumns;
  switch (topology.writerIdMeaning ?? 'row-means-writer') {
    case 'row-means-writer': {
      const id = rows.length > 0 ? idOf(rows[0][0]) : undefined;
      return { isWriter: rows.length > 0, writerId: id, ownId: id };
    }
    case 'no-row-means-writer': {
      if (rows.length === 0) {
        const ownId = await readOwnId(topology, query);
        return { isWriter: true, writerId: ownId, ownId };
      }
      const writerId = idOf(valueByColumnName(rows, topology.writerIdColumns ?? [], topology.writerIdColumnIndex));
      return { isWriter: false, writerId, ownId: undefined };
    }
    case 'returns-writer-id': {
      if (!topology.ownIdQuery) {
        throw new AwsWrapperError(
          `Topology queries with writerIdMeaning 'returns-writer-id' need an ownIdQuery to compare the writer id with.`,
        );
      }
      const writerId = idOf(firstValue(rows));
      const ownId = await readOwnId(topology, query);
      return { isWriter: writerId !== undefined && writerId === ownId, writerId, ownId };
    }
  }
}

/** The connected node's id as topology hosts carry it in `HostInfo.hostId` (host-id query, `hostIdColumn`). */
export async function readOwnHostId(dialect: DatabaseDialect, query: QueryRows): Promise<string | undefined> {
  const rows = await query(dialect.hostIdQuery);
  const column = dialect.topology?.hostIdColumn ?? 1;
  return asText(rows[0]?.[column]);
}
