import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import { ClientCore } from '../ts/client-core.js';
import { PgDriverDialect } from '../ts/dialects/driver/pg.js';
import { AwsWrapperError, ConfigurationError } from '../ts/errors.js';
import { HostInfo } from '../ts/host-info.js';
import { parseConnectProps } from '../ts/options.js';
import { AdfsTokenSource } from '../ts/auth/adfs-source.js';
import { OktaTokenSource } from '../ts/auth/okta-source.js';
import { parseHtmlPage, samlResponseOf } from '../ts/auth/saml.js';
import { WrapperServices } from '../ts/services.js';
import { AwsApiServer } from './support/aws-api-server.js';
import { IdpServer } from './support/aws-idp-server.js';
import { IamGate } from './support/aws-iam-gate.js';
import { parseIamToken } from './support/aws-sigv4.js';
import { pluginRegistry } from '../ts/plugins/registry.js';
import { describeGlobalClusters, RdsApiServer, type GlobalClusterRecord } from '../ts/testing/rds-api.js';
import { PG } from './support/test-servers.js';

// No ambient AWS credentials: the tokens must be signed with the role credentials STS hands out.
for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
  delete process.env[k];
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
process.env.AWS_CONFIG_FILE = '/nonexistent/config';

const INSTANCE = 'orders-1.abcdefghijkl.us-west-2.rds.amazonaws.com';
const ROLE = 'arn:aws:iam::123456789012:role/db-access';
const IDP = 'arn:aws:iam::123456789012:saml-provider/corp';
const IDP_PASSWORD = 'Corp-Idp-Pa55word!';

const aws = new AwsApiServer();
const idp = new IdpServer((a) => aws.validAssertions.add(a));
idp.users.set('jane@corp.example', { password: IDP_PASSWORD });
idp.users.set('mfa@corp.example', { password: IDP_PASSWORD, mfa: true });

test.before(async () => {
  await aws.start();
  await idp.start();
  process.env.AWS_ENDPOINT_URL_STS = aws.endpoint; // the SDK's standard endpoint override
});

test.after(async () => {
  await idp.stop();
  await aws.stop();
});

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
const host = new HostInfo({ host: INSTANCE, port: 5432 });

function adfsProps(extra: Record<string, unknown> = {}) {
  return parseConnectProps('pg', {
    plugins: 'federated_auth',
    db_user: 'jane_db',
    idp_endpoint: '127.0.0.1',
    idp_port: idp.portNumber,
    idp_username: 'jane@corp.example',
    idp_password: IDP_PASSWORD,
    iam_role_arn: ROLE,
    iam_idp_arn: IDP,
    ssl_secure: false,
    ...extra,
  });
}

function oktaProps(extra: Record<string, unknown> = {}) {
  return parseConnectProps('pg', {
    plugins: 'okta',
    dbUser: 'jane_db',
    idpEndpoint: idp.endpoint,
    idpUsername: 'jane@corp.example',
    idpPassword: IDP_PASSWORD,
    iamRoleArn: ROLE,
    iamIdpArn: IDP,
    appId: idp.oktaAppId,
    sslSecure: false,
    ...extra,
  });
}

const ctx = (services: WrapperServices) => ({ services, driver: 'pg' as const, defaultPort: () => 5432 });

test('HTML: forms, inputs and entities are read by the parser (not by patterns)', async () => {
  const page = await parseHtmlPage(
    `<HTML><body><FORM Action="/x?a=1&amp;b=2"><Input NAME="UserName" value='q&quot;'><input name=SAMLResponse value="ab&#43;c&#x3D;"></FORM>
     <input name="loose" value="1"><div id="errorText"> Bad <b>password</b> </div></body></HTML>`,
    'test',
  );
  assert.is(page.forms.length, 1);
  assert.is(page.forms[0].action, '/x?a=1&b=2');
  assert.equal(
    page.forms[0].inputs.map((i) => [i.name, i.value]),
    [
      ['UserName', 'q"'],
      ['SAMLResponse', 'ab+c='],
    ],
  );
  assert.equal(
    page.looseInputs.map((i) => i.name),
    ['loose'],
  );
  assert.is(page.errorText, 'Bad password');
  assert.is(samlResponseOf(page), 'ab+c=');
});

