/**
 * The HTTPS requests of the federated sign-ins (ADFS, Okta): one session per sign-in that keeps the cookies the
 * identity provider sets (ADFS ties its form post to them) and follows redirects, with a deadline per request and
 * the option to skip certificate checks (`sslSecure: false`, test servers only). Bodies are capped.
 */
import { AwsWrapperError } from '../errors.js';

const MAX_BODY_BYTES = 5 * 1024 * 1024;
const MAX_REDIRECTS = 5;

export interface IdpResponse {
  readonly status: number;
  readonly url: URL;
  readonly contentType: string;
  readonly body: string;
}

export interface IdpSessionOptions {
  /** Deadline of each request (connect, send, receive), ms. */
  readonly timeoutMs: number;
  /** Verify the server certificate (default true). */
  readonly verifyTls: boolean;
  /** Names the plugin in errors. */
  readonly pluginCode: string;
}

export class IdpSession {
  /** Cookies by name, per host. */
  private readonly cookies = new Map<string, Map<string, string>>();

  constructor(private readonly options: IdpSessionOptions) {}

  get(url: URL, headers: Record<string, string> = {}): Promise<IdpResponse> {
    return this.request('GET', url, headers, undefined, 0);
  }

  post(url: URL, contentType: string, body: string, headers: Record<string, string> = {}): Promise<IdpResponse> {
    return this.request('POST', url, { ...headers, 'content-type': contentType }, body, 0);
  }

  private cookieHeader(url: URL): string | undefined {
    const jar = this.cookies.get(url.host);
    if (jar === undefined || jar.size === 0) return undefined;
    return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keepCookies(url: URL, setCookie: string[] | undefined): void {
    if (setCookie === undefined) return;
    let jar = this.cookies.get(url.host);
    if (jar === undefined) this.cookies.set(url.host, (jar = new Map<string, string>()));
    for (const line of setCookie) {
      const pair = line.split(';', 1)[0];
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }

  private async request(
    method: 'GET' | 'POST',
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
    redirects: number,
  ): Promise<IdpResponse> {
    const { timeoutMs, verifyTls, pluginCode } = this.options;
    // Only the origin goes into messages: query strings may carry one-time tokens.
    const where = `${method} ${url.origin}${url.pathname}`;
    if (url.protocol !== 'https:')
      throw new AwsWrapperError(`${pluginCode}: identity provider URLs must be https, got ${url.origin}`);
    // Loaded on first use: most applications never talk to an identity provider, and node:https costs import time.
    const https = await import('node:https');
    return new Promise<IdpResponse>((resolve, reject) => {
      const cookie = this.cookieHeader(url);
      const req = https.request(url, {
        method,
        rejectUnauthorized: verifyTls,
        headers: {
          accept: 'text/html,application/json;q=0.9,*/*;q=0.8',
          ...headers,
          ...(cookie !== undefined ? { cookie } : {}),
          ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
        },
      });
      const timer = setTimeout(
        () =>
          req.destroy(
            new AwsWrapperError(`${pluginCode}: ${where} took longer than ${timeoutMs} ms (httpRequestConnectTimeout)`),
          ),
        timeoutMs,
      );
      req.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(
          err instanceof AwsWrapperError
            ? err
            : new AwsWrapperError(
                `${pluginCode}: ${where} failed: ${(err as { code?: string }).code ?? err.name}: ${err.message}`,
                { cause: err },
              ),
        );
      });
      req.on('response', (res) => {
        this.keepCookies(url, res.headers['set-cookie']);
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (status >= 300 && status < 400 && location !== undefined) {
          res.resume();
          clearTimeout(timer);
          if (redirects >= MAX_REDIRECTS) {
            reject(new AwsWrapperError(`${pluginCode}: ${where} redirected more than ${MAX_REDIRECTS} times`));
            return;
          }
          const next = new URL(location, url);
          // 307/308 repeat the request as is; other redirects continue with a GET.
          const again =
            status === 307 || status === 308
              ? this.request(method, next, headers, body, redirects + 1)
              : this.request('GET', next, {}, undefined, redirects + 1);
          again.then(resolve, reject);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES)
            req.destroy(new AwsWrapperError(`${pluginCode}: ${where} answered more than ${MAX_BODY_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status,
            url,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', () => undefined); // reported through req's 'error'
      });
      req.end(body);
    });
  }
}

/** An https URL from an identity-provider host setting (`host`, `host:port` or a full https URL) and a path. */
export function idpUrl(endpoint: string, path: string, defaultPort?: number): URL {
  const base = new URL(/^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`);
  if (base.port === '' && defaultPort !== undefined && defaultPort !== 443) base.port = String(defaultPort);
  return new URL(path, base.origin);
}
