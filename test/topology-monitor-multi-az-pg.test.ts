// The native cluster topology monitor on a multi-az-pg lookalike: the writer recognised by comparing the writer's
// resource id (returned on every node) with the node's own, failover found by the monitor alone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { releaseResources, nativeThreadCount } from '../ts/native/index.js';
import { registerFlavourSuite } from './support/topology-monitor-lab.js';

const multiAz = suite('multi-az-pg');
registerFlavourSuite(multiAz, 'multi-az-pg', assert);
multiAz.after(async () => {
  await releaseResources();
  assert.is(nativeThreadCount(), 0);
});
multiAz.run();
