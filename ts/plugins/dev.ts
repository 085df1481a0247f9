/**
 * `dev`: fault injection for tests. A client created with the `dev` plugin exposes `client.devTools` (a
 * DevTools), which makes the next connect or the next call of a client method fail with a chosen error before it
 * reaches the driver — once, N times, or whenever a callback says so. Connections the wrapper opens on the
 * client's behalf (failover, read/write switch) go through the same connect pipeline and are affected too.
 */
import type { HostInfo } from '../host-info.js';
import {
  ALL_METHODS,
  PIPELINE,
  RELATIVE_TO_PRIOR_PLUGIN,
  type ClientMethod,
  type ConnectFn,
  type ConnectionPlugin,
  type ConnectProps,
  type ExecuteContext,
  type PluginFactory,
} from '../plugin.js';
import { ConfigurationError } from '../errors.js';

/** An error to throw, or a function making a fresh one each time (fresh stack traces). */
export type InjectedError = Error | (() => Error);

export interface FaultOptions {
  /** How many times the fault fires before it is cleared; default 1, `Infinity` for every time. */
  readonly times?: number;
}

/** Decides per connect attempt: return an error to throw it, undefined to let the connect proceed. */
export type ConnectFaultCallback = (host: HostInfo, isInitial: boolean) => Error | undefined;
/** Decides per method call: return an error to throw it, undefined to let the call proceed. */
export type MethodFaultCallback = (ctx: ExecuteContext) => Error | undefined;

interface Fault {
  readonly error: InjectedError;
  remaining: number;
}

interface MethodFault extends Fault {
  readonly method: ClientMethod | typeof ALL_METHODS;
}

function remainingFrom(options: FaultOptions | undefined): number {
  const times = options?.times ?? 1;
  if (!(times === Infinity || (Number.isInteger(times) && times >= 1))) {
    throw new ConfigurationError(`devTools: times must be an integer ≥ 1 or Infinity; got ${String(times)}`, 'times');
  }
  return times;
}

function errorOf(e: InjectedError): Error {
  return typeof e === 'function' ? e() : e;
}

declare module '../plugin.js' {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- an augmentation repeats the interface's type parameters
  interface ConnectionPlugin<C> {
    /** Fault-injection controls the client exposes as `client.devTools` (the `dev` plugin has them). */
    readonly devTools?: DevTools;
  }
}

/** The fault-injection controls of one client (reachable as `client.devTools`). */
export class DevTools {
  private readonly connectFaults: Fault[] = [];
  private readonly methodFaults: MethodFault[] = [];
  private connectCallback: ConnectFaultCallback | undefined;
  private methodCallback: MethodFaultCallback | undefined;

  /** The next connection attempt (initial or not, connect or forceConnect) rejects with `error`. */
  raiseOnNextConnect(error: InjectedError, options?: FaultOptions): this {
    this.connectFaults.push({ error, remaining: remainingFrom(options) });
    return this;
  }

  /** The next call of `method` (default: every method) rejects with `error` without reaching the driver. */
  raiseOnNextCall(
    error: InjectedError,
    method: ClientMethod | typeof ALL_METHODS = ALL_METHODS,
    options?: FaultOptions,
  ): this {
    this.methodFaults.push({ error, method, remaining: remainingFrom(options) });
    return this;
  }

  setConnectCallback(cb: ConnectFaultCallback | undefined): this {
    this.connectCallback = cb;
    return this;
  }

  setMethodCallback(cb: MethodFaultCallback | undefined): this {
    this.methodCallback = cb;
    return this;
  }

  /** Number of queued faults not yet fired. */
  get pending(): number {
    return this.connectFaults.length + this.methodFaults.length;
  }

  clear(): void {
    this.connectFaults.length = 0;
    this.methodFaults.length = 0;
    this.connectCallback = undefined;
    this.methodCallback = undefined;
  }

  /** @internal The error the connect about to happen must fail with, if any (consumes one shot). */
  takeConnectFault(host: HostInfo, isInitial: boolean): Error | undefined {
    const f = this.connectFaults[0];
    if (f !== undefined) {
      if (--f.remaining <= 0) this.connectFaults.shift();
      return errorOf(f.error);
    }
    return this.connectCallback?.(host, isInitial);
  }

  /** @internal The error the call about to happen must fail with, if any (consumes one shot). */
  takeMethodFault(ctx: ExecuteContext): Error | undefined {
    const i = this.methodFaults.findIndex((f) => f.method === ALL_METHODS || f.method === ctx.method);
    if (i >= 0) {
      const f = this.methodFaults[i];
      if (--f.remaining <= 0) this.methodFaults.splice(i, 1);
      return errorOf(f.error);
    }
    return this.methodCallback?.(ctx);
  }
}

export class DeveloperPlugin<C> implements ConnectionPlugin<C> {
  readonly code = 'dev';
  readonly subscribedMethods: ReadonlySet<string> = new Set([ALL_METHODS, PIPELINE.connect, PIPELINE.forceConnect]);
  readonly devTools = new DevTools();

  connect(host: HostInfo, _props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    const err = this.devTools.takeConnectFault(host, isInitial);
    return err === undefined ? next() : Promise.reject(err);
  }

  forceConnect(host: HostInfo, props: ConnectProps, isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.connect(host, props, isInitial, next);
  }

  execute<T>(ctx: ExecuteContext, next: () => Promise<T>): Promise<T> {
    const err = this.devTools.takeMethodFault(ctx);
    return err === undefined ? next() : Promise.reject(err);
  }
}

export const devPluginFactory: PluginFactory = {
  code: 'dev',
  weight: RELATIVE_TO_PRIOR_PLUGIN,
  aliases: [],
  create: <C>() => new DeveloperPlugin<C>(),
};
