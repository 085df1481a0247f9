/**
 * Command line of aws-advanced-ts-wrapper: `cluster …` drives the local Aurora / Multi-AZ lookalike cluster
 * (the same cluster a test or benchmark drives through LocalCluster, found by its state directory).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Flavour } from './testing/engine.js';
import { LocalCluster } from './testing/local-cluster.js';
import { LocalGlobalDatabase } from './testing/global-database.js';
import { nameTable, readState, type ClusterState } from './testing/state.js';
import type { BlueGreenPhaseMs } from './testing/blue-green.js';

const DIR_ENV = 'AWS_TS_WRAPPER_CLUSTER_DIR';

const USAGE = `Usage: aws-advanced-ts-wrapper cluster <command> [options]

Local Aurora / RDS Multi-AZ lookalike cluster (real servers, replication, RDS metadata and DNS names, faults).

Commands:
  up [--flavour F] [--readers N]     start a cluster; F: aurora-pg (default), multi-az-pg, pg,
                                     aurora-mysql, multi-az-mysql, mysql
     [--dns-lag-ms N] [--cluster-id ID] [--name NAME] [--user U] [--password P] [--database DB]
     [--pg-bin-dir DIR] [--port N] [--etc-hosts]
     [--routers N]                   aurora-pg: an Aurora Limitless shard group with N routers
  down [--purge]                     stop everything; --purge also removes the logs
  status [--json]                    roles, addresses, faults and the hostAddressMap
  failover [--target NAME] [--mode fast|immediate] [--rejoin-after-ms N]
  kill NAME                          refuse connections to the instance, reset open ones
  hang NAME                          black hole: accept, never answer; open connections freeze
  latency NAME MS                    delay traffic to and from the instance
  heal [NAME]                        clear faults of one instance, or all
  restart NAME [--mode fast|immediate]
  rejoin NAME                        make a stopped former writer a reader again
  add-reader
  remove-reader NAME
  dns-lag MS                         delay before cluster endpoints follow a failover
  custom-endpoint create NAME [--members A,B | --excluded A,B] [--type READER|ANY]
                                     NAME.cluster-custom-<id>.<region>.rds.amazonaws.com leading to
                                     the members (default: every instance; type ANY)
  custom-endpoint modify NAME [--members A,B] [--excluded A,B] [--type READER|ANY]
  custom-endpoint delete NAME
  blue-green create [--suffix S]     green copy of the cluster (aurora-pg, pg, aurora-mysql, mysql) replicating
                                     from it, names <name>-green-<S>; status rows AVAILABLE
  blue-green status                  the deployment and its status rows
  blue-green switchover [--phase-ms N] [--initiated-ms N] [--in-progress-ms N] [--post-ms N] [--rollback]
                        [--keep-connections]
                                     walk the status rows to SWITCHOVER_COMPLETED (blue read-only, green
                                     promoted, names moved, old names -old1; connections to both sides dropped
                                     meanwhile unless --keep-connections), or back to AVAILABLE
  router kill|hang|heal NAME         fault of a Limitless transaction router (heal without NAME: all)
  router load NAME LOAD              load (0 idle .. 1 saturated) aurora_limitless_router_endpoints() reports

Global database (two aurora-pg or aurora-mysql regions, a global- writer endpoint; --dir is the global directory):
  global-up [--flavour aurora-pg|aurora-mysql] [--regions R1,R2] [--readers N] [--name NAME] [--dns-lag-ms N]
            [--user U] [--password P] [--database DB] [--pg-bin-dir DIR]
  global-status [--json]             regions, roles, the global- endpoint and globalClusterInstanceHostPatterns
  global-failover [--target-region R]    unplanned: the primary's writer crashes, the other region is promoted
  global-switchover [--target-region R]  planned: clean shutdown first, nothing lost
  global-down [--purge]

Every command takes --dir D (the state directory; default: $${DIR_ENV}, else the only running cluster
under ./.cluster for all commands but 'up', which creates ./.cluster/<clusterId>; global-* commands: the only running
global database under ./.cluster, 'global-up' creates ./.cluster/global-<id>) and --json.`;

class UsageError extends Error {}

function isRunning(dir: string): boolean {
  try {
    return readState(dir).status === 'ready';
  } catch {
    return false;
  }
}

function findDir(given: string | undefined, forUp: boolean): string | undefined {
  if (given) return path.resolve(given);
  if (process.env[DIR_ENV]) return path.resolve(process.env[DIR_ENV]);
  if (forUp) return undefined;
  const base = path.resolve('.cluster');
  const running = existsSync(base)
    ? readdirSync(base)
        .map((d) => path.join(base, d))
        .filter(isRunning)
    : [];
  if (running.length === 1) return running[0];
  if (running.length === 0)
    throw new Error(`no running cluster under ${base}; pass --dir or start one with 'cluster up'`);
  throw new Error(
    `several running clusters under ${base} (${running.map((d) => path.basename(d)).join(', ')}); pass --dir`,
  );
}

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

function positional(args: string[], index: number, what: string): string {
  const v = args[index];
  if (v === undefined) throw new UsageError(`missing ${what}`);
  return v;
}

function describe(state: ClusterState): string {
  const lines = [
    `cluster ${state.clusterId} (${state.flavour}) — ${state.status} — ${state.dir}`,
    `  writer endpoint ${state.writerEndpoint.dnsName} -> ${state.writerEndpoint.address} (now: ${state.writerEndpoint.targets.join(', ') || '-'})`,
    `  reader endpoint ${state.readerEndpoint.dnsName} -> ${state.readerEndpoint.address} (now: ${state.readerEndpoint.targets.join(', ') || '-'})`,
    `  user ${state.credentials.user}, database ${state.credentials.database}, password in ${path.join(state.dir, 'cluster.json')}`,
    `  dns lag ${state.dnsLagMs} ms`,
  ];
  for (const ce of state.customEndpoints ?? []) {
    const members = ce.staticMembers.length
      ? `members ${ce.staticMembers.join(',')}`
      : ce.excludedMembers.length
        ? `excluded ${ce.excludedMembers.join(',')}`
        : 'all instances';
    lines.push(
      `  custom endpoint ${ce.dnsName} -> ${ce.address} (${ce.type}, ${members}; now: ${ce.targets.join(', ') || '-'})`,
    );
  }
  if (state.rdsApi)
    lines.push(
      `  RDS API ${state.rdsApi.endpoint} (region ${state.region}, access key ${state.rdsApi.accessKeyId}; secret in cluster.json)`,
    );
  const group = state.shardGroup;
  if (group) {
    lines.push(`  shard group ${group.dnsName} -> ${group.address}`);
    for (const r of group.routers) {
      const fault = r.fault !== 'none' ? ` fault=${r.fault}` : '';
      lines.push(
        `  ${r.name.padEnd(12)} router load=${r.load} accepted=${r.accepted} ${r.address.padEnd(22)} ${r.dnsName}${fault}`,
      );
    }
  }
  for (const i of state.instances) {
    const fault = i.fault !== 'none' ? ` fault=${i.fault}` : '';
    const lat = i.latencyMs ? ` latency=${i.latencyMs}ms` : '';
    lines.push(
      `  ${i.name.padEnd(12)} ${i.role.padEnd(6)} ${(i.running ? 'running' : 'stopped').padEnd(7)} ${i.address.padEnd(22)} ${i.dnsName}${fault}${lat}`,
    );
  }
  const bg = state.blueGreen;
  if (bg)
    lines.push(
      `  blue/green ${bg.id} ${bg.status}: ${bg.renamed ? 'old blue' : 'green'} ${bg.other.map((i) => i.name).join(', ')} ('cluster blue-green status' for the rows)`,
    );
  lines.push(`  logs: ${path.join(state.dir, 'logs')}`);
  return lines.join('\n');
}

function hostAddressMap(state: ClusterState): Record<string, string> {
  return nameTable(state);
}

function describeBlueGreen(state: ClusterState): string {
  const bg = state.blueGreen;
  if (!bg) return `cluster ${state.clusterId} has no Blue/Green deployment`;
  const [blue, green] = bg.renamed ? [bg.other, state.instances] : [state.instances, bg.other];
  const lines = [
    `blue/green deployment ${bg.id} — ${bg.status}${bg.renamed ? ' (names moved)' : ''}`,
    `  blue:  ${blue.map((i) => i.name).join(', ')}`,
    `  green: ${green.map((i) => i.name).join(', ')}`,
    '  status rows:',
    ...bg.rows.map((r) => `    ${r.role.padEnd(29)} ${r.status.padEnd(30)} ${r.endpoint}:${r.port}`),
  ];
  return lines.join('\n');
}

function findGlobalDir(given: string | undefined): string {
  if (given) return path.resolve(given);
  if (process.env[DIR_ENV]) return path.resolve(process.env[DIR_ENV]);
  const base = path.resolve('.cluster');
  // Stopped ones keep their directory (and logs): only running ones count, as for clusters.
  const found = existsSync(base)
    ? readdirSync(base)
        .map((d) => path.join(base, d))
        .filter((d) => LocalGlobalDatabase.isGlobalDir(d) && readdirSync(d).some((r) => isRunning(path.join(d, r))))
    : [];
  if (found.length === 1) return found[0];
  if (found.length === 0)
    throw new Error(`no running global database under ${base}; pass --dir or start one with 'cluster global-up'`);
  throw new Error(
    `several running global databases under ${base} (${found.map((d) => path.basename(d)).join(', ')}); pass --dir`,
  );
}

async function globalCommand(
  command: string,
  values: Record<string, string | boolean | undefined>,
  out: (s: string) => void,
): Promise<number> {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  let db: LocalGlobalDatabase;
  let result: unknown;
  if (command === 'global-up') {
    const regions = str('regions')
      ?.split(',')
      .map((r) => r.trim());
    if (regions !== undefined && regions.length !== 2)
      throw new UsageError(`--regions takes two regions, e.g. us-east-1,us-west-2; got '${str('regions')}'`);
    const flavour = str('flavour') ?? str('flavor') ?? 'aurora-pg';
    if (flavour !== 'aurora-pg' && flavour !== 'aurora-mysql')
      throw new UsageError(`--flavour: global databases are aurora-pg or aurora-mysql; got '${flavour}'`);
    db = await LocalGlobalDatabase.start({
      flavour,
      regions: regions as [string, string] | undefined,
      readers: intOption(str('readers'), 'readers'),
      dir: str('dir'),
      name: str('name'),
      dnsLagMs: intOption(str('dns-lag-ms'), 'dns-lag-ms'),
      user: str('user'),
      password: str('password'),
      database: str('database'),
      pgBinDir: str('pg-bin-dir'),
      keepAfterExit: true,
    });
    result = `global database up in ${db.directory}`;
  } else {
    const dir = findGlobalDir(str('dir'));
    db = await LocalGlobalDatabase.attach(dir);
    if (command === 'global-down') {
      await db.stop({ keepLogs: values.purge !== true });
      out(`global database in ${dir} is down`);
      return 0;
    }
    if (command === 'global-failover') result = await db.failover({ targetRegion: str('target-region') });
    else if (command === 'global-switchover') result = await db.switchover({ targetRegion: str('target-region') });
    else if (command !== 'global-status') throw new UsageError(`unknown cluster command '${command}'`);
  }
  for (const c of db.clusters) await c.status();
  const summary = {
    directory: db.directory,
    flavour: db.flavour,
    primaryRegion: db.primaryRegion,
    globalEndpoint: db.globalEndpoint,
    globalClusterInstanceHostPatterns: db.globalClusterInstanceHostPatterns,
  };
  if (values.json) {
    const shown = db.clusters.map((c) => ({
      ...c.lastState,
      control: undefined,
      credentials: { ...c.lastState.credentials, password: undefined },
      rdsApi: c.lastState.rdsApi ? { ...c.lastState.rdsApi, secretAccessKey: undefined } : c.lastState.rdsApi,
    }));
    out(
      JSON.stringify(
        { result: result ?? null, ...summary, regions: shown, hostAddressMap: db.hostAddressMap },
        null,
        2,
      ),
    );
  } else {
    if (result !== undefined) out(typeof result === 'string' ? result : JSON.stringify(result, null, 2));
    out(`global database (${db.flavour}) — primary region ${summary.primaryRegion} — ${summary.directory}`);
    out(`  global writer endpoint ${summary.globalEndpoint} -> ${db.hostAddressMap[summary.globalEndpoint]}`);
    out(`  globalClusterInstanceHostPatterns ${summary.globalClusterInstanceHostPatterns}`);
    for (const c of db.clusters) out(describe(c.lastState).replace(/^cluster /, `region ${c.region}: cluster `));
  }
  return 0;
}

const CLUSTER_OPTIONS = {
  dir: { type: 'string' },
  json: { type: 'boolean', default: false },
  flavour: { type: 'string' },
  flavor: { type: 'string' },
  readers: { type: 'string' },
  routers: { type: 'string' },
  'dns-lag-ms': { type: 'string' },
  'cluster-id': { type: 'string' },
  name: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  database: { type: 'string' },
  'pg-bin-dir': { type: 'string' },
  port: { type: 'string' },
  'etc-hosts': { type: 'boolean', default: false },
  purge: { type: 'boolean', default: false },
  target: { type: 'string' },
  mode: { type: 'string' },
  'rejoin-after-ms': { type: 'string' },
  regions: { type: 'string' },
  'target-region': { type: 'string' },
  members: { type: 'string' },
  excluded: { type: 'string' },
  type: { type: 'string' },
  suffix: { type: 'string' },
  'phase-ms': { type: 'string' },
  'initiated-ms': { type: 'string' },
  'in-progress-ms': { type: 'string' },
  'post-ms': { type: 'string' },
  rollback: { type: 'boolean', default: false },
  'keep-connections': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseClusterArgs(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, options: CLUSTER_OPTIONS });
}

type ClusterValues = ReturnType<typeof parseClusterArgs>['values'];
type RestartMode = 'fast' | 'immediate';
type Print = (state: ClusterState, result?: unknown) => void;

/** Prints a command's result and the cluster's state, as text or (--json) one JSON document. */
function printer(json: boolean, out: (s: string) => void): Print {
  return (state, result) => {
    // The password stays in cluster.json (mode 0600); output never carries it.
    const shown = {
      ...state,
      control: undefined,
      credentials: { ...state.credentials, password: undefined },
      rdsApi: state.rdsApi ? { ...state.rdsApi, secretAccessKey: undefined } : state.rdsApi,
    };
    if (json)
      out(JSON.stringify({ result: result ?? null, state: shown, hostAddressMap: hostAddressMap(state) }, null, 2));
    else {
      if (result !== undefined && result !== null)
        out(typeof result === 'string' ? result : JSON.stringify(result, null, 2));
      out(describe(state));
    }
  };
}

