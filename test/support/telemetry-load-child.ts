// Run by test/telemetry.test.ts in its own process: does a client load '@opentelemetry/*' with telemetry off
// (it must not), and with it on (it must: the check itself can fail)? Prints one JSON line.
import { AwsPGClient } from '../../ts/clients/pg-client.js';
import { WrapperServices } from '../../ts/services.js';

const loaded = (): string[] => Object.keys(require.cache).filter((k) => k.includes(`${'/node_modules/'}@opentelemetry/`));

const PG = { host: process.env.TEST_PG_HOST!, port: Number(process.env.TEST_PG_PORT), user: process.env.TEST_PG_USER!, password: process.env.TEST_PG_PASSWORD!, database: process.env.TEST_PG_DATABASE! };

async function run(enableTelemetry: boolean): Promise<void> {
  const services = new WrapperServices();
  const client = new AwsPGClient({ ...PG, enableTelemetry }, { services });
  await client.connect();
  await client.query('SELECT 1');
  await client.end();
  await services.close();
}

async function main(): Promise<void> {
  await run(false);
  const off = loaded();
  await run(true);
  console.log(JSON.stringify({ off, on: loaded().length }));
}

void main();
