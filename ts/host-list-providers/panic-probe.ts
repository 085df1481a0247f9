/**
 * Panic-mode topology discovery: when the writer is in doubt, every known host is
 * probed in parallel on its own short-lived connection, and the first trustworthy topology wins:
 *  - a host that verifies itself as the writer (writer-id query) → the topology read on it;
 *  - a reader that names a writer different from the one known before the probe started → that reader's topology
 *    (the seed's "topology reader"; the caller still verifies the role of the writer it then connects to).
 * Readers keep their probe connection and re-check every `pollMs`, so a reader promoted in place is seen within one
 * period. Every wait is bounded: connects and queries by the probe connection's own timeouts, the whole probe by
 * `timeoutMs`; when it ends, connections still opening are closed as soon as they arrive, open ones at once.
 */
import { AwsWrapperError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import type { DriverDialect, QueryRows, TopologyQueries } from '../dialects/types.js';
import { checkWriter, type WriterCheck } from '../dialects/database/writer.js';

const log = getLogger('panic-probe');

/** How a probe reaches hosts; supplied by the plugin service (connections go through the forceConnect pipeline). */
export interface ProbeConnector<C> {
  /** Opens a connection to `host` with the topology-monitoring connect props (bounded connect). */
  open(host: HostInfo): Promise<C>;
  /** Closes a probe connection without waiting on a dead socket. */
  close(conn: C): void;
  /** True for errors that mean the credentials are wrong (probing that host again is pointless). */
  isLoginError?(err: unknown): boolean;
}

export interface PanicProbeInput<C> {
  readonly hosts: readonly HostInfo[];
  /** The writer known before the probe (its hostId), to recognise a reader naming a new one. */
  readonly previousWriterId: string | undefined;
  readonly queries: TopologyQueries;
  readonly driverDialect: Pick<DriverDialect<C>, 'queryRows'>;
  readonly connector: ProbeConnector<C>;
  /** Parses topology rows (writer first); undefined = no writer. */
  readonly parse: (rows: readonly unknown[], writerId?: string) => HostInfo[] | undefined;
  readonly timeoutMs: number;
  /** Bound of each probe query. */
  readonly queryTimeoutMs: number;
  /** Re-check period on an open reader connection. */
  readonly pollMs: number;
  /** Pause after a failed connect before the next attempt on the same host. */
  readonly retryMs?: number;
  /** Names the cluster in messages. */
  readonly clusterId: string;
}

/** What one look at a host tells the probe (see probeVerdict). */
export type ProbeVerdict = 'writer' | 'new-writer' | 'none';

/**
 * The verdict on one look at a host: its writer check, its topology parsed (writer first; undefined = no writer)
 * and the writer known before. 'writer': the host is the writer by every measure asked (`isReader`, when asked, is
 * not true; its own id is the listed writer); 'new-writer': a host that is not the writer names a writer other than
 * the known one. The native monitor decides the same way (topology.rs `verdict`); both are tested against
 * test/fixtures/writer-detection.json.
 */
export function probeVerdict(
  check: WriterCheck,
  hosts: readonly HostInfo[] | undefined,
  previousWriterId: string | undefined,
  isReader?: boolean,
): ProbeVerdict {
  const writer = hosts?.[0];
  if (writer === undefined) return 'none';
  if (check.isWriter)
    return isReader !== true && (check.ownId === undefined || check.ownId === writer.hostId) ? 'writer' : 'none';
  if (
    writer.hostId !== undefined &&
    writer.hostId !== previousWriterId &&
    (check.writerId === undefined || check.writerId === writer.hostId)
  )
    return 'new-writer';
  return 'none';
}

function sleep(ms: number, signal: { done: boolean; wake?: () => void }): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

/** Resolves with a verified topology (writer first), or rejects when none was found within timeoutMs. */
export function probeForWriter<C>(input: PanicProbeInput<C>): Promise<HostInfo[]> {
  const { connector, queries } = input;
  const retryMs = input.retryMs ?? 100;
  const started = Date.now();
  const deadline = started + Math.max(0, input.timeoutMs);
  const probing = new Set<string>();
  const open = new Set<C>();
  const sleepers = new Set<{ done: boolean; wake?: () => void }>();
  let done = false;

  return new Promise<HostInfo[]>((resolve, reject) => {
    const finish = (hosts: HostInfo[] | undefined, err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const c of open) connector.close(c);
      open.clear();
      for (const s of sleepers) s.wake?.();
      if (hosts) {
        log.debug(
          `cluster ${input.clusterId}: writer ${hosts[0]?.hostId ?? '?'} confirmed by panic probe in ${Date.now() - started} ms`,
        );
        resolve(hosts);
      } else reject(err ?? new AwsWrapperError(`No writer of cluster ${input.clusterId} confirmed`));
    };
    const timer = setTimeout(
      () =>
        finish(
          undefined,
          new AwsWrapperError(
            `No writer of cluster ${input.clusterId} could be confirmed within ${input.timeoutMs} ms`,
          ),
        ),
      Math.max(0, input.timeoutMs),
    );

    const pause = async (ms: number): Promise<void> => {
      const s = { done: false } as { done: boolean; wake?: () => void };
      sleepers.add(s);
      await sleep(Math.max(0, Math.min(ms, deadline - Date.now())), s);
      sleepers.delete(s);
    };

    const probe = async (host: HostInfo): Promise<void> => {
      while (!done && Date.now() < deadline) {
        let conn: C;
        try {
          conn = await connector.open(host);
        } catch (err) {
          if (connector.isLoginError?.(err)) {
            log.debug(`panic probe of ${host.hostAndPort} stops: login failed`);
            return;
          }
          await pause(retryMs);
          continue;
        }
        if (done) {
          connector.close(conn);
          return;
        }
        open.add(conn);
        const query: QueryRows = (sql) => input.driverDialect.queryRows(conn, sql, input.queryTimeoutMs);
        try {
          while (!done) {
            const check = await checkWriter(queries, query);
            if (done) break;
            const rows = await query(queries.topologyQuery);
            if (done) break;
            const hosts = input.parse(rows, check.writerId);
            if (hosts !== undefined && probeVerdict(check, hosts, input.previousWriterId) !== 'none')
              return finish(hosts);
            // Hosts this reader knows of and nobody probes yet (a reader added during the outage).
            for (const h of hosts ?? []) start(h);
            await pause(input.pollMs);
          }
        } catch (err) {
          log.debug(`panic probe of ${host.hostAndPort} failed: ${(err as Error).message}`);
          await pause(retryMs);
        } finally {
          if (open.delete(conn)) connector.close(conn);
        }
      }
    };

    const start = (host: HostInfo): void => {
      const key = host.hostAndPort.toLowerCase();
      if (done || probing.has(key)) return;
      probing.add(key);
      probe(host).catch((err: unknown) => log.debug(`panic probe of ${host.hostAndPort} ended: ${String(err)}`));
    };

    for (const h of input.hosts) start(h);
  });
}
