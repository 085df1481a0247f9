/**
 * Turns topology-query rows into hosts (the Python wrapper's TopologyUtils), for the three row shapes:
 *   aurora        (id, is_writer, cpu, lag_ms, last_update)
 *   global-aurora (id, is_writer, visibility_lag_ms, aws_region)
 *   multi-az      (id, endpoint, port)  + the writer's id, read separately
 * Host names come from the instance template (`?` replaced by the instance id, or for Multi-AZ by the first label
 * of the endpoint). The writer is placed FIRST, readers follow in query order (Python puts the writer last; first
 * matches the static provider, where host 0 is the writer). A row of the wrong shape is a TopologyRowError naming
 * the row and what was expected; a topology without a writer is invalid (undefined), so callers keep the last one.
 */
import { HostInfo, HostRole } from '../host-info.js';
import { AwsWrapperError } from '../errors.js';
import type { TopologyQueries } from '../dialects/types.js';
import { asBoolean, asNumber, asText } from '../dialects/database/values.js';
import { getLogger } from '../logger.js';

const log = getLogger('topology');

export type TopologyKind = TopologyQueries['kind'];

/** A topology row that does not have the shape its query promises. */
export class TopologyRowError extends AwsWrapperError {}

export interface TopologyParseContext {
  /** Instance template: host containing `?`, and the port every instance listens on (-1: the row's / none). */
  readonly template: HostInfo;
  /** The template's port was given explicitly (clusterInstanceHostPattern `host:port`): it wins over row ports. */
  readonly templatePortExplicit?: boolean;
  /** global-aurora: per-region templates (globalClusterInstanceHostPatterns); a region missing from it is an error. */
  readonly regionTemplates?: ReadonlyMap<string, HostInfo>;
  /** multi-az: the writer's id (from the dialect's writer-id query). */
  readonly writerId?: string;
  /** Names the source in error messages, e.g. `aurora-pg topology query`. */
  readonly source?: string;
}

const SHAPES: Record<TopologyKind, string> = {
  aurora: '5 columns (id, is_writer, cpu, lag, last_update)',
  'global-aurora': '4 columns (id, is_writer, visibility_lag, aws_region)',
  'multi-az': '3 columns (id, endpoint, port)',
};