test('ADFS: sign-in form posted with the session cookie → assertion → STS role credentials → verified IAM token', async () => {
  const services = new WrapperServices();
  const source = new AdfsTokenSource(ctx(services));
  const c = await source.resolve(host, adfsProps(), false);
  assert.is(c.user, 'jane_db');
  assert.is(idp.signIns, 1);
  const sts = aws.requests.filter((r) => r.api === 'sts');
  assert.is(sts.length, 1);
  assert.is(sts[0].action, 'AssumeRoleWithSAML');
  assert.is(sts[0].params.RoleArn, ROLE);
  assert.is(sts[0].params.PrincipalArn, IDP);
  assert.is(
    sts[0].params.SAMLAssertion,
    idp.assertions[0],
    'the assertion reaches STS exactly as issued (entities decoded)',
  );
  const gate = new IamGate({
    secrets: aws.accessKeys,
    sessionTokens: aws.sessionTokens,
    realPassword: '',
    expectHost: INSTANCE,
    expectPort: 5432,
    expectRegion: 'us-west-2',
  });
  assert.is(gate.check(c.password), undefined);
  const t = parseIamToken(c.password);
  assert.is(t.user, 'jane_db');
  assert.is(t.accessKeyId, aws.issued[0].accessKeyId);

  // Cached token; a token for another host reuses the role credentials without a new IdP sign-in.
  assert.is((await source.resolve(host, adfsProps(), false)).fromCache, true);
  const other = await source.resolve(
    new HostInfo({ host: 'orders-2.abcdefghijkl.us-west-2.rds.amazonaws.com', port: 5432 }),
    adfsProps(),
    false,
  );
  assert.is(other.fromCache, false);
  assert.is(parseIamToken(other.password).accessKeyId, aws.issued[0].accessKeyId);
  assert.is(idp.signIns, 1);
  // A refresh (refused token) signs in again.
  await source.resolve(host, adfsProps(), true);
  assert.is(idp.signIns, 2);
});

