/**
 * Fault-injecting TCP proxies of the lookalike cluster. An InstanceProxy sits at an instance's public address and
 * forwards to the real server; an EndpointProxy sits at a cluster endpoint and forwards to the current target
 * instance proxy (so instance faults apply through endpoints too). Faults apply to open connections as well as
 * new ones:
 *  - kill: listener closed (connections refused) and every open connection reset;
 *  - hang: a black hole; new connections are accepted but never forwarded, open ones stop moving both ways
 *    (bytes stay queued in the kernel, as with dropped packets; they flow again on heal, like TCP retransmits);
 *  - latency: every chunk is delayed by the given milliseconds in both directions.
 * Userland proxying needs no root and works on every OS, unlike firewall rules or SIGSTOP.
 */
import net from 'node:net';
import type { Address } from './names.js';

export type Fault = 'none' | 'kill' | 'hang';

interface FaultSource {
  readonly fault: Fault;
  readonly latencyMs: number;
}

const NO_FAULT: FaultSource = { fault: 'none', latencyMs: 0 };

interface Queued {
  readonly chunk: Buffer;
  readonly due: number;
}

/** One direction of a link: moves chunks from `src` to `dst`, honouring hang (hold) and latency (delay). */
class Direction {
  private readonly queue: Queued[] = [];
  private timer: NodeJS.Timeout | undefined;
  private blocked = false;

  constructor(
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly faults: FaultSource,
  ) {
    src.on('data', (chunk: Buffer) => this.push(chunk));
    dst.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  private push(chunk: Buffer): void {
    const last = this.queue.length ? this.queue[this.queue.length - 1].due : 0;
    this.queue.push({ chunk, due: Math.max(Date.now() + this.faults.latencyMs, last) });
    this.flush();
  }

  /** Writes every chunk that is due, unless held; pauses the source while anything is queued. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.dst.destroyed) return;
    const held = this.faults.fault === 'hang';
    while (!held && !this.blocked && this.queue.length) {
      const head = this.queue[0];
      const wait = head.due - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.flush(), wait);
        break;
      }
      this.queue.shift();
      if (!this.dst.write(head.chunk)) this.blocked = true;
    }
    // Backpressure, and the black hole: stop reading so bytes stay in the kernel buffers.
    if (held || this.blocked) this.src.pause();
    else this.src.resume();
  }

  get idle(): boolean {
    return this.queue.length === 0;
  }
}

/**
 * A client connection and its upstream connection. A clean close on one side becomes a clean close (FIN) on the
 * other once queued bytes are out; a refused or reset upstream becomes a reset for the client, as it would be
 * without the proxy. While the link hangs nothing moves, closes included.
 */
class Link {
  private upstream: net.Socket | undefined;
  private directions: Direction[] = [];
  private done = false;

  constructor(
    readonly client: net.Socket,
    private readonly faults: FaultSource,
    private readonly onClose: (link: Link) => void,
  ) {
    client.setNoDelay(true);
    client.on('error', () => {}); // 'close' follows
    client.on('close', (hadError) => {
      this.finish();
      const up = this.upstream;
      if (!up) return;
      if (hadError) up.destroy();
      else this.endWhenIdle(up, 0);
    });
  }

  /** Opens the upstream connection; until then the client's bytes wait in the kernel. */
  connect(target: Address): void {
    if (this.done || this.upstream) return;
    const up = net.connect({ host: target.host, port: target.port });
    this.upstream = up;
    up.setNoDelay(true);
    up.on('error', () => {}); // 'close' follows
    up.on('close', (hadError) => {
      if (hadError || this.directions.length === 0) this.whenMoving(() => this.reset());
      else this.endWhenIdle(this.client, 1);
    });
    up.once('connect', () => {
      if (this.client.destroyed) {
        up.destroy();
        return;
      }
      this.directions = [new Direction(this.client, up, this.faults), new Direction(up, this.client, this.faults)];
      this.directions[0].flush();
    });
  }

  get connected(): boolean {
    return this.upstream !== undefined;
  }

  private whenMoving(action: () => void): void {
    if (this.faults.fault !== 'hang') action();
    else setTimeout(() => this.whenMoving(action), 20);
  }

  private endWhenIdle(dst: net.Socket, direction: number): void {
    if (dst.destroyed) return;
    const d = this.directions[direction];
    if (this.faults.fault !== 'hang' && (!d || d.idle)) {
      dst.end();
      // Don't wait forever for a peer that never closes its side.
      setTimeout(() => dst.destroy(), 2000).unref();
    } else {
      setTimeout(() => this.endWhenIdle(dst, direction), 5);
    }
  }

  /** Re-evaluates fault state (after hang → heal, or a latency change). */
  kick(): void {
    for (const d of this.directions) d.flush();
  }

  /** Hard close: the client sees a connection reset. */
  reset(): void {
    if (!this.client.destroyed) this.client.resetAndDestroy();
    this.upstream?.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.onClose(this);
  }
}

abstract class ProxyBase {
  protected server: net.Server | undefined;
  protected readonly links = new Set<Link>();
  /** Connections accepted since the proxy was made (how tests see where clients went). */
  accepted = 0;

  constructor(
    readonly name: string,
    readonly address: Address,
  ) {}

  protected abstract get faultSource(): FaultSource;
  protected abstract onConnection(link: Link): void;

  /** Binds the listener (no-op when already listening). */
  protected async openListener(): Promise<void> {
    if (this.server) return;
    const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
      const link = new Link(socket, this.faultSource, (l) => this.links.delete(l));
      this.links.add(link);
      this.accepted++;
      this.onConnection(link);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => {
        this.server = undefined;
        reject(
          new Error(`proxy ${this.name} cannot listen on ${this.address.host}:${this.address.port}: ${err.message}`),
        );
      });
      server.listen({ host: this.address.host, port: this.address.port, exclusive: true }, () => resolve());
    });
  }

  /** Closes the listener so new connections are refused; open connections are left alone. */
  protected closeListener(): void {
    this.server?.close();
    this.server = undefined;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  get connectionCount(): number {
    return this.links.size;
  }

  resetAll(): void {
    for (const l of [...this.links]) l.reset();
  }

  close(): void {
    this.closeListener();
    this.resetAll();
  }
}

