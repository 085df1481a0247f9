/**
 * The error for an optional package a feature needs that is not installed. Apart from the loaders (sdk-loader.ts),
 * whose declarations name the optional packages' types: the package's public types reach this module only, so a
 * user without those packages type-checks the package.
 */
import { AwsWrapperError } from '../errors.js';

/** The optional packages each plugin needs (@aws-sdk/rds-signer itself requires credential-providers). */
export const PLUGIN_PACKAGES: Readonly<Record<string, readonly string[]>> = {
  iam: ['@aws-sdk/rds-signer', '@aws-sdk/credential-providers'],
  aws_secrets_manager: ['@aws-sdk/client-secrets-manager', '@aws-sdk/credential-providers'],
  federated_auth: ['@aws-sdk/rds-signer', '@aws-sdk/credential-providers', '@aws-sdk/client-sts', 'htmlparser2'],
  okta: ['@aws-sdk/rds-signer', '@aws-sdk/credential-providers', '@aws-sdk/client-sts', 'htmlparser2'],
  custom_endpoint: ['@aws-sdk/client-rds', '@aws-sdk/credential-providers'],
};

/** An optional package a feature needs is not installed. */
export class MissingDependencyError extends AwsWrapperError {
  /** The npm package that could not be loaded. */
  readonly packageName: string;
  /** Every package the feature needs (the install command names them all). */
  readonly packages: readonly string[];
  constructor(packageName: string, feature: string, options?: { cause?: unknown }) {
    const all = [...new Set([packageName, ...(PLUGIN_PACKAGES[feature] ?? [])])];
    super(
      `The '${feature}' plugin needs the package '${packageName}', which is not installed: run 'npm install ${all.join(' ')}'`,
      {
        ...options,
        code: 'WRAPPER_MISSING_DEPENDENCY',
      },
    );
    this.packageName = packageName;
    this.packages = all;
  }
}
