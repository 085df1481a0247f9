/**
 * A local stand-in for the two AWS APIs the auth plugins call, on loopback HTTP, for the SDK clients to reach via
 * their endpoint override (`secretsManagerEndpoint`, `AWS_ENDPOINT_URL_STS`):
 * - Secrets Manager, JSON 1.1 protocol: `X-Amz-Target: secretsmanager.GetSecretValue`, SigV4-signed requests
 *   (checked with the test verifier against the known access keys);
 * - STS, query protocol: `Action=AssumeRoleWithSAML` (unsigned, as in AWS), answering with fresh temporary
 *   credentials when the SAML assertion is one the test's identity provider issued.
 * Everything it is asked is recorded for the tests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { verifySignedRequest } from './aws-sigv4.js';

export interface AwsApiRequest {
  readonly api: 'secretsmanager' | 'sts';
  readonly action: string;
  readonly accessKeyId?: string;
  readonly region?: string;
  readonly params: Readonly<Record<string, string>>;
}

export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

export class AwsApiServer {
  /** Secret values by name and by ARN. */
  readonly secrets = new Map<string, string>();
  /** Secret keys of the access keys whose signatures are accepted (test keys; STS adds the ones it issues). */
  readonly accessKeys: Record<string, string> = {};
  /** Session tokens of the temporary credentials STS issued, by access key id. */
  readonly sessionTokens: Record<string, string> = {};
  /** SAML assertions STS accepts (base64, as posted). */
  readonly validAssertions = new Set<string>();
  readonly requests: AwsApiRequest[] = [];
  readonly issued: IssuedCredentials[] = [];
  /** Lifetime of issued temporary credentials. */
  credentialsLifetimeMs = 3_600_000;
  /** Refuse every SAML assertion (as STS does for an expired or unknown one). */
  refuseAssertions = false;
  /** Answer the next requests with HTTP 500 (SDK retries) while > 0. */
  failNext = 0;
  private server: Server | undefined;
  private port = 0;

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  putSecret(name: string, value: string, arn?: string): void {
    this.secrets.set(name, value);
    if (arn !== undefined) this.secrets.set(arn, value);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, Buffer.concat(chunks), res);
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
        }
      });
    });
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

  private handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    if (this.failNext > 0) {
      this.failNext--;
      res
        .writeHead(500, { 'content-type': 'application/x-amz-json-1.1' })
        .end(JSON.stringify({ __type: 'InternalServiceError', message: 'test failure' }));
      return;
    }
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('secretsmanager.'))
      return this.secretsManager(req, body, target.slice('secretsmanager.'.length), res);
    const form = new URLSearchParams(body.toString('utf8'));
    if (form.get('Action') !== null) return this.sts(form, res);
    res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown API');
  }

  private secretsManager(req: IncomingMessage, body: Buffer, action: string, res: ServerResponse): void {
    const json = (status: number, value: unknown): void =>
      void res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(value));
    const url = new URL(req.url ?? '/', 'http://x');
    let signer: { accessKeyId: string; region: string };
    try {
      signer = verifySignedRequest(
        { method: req.method ?? 'POST', path: url.pathname, query: [...url.searchParams], headers: req.headers, body },
        (id) => this.accessKeys[id],
      );
    } catch (err) {
      this.requests.push({ api: 'secretsmanager', action, params: {} });
      json(400, {
        __type: 'UnrecognizedClientException',
        message: `The security token included in the request is invalid (${(err as Error).message})`,
      });
      return;
    }
    const params = JSON.parse(body.toString('utf8') || '{}') as Record<string, string>;
    this.requests.push({
      api: 'secretsmanager',
      action,
      accessKeyId: signer.accessKeyId,
      region: signer.region,
      params,
    });
    if (action !== 'GetSecretValue')
      return json(400, { __type: 'InvalidRequestException', message: `unsupported action ${action}` });
    const value = this.secrets.get(params.SecretId ?? '');
    if (value === undefined)
      return json(400, {
        __type: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
      });
    json(200, {
      ARN: `arn:aws:secretsmanager:${signer.region}:123456789012:secret:${params.SecretId}-AbCdEf`,
      Name: params.SecretId,
      SecretString: value,
      VersionId: randomBytes(8).toString('hex'),
      VersionStages: ['AWSCURRENT'],
      CreatedDate: Date.now() / 1000,
    });
  }

  private sts(form: URLSearchParams, res: ServerResponse): void {
    const action = form.get('Action')!;
    const params = Object.fromEntries(form) as Record<string, string>;
    this.requests.push({ api: 'sts', action, params });
    const xml = (status: number, text: string): void =>
      void res.writeHead(status, { 'content-type': 'text/xml' }).end(text);
    const error = (code: string, message: string) =>
      xml(
        400,
        `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`,
      );
    if (action !== 'AssumeRoleWithSAML') return error('InvalidAction', `unsupported action ${action}`);
    if (!params.RoleArn || !params.PrincipalArn)
      return error('ValidationError', 'RoleArn and PrincipalArn are required');
    if (this.refuseAssertions || !this.validAssertions.has(params.SAMLAssertion ?? ''))
      return error('InvalidIdentityToken', 'Invalid SAML assertion.');
    const creds: IssuedCredentials = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(20).toString('base64'),
      sessionToken: randomBytes(32).toString('base64'),
      expiration: new Date(Date.now() + this.credentialsLifetimeMs),
    };
    this.issued.push(creds);
    this.accessKeys[creds.accessKeyId] = creds.secretAccessKey;
    this.sessionTokens[creds.accessKeyId] = creds.sessionToken;
    xml(
      200,
      `<AssumeRoleWithSAMLResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithSAMLResult>
    <Credentials>
      <AccessKeyId>${creds.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${creds.secretAccessKey}</SecretAccessKey>
      <SessionToken>${creds.sessionToken}</SessionToken>
      <Expiration>${creds.expiration.toISOString()}</Expiration>
    </Credentials>
    <AssumedRoleUser><AssumedRoleId>AROATEST:user</AssumedRoleId><Arn>${params.RoleArn}/user</Arn></AssumedRoleUser>
    <Subject>user</Subject><SubjectType>persistent</SubjectType><Issuer>https://idp.test/</Issuer>
    <Audience>https://signin.aws.amazon.com/saml</Audience><NameQualifier>q</NameQualifier>
  </AssumeRoleWithSAMLResult>
  <ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata>
</AssumeRoleWithSAMLResponse>`,
    );
  }
}