async function up(values: ClusterValues, print: Print): Promise<void> {
  const c = await LocalCluster.start({
    flavour: (values.flavour ?? values.flavor ?? 'aurora-pg') as Flavour,
    readers: intOption(values.readers, 'readers'),
    routers: intOption(values.routers, 'routers'),
    dir: findDir(values.dir, true),
    clusterId: values['cluster-id'],
    clusterName: values.name,
    dnsLagMs: intOption(values['dns-lag-ms'], 'dns-lag-ms'),
    user: values.user,
    password: values.password,
    database: values.database,
    pgBinDir: values['pg-bin-dir'],
    publicPort: intOption(values.port, 'port'),
    etcHosts: values['etc-hosts'],
    keepAfterExit: true,
  });
  print(c.lastState, values.json ? { upMs: c.upMs } : `up in ${c.upMs} ms`);
}

async function down(dir: string, purge: boolean, out: (s: string) => void): Promise<void> {
  const state = readState(dir);
  if (state.status === 'down') {
    out(`cluster ${state.clusterId} is already down`);
    return;
  }
  const c = await LocalCluster.attach(dir).catch(() => undefined);
  if (c) await c.stop({ keepLogs: !purge });
  else await LocalCluster.forceDown(state, !purge);
  out(`cluster ${state.clusterId} is down${purge ? '' : `; logs kept in ${path.join(dir, 'logs')}`}`);
}

