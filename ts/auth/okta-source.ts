/**
 * Credentials of the `okta` plugin: IAM database authentication for Okta users: Okta authn session token → the Amazon AWS
 * app's SAML assertion → STS temporary role credentials → IAM token for `dbUser`. Cached like federated_auth.
 */
import { ConfigurationError } from '../errors.js';
import type { ConnectProps } from '../plugin.js';
import { oktaSamlAssertion } from './saml.js';
import { SamlTokenSource, type SamlCommon } from './saml-token-source.js';

const CODE = 'okta';

export class OktaTokenSource extends SamlTokenSource {
  readonly code = CODE;
  protected readonly idpName = 'Okta';

  protected fetchAssertion(common: SamlCommon, props: ConnectProps): Promise<string> {
    const appId = props.options.appId;
    if (appId === undefined || appId.trim() === '') {
      throw new ConfigurationError(
        `${CODE}: 'appId' is required: the ID of the Amazon Web Services app in Okta`,
        'appId',
      );
    }
    return oktaSamlAssertion(
      {
        endpoint: common.idpEndpoint,
        appId,
        credentials: common.credentials,
        timeoutMs: common.timeoutMs,
        verifyTls: common.verifyTls,
      },
      CODE,
    );
  }
}