test('ADFS: wrong IdP password → the IdP error text, user named, password never shown; missing options named', async () => {
  const err = await failure(
    new AdfsTokenSource(ctx(new WrapperServices())).resolve(host, adfsProps({ idp_password: 'Wrong-Pa55' }), false),
  );
  assert.instance(err, AwsWrapperError);
  assert.match(
    err!.message,
    /ADFS at https:\/\/127\.0\.0\.1:\d+ returned no SAML assertion for idp user 'jane@corp\.example' \(Incorrect user ID or password/,
  );
  assert.not.match(err!.message, /Wrong-Pa55/);
  for (const missing of ['db_user', 'idp_endpoint', 'iam_role_arn', 'iam_idp_arn']) {
    const e = await failure(
      new AdfsTokenSource(ctx(new WrapperServices())).resolve(host, adfsProps({ [missing]: undefined }), false),
    );
    assert.instance(e, ConfigurationError, missing);
  }
  // idp_username / idp_password fall back to the driver's user / password.
  const fallback = parseConnectProps('pg', {
    user: 'jane@corp.example',
    password: IDP_PASSWORD,
    dbUser: 'jane_db',
    idpEndpoint: '127.0.0.1',
    idpPort: idp.portNumber,
    iamRoleArn: ROLE,
    iamIdpArn: IDP,
    sslSecure: false,
  });
  const c = await new AdfsTokenSource(ctx(new WrapperServices())).resolve(host, fallback, false);
  assert.is(c.user, 'jane_db');
});

test('ADFS: certificate checked unless sslSecure is off; each request bounded by httpRequestConnectTimeout', async () => {
  const err = await failure(
    new AdfsTokenSource(ctx(new WrapperServices())).resolve(host, adfsProps({ ssl_secure: true }), false),
  );
  assert.instance(err, AwsWrapperError);
  assert.match(
    err!.message,
    /GET https:\/\/127\.0\.0\.1:\d+\/adfs\/ls\/IdpInitiatedSignOn\.aspx failed: .*(certificate|CERT)/i,
  );
  idp.hang = true;
  try {
    const started = Date.now();
    const slow = await failure(
      new AdfsTokenSource(ctx(new WrapperServices())).resolve(
        host,
        adfsProps({ httpRequestConnectTimeout: 300 }),
        false,
      ),
    );
    assert.match(slow!.message, /took longer than 300 ms \(httpRequestConnectTimeout\)/);
    assert.ok(Date.now() - started < 5000);
  } finally {
    idp.hang = false;
  }
});

test('Okta: authn session token → app SAML → STS → verified token; MFA, bad password and bad app are clear errors', async () => {
  const services = new WrapperServices();
  const before = idp.signIns;
  const c = await new OktaTokenSource(ctx(services)).resolve(host, oktaProps(), false);
  assert.is(idp.signIns, before + 1);
  const gate = new IamGate({
    secrets: aws.accessKeys,
    sessionTokens: aws.sessionTokens,
    realPassword: '',
    expectHost: INSTANCE,
    expectRegion: 'us-west-2',
  });
  assert.is(gate.check(c.password), undefined);
  assert.is(aws.requests.filter((r) => r.api === 'sts').at(-1)!.params.SAMLAssertion, idp.assertions.at(-1));

  let err = await failure(
    new OktaTokenSource(ctx(new WrapperServices())).resolve(
      host,
      oktaProps({ idpUsername: 'mfa@corp.example' }),
      false,
    ),
  );
  assert.match(err!.message, /Okta answered status MFA_REQUIRED for idp user 'mfa@corp\.example'/);
  err = await failure(
    new OktaTokenSource(ctx(new WrapperServices())).resolve(host, oktaProps({ idpPassword: 'nope-nope' }), false),
  );
  assert.match(
    err!.message,
    /Okta sign-in of idp user 'jane@corp\.example' answered HTTP 401 .*E0000004 Authentication failed/,
  );
  err = await failure(
    new OktaTokenSource(ctx(new WrapperServices())).resolve(host, oktaProps({ appId: 'other-app' }), false),
  );
  assert.match(err!.message, /the Okta app 'other-app' answered HTTP 404/);
  err = await failure(
    new OktaTokenSource(ctx(new WrapperServices())).resolve(host, oktaProps({ appId: undefined }), false),
  );
  assert.instance(err, ConfigurationError);
  assert.is((err as ConfigurationError).key, 'appId');
});

test('STS refusal is reported with the role and the STS error code, never the assertion', async () => {
  aws.refuseAssertions = true;
  try {
    const err = await failure(new AdfsTokenSource(ctx(new WrapperServices())).resolve(host, adfsProps(), false));
    assert.instance(err, AwsWrapperError);
    assert.match(
      err!.message,
      /^federated_auth: STS AssumeRoleWithSAML for role arn:aws:iam::123456789012:role\/db-access \(principal .*\) failed: InvalidIdentityToken(Exception)?: Invalid SAML assertion/,
    );
    assert.not.ok(err!.message.includes(idp.assertions.at(-1)!.slice(0, 40)));
  } finally {
    aws.refuseAssertions = false;
  }
});

const GLOBAL = 'orders.global-abcdefghijkl.global.rds.amazonaws.com';

function globalCluster(writerRegion: string): GlobalClusterRecord {
  const arn = (region: string) => `arn:aws:rds:${region}:123456789012:cluster:orders-${region}`;
  return {
    identifier: 'orders',
    endpoint: GLOBAL,
    engine: 'aurora-mysql',
    members: ['us-east-1', 'us-west-2'].map((region) => ({
      dbClusterArn: arn(region),
      isWriter: region === writerRegion,
      readers: region === writerRegion ? [arn(region === 'us-east-1' ? 'us-west-2' : 'us-east-1')] : [],
    })),
  };
}

test("global- endpoint: the role credentials ask DescribeGlobalClusters for the writer's region and the token is signed for it (ADFS and Okta)", async () => {
  // The local RDS API checks SigV4 against the keys STS handed out; the lookup goes to the region of AWS_REGION.
  const rds = await new RdsApiServer('eu-central-1').start();
  rds.accessKeys.get = (id: string) => aws.accessKeys[id];
  let writerRegion = 'us-east-1';
  const lookups: { id: string | null; accessKeyId: string }[] = [];
  const answer = describeGlobalClusters(() => [globalCluster(writerRegion)]);
  rds.actions.set('DescribeGlobalClusters', (req) => {
    lookups.push({ id: req.params.get('GlobalClusterIdentifier'), accessKeyId: req.accessKeyId });
    return answer(req);
  });
  const savedRegion = process.env.AWS_REGION;
  process.env.AWS_REGION = 'eu-central-1';
  const globalHost = new HostInfo({ host: GLOBAL, port: 3306 });
  const gate = (region: string) =>
    new IamGate({
      secrets: aws.accessKeys,
      sessionTokens: aws.sessionTokens,
      realPassword: '',
      expectHost: GLOBAL,
      expectPort: 3306,
      expectRegion: region,
    });
  try {
    const sources = [
      { source: (s: WrapperServices) => new AdfsTokenSource(ctx(s)), props: adfsProps },
      { source: (s: WrapperServices) => new OktaTokenSource(ctx(s)), props: oktaProps },
    ];
    for (const { source, props } of sources) {
      writerRegion = 'us-east-1';
      const src = source(new WrapperServices());
      const extra = { iamRdsEndpoint: rds.endpoint };
      const signIns = idp.signIns;
      const first = await src.resolve(globalHost, props(extra), false);
      assert.is(gate('us-east-1').check(first.password), undefined);
      assert.is(idp.signIns, signIns + 1, 'one IdP sign-in for the lookup and the token');
      const token = parseIamToken(first.password);
      assert.equal(lookups.at(-1), { id: 'orders', accessKeyId: token.accessKeyId }, 'signed with the role');
      const asked = lookups.length;
      assert.ok((await src.resolve(globalHost, props(extra), false)).fromCache);
      // A global failover moved the writer: the refused token (refresh) asks again and signs for the new region.
      writerRegion = 'us-west-2';
      const moved = await src.resolve(globalHost, props(extra), true);
      assert.is(gate('us-west-2').check(moved.password), undefined);
      assert.is(lookups.length, asked + 1);
      // iamRegion wins, without a lookup.
      const fixed = await src.resolve(globalHost, props({ ...extra, iamRegion: 'ap-south-1' }), false);
      assert.is(gate('ap-south-1').check(fixed.password), undefined);
      assert.is(lookups.length, asked + 1);
    }
    // A lookup the RDS API refuses names iamRegion, the way out.
    rds.accessKeys.get = () => undefined;
    const err = await failure(
      new AdfsTokenSource(ctx(new WrapperServices())).resolve(
        globalHost,
        adfsProps({ iamRdsEndpoint: rds.endpoint }),
        false,
      ),
    );
    assert.instance(err, AwsWrapperError);
    assert.match(
      err!.message,
      /^federated_auth: cannot find the region of global database endpoint 'orders\.global-.*' with DescribeGlobalClusters .*set 'iamRegion'/,
    );
  } finally {
    if (savedRegion === undefined) delete process.env.AWS_REGION;
    else process.env.AWS_REGION = savedRegion;
    await rds.close();
  }
});

test('pg end to end: federated_auth and okta log in as dbUser through the token-verifying gate', async () => {
  for (const plugins of ['federated_auth', 'okta']) {
    const services = new WrapperServices();
    const gate = new IamGate({
      secrets: aws.accessKeys,
      sessionTokens: aws.sessionTokens,
      realPassword: PG.password,
      expectHost: INSTANCE,
      expectPort: PG.port,
      expectRegion: 'us-west-2',
    });
    pluginRegistry(services).registerPlugin(gate.factory());
    const base =
      plugins === 'okta'
        ? { idpEndpoint: idp.endpoint, appId: idp.oktaAppId }
        : { idpEndpoint: '127.0.0.1', idpPort: idp.portNumber };
    const core = new ClientCore<pg.Client>({
      driver: 'pg',
      driverDialect: new PgDriverDialect(),
      services,
      config: {
        host: INSTANCE,
        port: PG.port,
        database: PG.database,
        hostAddressMap: { [INSTANCE]: PG.host },
        plugins: `${plugins},test_iam_gate`,
        dbUser: PG.user,
        idpUsername: 'jane@corp.example',
        idpPassword: IDP_PASSWORD,
        iamRoleArn: ROLE,
        iamIdpArn: IDP,
        sslSecure: false,
        ...base,
      },
    });
    await core.connect();
    try {
      assert.ok(gate.seen[0].accepted, gate.seen[0].reason);
      const r = await core.execute('Client.query', [], (c) => c.query('select current_user as u'));
      assert.is(r.rows[0].u, PG.user);
    } finally {
      await core.end();
    }
  }
});

test.run();