function show(row: unknown): string {
  const text = JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return text === undefined ? String(row) : text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function rowError(
  ctx: TopologyParseContext,
  kind: TopologyKind,
  index: number,
  row: unknown,
  problem: string,
): TopologyRowError {
  return new TopologyRowError(
    `Bad row ${index + 1} from the ${ctx.source ?? `${kind} topology query`}: ${problem}; expected ${SHAPES[kind]}, got ${show(row)}`,
  );
}

function instanceId(v: unknown, fail: (p: string) => Error): string {
  const id = asText(v)?.trim();
  if (!id) throw fail('the instance id (column 1) is empty or not a string/number');
  return id;
}

function optionalNumber(v: unknown, column: number, name: string, fail: (p: string) => Error): number | undefined {
  if (v === null || v === undefined) return undefined;
  const n = asNumber(v);
  if (n === undefined) throw fail(`${name} (column ${column}) is not a number`);
  return n;
}

function writerFlag(v: unknown, fail: (p: string) => Error): boolean {
  const b = asBoolean(v);
  if (b === undefined) throw fail('is_writer (column 2) is not a boolean');
  return b;
}

function timestamp(v: unknown, fail: (p: string) => Error): Date | undefined {
  if (v === null || v === undefined) return undefined;
  const d = v instanceof Date ? v : typeof v === 'string' || typeof v === 'number' ? new Date(v) : undefined;
  if (!d || Number.isNaN(d.getTime())) throw fail('last_update (column 5) is not a timestamp');
  return d;
}

function portOf(v: unknown, fail: (p: string) => Error): number {
  const n = asNumber(v);
  if (n === undefined || !Number.isInteger(n) || n < 1 || n > 65535)
    throw fail('port (column 3) is not an integer in 1..65535');
  return n;
}

function hostFromTemplate(
  template: HostInfo,
  name: string,
  port: number,
  role: HostRole,
  hostId: string,
  lastUpdateTime?: Date,
): HostInfo {
  const host = new HostInfo({ host: template.host.replace('?', name), port, role, hostId, lastUpdateTime });
  host.aliases.add(hostId);
  return host;
}

function checkRow(row: unknown, width: number, fail: (p: string) => Error): unknown[] {
  if (!Array.isArray(row)) throw fail('the row is not an array');
  if (row.length !== width) throw fail(`it has ${row.length} columns`);
  return row;
}

/** Writer first, readers after; undefined when there is no writer (an invalid topology, to be ignored). */
function assemble(
  kind: TopologyKind,
  writers: HostInfo[],
  readers: HostInfo[],
  ctx: TopologyParseContext,
): HostInfo[] | undefined {
  if (writers.length === 0) {
    log.warn(
      `invalid topology from the ${ctx.source ?? `${kind} topology query`}: no writer among ${readers.length} hosts; keeping the previous topology`,
    );
    return undefined;
  }
  let writer = writers[0];
  if (writers.length > 1) {
    // After a failover both the old and the new writer may be listed: the most recently updated one is current.
    for (const w of writers)
      if ((w.lastUpdateTime?.getTime() ?? -Infinity) > (writer.lastUpdateTime?.getTime() ?? -Infinity)) writer = w;
    log.debug(`topology lists ${writers.length} writers; keeping ${writer.hostId}`);
  }
  return [writer, ...readers];
}

export function parseAuroraRows(rows: readonly unknown[], ctx: TopologyParseContext): HostInfo[] | undefined {
  const writers: HostInfo[] = [];
  const readers: HostInfo[] = [];
  rows.forEach((raw, i) => {
    const fail = (p: string) => rowError(ctx, 'aurora', i, raw, p);
    const row = checkRow(raw, 5, fail);
    const id = instanceId(row[0], fail);
    const isWriter = writerFlag(row[1], fail);
    optionalNumber(row[2], 3, 'cpu', fail);
    optionalNumber(row[3], 4, 'lag', fail);
    const updated = timestamp(row[4], fail);
    const host = hostFromTemplate(
      ctx.template,
      id,
      ctx.template.port,
      isWriter ? HostRole.WRITER : HostRole.READER,
      id,
      updated,
    );
    (isWriter ? writers : readers).push(host);
  });
  return assemble('aurora', writers, readers, ctx);
}

export function parseGlobalAuroraRows(rows: readonly unknown[], ctx: TopologyParseContext): HostInfo[] | undefined {
  const writers: HostInfo[] = [];
  const readers: HostInfo[] = [];
  rows.forEach((raw, i) => {
    const fail = (p: string) => rowError(ctx, 'global-aurora', i, raw, p);
    const row = checkRow(raw, 4, fail);
    const id = instanceId(row[0], fail);
    const isWriter = writerFlag(row[1], fail);
    optionalNumber(row[2], 3, 'visibility_lag', fail);
    const region = asText(row[3])?.trim();
    if (!region) throw fail('aws_region (column 4) is empty or not a string');
    let template = ctx.template;
    if (ctx.regionTemplates) {
      const t = ctx.regionTemplates.get(region);
      if (!t) {
        throw new TopologyRowError(
          `Row ${i + 1} from the ${ctx.source ?? 'global-aurora topology query'} is in region ${region}, which globalClusterInstanceHostPatterns does not list (it lists ${[...ctx.regionTemplates.keys()].join(', ')})`,
        );
      }
      template = t;
    }
    const host = hostFromTemplate(template, id, template.port, isWriter ? HostRole.WRITER : HostRole.READER, id);
    (isWriter ? writers : readers).push(host);
  });
  return assemble('global-aurora', writers, readers, ctx);
}

export function parseMultiAzRows(rows: readonly unknown[], ctx: TopologyParseContext): HostInfo[] | undefined {
  const writers: HostInfo[] = [];
  const readers: HostInfo[] = [];
  rows.forEach((raw, i) => {
    const fail = (p: string) => rowError(ctx, 'multi-az', i, raw, p);
    const row = checkRow(raw, 3, fail);
    const id = instanceId(row[0], fail);
    const endpoint = asText(row[1])?.trim();
    if (!endpoint) throw fail('endpoint (column 2) is empty or not a string');
    const port = portOf(row[2], fail);
    const name = endpoint.split('.')[0];
    const isWriter = ctx.writerId !== undefined && id === ctx.writerId;
    const usePort = ctx.templatePortExplicit && ctx.template.hasPort ? ctx.template.port : port;
    const host = hostFromTemplate(ctx.template, name, usePort, isWriter ? HostRole.WRITER : HostRole.READER, id);
    (isWriter ? writers : readers).push(host);
  });
  return assemble('multi-az', writers, readers, ctx);
}

/** Parses rows of a `kind` topology query; undefined = no writer (invalid, keep the previous topology). */
export function topologyRowsToHosts(
  kind: TopologyKind,
  rows: readonly unknown[],
  ctx: TopologyParseContext,
): HostInfo[] | undefined {
  switch (kind) {
    case 'aurora':
      return parseAuroraRows(rows, ctx);
    case 'global-aurora':
      return parseGlobalAuroraRows(rows, ctx);
    case 'multi-az':
      return parseMultiAzRows(rows, ctx);
  }
}