const ATTACHED_COMMANDS = [
  'status',
  'failover',
  'kill',
  'hang',
  'heal',
  'latency',
  'restart',
  'rejoin',
  'add-reader',
  'remove-reader',
  'dns-lag',
  'router',
  'custom-endpoint',
];

/** Runs a command on a running cluster; resolves to what it returned (printed before the state), if anything. */
async function runAttached(
  c: LocalCluster,
  command: string,
  rest: string[],
  values: ClusterValues,
  mode: RestartMode | undefined,
): Promise<unknown> {
  switch (command) {
    case 'status':
      break;
    case 'failover':
      return c.failover({
        target: values.target,
        mode,
        rejoinAfterMs: intOption(values['rejoin-after-ms'], 'rejoin-after-ms'),
      });
    case 'kill':
      await c.kill(positional(rest, 0, 'instance name'));
      break;
    case 'hang':
      await c.hang(positional(rest, 0, 'instance name'));
      break;
    case 'heal':
      await c.heal(rest[0]);
      break;
    case 'latency': {
      const ms = intOption(positional(rest, 1, 'latency in ms'), 'latency');
      await c.latency(positional(rest, 0, 'instance name'), ms!);
      break;
    }
    case 'restart':
      await c.restart(positional(rest, 0, 'instance name'), mode ?? 'fast');
      break;
    case 'rejoin':
      await c.rejoin(positional(rest, 0, 'instance name'));
      break;
    case 'add-reader':
      return c.addReader();
    case 'remove-reader':
      await c.removeReader(positional(rest, 0, 'instance name'));
      break;
    case 'router': {
      const action = positional(rest, 0, "router action ('kill', 'hang', 'heal' or 'load')");
      if (action === 'heal') await c.healRouter(rest[1]);
      else if (action === 'kill') await c.killRouter(positional(rest, 1, 'router name'));
      else if (action === 'hang') await c.hangRouter(positional(rest, 1, 'router name'));
      else if (action === 'load') {
        const text = positional(rest, 2, 'router load (0 to 1)');
        const load = Number(text);
        if (text.trim() === '' || !Number.isFinite(load) || load < 0 || load > 1)
          throw new UsageError(`router load must be a number from 0 to 1, got '${text}'`);
        await c.setRouterLoad(positional(rest, 1, 'router name'), load);
      } else throw new UsageError(`router action must be 'kill', 'hang', 'heal' or 'load', got '${action}'`);
      break;
    }
    case 'dns-lag':
      await c.setDnsLag(intOption(positional(rest, 0, 'lag in ms'), 'dns-lag')!);
      break;
    case 'custom-endpoint': {
      const sub = positional(rest, 0, "custom-endpoint command ('create', 'modify' or 'delete')");
      const name = positional(rest, 1, 'custom endpoint name');
      const list = (v: string | undefined) =>
        v === undefined
          ? undefined
          : v
              .split(',')
              .map((x) => x.trim())
              .filter((x) => x !== '');
      const type = values.type?.toUpperCase();
      if (type !== undefined && type !== 'READER' && type !== 'ANY')
        throw new UsageError(`--type must be READER or ANY, got '${values.type}'`);
      const membership: Parameters<typeof c.customEndpoints.create>[1] = {
        members: list(values.members),
        excluded: list(values.excluded),
        type,
      };
      if (sub === 'create') return c.customEndpoints.create(name, membership);
      if (sub === 'modify') return c.customEndpoints.modify(name, membership);
      if (sub === 'delete') await c.customEndpoints.delete(name);
      else throw new UsageError(`unknown custom-endpoint command '${sub}': expected create, modify or delete`);
      break;
    }
    default:
      throw new UsageError(`unknown cluster command '${command}'`);
  }
  return undefined;
}

