/**
 * AwsMySQLPoolCluster: mysql2's callback `PoolCluster` (`mysql2.createPoolCluster(cfg)`: named nodes, `of(pattern,
 * selector)`, `getConnection(pattern, selector, cb)`, node removal after errors, events 'online' / 'offline' /
 * 'remove' / 'warn') whose nodes are AwsMySQLCallbackPools, so each node's connections run the wrapper's plugins.
 * mysql2's own cluster logic is reused (a subclass): only the creation of a node's pool differs.
 */
import type { EventEmitter } from 'node:events';
import mysql from 'mysql2';
import type { PoolClusterOptions } from 'mysql2';
import type { AwsMySQLPoolConfig, AwsMySQLPoolInit } from './mysql-pool.js';
import { createPool, type AwsMySQLCallbackPool } from './mysql-callback-pool.js';

/** The parts of mysql2's PoolCluster the subclass touches (mysql2 3.x). */
interface DriverPoolCluster extends EventEmitter {
  _lastId: number;
  _nodes: Record<string, { id: string; errorCount: number; pool: unknown; _offlineUntil: number }>;
  _serviceableNodeIds: string[];
  _clearFindCaches(): void;
}

const DriverPoolCluster = (mysql as unknown as { PoolCluster: new (config?: PoolClusterOptions) => DriverPoolCluster })
  .PoolCluster;

export class AwsMySQLPoolCluster extends DriverPoolCluster {
  declare private readonly init: AwsMySQLPoolInit | undefined;

  constructor(config?: PoolClusterOptions, init?: AwsMySQLPoolInit) {
    super(config);
    Object.defineProperty(this, 'init', { value: init, enumerable: false });
  }

  /** Adds a node (as mysql2: an id and a pool config, or a config alone for a generated id); a known id is ignored. */
  add(id: string | AwsMySQLPoolConfig, config?: AwsMySQLPoolConfig): void {
    if (typeof id === 'object') {
      config = id;
      id = `CLUSTER::${++this._lastId}`;
    }
    if (this._nodes[id] !== undefined) return;
    const pool: AwsMySQLCallbackPool = createPool(config ?? {}, this.init);
    this._nodes[id] = { id, errorCount: 0, pool, _offlineUntil: 0 };
    this._serviceableNodeIds.push(id);
    this._clearFindCaches();
  }
}

/** mysql2's `createPoolCluster(config)`. */
export function createPoolCluster(config?: PoolClusterOptions, init?: AwsMySQLPoolInit): AwsMySQLPoolCluster {
  return new AwsMySQLPoolCluster(config, init);
}
