/**
 * SAML assertions from the identity providers: ADFS's IdP-initiated sign-on form, and Okta's
 * authn API + Amazon AWS app. HTML is read with htmlparser2 (forms, inputs, entity decoding), never with regexes.
 * Nothing here logs or puts into a message the password, session token or assertion.
 */
import { AwsWrapperError } from '../errors.js';
import { getLogger } from '../logger.js';
import { idpUrl, IdpSession, type IdpResponse } from './idp-http.js';
import { loadHtmlParser } from './sdk-loader.js';

const log = getLogger('saml');

export interface HtmlInput {
  readonly name: string;
  readonly value: string;
  readonly type: string;
}

export interface HtmlForm {
  readonly action: string | undefined;
  readonly method: string | undefined;
  readonly inputs: HtmlInput[];
}

export interface ParsedPage {
  readonly forms: HtmlForm[];
  /** Inputs outside any form. */
  readonly looseInputs: HtmlInput[];
  /** Text of the element with id `errorText` (ADFS puts its sign-in error there), if any. */
  readonly errorText: string | undefined;
}

/** Forms, inputs and the ADFS error text of an HTML page. */
export async function parseHtmlPage(html: string, pluginCode: string): Promise<ParsedPage> {
  const { Parser } = await loadHtmlParser(pluginCode);
  const forms: HtmlForm[] = [];
  const looseInputs: HtmlInput[] = [];
  let form: HtmlForm | undefined;
  let errorDepth = 0;
  let errorText = '';
  let depth = 0;
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        depth++;
        if (errorDepth === 0 && attribs.id === 'errorText') errorDepth = depth;
        if (name === 'form') {
          form = { action: attribs.action, method: attribs.method, inputs: [] };
          forms.push(form);
        } else if (name === 'input' && attribs.name !== undefined) {
          (form?.inputs ?? looseInputs).push({
            name: attribs.name,
            value: attribs.value ?? '',
            type: (attribs.type ?? 'text').toLowerCase(),
          });
        }
      },
      ontext(text) {
        if (errorDepth > 0) errorText += text;
      },
      onclosetag(name) {
        if (errorDepth === depth) errorDepth = 0;
        depth--;
        if (name === 'form') form = undefined;
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  const trimmed = errorText.replace(/\s+/g, ' ').trim();
  return { forms, looseInputs, errorText: trimmed === '' ? undefined : trimmed };
}

/** The value of the `SAMLResponse` input of a page (base64 SAML assertion, as AWS STS takes it). */
export function samlResponseOf(page: ParsedPage): string | undefined {
  for (const input of [...page.forms.flatMap((f) => f.inputs), ...page.looseInputs]) {
    if (input.name === 'SAMLResponse' && input.value !== '') return input.value;
  }
  return undefined;
}

function httpFailure(pluginCode: string, what: string, res: IdpResponse, detail?: string): AwsWrapperError {
  return new AwsWrapperError(
    `${pluginCode}: ${what} answered HTTP ${res.status} (${res.url.origin}${res.url.pathname})${detail ? `: ${detail}` : ''}`,
  );
}

export interface IdpCredentials {
  readonly username: string;
  readonly password: string;
}

export interface AdfsSettings {
  readonly endpoint: string;
  readonly port: number;
  readonly relyingPartyId: string;
  readonly credentials: IdpCredentials;
  readonly timeoutMs: number;
  readonly verifyTls: boolean;
}

/**
 * ADFS: GET the IdP-initiated sign-on page for the relying party, fill its sign-in form (inputs named like
 * `username` / `password` get the IdP credentials, every other input keeps its value), POST it, and read the
 * SAMLResponse of the page ADFS answers with.
 */