/** `blue-green create|status|switchover`: prints the deployment rather than the cluster. */
async function blueGreenCommand(
  c: LocalCluster,
  rest: string[],
  values: ClusterValues,
  print: Print,
  out: (s: string) => void,
): Promise<void> {
  let result: unknown;
  const sub = positional(rest, 0, 'blue-green command (create, status or switchover)');
  if (sub === 'create') {
    const t0 = Date.now();
    const bg = await c.blueGreen({ suffix: values.suffix });
    result = values.json
      ? { id: bg.id, createMs: Date.now() - t0 }
      : `blue/green deployment ${bg.id} created in ${Date.now() - t0} ms`;
  } else if (sub === 'switchover') {
    const bg = c.blueGreenDeployment;
    if (!bg) throw new Error(`cluster ${c.clusterId} has no Blue/Green deployment ('cluster blue-green create' first)`);
    const all = intOption(values['phase-ms'], 'phase-ms');
    const phaseMs: BlueGreenPhaseMs = {
      initiated: intOption(values['initiated-ms'], 'initiated-ms') ?? all,
      inProgress: intOption(values['in-progress-ms'], 'in-progress-ms') ?? all,
      post: intOption(values['post-ms'], 'post-ms') ?? all,
    };
    const r = await bg.switchover({
      phaseMs,
      rollback: values.rollback,
      dropConnections: !values['keep-connections'],
      onPhase: (status) => {
        if (!values.json) out(`${new Date().toISOString()} ${status}`);
      },
    });
    result = values.json
      ? r
      : `${r.rollback ? 'rolled back' : 'switched over'} in ${r.totalMs} ms (${r.phases.map((p) => `${p.status} ${p.ms} ms`).join(', ')})`;
  } else if (sub !== 'status') {
    throw new UsageError(`unknown blue-green command '${sub}': expected create, status or switchover`);
  }
  const state = await c.status();
  if (values.json) print(state, result);
  else {
    if (result !== undefined) out(String(result));
    out(describeBlueGreen(state));
  }
}

