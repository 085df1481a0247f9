/**
 * An independent AWS Signature Version 4 implementation (node:crypto only) used by the tests to check what the
 * wrapper sends: IAM tokens (presigned `rds-db:connect` URLs) and the signed requests of the Secrets Manager
 * client. It is itself checked against vectors of the AWS SigV4 test suite (auth-iam.test.ts).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface SigV4Input {
  readonly method: string;
  /** Path as sent (already URI-encoded). */
  readonly path: string;
  /** Decoded query parameters; X-Amz-Signature must not be among them. */
  readonly query: ReadonlyArray<readonly [string, string]>;
  /** Lower-cased header names → values, exactly the signed headers. */
  readonly headers: Readonly<Record<string, string>>;
  readonly payloadSha256: string;
  /** `YYYYMMDDTHHMMSSZ`. */
  readonly amzDate: string;
  readonly region: string;
  readonly service: string;
  readonly secretAccessKey: string;
}

/** RFC 3986 encoding as SigV4 wants it (unreserved characters kept, everything else %XX upper-case). */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function canonicalRequest(i: SigV4Input): string {
  const query = i.query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = Object.keys(i.headers).sort();
  const headers = names.map((n) => `${n}:${i.headers[n]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  return [i.method, i.path, query, headers, names.join(';'), i.payloadSha256].join('\n');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function sigV4Signature(i: SigV4Input): string {
  const day = i.amzDate.slice(0, 8);
  const scope = `${day}/${i.region}/${i.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', i.amzDate, scope, createHash('sha256').update(canonicalRequest(i), 'utf8').digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${i.secretAccessKey}`, day), i.region), i.service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

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
  const signedAt = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (now > signedAt + t.expiresSec * 1000) return 'expired';
  if (signedAt > now + 5 * 60_000) return 'signed in the future';
  const given = t.params.get('X-Amz-Signature') ?? '';
  const query = [...t.params].filter(([k]) => k !== 'X-Amz-Signature');
  const expected = sigV4Signature({
    method: 'GET', path: '/', query, headers: { host: `${t.host}:${t.port}` }, payloadSha256: EMPTY_PAYLOAD_SHA256,
    amzDate: t.amzDate, region: t.region, service: t.service, secretAccessKey,
  });
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b) ? undefined : 'signature does not match';
}

/**
 * Verifies the Authorization header of a signed request (the SDK clients' requests to the local AWS servers).
 * Returns the access key id when valid, else throws with the reason.
 */
export function verifySignedRequest(
  req: { method: string; path: string; query: ReadonlyArray<readonly [string, string]>; headers: Readonly<Record<string, string | string[] | undefined>>; body: Buffer },
  secretFor: (accessKeyId: string) => string | undefined,
): { accessKeyId: string; region: string; service: string; sessionToken: string | undefined } {
  const auth = String(req.headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) throw new Error('missing or malformed Authorization header');
  const [, accessKeyId, , region, service, signedHeaders, signature] = m as unknown as string[];
  const secret = secretFor(accessKeyId!);
  if (secret === undefined) throw new Error(`unknown access key ${accessKeyId}`);
  const headers: Record<string, string> = {};
  for (const name of signedHeaders!.split(';')) {
    const v = req.headers[name];
    headers[name] = Array.isArray(v) ? v.join(',') : String(v ?? '');
  }
  const payload = typeof req.headers['x-amz-content-sha256'] === 'string'
    ? req.headers['x-amz-content-sha256']
    : createHash('sha256').update(req.body).digest('hex');
  const expected = sigV4Signature({
    method: req.method, path: req.path, query: req.query, headers, payloadSha256: payload,
    amzDate: String(req.headers['x-amz-date'] ?? ''), region: region!, service: service!, secretAccessKey: secret,
  });
  if (expected !== signature) throw new Error('signature does not match');
  const token = req.headers['x-amz-security-token'];
  return { accessKeyId: accessKeyId!, region: region!, service: service!, sessionToken: typeof token === 'string' ? token : undefined };
}
