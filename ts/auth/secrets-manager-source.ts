/**
 * Credentials of the `aws_secrets_manager` plugin: database user and password from an AWS Secrets Manager secret. The
 * secret's JSON is fetched with @aws-sdk/client-secrets-manager (default credential chain or `awsProfile`), cached
 * in WrapperServices per (secret, region, endpoint, keys) for `secretsManagerExpirationSec`, and fetched again
 * once when the server refuses the cached credentials (the secret was rotated).
 */
import { AwsWrapperError, ConfigurationError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import type { ConnectProps } from '../plugin.js';
import { authFetchError, type AuthContext, type CredentialSource, type ResolvedCredentials } from './auth-plugin.js';
import { authState, type DbCredentials } from './auth-state.js';
import { AWS_SDK_LOGGER, awsCredentialsProvider } from './aws-credentials.js';
import { traceAuthFetch } from '../telemetry/channels.js';
import { loadSecretsManager } from './sdk-loader.js';

const log = getLogger('aws-secrets-manager');
const CODE = 'aws_secrets_manager';

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/;

/** The region in a secret ARN (`arn:aws:secretsmanager:<region>:<account>:secret:<name>`), if it is one. */
export function regionFromSecretArn(secretId: string): string | undefined {
  return SECRET_ARN.exec(secretId)?.[1];
}

interface SecretLocation {
  readonly secretId: string;
  readonly region: string;
  readonly endpoint: string | undefined;
  readonly usernameKey: string;
  readonly passwordKey: string;
}

function locate(props: ConnectProps): SecretLocation {
  const o = props.options;
  const secretId = o.secretsManagerSecretId;
  if (secretId === undefined || secretId.trim() === '') {
    throw new ConfigurationError(
      `${CODE}: 'secretsManagerSecretId' is required: the name or ARN of the secret holding the database credentials`,
      'secretsManagerSecretId',
    );
  }
  const region = o.secretsManagerRegion ?? regionFromSecretArn(secretId);
  if (region === undefined) {
    throw new ConfigurationError(
      `${CODE}: cannot tell the region of secret '${secretId}': set 'secretsManagerRegion' (or give the secret's ARN, which names its region)`,
      'secretsManagerRegion',
    );
  }
  const endpoint = o.secretsManagerEndpoint;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new ConfigurationError(
        `${CODE}: 'secretsManagerEndpoint' expects an http(s) URL like 'https://secretsmanager.${region}.amazonaws.com', got '${endpoint}'`,
        'secretsManagerEndpoint',
      );
    }
  }
  return {
    secretId,
    region,
    endpoint,
    usernameKey: o.secretsManagerSecretUsernameKey,
    passwordKey: o.secretsManagerSecretPasswordKey,
  };
}

/** Reads user and password from the secret's JSON. Messages name keys, never values. */
export function parseSecret(secretString: string | undefined, loc: SecretLocation): DbCredentials {
  const what = `${CODE}: secret '${loc.secretId}'`;
  if (secretString === undefined)
    throw new AwsWrapperError(
      `${what} has no string value (binary secrets are not supported); store the credentials as JSON`,
    );
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    // JSON.parse's message quotes the text: never passed on.
    throw new AwsWrapperError(
      `${what} is not JSON; expected an object like {"${loc.usernameKey}": "...", "${loc.passwordKey}": "..."}`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AwsWrapperError(
      `${what} is not a JSON object; expected {"${loc.usernameKey}": "...", "${loc.passwordKey}": "..."}`,
    );
  }
  const get = (key: string, option: string): string => {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v !== 'string' || v === '') {
      throw new AwsWrapperError(
        `${what} has no non-empty string under the key '${key}' (set '${option}' if the secret uses another key)`,
      );
    }
    return v;
  };
  return {
    user: get(loc.usernameKey, 'secretsManagerSecretUsernameKey'),
    password: get(loc.passwordKey, 'secretsManagerSecretPasswordKey'),
  };
}

export class SecretsManagerCredentialSource implements CredentialSource {
  readonly code = CODE;
  readonly kind = 'password';

  constructor(private readonly ctx: AuthContext) {}

  async resolve(_host: HostInfo, props: ConnectProps, refresh: boolean): Promise<ResolvedCredentials> {
    const loc = locate(props);
    const key = [loc.secretId, loc.region, loc.endpoint ?? '', loc.usernameKey, loc.passwordKey].join('|');
    const auth = authState(this.ctx.services);
    const where = `secret '${loc.secretId}' (region ${loc.region}${loc.endpoint ? `, endpoint ${loc.endpoint}` : ''})`;
    if (!refresh) {
      const cached = auth.secrets.get(key);
      if (cached !== undefined) {
        log.debug('Using the cached credentials of %s', where);
        return { ...cached, fromCache: true, describe: `user '${cached.user}' from ${where}` };
      }
    } else {
      auth.secrets.delete(key);
    }
    const creds = await auth.dedupe(`fetch:secret:${key}`, async () => {
      const fetched = await traceAuthFetch(CODE, 'secret', () => this.fetch(loc, props, where));
      auth.secrets.set(key, fetched, Date.now() + props.options.secretsManagerExpirationSec * 1000);
      log.debug('Fetched the credentials of %s', where);
      return fetched;
    });
    return { ...creds, fromCache: false, describe: `user '${creds.user}' from ${where}` };
  }

  private async fetch(loc: SecretLocation, props: ConnectProps, where: string): Promise<DbCredentials> {
    const sdk = await loadSecretsManager(CODE);
    const credentials = await awsCredentialsProvider(this.ctx.services, props.options.awsProfile, CODE);
    const client = new sdk.SecretsManagerClient({
      region: loc.region,
      credentials,
      logger: AWS_SDK_LOGGER,
      ...(loc.endpoint !== undefined ? { endpoint: loc.endpoint } : {}),
    });
    let secretString: string | undefined;
    try {
      const out = await client.send(new sdk.GetSecretValueCommand({ SecretId: loc.secretId }));
      secretString = out.SecretString;
    } catch (err) {
      throw authFetchError(`${CODE}: could not fetch ${where}`, err);
    } finally {
      client.destroy();
    }
    return parseSecret(secretString, loc);
  }
}
