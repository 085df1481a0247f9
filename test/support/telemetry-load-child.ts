// Run by test/telemetry.test.ts in its own process: does a client load '@opentelemetry/*' with telemetry off
// (it must not), and with it on (it must: the check itself can fail)? Prints one JSON line.
import Module, { register } from 'node:module';
import { AwsPGClient } from '../../ts/clients/pg-client.js';
import { WrapperServices } from '../../ts/services.js';

const loaded = (): string[] =>
  Object.keys(require.cache).filter((k) => k.includes(`${'/node_modules/'}@opentelemetry/`));

const PG = {
  host: process.env.TEST_PG_HOST!,
  port: Number(process.env.TEST_PG_PORT),
  user: process.env.TEST_PG_USER!,
  password: process.env.TEST_PG_PASSWORD!,
  database: process.env.TEST_PG_DATABASE!,
};

async function run(enableTelemetry: boolean): Promise<void> {
  const services = new WrapperServices();
  const client = new AwsPGClient({ ...PG, enableTelemetry }, { services });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end();
    await services.close();
  }
}

/** With TELEMETRY_HIDE_API: '@opentelemetry/api' looks uninstalled (require resolution fails as Node's does). */
async function missing(): Promise<void> {
  const M = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = M._resolveFilename;
  M._resolveFilename = function (request: string, ...rest: unknown[]): string {
    if (request.startsWith('@opentelemetry/'))
      throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
    return original.call(this, request, ...rest);
  };
  // import() resolves in the ESM hooks thread: fail there the same way.
  const hooks = `export async function resolve(specifier, context, next) {
    if (specifier.startsWith('@opentelemetry/')) throw Object.assign(new Error("Cannot find package '" + specifier + "'"), { code: 'ERR_MODULE_NOT_FOUND' });
    return next(specifier, context);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`);
  try {
    await run(true);
    console.log(JSON.stringify({ connected: true }));
  } catch (err) {
    const e = err as Error & { code?: string };
    console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message }));
  }
}

async function main(): Promise<void> {
  if (process.env.TELEMETRY_HIDE_API === '1') return missing();
  await run(false);
  const off = loaded();
  await run(true);
  console.log(JSON.stringify({ off, on: loaded().length }));
}

void main();
