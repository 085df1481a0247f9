/**
 * IAM tokens through a SAML identity provider (federated_auth with ADFS, okta): SAML assertion from the IdP →
 * STS AssumeRoleWithSAML → temporary credentials → IAM token for the database user `dbUser`. Tokens are cached
 * like the iam plugin's (for `iamTokenExpirationSec`); the temporary role credentials are cached until shortly
 * before they expire, so tokens for other hosts (failover, monitors) need no new sign-in at the IdP.
 *
 * A `global-` endpoint names no region: with `iamRegion` unset, the role credentials (from STS in the SDK's default
 * region: AWS_REGION or the profile's) ask RDS DescribeGlobalClusters for the writer's region, as the iam plugin
 * does with its own credentials, and the token is signed for that region.
 */
import { ConfigurationError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import type { ConnectProps } from '../plugin.js';
import { authFetchError, type AuthContext, type CredentialSource, type ResolvedCredentials } from './auth-plugin.js';
import { authState, type RoleCredentials } from './auth-state.js';
import { generateIamToken, globalWriterRegion, resolveIamTarget, tokenCacheKey, tokenExpiresAt } from './iam-token.js';
import { isGlobalDbWriterClusterDns } from '../rds-utils.js';
import type { IdpCredentials } from './saml.js';
import { assumeRoleWithSaml } from './sts.js';
import { traceAuthFetch } from '../telemetry/channels.js';

const log = getLogger('federated');

/** Role credentials are not used in their last 5 minutes (or last tenth, when they live shorter). */
function roleCredentialsExpireAt(c: RoleCredentials, now: number): number {
  const end = c.expiration?.getTime() ?? now + 3_600_000;
  return end - Math.min(300_000, (end - now) / 10);
}

/** The settings every SAML sign-in needs, checked with errors naming the missing option. */
export interface SamlCommon {
  readonly dbUser: string;
  readonly idpEndpoint: string;
  readonly roleArn: string;
  readonly idpArn: string;
  readonly credentials: IdpCredentials;
  readonly timeoutMs: number;
  readonly verifyTls: boolean;
}

export function samlCommon(props: ConnectProps, pluginCode: string): SamlCommon {
  const o = props.options;
  const need = (value: string | undefined, name: string, what: string): string => {
    if (value === undefined || value.trim() === '')
      throw new ConfigurationError(`${pluginCode}: '${name}' is required: ${what}`, name);
    return value;
  };
  const driverString = (key: string): string | undefined =>
    typeof props.driver[key] === 'string' ? props.driver[key] : undefined;
  return {
    dbUser: need(o.dbUser, 'dbUser', 'the database user to log in as with the IAM token'),
    idpEndpoint: need(o.idpEndpoint, 'idpEndpoint', 'the host name of the identity provider'),
    roleArn: need(o.iamRoleArn, 'iamRoleArn', 'the ARN of the IAM role to assume'),
    idpArn: need(o.iamIdpArn, 'iamIdpArn', 'the ARN of the SAML identity provider in IAM'),
    credentials: {
      username: need(
        o.idpUsername ?? driverString('user'),
        'idpUsername',
        'the user name at the identity provider (or set user)',
      ),
      password: need(
        o.idpPassword ?? driverString('password'),
        'idpPassword',
        'the password at the identity provider (or set password)',
      ),
    },
    timeoutMs: o.httpRequestConnectTimeout,
    verifyTls: o.sslSecure,
  };
}

export abstract class SamlTokenSource implements CredentialSource {
  abstract readonly code: string;
  readonly kind = 'token';
  /** For messages: 'ADFS', 'Okta'. */
  protected abstract readonly idpName: string;

  constructor(protected readonly ctx: AuthContext) {}

  /** Signs in at the IdP and returns the base64 SAML assertion. */
  protected abstract fetchAssertion(common: SamlCommon, props: ConnectProps): Promise<string>;

  async resolve(host: HostInfo, props: ConnectProps, refresh: boolean): Promise<ResolvedCredentials> {
    const common = samlCommon(props, this.code);
    const identity = `${this.code}|${common.idpEndpoint}|${common.credentials.username}|${common.roleArn}|${common.idpArn}`;
    const auth = authState(this.ctx.services);
    const hostname = props.options.iamHost ?? host.host;
    // Behind a global- endpoint the role credentials come before any region is known: from STS in the SDK's
    // default region, and they sign both the lookup and the token (one IdP sign-in).
    const global = props.options.iamRegion === undefined && isGlobalDbWriterClusterDns(hostname);
    if (global) {
      const roleKey = `${identity}|`;
      // A refused token may mean the role's credentials were revoked: start again from the IdP.
      if (refresh) auth.roleCredentials.delete(roleKey);
      const region = await globalWriterRegion(this.ctx.services, hostname, props, this.code, refresh, {
        key: `role:${identity}`,
        credentials: () => this.roleCredentials(roleKey, common, undefined, props),
      });
      props = { ...props, options: { ...props.options, iamRegion: region } };
    }
    const target = resolveIamTarget(host, props, this.ctx.defaultPort(), this.code);
    const stsRegion = global ? undefined : target.region;
    const user = common.dbUser;
    const key = tokenCacheKey(this.code, target, user);
    const roleKey = `${identity}|${stsRegion ?? ''}`;
    const describe = `user '${user}' at ${target.hostname}:${target.port} (region ${target.region}, role ${common.roleArn})`;
    if (!refresh) {
      const cached = auth.tokens.get(key);
      if (cached !== undefined) {
        log.debug('%s: using the cached IAM token for %s', this.code, describe);
        return { user, password: cached, fromCache: true, describe };
      }
    } else {
      auth.tokens.delete(key);
      if (!global) auth.roleCredentials.delete(roleKey);
    }
    const token = await auth.dedupe(`fetch:${key}`, async () => {
      const role = await this.roleCredentials(roleKey, common, stsRegion, props);
      const signedAt = Date.now();
      const t = await traceAuthFetch(this.code, 'iam-token', () =>
        generateIamToken(target, user, role, this.code),
      ).catch((err: unknown) => {
        throw authFetchError(`${this.code}: could not generate an IAM token for ${describe}`, err);
      });
      auth.tokens.set(key, t, tokenExpiresAt(signedAt, props.options.iamTokenExpirationSec * 1000));
      log.debug('%s: generated an IAM token for %s', this.code, describe);
      return t;
    });
    return { user, password: token, fromCache: false, describe };
  }

  /** `region`: where STS is called; undefined = the SDK's default region (AWS_REGION or the profile's). */
  private async roleCredentials(
    roleKey: string,
    common: SamlCommon,
    region: string | undefined,
    props: ConnectProps,
  ): Promise<RoleCredentials> {
    const auth = authState(this.ctx.services);
    const cached = auth.roleCredentials.get(roleKey);
    if (cached !== undefined) return cached;
    return auth.dedupe(`role:${roleKey}`, async () => {
      const assertion = await traceAuthFetch(this.code, 'saml-token', () => this.fetchAssertion(common, props));
      log.debug(
        '%s: signed in idp user %s at %s; assuming role %s',
        this.code,
        common.credentials.username,
        this.idpName,
        common.roleArn,
      );
      const creds = await traceAuthFetch(this.code, 'role-credentials', () =>
        assumeRoleWithSaml({ region, roleArn: common.roleArn, principalArn: common.idpArn, assertion }, this.code),
      );
      auth.roleCredentials.set(roleKey, creds, roleCredentialsExpireAt(creds, Date.now()));
      return creds;
    });
  }
}
