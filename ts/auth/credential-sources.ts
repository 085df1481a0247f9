/**
 * The credential sources of the auth plugins, by plugin code: the one table both the plugins (ts/plugins/iam.ts,
 * aws-secrets-manager.ts, federated-auth.ts, okta.ts) and the monitors' credentials (monitor-credentials.ts) take
 * their source from, so a monitor logs in the way its client does.
 */
import type { AuthContext, CredentialSource } from './auth-plugin.js';
import { AdfsTokenSource } from './adfs-source.js';
import { IamCredentialSource } from './iam-source.js';
import { OktaTokenSource } from './okta-source.js';
import { SecretsManagerCredentialSource } from './secrets-manager-source.js';

export interface CredentialSourceEntry {
  /** Other spellings of the plugin code accepted in the `plugins` option (the Node peer's camelCase codes). */
  readonly aliases: readonly string[];
  create(ctx: AuthContext): CredentialSource;
}

export const CREDENTIAL_SOURCES = {
  iam: { aliases: [], create: (ctx) => new IamCredentialSource(ctx) },
  aws_secrets_manager: { aliases: ['secretsManager'], create: (ctx) => new SecretsManagerCredentialSource(ctx) },
  federated_auth: { aliases: ['federatedAuth'], create: (ctx) => new AdfsTokenSource(ctx) },
  okta: { aliases: [], create: (ctx) => new OktaTokenSource(ctx) },
} as const satisfies Readonly<Record<string, CredentialSourceEntry>>;

export type AuthPluginCode = keyof typeof CREDENTIAL_SOURCES;

const BY_NAME = new Map<string, AuthPluginCode>();
for (const [code, entry] of Object.entries(CREDENTIAL_SOURCES) as [AuthPluginCode, CredentialSourceEntry][]) {
  BY_NAME.set(code, code);
  for (const alias of entry.aliases) BY_NAME.set(alias, code);
}

/** The auth plugin code `name` (a code or an alias, as in the `plugins` option) stands for, if it names one. */
export function authPluginCodeOf(name: string): AuthPluginCode | undefined {
  return BY_NAME.get(name.trim());
}

/** The credential source of the auth plugin `code` for one client (or monitor). */
export function credentialSource(code: AuthPluginCode, ctx: AuthContext): CredentialSource {
  return CREDENTIAL_SOURCES[code].create(ctx);
}
