/**
 * mysql2's promise objects forward events from their callback-API object (`promiseConnection.connection`,
 * `promisePool.pool`): one listener on the callback object per event the promise object listens to, added with the
 * first listener and removed with the last (mysql2's `inheritEvents`). Our promise objects are the ones the
 * connections report to, and they pass each event on to their callback face with `relay()`; an event relayed
 * that way is not forwarded back.
 */
import type { EventEmitter } from 'node:events';

export class EventRelay {
  private relaying = 0;

  /** Forwards `events` emitted on `source` to `target`'s listeners, as mysql2's promise wrapper does. */
  constructor(
    private readonly source: EventEmitter,
    target: EventEmitter,
    events: readonly string[],
  ) {
    const forwarders = new Map<string | symbol, (...args: unknown[]) => void>();
    const add = (event: string | symbol): void => {
      const forward = (...args: unknown[]): void => {
        if (this.relaying === 0) target.emit(event, ...args);
      };
      forwarders.set(event, forward);
      source.on(event, forward);
    };
    for (const event of events) if (target.listenerCount(event) > 0) add(event);
    target
      .on('newListener', (event: string | symbol) => {
        if (typeof event === 'string' && events.includes(event) && !forwarders.has(event)) add(event);
      })
      .on('removeListener', (event: string | symbol) => {
        const forward = forwarders.get(event);
        if (forward !== undefined && target.listenerCount(event) === 0) {
          source.removeListener(event, forward);
          forwarders.delete(event);
        }
      });
  }

  /** Emits an event the promise object already delivered to its own listeners on the callback object. */
  relay(event: string, args: readonly unknown[]): void {
    this.relaying++;
    try {
      this.source.emit(event, ...args);
    } finally {
      this.relaying--;
    }
  }
}