export async function adfsSamlAssertion(s: AdfsSettings, pluginCode: string): Promise<string> {
  const session = new IdpSession({ timeoutMs: s.timeoutMs, verifyTls: s.verifyTls, pluginCode });
  const signOn = idpUrl(
    s.endpoint,
    `/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=${encodeURIComponent(s.relyingPartyId)}`,
    s.port,
  );
  const page = await session.get(signOn);
  if (page.status < 200 || page.status > 299) throw httpFailure(pluginCode, 'the ADFS sign-on page', page);
  const parsed = await parseHtmlPage(page.body, pluginCode);
  const already = samlResponseOf(parsed);
  if (already !== undefined) return already; // signed on already (integrated authentication)
  const form = parsed.forms.find((f) => f.action !== undefined && f.action !== '');
  if (form === undefined)
    throw new AwsWrapperError(`${pluginCode}: the ADFS sign-on page at ${page.url.origin} has no sign-in form`);
  const fields = new URLSearchParams();
  for (const input of form.inputs) {
    const name = input.name.toLowerCase();
    if (name.includes('username')) fields.append(input.name, s.credentials.username);
    else if (name.includes('password')) fields.append(input.name, s.credentials.password);
    else fields.append(input.name, input.value);
  }
  const action = new URL(form.action!, page.url);
  log.debug(
    '%s: posting the ADFS sign-in form for idp user %s to %s',
    pluginCode,
    s.credentials.username,
    `${action.origin}${action.pathname}`,
  );
  const answer = await session.post(action, 'application/x-www-form-urlencoded', fields.toString());
  if (answer.status < 200 || answer.status > 299) throw httpFailure(pluginCode, 'the ADFS sign-in', answer);
  const result = await parseHtmlPage(answer.body, pluginCode);
  const assertion = samlResponseOf(result);
  if (assertion === undefined) {
    throw new AwsWrapperError(
      `${pluginCode}: ADFS at ${action.origin} returned no SAML assertion for idp user '${s.credentials.username}'${result.errorText ? ` (${result.errorText})` : ''}: check idpUsername/idpPassword and rpIdentifier`,
    );
  }
  return assertion;
}

export interface OktaSettings {
  readonly endpoint: string;
  readonly appId: string;
  readonly credentials: IdpCredentials;
  readonly timeoutMs: number;
  readonly verifyTls: boolean;
}

/**
 * Okta: POST the IdP credentials to `/api/v1/authn` for a one-time session token, then GET the Amazon AWS app's
 * SAML endpoint with it and read the SAMLResponse of the page.
 */
export async function oktaSamlAssertion(s: OktaSettings, pluginCode: string): Promise<string> {
  const session = new IdpSession({ timeoutMs: s.timeoutMs, verifyTls: s.verifyTls, pluginCode });
  const authn = idpUrl(s.endpoint, '/api/v1/authn');
  const res = await session.post(
    authn,
    'application/json',
    JSON.stringify({ username: s.credentials.username, password: s.credentials.password }),
    { accept: 'application/json' },
  );
  let json: { status?: unknown; sessionToken?: unknown; errorCode?: unknown; errorSummary?: unknown } | undefined;
  try {
    json = JSON.parse(res.body) as typeof json;
  } catch {
    json = undefined;
  }
  if (res.status < 200 || res.status > 299) {
    const detail =
      json && typeof json.errorSummary === 'string'
        ? `${String(json.errorCode ?? '')} ${json.errorSummary}`.trim()
        : undefined;
    throw httpFailure(pluginCode, `Okta sign-in of idp user '${s.credentials.username}'`, res, detail);
  }
  if (json === undefined || typeof json !== 'object')
    throw new AwsWrapperError(`${pluginCode}: Okta's authn answer at ${authn.origin} is not JSON`);
  if (json.status !== 'SUCCESS' || typeof json.sessionToken !== 'string' || json.sessionToken === '') {
    throw new AwsWrapperError(
      `${pluginCode}: Okta answered status ${String(json.status)} for idp user '${s.credentials.username}'; only a plain username/password sign-in (no MFA step) is supported`,
    );
  }
  const saml = idpUrl(s.endpoint, `/app/amazon_aws/${encodeURIComponent(s.appId)}/sso/saml`);
  saml.searchParams.set('onetimetoken', json.sessionToken);
  const page = await session.get(saml);
  if (page.status < 200 || page.status > 299) throw httpFailure(pluginCode, `the Okta app '${s.appId}'`, page);
  const assertion = samlResponseOf(await parseHtmlPage(page.body, pluginCode));
  if (assertion === undefined)
    throw new AwsWrapperError(
      `${pluginCode}: the Okta app '${s.appId}' at ${saml.origin} returned no SAML assertion: check appId`,
    );
  return assertion;
}