/** Proxy at an instance's public address, forwarding to the instance's real server. */
export class InstanceProxy extends ProxyBase {
  private state: { fault: Fault; latencyMs: number } = { fault: 'none', latencyMs: 0 };
  private serverUp = false;

  constructor(
    name: string,
    address: Address,
    private readonly upstream: Address,
  ) {
    super(name, address);
  }

  protected get faultSource(): FaultSource {
    return this.state;
  }

  get fault(): Fault {
    return this.state.fault;
  }

  get latencyMs(): number {
    return this.state.latencyMs;
  }

  protected onConnection(link: Link): void {
    if (this.state.fault !== 'hang') link.connect(this.upstream);
  }

  /** Tells the proxy whether the server behind it runs: a stopped server is a refused connection, as on RDS. */
  async setServerUp(up: boolean): Promise<void> {
    this.serverUp = up;
    await this.syncListener();
  }

  private async syncListener(): Promise<void> {
    if (this.serverUp && this.state.fault !== 'kill') await this.openListener();
    else this.closeListener();
  }

  async kill(): Promise<void> {
    this.state.fault = 'kill';
    this.closeListener();
    this.resetAll();
  }

  /** Resets every open connection (clients see a reset); whether new ones are accepted does not change. */
  resetConnections(): void {
    this.resetAll();
  }

  async hang(): Promise<void> {
    this.state.fault = 'hang';
    for (const l of this.links) l.kick();
  }

  async setLatency(ms: number): Promise<void> {
    this.state.latencyMs = ms;
    for (const l of this.links) l.kick();
  }

  async heal(): Promise<void> {
    this.state.fault = 'none';
    this.state.latencyMs = 0;
    await this.syncListener();
    for (const l of this.links) {
      if (!l.connected) l.connect(this.upstream);
      l.kick();
    }
  }
}

/**
 * Proxy at a cluster endpoint (writer or reader). Each new connection goes to one of the current targets
 * (round robin); a target change takes effect after the DNS lag, and, like DNS, never moves open connections.
 */
export class EndpointProxy extends ProxyBase {
  private targets: Address[] = [];
  private next = 0;
  private pending: NodeJS.Timeout | undefined;

  protected get faultSource(): FaultSource {
    return NO_FAULT;
  }

  async start(targets: Address[]): Promise<void> {
    this.targets = targets;
    await this.openListener();
  }

  get currentTargets(): readonly Address[] {
    return this.targets;
  }

  protected onConnection(link: Link): void {
    if (this.targets.length === 0) {
      link.reset();
      return;
    }
    const target = this.targets[this.next++ % this.targets.length];
    link.connect(target);
  }

  /** Points the endpoint at `targets` after `lagMs` (a later call supersedes a pending one). */
  retarget(targets: Address[], lagMs: number, onApplied?: () => void): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = undefined;
    const apply = (): void => {
      this.pending = undefined;
      this.targets = targets;
      onApplied?.();
    };
    if (lagMs <= 0) apply();
    else this.pending = setTimeout(apply, lagMs);
  }

  override close(): void {
    if (this.pending) clearTimeout(this.pending);
    super.close();
  }
}
