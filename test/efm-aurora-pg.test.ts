// Enhanced failure monitoring (host_monitoring, host_monitoring_v2) with pg on the aurora-pg lookalike.
import { efmSuite } from './support/efm-scenarios.js';

efmSuite('aurora-pg').run();
