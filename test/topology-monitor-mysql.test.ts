// The native cluster topology monitor on aurora-mysql and multi-az-mysql lookalikes (MariaDB behind them): the
// writer recognised with each dialect's true writer semantics (Multi-AZ: SHOW REPLICA STATUS returns a row on
// replicas), failover found by the monitor alone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { releaseResources, nativeThreadCount } from '../ts/native/index.js';
import { registerFlavourSuite } from './support/topology-monitor-lab.js';

const aurora = suite('aurora-mysql');
registerFlavourSuite(aurora, 'aurora-mysql', assert);
const multiAz = suite('multi-az-mysql');
registerFlavourSuite(multiAz, 'multi-az-mysql', assert);
multiAz.after(async () => {
  await releaseResources();
  assert.is(nativeThreadCount(), 0);
});

aurora.run();
multiAz.run();
