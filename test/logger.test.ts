import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import path from 'node:path';
import {
  getLogger,
  setLogger,
  setLogLevels,
  redact,
  redactUrl,
  describeConfig,
  LOG_ENV_VAR,
  type LogSink,
} from '../ts/logger.js';

const root = path.resolve(__dirname, '..');

/** Runs a snippet in a fresh Node process (so the env var is read at import) and returns its stderr. */
function runChild(
  env: string | undefined,
  body: string,
): Promise<{ stderr: string; stdout: string; code: number | null }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv[LOG_ENV_VAR];
  if (env !== undefined) childEnv[LOG_ENV_VAR] = env;
  const code = `const { getLogger } = require('./ts/logger.ts');\n${body}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], {
      cwd: root,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    child.on('error', reject);
    child.on('close', (c) => resolve({ stderr, stdout, code: c }));
  });
}

const EMIT_ALL = `
for (const ns of ['failover', 'host-monitoring', 'plugins.iam']) {
  const log = getLogger(ns);
  log.debug('dbg %s', ns); log.info('inf %s', ns); log.warn('wrn %s', ns); log.error('err %s', ns);
}`;

function lines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.includes('[aws-advanced-ts-wrapper:'))
    .map((l) => l.replace(/^\S+ /, ''));
}

test('silent by default: nothing on stderr or stdout without the variable', async () => {
  const r = await runChild(undefined, EMIT_ALL);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  assert.is(r.stdout, '');
});

test('enabled per namespace through the variable, default level info, namespace in each line', async () => {
  const r = await runChild('failover', EMIT_ALL);
  assert.equal(lines(r.stderr), [
    'INFO  [aws-advanced-ts-wrapper:failover] inf failover',
    'WARN  [aws-advanced-ts-wrapper:failover] wrn failover',
    'ERROR [aws-advanced-ts-wrapper:failover] err failover',
  ]);
  assert.is(r.stdout, '');
});

test('levels, * and prefix patterns; the most specific entry wins', async () => {
  const all = await runChild('*:debug', EMIT_ALL);
  assert.is(lines(all.stderr).length, 12);
  const mixed = await runChild('*:warn, failover:debug, plugins.*:error, host-monitoring:silent', EMIT_ALL);
  assert.equal(lines(mixed.stderr), [
    'DEBUG [aws-advanced-ts-wrapper:failover] dbg failover',
    'INFO  [aws-advanced-ts-wrapper:failover] inf failover',
    'WARN  [aws-advanced-ts-wrapper:failover] wrn failover',
    'ERROR [aws-advanced-ts-wrapper:failover] err failover',
    'ERROR [aws-advanced-ts-wrapper:plugins.iam] err plugins.iam',
  ]);
});

test('secrets are masked in default-sink lines', async () => {
  const r = await runChild(
    '*',
    `getLogger('iam').info('connecting with %o to %s', { user: 'u', password: 'hunter2', token: 'tok-123' }, 'postgres://u:hunter2@h/db');`,
  );
  assert.not.match(r.stderr, /hunter2|tok-123/);
  assert.match(r.stderr, /password: '\*\*\*'/);
  assert.match(r.stderr, /postgres:\/\/u:\*\*\*@h\/db/);
});

/** A console-shaped sink that records calls. */
function recordingSink(): LogSink & { calls: Array<[string, unknown[]]> } {
  const calls: Array<[string, unknown[]]> = [];
  return {
    calls,
    debug: (...a: unknown[]) => {
      calls.push(['debug', a]);
    },
    info: (...a: unknown[]) => {
      calls.push(['info', a]);
    },
    warn: (...a: unknown[]) => {
      calls.push(['warn', a]);
    },
    error: (...a: unknown[]) => {
      calls.push(['error', a]);
    },
  };
}

test('console-shaped sink receives namespaced lines, redacted arguments, at the chosen levels', () => {
  const sink = recordingSink();
  const log = getLogger('failover');
  setLogger(sink, { levels: 'failover:debug' });
  try {
    log.debug('switching to %s', 'inst-2', { password: 'hunter2', host: 'h' });
    log.info('connected to postgres://app:hunter2@h/db');
    getLogger('other').error('not enabled');
    assert.equal(sink.calls, [
      ['debug', ['[aws-advanced-ts-wrapper:failover] switching to %s', 'inst-2', { password: '***', host: 'h' }]],
      ['info', ['[aws-advanced-ts-wrapper:failover] connected to postgres://app:***@h/db']],
    ]);
  } finally {
    setLogger(undefined);
  }
});

test('with a sink and no levels, every namespace is on at info (unless the variable says otherwise)', () => {
  const saved = process.env[LOG_ENV_VAR];
  delete process.env[LOG_ENV_VAR];
  const sink = recordingSink();
  setLogger(sink);
  try {
    const log = getLogger('any-module');
    log.debug('hidden');
    log.info('shown');
    assert.equal(sink.calls, [['info', ['[aws-advanced-ts-wrapper:any-module] shown']]]);
    assert.ok(log.isLevelEnabled('info'));
    assert.not.ok(log.isLevelEnabled('debug'));
  } finally {
    setLogger(undefined);
    if (saved !== undefined) process.env[LOG_ENV_VAR] = saved;
  }
});

test('pino-shaped sink: child({ ns }) once per logger, (msg, ...args), and ({ err }, msg) for a trailing Error', () => {
  const children: Array<Record<string, unknown>> = [];
  const calls: Array<[string, unknown[]]> = [];
  const make = (bindings: Record<string, unknown>): LogSink => ({
    debug: (...a: unknown[]) => {
      calls.push([`debug ${JSON.stringify(bindings)}`, a]);
    },
    info: (...a: unknown[]) => {
      calls.push([`info ${JSON.stringify(bindings)}`, a]);
    },
    warn: (...a: unknown[]) => {
      calls.push([`warn ${JSON.stringify(bindings)}`, a]);
    },
    error: (...a: unknown[]) => {
      calls.push([`error ${JSON.stringify(bindings)}`, a]);
    },
    child: (b: Record<string, unknown>) => {
      children.push(b);
      return make({ ...bindings, ...b });
    },
  });
  setLogger(make({}), { levels: '*:debug' });
  try {
    const log = getLogger('host-monitoring');
    const err = new Error('socket closed');
    log.warn('probe of %s failed', 'inst-1', err);
    log.info('probe ok');
    assert.equal(children, [{ ns: 'host-monitoring' }]);
    assert.is(calls.length, 2);
    assert.is(calls[0][0], 'warn {"ns":"host-monitoring"}');
    assert.equal(calls[0][1], [{ err }, 'probe of %s failed', 'inst-1']);
    assert.equal(calls[1], ['info {"ns":"host-monitoring"}', ['probe ok']]);
  } finally {
    setLogger(undefined);
  }
});

test('a disabled call formats nothing (arguments are not even read)', () => {
  setLogLevels('');
  let reads = 0;
  const arg = {
    get host() {
      reads++;
      return 'h';
    },
  };
  const log = getLogger('failover');
  log.debug('x %o', arg);
  log.error('x %o', arg);
  assert.is(reads, 0);
  assert.not.ok(log.isLevelEnabled('error'));
  const sink = recordingSink();
  setLogger(sink, { levels: 'failover:error' });
  try {
    log.error('x %o', arg);
    assert.is(reads, 1, 'read once when enabled (redaction)');
  } finally {
    setLogger(undefined);
    setLogLevels(undefined);
  }
});

test('a throwing sink never breaks the caller; a sink without the methods is refused', () => {
  const bad: LogSink = {
    debug() {
      throw new Error('x');
    },
    info() {
      throw new Error('x');
    },
    warn() {
      throw new Error('x');
    },
    error() {
      throw new Error('x');
    },
  };
  setLogger(bad, { levels: '*:debug' });
  try {
    getLogger('a').error('boom');
  } finally {
    setLogger(undefined);
  }
  assert.throws(() => setLogger({ info() {} } as unknown as LogSink), /no debug\(\) method/);
});

test('describeConfig masks password, token, secret, sessionToken, samlAssertion, TLS keys and URL passwords', () => {
  const cfg = {
    host: 'h',
    port: 5432,
    user: 'app',
    password: 'hunter2',
    token: 't',
    clientSecret: 's',
    sessionToken: 'st',
    samlAssertion: 'sa',
    idpPassword: 'ip',
    password1: 'p1',
    connectionString: 'postgresql://app:hunter2@h:5432/db?sslmode=require&password=x2',
    uri: 'mysql://root:hunter2@h/db',
    ssl: { rejectUnauthorized: false, key: '-----BEGIN PRIVATE KEY-----', passphrase: 'pp', ca: 'CA' },
    plugins: ['iam'],
    stream: () => null,
    nested: { deeper: { apiKey: 'k' } },
    password2: undefined,
  };
  const d = describeConfig(cfg);
  assert.equal(d, {
    host: 'h',
    port: 5432,
    user: 'app',
    password: '***',
    token: '***',
    clientSecret: '***',
    sessionToken: '***',
    samlAssertion: '***',
    idpPassword: '***',
    password1: '***',
    connectionString: 'postgresql://app:***@h:5432/db?sslmode=require&password=***',
    uri: 'mysql://root:***@h/db',
    ssl: { rejectUnauthorized: false, key: '***', passphrase: '***', ca: 'CA' },
    plugins: ['iam'],
    stream: '[Function]',
    nested: { deeper: { apiKey: '***' } },
    password2: undefined,
  });
  assert.is(cfg.password, 'hunter2', 'the input is not changed');
  assert.not.match(JSON.stringify(d), /hunter2/);
  assert.equal(describeConfig(undefined), {});
});

test('redact / redactUrl', () => {
  assert.is(redactUrl('no url here'), 'no url here');
  assert.is(
    redactUrl('failed: postgres://u:p%40ss@h/db and mysql://r:x@h2/'),
    'failed: postgres://u:***@h/db and mysql://r:***@h2/',
  );
  assert.is(redactUrl('postgres://u@h/db'), 'postgres://u@h/db');
  assert.is(
    redactUrl('https://idp/?SAMLResponse=1&access_token=abc&x=1'),
    'https://idp/?SAMLResponse=***&access_token=***&x=1',
  );
  // An IAM auth token is a presigned URL without a scheme: its credential parts are masked.
  assert.is(
    redactUrl(
      'h:5432/?Action=connect&DBUser=app&X-Amz-Credential=AKIA%2F20240101&X-Amz-Security-Token=IQo&X-Amz-Signature=abc123',
    ),
    'h:5432/?Action=connect&DBUser=app&X-Amz-Credential=***&X-Amz-Security-Token=***&X-Amz-Signature=***',
  );
  const circular: Record<string, unknown> = { password: 'x' };
  circular.self = circular;
  assert.equal(redact(circular), { password: '***', self: '[Circular]' });
  class Conn {
    secret = 'x';
  }
  assert.is(redact(new Conn()), '[Conn]');
  assert.is(redact(5), 5);
  const e = new Error('e');
  assert.is(redact(e), e);
});

test.run();
