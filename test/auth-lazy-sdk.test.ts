import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

interface ChildReport {
  afterImport: string[];
  afterPlugins: string[];
  errors: Record<string, { name: string; message: string; code?: string; packageName?: string }>;
}

function runChild(hideSdk: boolean): Promise<ChildReport> {
  const args = [
    '--import',
    'tsx',
    ...(hideSdk ? ['--import', './test/support/aws-hide-sdk.ts'] : []),
    './test/support/aws-lazy-child.ts',
  ];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: root, env: { ...process.env, AWS_ADVANCED_TS_WRAPPER_LOG: '' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`child failed: ${err.message}\n${stderr}`));
        const line = stdout.trim().split('\n').at(-1) ?? '';
        try {
          resolve(JSON.parse(line) as ChildReport);
        } catch {
          reject(new Error(`child printed no report:\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

test('without the AWS SDK: the entry points import without looking it up; each AWS plugin names what to install', async () => {
  const r = await runChild(true);
  // Every lookup of those packages fails in this child, so a static import anywhere would have failed the import.
  assert.equal(r.afterImport, [], 'importing the package resolves no @aws-sdk / @smithy / htmlparser2 module');
  const expected: Record<string, string> = {
    iam: '@aws-sdk/rds-signer',
    aws_secrets_manager: '@aws-sdk/client-secrets-manager',
    federated_auth: '@aws-sdk/rds-signer',
    okta: '@aws-sdk/rds-signer',
    custom_endpoint: '@aws-sdk/client-rds',
  };
  for (const [plugin, pkg] of Object.entries(expected)) {
    const e = r.errors[plugin];
    assert.is(e.name, 'MissingDependencyError', plugin);
    assert.is(e.code, 'WRAPPER_MISSING_DEPENDENCY', plugin);
    assert.is(e.packageName, pkg, plugin);
    assert.match(
      e.message,
      new RegExp(
        `^The '${plugin}' plugin needs the package '${pkg.replace('/', '\\/')}', which is not installed: run 'npm install ${pkg.replace('/', '\\/')}`,
      ),
      plugin,
    );
  }
  assert.match(
    r.errors.okta.message,
    /npm install @aws-sdk\/rds-signer @aws-sdk\/credential-providers @aws-sdk\/client-sts htmlparser2'$/,
  );
});

test('with the SDK installed: the same plugins get past loading (they fail later, on the network)', async () => {
  const r = await runChild(false);
  for (const [plugin, e] of Object.entries(r.errors))
    assert.is.not(e.name, 'MissingDependencyError', `${plugin}: ${e.message}`);
});

test.run();
