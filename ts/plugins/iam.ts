/**
 * `iam`: IAM database authentication. The password is an IAM token signed with the AWS credentials of the default
 * provider chain (or of `awsProfile`); the credentials come from ts/auth/iam-source.ts.
 */
import type { PluginFactory, PluginService } from '../plugin.js';
import { AuthPlugin, authContextOf } from '../auth/auth-plugin.js';
import { CREDENTIAL_SOURCES, credentialSource } from '../auth/credential-sources.js';

export const iamPluginFactory: PluginFactory = {
  code: 'iam',
  weight: 700,
  aliases: CREDENTIAL_SOURCES.iam.aliases,
  create: <C>(service: PluginService<C>) => new AuthPlugin<C>(service, credentialSource('iam', authContextOf(service))),
};
