/**
 * AWS credentials for the auth plugins: the SDK's default Node provider chain (environment, shared config and
 * credentials files, SSO, web identity, container and instance metadata), or the chain of one named profile when
 * `awsProfile` is set. One provider per profile lives in WrapperServices; it memoizes the credentials and renews
 * them before they expire, so clients and monitors share it.
 */
import { getLogger } from '../logger.js';
import type { WrapperServices } from '../services.js';
import { authState } from './auth-state.js';
import { loadCredentialProviders } from './sdk-loader.js';

/** AWS credentials, shaped like the SDK's AwsCredentialIdentity (declared here so the SDK stays optional). */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

const sdkLog = getLogger('aws-sdk');

/**
 * An SDK log argument as text. Strings and errors pass; objects (the SDK logs each command's input and output,
 * with its own masking of sensitive fields) are reduced to the client and command names, so no request or response
 * content (secret values, assertions, credentials) can reach a log line.
 */
function sdkArg(a: unknown): string {
  if (typeof a === 'string') return a;
  if (a instanceof Error) return `${a.name}: ${a.message}`;
  if (a !== null && typeof a === 'object') {
    const o = a as { clientName?: unknown; commandName?: unknown };
    if (typeof o.commandName === 'string')
      return `${typeof o.clientName === 'string' ? `${o.clientName}.` : ''}${o.commandName}`;
    return '[object]';
  }
  return String(a);
}

const sdkLine = (args: unknown[]) => args.map(sdkArg).join(' ');

/** The SDK's logger interface, routed to the wrapper's `aws-sdk` namespace (instead of the SDK's console.warn). */
export const AWS_SDK_LOGGER = {
  trace: (...args: unknown[]) => sdkLog.debug('%s', sdkLine(args)),
  debug: (...args: unknown[]) => sdkLog.debug('%s', sdkLine(args)),
  info: (...args: unknown[]) => sdkLog.debug('%s', sdkLine(args)),
  warn: (...args: unknown[]) => sdkLog.warn('%s', sdkLine(args)),
  error: (...args: unknown[]) => sdkLog.error('%s', sdkLine(args)),
};

/** The credentials provider for `profile` (undefined = the default chain), created once per WrapperServices. */
export async function awsCredentialsProvider(
  services: WrapperServices,
  profile: string | undefined,
  feature: string,
): Promise<AwsCredentialsProvider> {
  const key = profile ?? '';
  const known = authState(services).credentialProviders.get(key);
  if (known !== undefined) return known as AwsCredentialsProvider;
  const { fromNodeProviderChain } = await loadCredentialProviders(feature);
  const existing = authState(services).credentialProviders.get(key); // another caller may have finished first
  if (existing !== undefined) return existing as AwsCredentialsProvider;
  const provider: AwsCredentialsProvider = fromNodeProviderChain(
    profile === undefined ? { logger: AWS_SDK_LOGGER } : { profile, logger: AWS_SDK_LOGGER },
  );
  authState(services).credentialProviders.set(key, provider);
  return provider;
}
