/**
 * Lazy loading of the optional packages the authentication and custom endpoint plugins need (the AWS SDK and an
 * HTML parser). They are optional peer dependencies: importing the wrapper never loads them, and naming a plugin
 * whose package is not installed fails with an error that says which package to install. Only the plugins call
 * these loaders.
 */
import { MissingDependencyError, PLUGIN_PACKAGES } from './missing-dependency.js';

function isModuleNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * The package a "cannot find" error is about: the requested one, or the dependency of it that is missing (an
 * incomplete install), as named in Node's message ("Cannot find package 'x'" / "Cannot find module 'x'").
 */
function missingPackage(err: unknown, requested: string): string {
  const m = /Cannot find (?:package|module) '((?:@[^/'\s]+\/)?[^/'\s]+)/.exec(String((err as Error)?.message ?? ''));
  return m?.[1] ?? requested;
}

async function load<T>(packageName: string, feature: string, importer: () => Promise<T>): Promise<T> {
  try {
    return await importer();
  } catch (err) {
    if (isModuleNotFound(err))
      throw new MissingDependencyError(missingPackage(err, packageName), feature, { cause: err });
    throw err;
  }
}

// One function per package with a literal specifier, so bundlers and `npm ls` tools can see what may be loaded.

export type RdsSignerModule = typeof import('@aws-sdk/rds-signer');
export type CredentialProvidersModule = typeof import('@aws-sdk/credential-providers');
export type SecretsManagerModule = typeof import('@aws-sdk/client-secrets-manager');
export type StsModule = typeof import('@aws-sdk/client-sts');
export type RdsModule = typeof import('@aws-sdk/client-rds');

export function loadRdsSigner(feature: string): Promise<RdsSignerModule> {
  return load('@aws-sdk/rds-signer', feature, () => import('@aws-sdk/rds-signer'));
}

export function loadCredentialProviders(feature: string): Promise<CredentialProvidersModule> {
  return load('@aws-sdk/credential-providers', feature, () => import('@aws-sdk/credential-providers'));
}

export function loadSecretsManager(feature: string): Promise<SecretsManagerModule> {
  return load('@aws-sdk/client-secrets-manager', feature, () => import('@aws-sdk/client-secrets-manager'));
}

export function loadSts(feature: string): Promise<StsModule> {
  return load('@aws-sdk/client-sts', feature, () => import('@aws-sdk/client-sts'));
}

export function loadRds(feature: string): Promise<RdsModule> {
  return load('@aws-sdk/client-rds', feature, () => import('@aws-sdk/client-rds'));
}

/**
 * The part of htmlparser2 the SAML page parser uses. Spelled out: the package's own types differ between its CommonJS
 * and ES module builds, and name its dependencies (domhandler …), which a user's type check cannot resolve.
 */
export interface HtmlParserModule {
  Parser: new (
    handler: {
      onopentag?(name: string, attribs: Record<string, string>): void;
      ontext?(text: string): void;
      onclosetag?(name: string): void;
    },
    options?: { decodeEntities?: boolean; lowerCaseTags?: boolean; lowerCaseAttributeNames?: boolean },
  ) => { write(chunk: string): void; end(): void };
}

export function loadHtmlParser(feature: string): Promise<HtmlParserModule> {
  return load('htmlparser2', feature, () => import('htmlparser2'));
}

const LOADERS: Readonly<Record<string, (feature: string) => Promise<unknown>>> = {
  '@aws-sdk/rds-signer': loadRdsSigner,
  '@aws-sdk/credential-providers': loadCredentialProviders,
  '@aws-sdk/client-secrets-manager': loadSecretsManager,
  '@aws-sdk/client-sts': loadSts,
  '@aws-sdk/client-rds': loadRds,
  htmlparser2: loadHtmlParser,
};

/**
 * Loads every package `feature` needs (cached by Node after the first time), so a missing one is reported before
 * any network call, naming the first missing package in the plugin's own order.
 */
export async function ensurePluginPackages(feature: string): Promise<void> {
  for (const pkg of PLUGIN_PACKAGES[feature] ?? []) await LOADERS[pkg](feature);
}
