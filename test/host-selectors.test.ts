import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigurationError, UnsupportedOperationError } from '../ts/errors.js';
import { HostAvailability, HostInfo, HostRole } from '../ts/host-info.js';
import {
  HostSelectors,
  hostSelectors,
  NoHostsMatchingRoleError,
  parseHostWeightPairs,
  validateHostSelectorOptions,
} from '../ts/host-selectors.js';
import { WrapperServices } from '../ts/services.js';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import type pg from 'pg';

const writer = new HostInfo({ host: 'w', port: 5432, role: HostRole.WRITER, weight: 500 });
const r1 = new HostInfo({ host: 'r1', port: 5432, role: HostRole.READER, weight: 10 });
const r2 = new HostInfo({ host: 'r2', port: 5432, role: HostRole.READER, weight: 30 });
const r3 = new HostInfo({ host: 'r3', port: 5432, role: HostRole.READER, weight: 20 });
const down = new HostInfo({
  host: 'r0',
  port: 5432,
  role: HostRole.READER,
  availability: HostAvailability.UNAVAILABLE,
  weight: 999,
});
const hosts = [writer, r3, down, r1, r2];

/** A random source returning the given values in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

test('random: uniform over available hosts of the role', () => {
  const s = new HostSelectors(sequence(0, 0.34, 0.67, 0.99));
  const picked = [1, 2, 3, 4].map(() => s.select('random', hosts, HostRole.READER).host);
  assert.equal(picked, ['r3', 'r1', 'r2', 'r2']);
  assert.is(s.select('random', hosts, HostRole.WRITER), writer);
});

test('highest_weight: the available host of the role with the highest HostInfo.weight', () => {
  const s = new HostSelectors();
  assert.is(s.select('highest_weight', hosts, HostRole.READER), r2, 'the unavailable r0 (weight 999) is skipped');
});

test('round_robin: host-name order, default weight 1, shared position', () => {
  const s = new HostSelectors();
  const picks = Array.from({ length: 7 }, () => s.select('round_robin', hosts, HostRole.READER).host);
  assert.equal(picks, ['r1', 'r2', 'r3', 'r1', 'r2', 'r3', 'r1']);
  // Another client of the same services continues from the shared position, even with other HostInfo objects.
  const copies = hosts.map((h) => h.with({}));
  assert.is(s.select('round_robin', copies, HostRole.READER).host, 'r2');
});

test('round_robin: weights from host:weight pairs and the default weight', () => {
  const s = new HostSelectors();
  const options = { roundRobinHostWeightPairs: 'r1:3, r3:2', roundRobinDefaultWeight: '1' };
  const picks = Array.from({ length: 7 }, () => s.select('round_robin', hosts, HostRole.READER, options).host);
  assert.equal(picks, ['r1', 'r1', 'r1', 'r2', 'r3', 'r3', 'r1']);
  const s2 = new HostSelectors();
  const objectPairs = { roundRobinHostWeightPairs: { r2: 2 }, roundRobinDefaultWeight: 2 };
  assert.equal(
    Array.from({ length: 6 }, () => s2.select('round_robin', hosts, HostRole.READER, objectPairs).host),
    ['r1', 'r1', 'r2', 'r2', 'r3', 'r3'],
  );
});

test('round_robin: a host that disappears is skipped; state is per WrapperServices and cleared on close', async () => {
  const a = new WrapperServices();
  const b = new WrapperServices();
  assert.is(hostSelectors(a).select('round_robin', hosts, HostRole.READER).host, 'r1');
  assert.is(hostSelectors(a).select('round_robin', hosts, HostRole.READER).host, 'r2');
  assert.is(hostSelectors(b).select('round_robin', hosts, HostRole.READER).host, 'r1', 'independent state');
  assert.is(hostSelectors(a).select('round_robin', [r1, r3], HostRole.READER).host, 'r1', 'last host r2 gone: restart');
  await a.close();
  assert.is(hostSelectors(a).select('round_robin', hosts, HostRole.READER).host, 'r1', 'cleared');
});

test('weighted_random: picks in proportion to the configured weights', () => {
  // Eligible in list order r3, r1, r2 with weights 1 (default), 1, 3: intervals [0,1) [1,2) [2,5) of 5.
  const options = { weightedRandomHostWeightPairs: 'r1:1,r2:3' };
  const s = new HostSelectors(sequence(0.1, 0.3, 0.39, 0.4, 0.999));
  const picks = Array.from({ length: 5 }, () => s.select('weighted_random', hosts, HostRole.READER, options).host);
  assert.equal(picks, ['r3', 'r1', 'r1', 'r2', 'r2']);
});

test('errors: no host of the role, unknown strategy, bad weights', () => {
  const s = new HostSelectors();
  assert.throws(
    () => s.select('random', [writer, down], HostRole.READER),
    (e: Error) => e instanceof NoHostsMatchingRoleError && /role 'reader'/.test(e.message),
  );
  assert.throws(
    () => s.select('least_connections', hosts, HostRole.READER),
    (e: Error) =>
      e instanceof UnsupportedOperationError &&
      /supported: random, round_robin, weighted_random, highest_weight/.test(e.message),
  );
  for (const bad of ['r1:0', 'r1:-2', 'r1:abc', 'r1', ':3', 'r1:1.5']) {
    assert.throws(
      () => parseHostWeightPairs(bad, 'roundRobinHostWeightPairs'),
      (e: Error) => e instanceof ConfigurationError && /roundRobinHostWeightPairs/.test(e.message),
      bad,
    );
  }
  assert.throws(
    () => validateHostSelectorOptions({ weightedRandomDefaultWeight: 0 }),
    /weightedRandomDefaultWeight must be an integer ≥ 1; got '0'/,
  );
  assert.throws(
    () => s.select('round_robin', hosts, HostRole.READER, { roundRobinDefaultWeight: 'x' }),
    /roundRobinDefaultWeight/,
  );
  assert.equal(
    [...parseHostWeightPairs('a:1, b.example.com:20', 'k')],
    [
      ['a', 1],
      ['b.example.com', 20],
    ],
  );
});

test('selector and availability options come from the client config (seed names too) and are validated at construction', () => {
  const mk = (config: Record<string, unknown>) =>
    new ClientCore<pg.Client>({
      driver: 'pg',
      driverDialect: new PgDriverDialect(),
      config: { host: '127.0.0.1', plugins: [], ...config },
      services: new WrapperServices(),
    });
  const core = mk({ round_robin_host_weight_pairs: 'r1:2', roundRobinDefaultWeight: 1 });
  assert.is(core.props.options.roundRobinHostWeightPairs, 'r1:2');
  const picks = Array.from(
    { length: 4 },
    () => core.pluginService.getHostInfoByStrategy(HostRole.READER, 'round_robin', hosts).host,
  );
  assert.equal(picks, ['r1', 'r1', 'r2', 'r3']);
  assert.throws(
    () => mk({ roundRobinHostWeightPairs: 'r1:0' }),
    (e: Error) => e instanceof ConfigurationError && /roundRobinHostWeightPairs/.test(e.message),
  );
  assert.throws(
    () => mk({ weightedRandomDefaultWeight: 0 }),
    (e: Error) => e instanceof ConfigurationError && /weightedRandomDefaultWeight/.test(e.message),
  );
  assert.throws(
    () => mk({ defaultHostAvailabilityStrategy: 'sometimes' }),
    (e: Error) => e instanceof ConfigurationError && /defaultHostAvailabilityStrategy/.test(e.message),
  );
  const backoff = mk({
    default_host_availability_strategy: 'exponential_backoff',
    host_availability_strategy_initial_backoff_time: 2,
  });
  assert.is(backoff.props.options.hostAvailabilityStrategyInitialBackoffTime, 2000, 'seed alias in seconds');
});

test.run();
