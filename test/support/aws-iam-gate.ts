/**
 * Stands in for RDS's side of IAM authentication in tests. Real servers here cannot check IAM tokens, so this test
 * plugin sits right after the auth plugins (weight 1050), checks the token it is about to send exactly as RDS would
 * (SigV4 signature with the known test secret key, Action=connect, host:port, region, user, expiry), and only then
 * lets the real login go ahead with the database's real password. A token it refuses is sent as is, so the server
 * answers with its real login error (28P01 / 1045) — the path the plugin's refresh-and-retry handles.
 */
import type { ConnectFn, ConnectionPlugin, ConnectProps, PluginFactory } from '../../ts/plugin.js';
import type { HostInfo } from '../../ts/host-info.js';
import { parseIamToken, verifyIamToken, type ParsedIamToken } from './aws-sigv4.js';

export interface IamGateExpectation {
  /** Secret key of each access key id the "server" trusts. */
  readonly secrets: Readonly<Record<string, string>>;
  /** Session tokens of temporary access keys: a token signed with one must carry it (X-Amz-Security-Token). */
  readonly sessionTokens?: Readonly<Record<string, string>>;
  /** The database's real password, sent once a token is accepted. */
  readonly realPassword: string;
  readonly expectHost?: string;
  readonly expectPort?: number;
  readonly expectRegion?: string;
  /** Tokens older than this are refused (a short stand-in for the 15-minute token lifetime). */
  readonly maxTokenAgeMs?: number;
}

function signedAt(amzDate: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : 0;
}

function safeParse(raw: string): ParsedIamToken {
  try {
    return parseIamToken(raw);
  } catch {
    return parseIamToken('invalid:1/?');
  }
}

export class IamGate {
  /** Tokens refused from now on (as a revoked or expired token would be). */
  readonly revoked = new Set<string>();
  /** Every token seen, in order, with the verdict. */
  readonly seen: {
    token: ParsedIamToken;
    raw: string;
    accepted: boolean;
    reason?: string;
    driver: Record<string, unknown>;
  }[] = [];

  constructor(private readonly expect: IamGateExpectation) {}

  check(raw: string): string | undefined {
    if (this.revoked.has(raw)) return 'revoked';
    const t = parseIamToken(raw);
    const secret = this.expect.secrets[t.accessKeyId];
    if (secret === undefined) return `unknown access key ${t.accessKeyId}`;
    const session = this.expect.sessionTokens?.[t.accessKeyId];
    if (session !== undefined && t.sessionToken !== session) return 'missing or wrong session token';
    if (this.expect.expectHost !== undefined && t.host !== this.expect.expectHost) return `token for host ${t.host}`;
    if (this.expect.expectPort !== undefined && t.port !== this.expect.expectPort) return `token for port ${t.port}`;
    if (this.expect.expectRegion !== undefined && t.region !== this.expect.expectRegion)
      return `token for region ${t.region}`;
    if (this.expect.maxTokenAgeMs !== undefined && Date.now() - signedAt(t.amzDate) > this.expect.maxTokenAgeMs)
      return 'token too old';
    return verifyIamToken(raw, secret);
  }

  /** The front's check: a valid token for exactly this user. */
  verdict(raw: string, user: string): string | undefined {
    let reason: string | undefined;
    try {
      reason =
        this.check(raw) ?? (parseIamToken(raw).user !== user ? `token for user ${parseIamToken(raw).user}` : undefined);
    } catch {
      reason = 'not a token';
    }
    this.seen.push({ token: safeParse(raw), raw, accepted: reason === undefined, reason, driver: { user } });
    return reason;
  }

  factory(): PluginFactory {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- read by the plugin's methods, which have their own `this`
    const gate = this;
    return {
      code: 'test_iam_gate',
      weight: 1050,
      create: <C>(): ConnectionPlugin<C> => {
        const pass = (props: ConnectProps, next: ConnectFn<C>): Promise<C> => {
          const raw = String(props.driver.password ?? '');
          const reason = gate.check(raw);
          const user = String(props.driver.user ?? '');
          const tokenUser = parseIamToken(raw).user;
          const verdict = reason ?? (tokenUser !== user ? `token for user ${tokenUser}` : undefined);
          gate.seen.push({
            token: parseIamToken(raw),
            raw,
            accepted: verdict === undefined,
            reason: verdict,
            driver: { ...props.driver },
          });
          if (verdict !== undefined) return next(); // the real server refuses the token itself
          return next({ driver: { ...props.driver, password: gate.expect.realPassword }, options: props.options });
        };
        return {
          code: 'test_iam_gate',
          subscribedMethods: new Set(['connect', 'forceConnect']),
          connect: (_h: HostInfo, props: ConnectProps, _i: boolean, next: ConnectFn<C>) => pass(props, next),
          forceConnect: (_h: HostInfo, props: ConnectProps, _i: boolean, next: ConnectFn<C>) => pass(props, next),
        };
      },
    };
  }
}
