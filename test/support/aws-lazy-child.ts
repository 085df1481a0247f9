/**
 * Child process of auth-lazy-sdk.test.ts: imports the package entry points, reports which optional packages were
 * even looked up, then names each AWS SDK plugin and reports the error of its first connect. Prints one JSON line.
 */
const attempts = (): string[] => [...((globalThis as { __hiddenSdkAttempts?: string[] }).__hiddenSdkAttempts ?? [])];

async function main(): Promise<void> {
  await import('../../ts/index.js');
  const pgEntry = await import('../../ts/pg.js');
  await import('../../ts/mysql.js');
  const afterImport = attempts();

  const pluginConfig: Record<string, Record<string, unknown>> = {
    iam: {},
    aws_secrets_manager: { secretsManagerSecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x' },
    federated_auth: {
      dbUser: 'u',
      idpEndpoint: '127.0.0.1',
      iamRoleArn: 'r',
      iamIdpArn: 'p',
      idpUsername: 'a',
      idpPassword: 'b',
    },
    okta: {
      dbUser: 'u',
      idpEndpoint: '127.0.0.1',
      iamRoleArn: 'r',
      iamIdpArn: 'p',
      idpUsername: 'a',
      idpPassword: 'b',
      appId: 'x',
    },
    custom_endpoint: {
      host: 'reporting.cluster-custom-abcdefghijkl.us-east-1.rds.amazonaws.com',
      customEndpointRdsEndpoint: 'http://127.0.0.1:1',
      waitForCustomEndpointInfoTimeoutMs: 200,
    },
  };
  const errors: Record<string, { name: string; message: string; code?: string; packageName?: string }> = {};
  for (const [plugins, extra] of Object.entries(pluginConfig)) {
    const client = new pgEntry.AwsPGClient({
      host: 'db-1.abcdefghijkl.us-east-1.rds.amazonaws.com',
      port: 1,
      user: 'u',
      database: 'd',
      plugins,
      connectTimeout: 1000,
      ...extra,
    });
    try {
      await client.connect();
      errors[plugins] = { name: 'none', message: 'connected' };
    } catch (err) {
      const e = err as Error & { code?: string; packageName?: string };
      errors[plugins] = { name: e.name, message: e.message, code: e.code, packageName: e.packageName };
    }
    await client.end().catch(() => undefined);
  }
  process.stdout.write(`${JSON.stringify({ afterImport, afterPlugins: attempts(), errors })}\n`);
}

void main();
