/**
 * `okta`: IAM database authentication for Okta users (SAML, then STS, then an IAM token); the credentials come from
 * ts/auth/okta-source.ts.
 */
import type { PluginFactory, PluginService } from '../plugin.js';
import { AuthPlugin, authContextOf } from '../auth/auth-plugin.js';
import { CREDENTIAL_SOURCES, credentialSource } from '../auth/credential-sources.js';

export const oktaPluginFactory: PluginFactory = {
  code: 'okta',
  weight: 1000,
  aliases: CREDENTIAL_SOURCES.okta.aliases,
  create: <C>(service: PluginService<C>) =>
    new AuthPlugin<C>(service, credentialSource('okta', authContextOf(service))),
};
