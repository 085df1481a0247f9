// Multi-AZ DB cluster smoke (pg and mysql): writer failover while idle and during a query, transactions, pass-through.
import { failoverSuite } from './support/failover-scenarios.js';

failoverSuite('multi-az-pg', 'smoke').run();
failoverSuite('multi-az-mysql', 'smoke').run();
