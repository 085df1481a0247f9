/**
 * `federated_auth`: IAM database authentication for users of a corporate ADFS. The IdP sign-in
 * yields a SAML assertion, STS turns it into temporary role credentials, and those sign the IAM token for
 * `dbUser`. Tokens and role credentials are cached in WrapperServices; a refused cached token starts over once.
 */
import type { ConnectProps, PluginFactory, PluginService } from '../plugin.js';
import { AuthPlugin, authContextOf } from '../auth/auth-plugin.js';
import { adfsSamlAssertion } from '../auth/saml.js';
import { SamlTokenSource, type SamlCommon } from '../auth/saml-token-source.js';

const CODE = 'federated_auth';

export class AdfsTokenSource extends SamlTokenSource {
  readonly code = CODE;
  protected readonly idpName = 'ADFS';

  protected fetchAssertion(common: SamlCommon, props: ConnectProps): Promise<string> {
    // idpName accepts only 'adfs' (checked by the options parser).
    return adfsSamlAssertion(
      {
        endpoint: common.idpEndpoint,
        port: props.options.idpPort,
        relyingPartyId: props.options.rpIdentifier,
        credentials: common.credentials,
        timeoutMs: common.timeoutMs,
        verifyTls: common.verifyTls,
      },
      CODE,
    );
  }
}

export const federatedAuthPluginFactory: PluginFactory = {
  code: CODE,
  weight: 900,
  aliases: ['federatedAuth'],
  create: <C>(service: PluginService<C>) => new AuthPlugin<C>(service, new AdfsTokenSource(authContextOf(service))),
};
