/**
 * The Blue/Green status rows of the lookalike, as RDS publishes them: one row per endpoint of each side (the
 * cluster endpoint on Aurora, every instance), role SOURCE for blue and TARGET for green, and the deployment's
 * switchover status. After the switchover's renames the SOURCE rows carry the `-old1` names and the TARGET rows
 * the blue names, which the former green instances now answer to.
 */
import type { Flavour } from './engine.js';
import type { BlueGreenRow, BlueGreenStatus, ClusterState, EndpointState, InstanceState } from './state.js';

/** Flavours RDS offers Blue/Green deployments for (not Multi-AZ DB clusters). */
export const BLUE_GREEN_FLAVOURS: readonly Flavour[] = ['aurora-pg', 'pg', 'aurora-mysql', 'mysql'];

export const BLUE_GREEN_VERSION = '1.0';

/** The order a switchover walks, and what a rollback walks back. */
export const SWITCHOVER_STATUSES: readonly BlueGreenStatus[] = [
  'AVAILABLE',
  'SWITCHOVER_INITIATED',
  'SWITCHOVER_IN_PROGRESS',
  'SWITCHOVER_IN_POST_PROCESSING',
  'SWITCHOVER_COMPLETED',
];

/** One step forward, or back from INITIATED / IN_PROGRESS (a rollback: nothing was promoted yet). */
export function nextStatusAllowed(from: BlueGreenStatus, to: BlueGreenStatus): boolean {
  const a = SWITCHOVER_STATUSES.indexOf(from);
  const b = SWITCHOVER_STATUSES.indexOf(to);
  if (a < 0 || b < 0) return false;
  if (b === a + 1) return true;
  return b === a - 1 && (from === 'SWITCHOVER_INITIATED' || from === 'SWITCHOVER_IN_PROGRESS');
}

interface SideView {
  readonly instances: readonly InstanceState[];
  readonly writerEndpoint: EndpointState;
}

export function blueGreenRows(state: ClusterState): BlueGreenRow[] {
  const bg = state.blueGreen;
  if (!bg) return [];
  const current: SideView = { instances: state.instances, writerEndpoint: state.writerEndpoint };
  const other: SideView = { instances: bg.other, writerEndpoint: bg.otherWriterEndpoint };
  const [blue, green] = bg.renamed ? [other, current] : [current, other];
  const aurora = state.flavour.startsWith('aurora');
  const pg = state.flavour.endsWith('pg');
  const rows: BlueGreenRow[] = [];
  const side = (view: SideView, role: BlueGreenRow['role'], clusterRowId: number): void => {
    const writer = view.instances.find((i) => i.role === 'writer') ?? view.instances[0];
    if (aurora && writer) {
      rows.push({
        id: pg ? `cluster-${clusterRowId}` : 1_000_000 + clusterRowId,
        endpoint: view.writerEndpoint.dnsName,
        port: view.writerEndpoint.port,
        role,
        status: bg.status,
        version: BLUE_GREEN_VERSION,
      });
    }
    for (const i of [...view.instances].sort((a, b) => a.serverId - b.serverId)) {
      rows.push({
        id: pg ? i.resourceId : i.serverId,
        endpoint: i.dnsName,
        port: i.port,
        role,
        status: bg.status,
        version: BLUE_GREEN_VERSION,
      });
    }
  };
  side(blue, 'BLUE_GREEN_DEPLOYMENT_SOURCE', 1);
  side(green, 'BLUE_GREEN_DEPLOYMENT_TARGET', 2);
  return rows;
}
