/**
 * Local identity providers on loopback HTTPS (the test CA's certificate for 127.0.0.1), shaped like the real ones
 * closely enough for the federated sign-ins: ADFS's IdP-initiated sign-on page (session cookie, sign-in form with
 * UserName / Password / AuthMethod, error text on a failed sign-in, auto-post page carrying the SAMLResponse) and
 * Okta's `/api/v1/authn` + Amazon AWS app SAML endpoint (one-time session tokens, MFA status, error JSON).
 * Every assertion it issues is registered with the local STS so it can be exchanged for role credentials.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'native-tls');

export interface IdpUser {
  readonly password: string;
  /** Okta: answer MFA_REQUIRED instead of a session token. */
  readonly mfa?: boolean;
}

function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\+/g, '&#43;');
}

export class IdpServer {
  readonly users = new Map<string, IdpUser>();
  /** Assertions issued, in order (base64). */
  readonly assertions: string[] = [];
  /** Successful sign-ins (ADFS form posts and Okta authn calls that returned a session token). */
  signIns = 0;
  /** Requests seen: method + path (no query). */
  readonly requests: string[] = [];
  /** Answer nothing (to test request deadlines). */
  hang = false;
  /** Amazon AWS app id configured in "Okta". */
  oktaAppId = '0oa1testapp';
  private readonly sessions = new Set<string>();
  private readonly oneTimeTokens = new Set<string>();
  private server: Server | undefined;
  private port = 0;

  constructor(private readonly onAssertion: (assertion: string) => void) {}

  /** `127.0.0.1:<port>` */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  get portNumber(): number {
    return this.port;
  }

  get caPem(): string {
    return readFileSync(path.join(fixtures, 'ca.pem'), 'utf8');
  }

