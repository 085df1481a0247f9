/**
 * `aws_secrets_manager`: database user and password from an AWS Secrets Manager secret; the credentials come from
 * ts/auth/secrets-manager-source.ts.
 */
import type { PluginFactory, PluginService } from '../plugin.js';
import { AuthPlugin, authContextOf } from '../auth/auth-plugin.js';
import { CREDENTIAL_SOURCES, credentialSource } from '../auth/credential-sources.js';

export const awsSecretsManagerPluginFactory: PluginFactory = {
  code: 'aws_secrets_manager',
  weight: 800,
  aliases: CREDENTIAL_SOURCES.aws_secrets_manager.aliases,
  create: <C>(service: PluginService<C>) =>
    new AuthPlugin<C>(service, credentialSource('aws_secrets_manager', authContextOf(service))),
};