async function cluster(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseClusterArgs(argv);
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    out(USAGE);
    return command || values.help ? 0 : 2;
  }
  const print = printer(values.json, out);
  const mode = values.mode;
  if (mode !== undefined && mode !== 'fast' && mode !== 'immediate')
    throw new UsageError(`--mode must be 'fast' or 'immediate', got '${mode}'`);

  if (command.startsWith('global-')) return globalCommand(command, values, out);
  if (command === 'up') {
    await up(values, print);
    return 0;
  }
  if (command !== 'down' && command !== 'blue-green' && !ATTACHED_COMMANDS.includes(command))
    throw new UsageError(`unknown cluster command '${command}'`);
  const dir = findDir(values.dir, false)!;
  if (command === 'down') {
    await down(dir, values.purge, out);
    return 0;
  }
  const c = await LocalCluster.attach(dir);
  if (command === 'blue-green') {
    await blueGreenCommand(c, rest, values, print, out);
    return 0;
  }
  const result = await runAttached(c, command, rest, values, mode);
  print(await c.status(), result);
  return 0;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
  err: (s: string) => void = (s) => process.stderr.write(`${s}\n`),
): Promise<number> {
  const [area, ...rest] = argv;
  try {
    if (area === 'cluster') return await cluster(rest, out);
    if (area === 'demo') {
      // The demo is a separate module; load it by a computed name so the CLI works without it.
      const specifier = './demo.js';
      const mod = (await import(specifier)) as { main?: (argv: string[]) => Promise<number> };
      if (typeof mod.main !== 'function') throw new Error('the demo is not available in this build');
      return await mod.main(rest);
    }
    if (area === undefined || area === '--help' || area === '-h' || area === 'help') {
      out(USAGE);
      return area === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command '${area}'`);
  } catch (e) {
    const error = e as Error;
    if (error instanceof UsageError || (error as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      err(`error: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    err(`error: ${error.message}`);
    return 1;
  }
}
