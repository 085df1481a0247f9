// A loopback TCP proxy that records the statements clients send through it: PostgreSQL Query ('Q') and Parse ('P')
// frontend messages, MySQL COM_QUERY and COM_STMT_PREPARE packets. Tests point a client at it to see exactly what
// reaches the server. Connections of the native monitors (PostgreSQL application_name / MySQL connect attribute
// program_name aws-advanced-ts-wrapper-monitor) are recorded apart, so background monitoring does not blur what a
// connect sends.
import net from 'node:net';

export type Protocol = 'pg' | 'mysql';

export interface StatementCounter {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Statements of client connections, in arrival order. */
  readonly statements: string[];
  /** Statements of native monitor connections. */
  readonly monitorStatements: string[];
  /** Client connections opened through the proxy so far. */
  readonly connections: number;
  /** Returns the statements recorded since the last take() and forgets them. */
  take(): string[];
  close(): Promise<void>;
}

const MONITOR_APPLICATION_NAME = 'aws-advanced-ts-wrapper-monitor';
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** Splits PostgreSQL frontend messages; `onStatement` gets Query text and Parse statement text. */
function pgFrontend(
  onStartup: (params: Map<string, string>) => void,
  onStatement: (sql: string) => void,
): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  let started = false;
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (!started) {
        if (buf.length < 8) return;
        const len = buf.readInt32BE(0);
        if (buf.length < len) return;
        const code = buf.readInt32BE(4);
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST && code !== CANCEL_REQUEST) {
          started = true;
          const parts = buf.toString('utf8', 8, len).split('\0');
          const params = new Map<string, string>();
          for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i]) params.set(parts[i], parts[i + 1]);
          onStartup(params);
        }
        buf = buf.subarray(len);
        continue;
      }
      if (buf.length < 5) return;
      const len = buf.readInt32BE(1);
      if (buf.length < 1 + len) return;
      const type = String.fromCharCode(buf[0]);
      const body = buf.subarray(5, 1 + len);
      if (type === 'Q') onStatement(body.toString('utf8', 0, body.length - 1));
      if (type === 'P') {
        const nameEnd = body.indexOf(0);
        onStatement(body.toString('utf8', nameEnd + 1, body.indexOf(0, nameEnd + 1)));
      }
      buf = buf.subarray(1 + len);
    }
  };
}

/**
 * Splits MySQL client packets; commands are the packets with sequence id 0 after the handshake response, which
 * `onHandshake` gets whole (its connect attributes name the program).
 */
function mysqlFrontend(
  onHandshake: (packet: Buffer) => void,
  onStatement: (sql: string) => void,
): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  let greeted = false;
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUIntLE(0, 3);
      if (buf.length < 4 + len) return;
      const seq = buf[3];
      const command = buf[4];
      if (!greeted) {
        greeted = true;
        onHandshake(buf.subarray(4, 4 + len));
      }
      if (seq === 0 && (command === 0x03 || command === 0x16)) onStatement(buf.toString('utf8', 5, 4 + len));
      buf = buf.subarray(4 + len);
    }
  };
}

/** Starts a proxy to `target` on 127.0.0.1 (a free port). */
export function startStatementCounter(
  protocol: Protocol,
  target: { host: string; port: number },
): Promise<StatementCounter> {
  const statements: string[] = [];
  const monitorStatements: string[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    let sink = statements;
    connections++;
    const monitor = () => {
      sink = monitorStatements;
      connections--;
    };
    const parse =
      protocol === 'pg'
        ? pgFrontend(
            (params) => {
              if (params.get('application_name') === MONITOR_APPLICATION_NAME) monitor();
            },
            (sql) => sink.push(sql),
          )
        : mysqlFrontend(
            // The attribute's value is length-prefixed among the others; its bytes are distinctive enough.
            (packet) => {
              if (packet.includes(MONITOR_APPLICATION_NAME)) monitor();
            },
            (sql) => sink.push(sql),
          );
    client.on('data', (d: Buffer) => {
      parse(d);
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    const done = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', done).on('error', done);
    upstream.on('close', done).on('error', done);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const counter: StatementCounter = {
        host: '127.0.0.1',
        port: (server.address() as net.AddressInfo).port,
        statements,
        monitorStatements,
        get connections() {
          return connections;
        },
        take: () => statements.splice(0),
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      };
      resolve(counter);
    });
  });
}
