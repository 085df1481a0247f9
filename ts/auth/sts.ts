/** Temporary AWS credentials for a SAML assertion (STS AssumeRoleWithSAML, an unsigned call). */
import { AwsWrapperError } from '../errors.js';
import { AWS_SDK_LOGGER, type AwsCredentials } from './aws-credentials.js';
import { authFetchError } from './auth-plugin.js';
import { loadSts } from './sdk-loader.js';

export interface AssumeRoleWithSamlInput {
  /** Undefined: the SDK's default region (AWS_REGION or the profile's). */
  readonly region: string | undefined;
  readonly roleArn: string;
  readonly principalArn: string;
  readonly assertion: string;
}

/**
 * Calls STS in `region` (the SDK's endpoint resolution applies: `AWS_ENDPOINT_URL_STS` / the shared config's
 * `services` section override it, e.g. for a VPC endpoint).
 */
export async function assumeRoleWithSaml(input: AssumeRoleWithSamlInput, pluginCode: string): Promise<AwsCredentials> {
  const sdk = await loadSts(pluginCode);
  const client = new sdk.STSClient({ ...(input.region ? { region: input.region } : {}), logger: AWS_SDK_LOGGER });
  try {
    const out = await client.send(
      new sdk.AssumeRoleWithSAMLCommand({
        RoleArn: input.roleArn,
        PrincipalArn: input.principalArn,
        SAMLAssertion: input.assertion,
      }),
    );
    const c = out.Credentials;
    if (c?.AccessKeyId === undefined || c.SecretAccessKey === undefined) {
      throw new AwsWrapperError(
        `${pluginCode}: STS AssumeRoleWithSAML for role ${input.roleArn} returned no credentials`,
      );
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
    };
  } catch (err) {
    throw authFetchError(
      `${pluginCode}: STS AssumeRoleWithSAML for role ${input.roleArn} (principal ${input.principalArn}, region ${input.region ?? 'from AWS_REGION or the profile'}) failed`,
      err,
    );
  } finally {
    client.destroy();
  }
}
