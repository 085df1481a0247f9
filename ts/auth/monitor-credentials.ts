/**
 * Credentials for monitoring connections opened outside the connect pipeline — the native monitors ask
 * TypeScript for connection parameters each time they open a connection (ts/native setParamsProvider). This runs
 * the same credential logic as the client's auth plugin (iam, aws_secrets_manager, federated_auth, okta) with the
 * same WrapperServices cache: a monitor gets the cached token while it is valid and a fresh one once it expired,
 * and, after its login was refused, new credentials (a rotated secret) with `refresh`.
 *
 * Monitors that connect from JavaScript should use the plugin service's forceConnect, which goes through the auth
 * plugins already.
 */
import { HostInfo } from '../host-info.js';
import type { ConnectProps } from '../plugin.js';
import type { WrapperServices } from '../services.js';
import type { DriverName } from './auth-plugin.js';
import { authPluginCodeOf, credentialSource, type AuthPluginCode } from './credential-sources.js';
import { ensurePluginPackages } from './sdk-loader.js';

const DEFAULT_PORTS: Readonly<Record<DriverName, number>> = { pg: 5432, mysql2: 3306 };

export interface MonitorCredentialsRequest {
  readonly services: WrapperServices;
  /** Connect props of the client the monitor serves (or its monitoring props). */
  readonly props: ConnectProps;
  readonly driver: DriverName;
  /** The host the monitor connects to (its RDS name, before hostAddressMap). */
  readonly host: string;
  readonly port: number;
  /** Plugin codes of that client; default: the `plugins` option. */
  readonly plugins?: readonly string[];
  /** The database's default port; default 5432 / 3306 by driver. */
  readonly defaultPort?: number;
  /** The monitor's last login was refused: fetch new credentials instead of reusing cached ones. */
  readonly refresh?: boolean;
}

export interface MonitorCredentials {
  readonly user?: string;
  readonly password?: string;
}

/** The auth plugin code among `plugins` (codes or their aliases), if any. */
export function authPluginCode(plugins: readonly string[] | undefined): AuthPluginCode | undefined {
  for (const name of plugins ?? []) {
    const code = authPluginCodeOf(name);
    if (code !== undefined) return code;
  }
  return undefined;
}

/**
 * User and password a monitor should log in with to `host:port`: from the client's auth plugin when it has one,
 * else the driver config's own `user` / `password`.
 */
export async function resolveMonitorCredentials(req: MonitorCredentialsRequest): Promise<MonitorCredentials> {
  const code = authPluginCode(req.plugins ?? req.props.options.plugins);
  if (code === undefined) {
    const { user, password } = req.props.driver;
    return { ...(typeof user === 'string' ? { user } : {}), ...(typeof password === 'string' ? { password } : {}) };
  }
  await ensurePluginPackages(code);
  const defaultPort = req.defaultPort ?? DEFAULT_PORTS[req.driver];
  const source = credentialSource(code, { services: req.services, driver: req.driver, defaultPort: () => defaultPort });
  const c = await source.resolve(new HostInfo({ host: req.host, port: req.port }), req.props, req.refresh ?? false);
  return { user: c.user, password: c.password };
}
