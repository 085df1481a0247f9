// Failover, initial connection, stale DNS and connection tracking on the aurora-mysql lookalike (one cluster, every case).
import { failoverSuite } from './support/failover-scenarios.js';

failoverSuite('aurora-mysql', 'full').run();
