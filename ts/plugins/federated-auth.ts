/**
 * `federated_auth`: IAM database authentication for users of a corporate ADFS (SAML, then STS, then an IAM token);
 * the credentials come from ts/auth/adfs-source.ts.
 */
import type { PluginFactory, PluginService } from '../plugin.js';
import { AuthPlugin, authContextOf } from '../auth/auth-plugin.js';
import { CREDENTIAL_SOURCES, credentialSource } from '../auth/credential-sources.js';

export const federatedAuthPluginFactory: PluginFactory = {
  code: 'federated_auth',
  weight: 900,
  aliases: CREDENTIAL_SOURCES.federated_auth.aliases,
  create: <C>(service: PluginService<C>) =>
    new AuthPlugin<C>(service, credentialSource('federated_auth', authContextOf(service))),
};