  async start(): Promise<this> {
    this.server = createServer(
      { key: readFileSync(path.join(fixtures, 'server.key')), cert: readFileSync(path.join(fixtures, 'server.pem')) },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (this.hang) return;
          this.handle(req, Buffer.concat(chunks).toString('utf8'), res);
        });
      },
    );
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private issueAssertion(user: string): string {
    const xml = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_${randomBytes(16).toString('hex')}"><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:Subject><saml:NameID>${user}</saml:NameID></saml:Subject>${randomBytes(48).toString('hex')}</saml:Assertion></samlp:Response>`;
    // Base64 with '+', '/' and '=' so the page has to be entity-decoded correctly.
    const assertion = `${Buffer.from(xml).toString('base64')}+/+=`;
    this.assertions.push(assertion);
    this.onAssertion(assertion);
    return assertion;
  }

  private samlPostPage(assertion: string): string {
    return `<!DOCTYPE html><html><head><title>Working...</title></head><body>
<form method="POST" name="hiddenform" action="https://signin.aws.amazon.com:443/saml">
<input type="hidden" name="SAMLResponse" value="${escapeHtml(assertion)}" /><input type="hidden" name="RelayState" value="" />
<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit" /></noscript>
</form><script language="javascript">window.setTimeout('document.forms[0].submit()', 0);</script></body></html>`;
  }

  private adfsLoginPage(error?: string): string {
    return `<!DOCTYPE html><html lang="en-US"><head><title>Sign In</title></head><body>
<div id="loginArea"><form method="post" id="loginForm" autocomplete="off" novalidate="novalidate" onKeyPress="if (event && event.keyCode == 13) Login.submitLoginRequest();" action="/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=urn:amazon:webservices&amp;client-request-id=5f3c">
<div id="error" class="fieldMargin error smallText"><span id="errorText" for="">${error ?? ''}</span></div>
<div id="formsAuthenticationArea"><div id="userNameArea"><label id="userNameInputLabel" for="userNameInput" class="hidden">User Account</label>
<input id="userNameInput" name="UserName" type="email" value="" tabindex="1" class="text fullWidth" spellcheck="false" placeholder="someone@example.com" autocomplete="off"/></div>
<div id="passwordArea"><input id="passwordInput" name="Password" type="password" tabindex="2" class="text fullWidth" placeholder="Password" autocomplete="off"/></div>
<div id="kmsiArea" style="display:none"><input type="checkbox" name="Kmsi" id="kmsiInput" value="true" tabindex="3" /></div>
<div id="submissionArea" class="submitMargin"><span id="submitButton" class="submit" tabindex="4" role="button">Sign in</span></div></div>
<input id="optionForms" type="hidden" name="AuthMethod" value="FormsAuthentication"/>
</form></div></body></html>`;
  }

  private handle(req: IncomingMessage, body: string, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', `https://${this.endpoint}`);
    this.requests.push(`${req.method} ${url.pathname}`);
    const html = (status: number, text: string, headers: Record<string, string> = {}): void =>
      void res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers }).end(text);
    const json = (status: number, value: unknown): void =>
      void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));

    if (url.pathname === '/adfs/ls/IdpInitiatedSignOn.aspx') {
      if (url.searchParams.get('loginToRp') !== 'urn:amazon:webservices')
        return html(400, '<p>MSIS7012: unknown relying party</p>');
      if (req.method === 'GET') {
        const session = randomBytes(12).toString('hex');
        this.sessions.add(session);
        return html(200, this.adfsLoginPage(), {
          'set-cookie': `MSISSamlRequest=${session}; path=/adfs; HttpOnly; Secure`,
        });
      }
      const cookie = /MSISSamlRequest=([0-9a-f]+)/.exec(String(req.headers.cookie ?? ''))?.[1];
      if (cookie === undefined || !this.sessions.has(cookie))
        return html(
          400,
          '<p>MSIS7042: the same client browser session has made too many requests (no session cookie)</p>',
        );
      const form = new URLSearchParams(body);
      if (form.get('AuthMethod') !== 'FormsAuthentication') return html(400, '<p>bad AuthMethod</p>');
      const user = form.get('UserName') ?? '';
      if (this.users.get(user)?.password !== form.get('Password')) {
        return html(
          200,
          this.adfsLoginPage('Incorrect user ID or password. Type the correct user ID and password, and try again.'),
        );
      }
      this.signIns++;
      return html(200, this.samlPostPage(this.issueAssertion(user)));
    }

    if (url.pathname === '/api/v1/authn' && req.method === 'POST') {
      let creds: { username?: string; password?: string } = {};
      try {
        creds = JSON.parse(body) as typeof creds;
      } catch {
        return json(400, { errorCode: 'E0000003', errorSummary: 'The request body was not well-formed.' });
      }
      const u = this.users.get(creds.username ?? '');
      if (u === undefined || u.password !== creds.password)
        return json(401, {
          errorCode: 'E0000004',
          errorSummary: 'Authentication failed',
          errorLink: 'E0000004',
          errorId: 'oae1',
        });
      if (u.mfa)
        return json(200, { status: 'MFA_REQUIRED', stateToken: randomBytes(8).toString('hex'), _embedded: {} });
      const token = randomBytes(16).toString('hex');
      this.oneTimeTokens.add(`${token}|${creds.username}`);
      this.signIns++;
      return json(200, {
        status: 'SUCCESS',
        sessionToken: token,
        expiresAt: new Date(Date.now() + 300_000).toISOString(),
      });
    }

    const app = /^\/app\/amazon_aws\/([^/]+)\/sso\/saml$/.exec(url.pathname);
    if (app && req.method === 'GET') {
      if (app[1] !== this.oktaAppId) return html(404, '<p>Not found</p>');
      const token = url.searchParams.get('onetimetoken') ?? '';
      const entry = [...this.oneTimeTokens].find((e) => e.startsWith(`${token}|`));
      if (entry === undefined) return html(403, '<p>invalid session token</p>');
      this.oneTimeTokens.delete(entry);
      return html(200, this.samlPostPage(this.issueAssertion(entry.slice(token.length + 1))));
    }
    html(404, '<p>Not found</p>');
  }
}
