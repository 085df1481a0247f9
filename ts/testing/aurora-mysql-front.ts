/**
 * Per-instance MySQL-protocol front of the MySQL-flavour lookalike (used for every MySQL flavour; named for its
 * main job, making MariaDB answer the aurora-mysql dialect). It forwards bytes between a client and the real
 * mariadbd untouched, except:
 *  - the server greeting: CLIENT_SSL, CLIENT_COMPRESS and CLIENT_QUERY_ATTRIBUTES are cleared so the client
 *    talks plain, uncompressed, attribute-free packets the front can read (the lookalike does not offer TLS);
 *    the client's handshake response gets COMPRESS / QUERY_ATTRIBUTES cleared too, in case it asks regardless;
 *  - client COM_QUERY / COM_STMT_PREPARE packets (sequence 0, single packet) whose SQL the rewriter changes.
 * Every response comes from the server unmodified. Packets of 16 MiB and more (multi-packet commands) and every
 * other command stream through without being buffered.
 */
import net from 'node:net';
import { getLogger } from '../logger.js';

const log = getLogger('testing:mysql-front');

const MAX_PAYLOAD = 0xffffff;
const COM_QUERY = 0x03;
const COM_STMT_PREPARE = 0x16;
const CLIENT_COMPRESS = 0x20;
const CLIENT_SSL = 0x800;
const CLIENT_QUERY_ATTRIBUTES_UPPER = 1 << (27 - 16);

export interface MysqlFrontOptions {
  /** Port the front listens on (127.0.0.1). */
  readonly listenPort: number;
  /** Port of the real server on 127.0.0.1. */
  readonly targetPort: number;
  /** Returns replacement SQL (latin1 text, one char per byte), or undefined to forward the packet as is. */
  readonly rewrite: (sql: string) => string | undefined;
  readonly host?: string;
}

/** One listening front; `close()` stops listening and drops every proxied connection. */
export class MysqlFront {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly options: MysqlFrontOptions) {
    this.server = net.createServer((client) => this.accept(client));
  }

  get port(): number {
    return this.options.listenPort;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listenPort, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.options.targetPort, this.options.host ?? '127.0.0.1');
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const forget = (): void => {
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', () => client.destroy());
    upstream.on('error', (err) => {
      log.debug(`upstream 127.0.0.1:${this.options.targetPort}: ${err.message}`);
      upstream.destroy();
    });
    client.on('close', () => {
      upstream.destroy();
      forget();
    });
    // Let the client read what the server sent last (e.g. a shutdown error) before the connection ends.
    upstream.on('close', () => {
      client.end();
      setTimeout(() => client.destroy(), 5000).unref();
      forget();
    });
    const toServer = new ClientPacketRewriter(this.options.rewrite);
    const toClient = new GreetingRewriter();
    pump(client, upstream, (chunk) => toServer.push(chunk));
    pump(upstream, client, (chunk) => toClient.push(chunk));
  }
}

