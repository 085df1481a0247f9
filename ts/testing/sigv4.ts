/**
 * AWS Signature Version 4 checking (node:crypto only) for the lookalike's local AWS API servers (the RDS API) and
 * the tests: recomputes the signature of a signed request from the secret key of the access key it names. Checked
 * against vectors of the AWS SigV4 test suite (test/auth-iam.test.ts).
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
  const headers = names.map((n) => `${n}:${i.headers[n].trim().replace(/\s+/g, ' ')}\n`).join('');
  return [i.method, i.path, query, headers, names.join(';'), i.payloadSha256].join('\n');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function sigV4Signature(i: SigV4Input): string {
  const day = i.amzDate.slice(0, 8);
  const scope = `${day}/${i.region}/${i.service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    i.amzDate,
    scope,
    createHash('sha256').update(canonicalRequest(i), 'utf8').digest('hex'),
  ].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${i.secretAccessKey}`, day), i.region), i.service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

/** Why a signed request was refused, with the error code AWS answers it with. */
export class SigV4Error extends Error {
  constructor(
    readonly code:
      'MissingAuthenticationToken' | 'IncompleteSignature' | 'InvalidClientTokenId' | 'SignatureDoesNotMatch',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Verifies the Authorization header of a signed request (the SDK clients' requests to the local AWS servers).
 * Returns the access key id when valid, else throws a SigV4Error with the reason.
 */
export function verifySignedRequest(
  req: {
    method: string;
    path: string;
    query: ReadonlyArray<readonly [string, string]>;
    headers: Readonly<Record<string, string | string[] | undefined>>;
    body: Buffer;
  },
  secretFor: (accessKeyId: string) => string | undefined,
): { accessKeyId: string; region: string; service: string; sessionToken: string | undefined } {
  const auth = String(req.headers.authorization ?? '');
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (auth === '') throw new SigV4Error('MissingAuthenticationToken', 'Request is missing Authentication Token');
  if (!m) throw new SigV4Error('IncompleteSignature', 'malformed Authorization header');
  const [, accessKeyId, , region, service, signedHeaders, signature] = m as unknown as string[];
  const secret = secretFor(accessKeyId);
  if (secret === undefined)
    throw new SigV4Error(
      'InvalidClientTokenId',
      `The security token included in the request is invalid (unknown access key ${accessKeyId})`,
    );
  const headers: Record<string, string> = {};
  for (const name of signedHeaders.split(';')) {
    const v = req.headers[name];
    headers[name] = Array.isArray(v) ? v.join(',') : String(v ?? '');
  }
  const payload = createHash('sha256').update(req.body).digest('hex');
  const claimed = req.headers['x-amz-content-sha256'];
  if (typeof claimed === 'string' && claimed !== 'UNSIGNED-PAYLOAD' && claimed !== payload) {
    throw new SigV4Error('SignatureDoesNotMatch', 'the x-amz-content-sha256 header does not match the body');
  }
  const expected = sigV4Signature({
    method: req.method,
    path: req.path,
    query: req.query,
    headers,
    payloadSha256: typeof claimed === 'string' ? claimed : payload,
    amzDate: String(req.headers['x-amz-date'] ?? ''),
    region: region,
    service: service,
    secretAccessKey: secret,
  });
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    throw new SigV4Error(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  const token = req.headers['x-amz-security-token'];
  return {
    accessKeyId: accessKeyId,
    region: region,
    service: service,
    sessionToken: typeof token === 'string' ? token : undefined,
  };
}
