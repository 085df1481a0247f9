// least_connections and fastest_response selection (HostSelectors additions): counts / measurements decide, only
// AVAILABLE hosts of the role count, ties and missing measurements are handled.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostAvailability, HostInfo, HostRole } from '../ts/host-info.js';
import { HostSelectors, NoHostsMatchingRoleError } from '../ts/host-selectors.js';

const w = new HostInfo({ host: 'w', port: 5432, role: HostRole.WRITER });
const r1 = new HostInfo({ host: 'r1', port: 5432, role: HostRole.READER });
const r2 = new HostInfo({ host: 'r2', port: 5432, role: HostRole.READER });
const r3 = new HostInfo({ host: 'r3', port: 5432, role: HostRole.READER });
const down = new HostInfo({
  host: 'r0',
  port: 5432,
  role: HostRole.READER,
  availability: HostAvailability.UNAVAILABLE,
});
const hosts = [w, r3, r2, r1, down];

test('least_connections: fewest in use; ties to the first host name; unavailable and other roles ignored', () => {
  const s = new HostSelectors();
  const counts = new Map([
    ['r1', 3],
    ['r2', 1],
    ['r3', 1],
    ['r0', 0],
    ['w', 0],
  ]);
  assert.is(s.selectLeastConnections(hosts, HostRole.READER, (h) => counts.get(h.host)!).host, 'r2');
  counts.set('r2', 5);
  assert.is(s.selectLeastConnections(hosts, HostRole.READER, (h) => counts.get(h.host)!).host, 'r3');
  assert.is(s.selectLeastConnections(hosts, HostRole.WRITER, () => 9).host, 'w');
  assert.throws(
    () => s.selectLeastConnections([w, down], HostRole.READER, () => 0),
    (e: Error) => e instanceof NoHostsMatchingRoleError,
  );
});

test('fastest_response: lowest measurement wins; unmeasured hosts only when nothing is measured; failed = Infinity', () => {
  const s = new HostSelectors(() => 0.99);
  const ms = new Map<string, number | undefined>([
    ['r1', 12],
    ['r2', 3.5],
    ['r3', undefined],
    ['r0', 0.1],
  ]);
  assert.is(s.selectFastestResponse(hosts, HostRole.READER, (h) => ms.get(h.host)).host, 'r2');
  ms.set('r2', Infinity);
  assert.is(s.selectFastestResponse(hosts, HostRole.READER, (h) => ms.get(h.host)).host, 'r1');
  assert.is(
    s.selectFastestResponse(hosts, HostRole.READER, () => undefined).host,
    'r1',
    'random among eligible (last with 0.99)',
  );
  assert.throws(
    () => s.selectFastestResponse([w], HostRole.READER, () => 1),
    (e: Error) => e instanceof NoHostsMatchingRoleError,
  );
});

test.run();