/** Moves data from `from` to `to` through `transform`, pausing `from` while `to` is backed up. */
function pump(from: net.Socket, to: net.Socket, transform: (chunk: Buffer) => Buffer[]): void {
  from.on('data', (chunk: Buffer) => {
    let ok = true;
    for (const piece of transform(chunk)) if (piece.length > 0) ok = to.write(piece) && ok;
    if (!ok) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
}

/** Server → client: patches the capability flags of the first packet (the greeting), then passes through. */
export class GreetingRewriter {
  private pending: Buffer | undefined = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    if (this.pending === undefined) return [chunk];
    const buf = Buffer.concat([this.pending, chunk]);
    if (buf.length < 4 || buf.length < 4 + buf.readUIntLE(0, 3)) {
      this.pending = buf;
      return [];
    }
    this.pending = undefined;
    const len = buf.readUIntLE(0, 3);
    const packet = Buffer.from(buf.subarray(0, 4 + len));
    patchGreeting(packet);
    return [packet, buf.subarray(4 + len)];
  }
}

/** Clears SSL/compression/query-attribute capabilities in a protocol-10 handshake packet (header included). */
function patchGreeting(packet: Buffer): void {
  if (packet[4] !== 10) return; // an error packet (e.g. too many connections) passes as is
  const versionEnd = packet.indexOf(0, 5);
  if (versionEnd < 0) return;
  const capsLow = versionEnd + 1 + 4 + 8 + 1; // connection id, auth data part 1, filler
  if (capsLow + 2 > packet.length) return;
  packet.writeUInt16LE(packet.readUInt16LE(capsLow) & ~(CLIENT_SSL | CLIENT_COMPRESS), capsLow);
  const capsHigh = capsLow + 2 + 1 + 2; // charset, status flags
  if (capsHigh + 2 > packet.length) return;
  packet.writeUInt16LE(packet.readUInt16LE(capsHigh) & ~CLIENT_QUERY_ATTRIBUTES_UPPER, capsHigh);
}

/**
 * Client → server packet framer. Candidate packets (sequence 0, not a continuation, under 16 MiB) are buffered
 * whole and rewritten if they are COM_QUERY / COM_STMT_PREPARE; everything else streams through.
 */
export class ClientPacketRewriter {
  private header = Buffer.alloc(0);
  private streamRemaining = 0;
  private bufferLength = -1;
  private bufferHeader = Buffer.alloc(0);
  private bufferParts: Buffer[] = [];
  private bufferSize = 0;
  private continuation = false;
  private handshakeResponse = true;

  constructor(private readonly rewrite: (sql: string) => string | undefined) {}

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let data = chunk;
    while (data.length > 0) {
      if (this.streamRemaining > 0) {
        const n = Math.min(this.streamRemaining, data.length);
        out.push(data.subarray(0, n));
        this.streamRemaining -= n;
        data = data.subarray(n);
        continue;
      }
      if (this.bufferLength >= 0) {
        const n = Math.min(this.bufferLength - this.bufferSize, data.length);
        this.bufferParts.push(data.subarray(0, n));
        this.bufferSize += n;
        data = data.subarray(n);
        if (this.bufferSize === this.bufferLength) out.push(...this.finishBuffered());
        continue;
      }
      const need = 4 - this.header.length;
      this.header = Buffer.concat([this.header, data.subarray(0, need)]);
      data = data.subarray(need);
      if (this.header.length < 4) break;
      const header = this.header;
      this.header = Buffer.alloc(0);
      const len = header.readUIntLE(0, 3);
      const seq = header[3];
      const candidate = !this.continuation && (seq === 0 || this.handshakeResponse) && len > 0 && len < MAX_PAYLOAD;
      this.continuation = len === MAX_PAYLOAD;
      if (candidate) {
        this.bufferHeader = header;
        this.bufferLength = len;
        this.bufferParts = [];
        this.bufferSize = 0;
      } else {
        out.push(header);
        this.streamRemaining = len;
      }
    }
    return out;
  }

  private finishBuffered(): Buffer[] {
    const header = this.bufferHeader;
    const body = Buffer.concat(this.bufferParts);
    this.bufferLength = -1;
    this.bufferParts = [];
    this.bufferSize = 0;
    if (this.handshakeResponse) {
      // The client's reply to the greeting: drop compression / query attributes even if it asked regardless.
      this.handshakeResponse = false;
      if (body.length >= 4) {
        body.writeUInt16LE(body.readUInt16LE(0) & ~CLIENT_COMPRESS, 0);
        body.writeUInt16LE(body.readUInt16LE(2) & ~CLIENT_QUERY_ATTRIBUTES_UPPER, 2);
      }
      return [header, body];
    }
    const command = body[0];
    if (command === COM_QUERY || command === COM_STMT_PREPARE) {
      const sql = body.toString('latin1', 1);
      const rewritten = this.rewrite(sql);
      if (rewritten !== undefined && rewritten !== sql) {
        const newBody = Buffer.concat([body.subarray(0, 1), Buffer.from(rewritten, 'latin1')]);
        if (newBody.length < MAX_PAYLOAD) {
          const newHeader = Buffer.alloc(4);
          newHeader.writeUIntLE(newBody.length, 0, 3);
          newHeader[3] = 0;
          return [newHeader, newBody];
        }
      }
    }
    return [header, body];
  }
}
