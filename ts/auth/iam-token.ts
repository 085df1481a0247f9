/**
 * IAM database authentication tokens: which host, port and region a token is signed for, and the token itself (a
 * SigV4-presigned `rds-db:connect` URL without its scheme, made by @aws-sdk/rds-signer, valid for 15 minutes).
 */
import { ConfigurationError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import type { ConnectProps } from '../plugin.js';
import { getRdsRegion, identifyRdsType, RdsUrlType } from '../rds-utils.js';
import type { AwsCredentials, AwsCredentialsProvider } from './aws-credentials.js';
import { loadRds, loadRdsSigner } from './sdk-loader.js';
import { AWS_SDK_LOGGER, awsCredentialsProvider } from './aws-credentials.js';
import type { WrapperServices } from '../services.js';
import { AwsWrapperError } from '../errors.js';

/** How long RDS accepts a token after it was signed (X-Amz-Expires=900, fixed by RDS). */
export const IAM_TOKEN_LIFETIME_MS = 900_000;

/** The endpoint a token is signed for. */
export interface IamTarget {
  readonly hostname: string;
  readonly port: number;
  readonly region: string;
}

/**
 * Host: `iamHost`, else the host connected to. Port: `iamDefaultPort`, else the host's port, else the driver
 * config's port, else the database's default port. Region: `iamRegion`, else the region in the RDS host name.
 * A host name without a region (IP address, custom domain, global endpoint) needs `iamRegion` — and, unless it is
 * the name RDS knows the instance by, `iamHost`.
 */
export function resolveIamTarget(
  host: HostInfo,
  props: ConnectProps,
  defaultPort: number,
  pluginCode: string,
): IamTarget {
  const o = props.options;
  const iamHost = o.iamHost;
  const hostname = iamHost ?? host.host;
  const configPort = Number(props.driver.port);
  const port =
    o.iamDefaultPort ??
    (host.hasPort ? host.port : Number.isInteger(configPort) && configPort > 0 ? configPort : defaultPort);
  const region = o.iamRegion ?? getRdsRegion(hostname);
  if (region === undefined) {
    const type = identifyRdsType(hostname);
    const what =
      type === RdsUrlType.IP_ADDRESS
        ? 'an IP address'
        : type === RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER
          ? 'a global database endpoint, which names no region'
          : 'not an RDS endpoint name';
    const hint =
      iamHost === undefined && type !== RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER
        ? "set 'iamHost' to the RDS instance or cluster endpoint name the token is for (its region is then taken from it), or set 'iamRegion'"
        : "set 'iamRegion'";
    throw new ConfigurationError(
      `${pluginCode}: cannot tell the AWS region of '${hostname}' (${what}); ${hint}`,
      iamHost === undefined ? 'iamHost' : 'iamRegion',
    );
  }
  return { hostname, port, region };
}

/** Services slot: global- endpoint (+ profile, API endpoint) → the region of its global database's writer. */
const GLOBAL_REGIONS = 'iam.global-writer-regions';

/** Who calls DescribeGlobalClusters: the part of the cache key naming them, and their credentials (asked lazily). */
export interface GlobalLookupSigner {
  readonly key: string;
  readonly credentials: AwsCredentialsProvider;
}

/**
 * The region of the writer of the global database behind a `global-` endpoint, from RDS DescribeGlobalClusters
 * (GlobalClusterIdentifier = the endpoint's first label; the writer member's DBClusterArn names its region), signed
 * with `signer`'s credentials (default: the provider chain of `awsProfile`). Cached per services and signer;
 * `refresh` asks again (after a refused token: a global failover may have moved the writer).
 */
export async function globalWriterRegion(
  services: WrapperServices,
  hostname: string,
  props: ConnectProps,
  pluginCode: string,
  refresh: boolean,
  signer?: GlobalLookupSigner,
): Promise<string> {
  const o = props.options;
  const endpoint = o.iamRdsEndpoint;
  const profile = o.awsProfile;
  const cache = services.shared(GLOBAL_REGIONS, () => new Map<string, Promise<string>>());
  const key = `${hostname.toLowerCase()}|${signer?.key ?? `profile:${profile ?? ''}`}|${endpoint ?? ''}`;
  if (refresh) cache.delete(key);
  let pending = cache.get(key);
  if (pending === undefined) {
    pending = (async () => {
      const id = hostname.split('.')[0];
      const sdk = await loadRds(pluginCode);
      const credentials = signer?.credentials ?? (await awsCredentialsProvider(services, profile, pluginCode));
      const client = new sdk.RDSClient({
        credentials,
        logger: AWS_SDK_LOGGER,
        ...(endpoint !== undefined ? { endpoint } : {}),
      });
      try {
        const out = await client.send(new sdk.DescribeGlobalClustersCommand({ GlobalClusterIdentifier: id }), {
          abortSignal: AbortSignal.timeout(10_000),
        });
        const members = out.GlobalClusters?.[0]?.GlobalClusterMembers ?? [];
        const arn = members.find((m) => m.IsWriter === true)?.DBClusterArn;
        const region = arn?.split(':')[3];
        if (!region)
          throw new AwsWrapperError(
            `global database '${id}' has no writer cluster in DescribeGlobalClusters (members: ${members.map((m) => m.DBClusterArn).join(', ') || 'none'})`,
          );
        return region;
      } finally {
        client.destroy();
      }
    })();
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  try {
    return await pending;
  } catch (err) {
    const e = err as Error;
    throw new AwsWrapperError(
      `${pluginCode}: cannot find the region of global database endpoint '${hostname}' with DescribeGlobalClusters (${e.name}: ${e.message}); ` +
        "set 'iamRegion', or give the lookup a region (AWS_REGION) and the permission rds:DescribeGlobalClusters",
      { cause: err },
    );
  }
}

/** Signs a token for `user` at `target` with the given credentials. */
export async function generateIamToken(
  target: IamTarget,
  user: string,
  credentials: AwsCredentials | AwsCredentialsProvider,
  feature: string,
): Promise<string> {
  const { Signer } = await loadRdsSigner(feature);
  const signer = new Signer({
    hostname: target.hostname,
    port: target.port,
    region: target.region,
    username: user,
    credentials,
  });
  return signer.getAuthToken();
}

/** Cache key of a token: one token per plugin, region, host, port and user. */
export function tokenCacheKey(pluginCode: string, target: IamTarget, user: string): string {
  return `${pluginCode}:${target.region}:${target.hostname}:${target.port}:${user}`;
}

/**
 * When a cached token stops being used: `lifetimeMs` (the configured expiration, at most the token's 15 minutes)
 * after signing, less a margin (10 %, at most 30 s) so a token is never presented right at its end.
 */
export function tokenExpiresAt(signedAt: number, configuredMs: number): number {
  const lifetime = Math.min(configuredMs, IAM_TOKEN_LIFETIME_MS);
  return signedAt + lifetime - Math.min(30_000, lifetime / 10);
}
