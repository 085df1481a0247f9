/**
 * Credentials of the `iam` plugin: IAM database authentication. The password is an IAM token signed with the AWS
 * credentials of the default provider chain (or of `awsProfile`) for the host, port, region and user; tokens are
 * cached per (region, host, port, user) in WrapperServices until shortly before they expire, and renewed once when
 * the server refuses a cached one.
 */
import { ConfigurationError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import type { ConnectProps } from '../plugin.js';
import { authFetchError, type AuthContext, type CredentialSource, type ResolvedCredentials } from './auth-plugin.js';
import { authState } from './auth-state.js';
import { awsCredentialsProvider } from './aws-credentials.js';
import { generateIamToken, globalWriterRegion, resolveIamTarget, tokenCacheKey, tokenExpiresAt } from './iam-token.js';
import { isGlobalDbWriterClusterDns } from '../rds-utils.js';
import { traceAuthFetch } from '../telemetry/channels.js';

const log = getLogger('iam');
const CODE = 'iam';

/** The database user of an IAM login: the driver config's `user`. */
function dbUserOf(props: ConnectProps): string {
  const user = props.driver.user;
  if (typeof user !== 'string' || user === '') {
    throw new ConfigurationError(
      `${CODE}: the database user is required: set 'user' in the config (the IAM-enabled database user)`,
      'user',
    );
  }
  return user;
}

export class IamCredentialSource implements CredentialSource {
  readonly code = CODE;
  readonly kind = 'token';

  constructor(private readonly ctx: AuthContext) {}

  async resolve(host: HostInfo, props: ConnectProps, refresh: boolean): Promise<ResolvedCredentials> {
    const user = dbUserOf(props);
    const hostname = props.options.iamHost ?? host.host;
    if (props.options.iamRegion === undefined && isGlobalDbWriterClusterDns(hostname)) {
      // A global- endpoint names no region: the token is signed for the region of the global database's writer.
      const region = await globalWriterRegion(this.ctx.services, hostname, props, CODE, refresh);
      props = { ...props, options: { ...props.options, iamRegion: region } };
    }
    const target = resolveIamTarget(host, props, this.ctx.defaultPort(), CODE);
    const key = tokenCacheKey(CODE, target, user);
    const describe = `user '${user}' at ${target.hostname}:${target.port} (region ${target.region})`;
    const auth = authState(this.ctx.services);
    if (!refresh) {
      const cached = auth.tokens.get(key);
      if (cached !== undefined) {
        log.debug('Using the cached IAM token for %s', describe);
        return { user, password: cached, fromCache: true, describe };
      }
    } else {
      auth.tokens.delete(key);
    }
    const token = await auth.dedupe(`fetch:${key}`, () =>
      traceAuthFetch(CODE, 'iam-token', async () => {
        const signedAt = Date.now();
        const credentials = await awsCredentialsProvider(this.ctx.services, props.options.awsProfile, CODE);
        const t = await generateIamToken(target, user, credentials, CODE).catch((err: unknown) => {
          throw authFetchError(`${CODE}: could not generate an IAM token for ${describe}`, err);
        });
        auth.tokens.set(key, t, tokenExpiresAt(signedAt, props.options.iamExpirationSec * 1000));
        log.debug('Generated an IAM token for %s', describe);
        return t;
      }),
    );
    return { user, password: token, fromCache: false, describe };
  }
}
