/**
 * A PostgreSQL-protocol front that does the server's side of RDS IAM authentication, for end-to-end tests of IAM
 * tokens through real drivers (pg, and the native monitors' tokio-postgres). Clients connect to it; it asks for a
 * cleartext password (as RDS does for IAM users), checks the token with IamGate (SigV4 signature with the test's
 * secret keys, Action=connect, host, port, region, user, age), answers a refused token with RDS's 28P01 error, and
 * for an accepted one logs in to the real server with the real password (SCRAM via pg's own SASL code), then
 * relays the session byte for byte. No TLS: the test servers have none.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { IamGate } from './aws-iam-gate.js';

const require = createRequire(import.meta.url);
interface SaslSession {
  response: string;
}
const sasl = require('pg/lib/crypto/sasl.js') as {
  startSession(mechanisms: string[], stream?: unknown): SaslSession;
  continueSession(session: SaslSession, password: string, serverData: string, stream?: unknown): Promise<void>;
  finalizeSession(session: SaslSession, serverData: string): void;
};

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** Reads length-prefixed messages from a socket (startup-style without a type byte, or typed). */
class MessageReader {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private ended = false;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiting?.();
    });
    const end = () => {
      this.ended = true;
      this.waiting?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  private async need(n: number): Promise<void> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error('connection closed');
      await new Promise<void>((r) => (this.waiting = r));
      this.waiting = undefined;
    }
  }

  async startup(): Promise<Buffer> {
    await this.need(4);
    const len = this.buf.readInt32BE(0);
    await this.need(len);
    const msg = this.buf.subarray(0, len);
    this.buf = this.buf.subarray(len);
    return msg;
  }

  async typed(): Promise<{ type: string; body: Buffer }> {
    await this.need(5);
    const len = this.buf.readInt32BE(1);
    await this.need(1 + len);
    const type = String.fromCharCode(this.buf[0]);
    const body = this.buf.subarray(5, 1 + len);
    this.buf = this.buf.subarray(1 + len);
    return { type, body };
  }

  /** Whatever arrived beyond the parsed messages; the reader stops listening. */
  detach(): Buffer {
    this.socket.removeAllListeners('data');
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }
}

function typed(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');

function errorResponse(code: string, message: string): Buffer {
  return typed(
    'E',
    Buffer.concat([cstr('SFATAL'), cstr('VFATAL'), cstr(`C${code}`), cstr(`M${message}`), Buffer.from([0])]),
  );
}

function startupParams(msg: Buffer): Record<string, string> {
  const parts = msg.subarray(8).toString('utf8').split('\0');
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i]) out[parts[i]] = parts[i + 1]!;
  return out;
}

export class IamPgFront {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  /** Logins accepted / refused by the front. */
  accepted = 0;
  refused = 0;

  constructor(
    private readonly gate: IamGate,
    private readonly upstream: { host: string; port: number; password: string },
  ) {}

  async start(): Promise<this> {
    this.server = net.createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      this.serve(s).catch(() => s.destroy());
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  private async serve(client: net.Socket): Promise<void> {
    const reader = new MessageReader(client);
    let startup = await reader.startup();
    for (;;) {
      const code = startup.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        client.write('N');
        startup = await reader.startup();
        continue;
      }
      break;
    }
    if (startup.readInt32BE(4) === CANCEL_REQUEST) {
      const up = net.connect(this.upstream.port, this.upstream.host, () => up.end(startup));
      up.on('error', () => undefined);
      client.end();
      return;
    }
    const params = startupParams(startup);
    client.write(typed('R', int32(3))); // AuthenticationCleartextPassword, as RDS asks IAM users
    const pw = await reader.typed();
    if (pw.type !== 'p') throw new Error('expected a password message');
    const token = pw.body.subarray(0, pw.body.indexOf(0)).toString('utf8');
    const verdict = this.gate.verdict(token, params.user ?? '');
    if (verdict !== undefined) {
      this.refused++;
      client.end(errorResponse('28P01', `PAM authentication failed for user "${params.user ?? ''}"`));
      return;
    }
    this.accepted++;
    await this.relay(client, reader, startup);
  }

  /** Logs in upstream with the real password, then relays both ways. */
  private async relay(client: net.Socket, clientReader: MessageReader, startup: Buffer): Promise<void> {
    const up = net.connect(this.upstream.port, this.upstream.host);
    this.sockets.add(up);
    up.on('close', () => this.sockets.delete(up));
    await new Promise<void>((resolve, reject) => {
      up.once('connect', resolve);
      up.once('error', reject);
    });
    const reader = new MessageReader(up);
    up.write(startup);
    let session: SaslSession | undefined;
    for (;;) {
      const m = await reader.typed();
      if (m.type === 'E') {
        client.end(typed('E', m.body));
        up.destroy();
        return;
      }
      if (m.type !== 'R') throw new Error(`unexpected upstream message ${m.type}`);
      const kind = m.body.readInt32BE(0);
      if (kind === 0) break;
      if (kind === 10) {
        const mechanisms = m.body.subarray(4).toString('utf8').split('\0').filter(Boolean);
        session = sasl.startSession(mechanisms);
        const response = Buffer.from(session.response, 'utf8');
        up.write(typed('p', Buffer.concat([cstr('SCRAM-SHA-256'), int32(response.length), response])));
      } else if (kind === 11) {
        await sasl.continueSession(session!, this.upstream.password, m.body.subarray(4).toString('utf8'));
        up.write(typed('p', Buffer.from(session!.response, 'utf8')));
      } else if (kind === 12) {
        sasl.finalizeSession(session!, m.body.subarray(4).toString('utf8'));
      } else if (kind === 3) {
        up.write(typed('p', cstr(this.upstream.password)));
      } else {
        throw new Error(`unsupported upstream auth ${kind}`);
      }
    }
    client.write(typed('R', int32(0)));
    const fromUp = reader.detach();
    const fromClient = clientReader.detach();
    if (fromUp.length) client.write(fromUp);
    if (fromClient.length) up.write(fromClient);
    up.pipe(client);
    client.pipe(up);
    const close = () => {
      client.destroy();
      up.destroy();
    };
    up.on('close', close);
    client.on('close', close);
    up.on('error', close);
    client.on('error', close);
  }
}
