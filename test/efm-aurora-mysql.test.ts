// Enhanced failure monitoring (host_monitoring, host_monitoring_v2) with mysql2 on the aurora-mysql lookalike.
import { efmSuite } from './support/efm-scenarios.js';

efmSuite('aurora-mysql').run();
