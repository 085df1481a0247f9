/**
 * IAM token (presigned `rds-db:connect` URL) parsing and checking for the tests, on top of the SigV4 code the
 * lookalike's AWS API servers use (ts/testing/sigv4.ts), which this module re-exports.
 */
import { timingSafeEqual } from 'node:crypto';
import { EMPTY_PAYLOAD_SHA256, sigV4Signature } from '../../ts/testing/sigv4.js';

export {
  EMPTY_PAYLOAD_SHA256,
  canonicalRequest,
  sigV4Signature,
  uriEncode,
  verifySignedRequest,
  type SigV4Input,
} from '../../ts/testing/sigv4.js';

export interface ParsedIamToken {
  readonly host: string;
  readonly port: number;
  readonly params: ReadonlyMap<string, string>;
  readonly user: string;
  readonly accessKeyId: string;
  readonly region: string;
  readonly service: string;
  readonly amzDate: string;
  readonly expiresSec: number;
  readonly sessionToken: string | undefined;
}

/** Splits an IAM token (`host:port/?Action=connect&DBUser=…&X-Amz-…`) into its parts. */
export function parseIamToken(token: string): ParsedIamToken {
  const url = new URL(`https://${token}`);
  const params = new Map<string, string>();
  for (const [k, v] of url.searchParams) params.set(k, v);
  const credential = (params.get('X-Amz-Credential') ?? '').split('/');
  return {
    host: url.hostname,
    port: Number(url.port || 443),
    params,
    user: params.get('DBUser') ?? '',
    accessKeyId: credential[0] ?? '',
    region: credential[2] ?? '',
    service: credential[3] ?? '',
    amzDate: params.get('X-Amz-Date') ?? '',
    expiresSec: Number(params.get('X-Amz-Expires')),
    sessionToken: params.get('X-Amz-Security-Token'),
  };
}

/**
 * What RDS checks of a token, given the secret key of the access key it names: the signature over the canonical
 * request (GET /, signed header `host` = `host:port`), Action=connect, the service, and that it has not expired.
 * Returns undefined when valid, else the reason.
 */
export function verifyIamToken(token: string, secretAccessKey: string, now = Date.now()): string | undefined {
  const t = parseIamToken(token);
  if (t.params.get('Action') !== 'connect') return 'Action is not connect';
  if (t.params.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return 'unexpected algorithm';
  if (t.params.get('X-Amz-SignedHeaders') !== 'host') return 'signed headers are not just host';
  if (t.service !== 'rds-db') return `service is ${t.service}, not rds-db`;
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(t.amzDate);
  if (!m) return 'bad X-Amz-Date';
  const signedAt = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  if (now > signedAt + t.expiresSec * 1000) return 'expired';
  if (signedAt > now + 5 * 60_000) return 'signed in the future';
  const given = t.params.get('X-Amz-Signature') ?? '';
  const query = [...t.params].filter(([k]) => k !== 'X-Amz-Signature');
  const expected = sigV4Signature({
    method: 'GET',
    path: '/',
    query,
    headers: { host: `${t.host}:${t.port}` },
    payloadSha256: EMPTY_PAYLOAD_SHA256,
    amzDate: t.amzDate,
    region: t.region,
    service: t.service,
    secretAccessKey,
  });
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b) ? undefined : 'signature does not match';
}
