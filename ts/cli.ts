/**
 * Command line of aws-advanced-ts-wrapper: `cluster …` drives the local Aurora / Multi-AZ lookalike cluster
 * (the same cluster a test or benchmark drives through LocalCluster, found by its state directory).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Flavour } from './testing/engine.js';
import { LocalCluster } from './testing/local-cluster.js';
import { readState, type ClusterState } from './testing/state.js';

const DIR_ENV = 'AWS_TS_WRAPPER_CLUSTER_DIR';

const USAGE = `Usage: aws-advanced-ts-wrapper cluster <command> [options]

Local Aurora / RDS Multi-AZ lookalike cluster (real servers, replication, RDS metadata and DNS names, faults).

Commands:
  up [--flavour F] [--readers N]     start a cluster; F: aurora-pg (default), multi-az-pg, pg,
                                     aurora-mysql, multi-az-mysql, mysql
     [--dns-lag-ms N] [--cluster-id ID] [--name NAME] [--user U] [--password P] [--database DB]
     [--pg-bin-dir DIR] [--port N] [--etc-hosts]
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

Every command takes --dir D (the state directory; default: $${DIR_ENV}, else the only cluster under
./.cluster for all commands but 'up', which creates ./.cluster/<clusterId>) and --json.`;

class UsageError extends Error {}

function findDir(given: string | undefined, forUp: boolean): string | undefined {
  if (given) return path.resolve(given);
  if (process.env[DIR_ENV]) return path.resolve(process.env[DIR_ENV]!);
  if (forUp) return undefined;
  const base = path.resolve('.cluster');
  const running = existsSync(base)
    ? readdirSync(base).map((d) => path.join(base, d)).filter((d) => {
        try {
          return readState(d).status === 'ready';
        } catch {
          return false;
        }
      })
    : [];
  if (running.length === 1) return running[0];
  if (running.length === 0) throw new Error(`no running cluster under ${base}; pass --dir or start one with 'cluster up'`);
  throw new Error(`several running clusters under ${base} (${running.map((d) => path.basename(d)).join(', ')}); pass --dir`);
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
  for (const i of state.instances) {
    const fault = i.fault !== 'none' ? ` fault=${i.fault}` : '';
    const lat = i.latencyMs ? ` latency=${i.latencyMs}ms` : '';
    lines.push(`  ${i.name.padEnd(12)} ${i.role.padEnd(6)} ${(i.running ? 'running' : 'stopped').padEnd(7)} ${i.address.padEnd(22)} ${i.dnsName}${fault}${lat}`);
  }
  lines.push(`  logs: ${path.join(state.dir, 'logs')}`);
  return lines.join('\n');
}

function hostAddressMap(state: ClusterState): Record<string, string> {
  const map: Record<string, string> = {};
  for (const i of state.instances) map[i.dnsName] = i.address;
  map[state.writerEndpoint.dnsName] = state.writerEndpoint.address;
  map[state.readerEndpoint.dnsName] = state.readerEndpoint.address;
  return map;
}

const CLUSTER_OPTIONS = {
  dir: { type: 'string' },
  json: { type: 'boolean', default: false },
  flavour: { type: 'string' },
  flavor: { type: 'string' },
  readers: { type: 'string' },
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
    const shown = { ...state, control: undefined, credentials: { ...state.credentials, password: undefined } };
    if (json) out(JSON.stringify({ result: result ?? null, state: shown, hostAddressMap: hostAddressMap(state) }, null, 2));
    else {
      if (result !== undefined && result !== null) out(typeof result === 'string' ? result : JSON.stringify(result, null, 2));
      out(describe(state));
    }
  };
}

async function up(values: ClusterValues, print: Print): Promise<void> {
  const c = await LocalCluster.start({
    flavour: (values.flavour ?? values.flavor ?? 'aurora-pg') as Flavour,
    readers: intOption(values.readers, 'readers'),
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

const ATTACHED_COMMANDS = ['status', 'failover', 'kill', 'hang', 'heal', 'latency', 'restart', 'rejoin', 'add-reader', 'remove-reader', 'dns-lag'];

/** Runs a command on a running cluster; resolves to what it returned (printed before the state), if anything. */
async function runAttached(c: LocalCluster, command: string, rest: string[], values: ClusterValues, mode: RestartMode | undefined): Promise<unknown> {
  switch (command) {
    case 'status':
      break;
    case 'failover':
      return c.failover({ target: values.target, mode, rejoinAfterMs: intOption(values['rejoin-after-ms'], 'rejoin-after-ms') });
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
    case 'dns-lag':
      await c.setDnsLag(intOption(positional(rest, 0, 'lag in ms'), 'dns-lag')!);
      break;
    default:
      throw new UsageError(`unknown cluster command '${command}'`);
  }
  return undefined;
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
  if (mode !== undefined && mode !== 'fast' && mode !== 'immediate') throw new UsageError(`--mode must be 'fast' or 'immediate', got '${mode}'`);

  if (command === 'up') {
    await up(values, print);
    return 0;
  }
  if (command !== 'down' && !ATTACHED_COMMANDS.includes(command)) throw new UsageError(`unknown cluster command '${command}'`);
  const dir = findDir(values.dir, false)!;
  if (command === 'down') {
    await down(dir, values.purge, out);
    return 0;
  }
  const c = await LocalCluster.attach(dir);
  const result = await runAttached(c, command, rest, values, mode);
  print(await c.status(), result);
  return 0;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), err: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<number> {
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
