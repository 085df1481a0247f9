/**
 * The connect logic shared by the auth plugins (iam, aws_secrets_manager, federated_auth, okta): get credentials
 * for the host from a CredentialSource (cached in WrapperServices), connect with them, and when the server refuses
 * credentials that came from the cache (expired token, rotated secret), fetch new ones once and retry once.
 * Credentials are passed down the pipeline in derived props; the client's own config is never changed.
 */
import { AwsWrapperError } from '../errors.js';
import type { HostInfo } from '../host-info.js';
import { getLogger } from '../logger.js';
import { PIPELINE, type ConnectFn, type ConnectionPlugin, type ConnectProps, type PluginService } from '../plugin.js';
import type { WrapperServices } from '../services.js';
import { ensurePluginPackages } from './sdk-loader.js';

const log = getLogger('auth');

export type DriverName = 'pg' | 'mysql2';

/** What a credential source needs to know about the client it serves. */
export interface AuthContext {
  readonly services: WrapperServices;
  readonly driver: DriverName;
  /** The database's default port (the dialect's), used when neither the host nor the config names one. */
  defaultPort(): number;
}

/** The AuthContext of a client's plugin service. */
export function authContextOf<C>(service: PluginService<C>): AuthContext {
  return {
    services: service.services,
    driver: service.driverDialect.code,
    defaultPort: () => service.dialect.defaultPort,
  };
}

export interface ResolvedCredentials {
  readonly user: string;
  readonly password: string;
  /** True when reused from the cache (a login failure then justifies one fetch and retry). */
  readonly fromCache: boolean;
  /** Where they are for, for messages: `user 'u' at host:port (region r)`. Never contains a secret. */
  readonly describe: string;
}

/** Produces database credentials for a host (an IAM token, a secret's user and password). */
export interface CredentialSource {
  readonly code: string;
  /** 'token': an IAM token (needs TLS, and MySQL's cleartext auth plugin); 'password': a stored password. */
  readonly kind: 'token' | 'password';
  /** Cached credentials unless `refresh`; a fresh fetch replaces the cache entry. */
  resolve(host: HostInfo, props: ConnectProps, refresh: boolean): Promise<ResolvedCredentials>;
}

/** Whether the driver config asks for TLS (pg `ssl`/`sslmode`, mysql2 `ssl`). */
export function usesTls(driver: DriverName, config: Readonly<Record<string, unknown>>): boolean {
  const ssl = config.ssl;
  if (ssl !== undefined && ssl !== null && ssl !== false && ssl !== 'false' && ssl !== '') return true;
  if (driver === 'pg' && typeof config.sslmode === 'string') return config.sslmode !== 'disable';
  return false;
}

/** The props the rest of the pipeline and the driver get: same options, driver config with these credentials. */
export function withCredentials(
  props: ConnectProps,
  driver: DriverName,
  kind: CredentialSource['kind'],
  user: string,
  password: string,
): ConnectProps {
  const config: Record<string, unknown> = { ...props.driver, user, password };
  // RDS MySQL takes IAM tokens through the cleartext auth plugin, which mysql2 ≥ 3.22 only enables on request.
  if (driver === 'mysql2' && kind === 'token' && config.enableCleartextPlugin === undefined)
    config.enableCleartextPlugin = true;
  return { driver: config, options: props.options };
}

/**
 * A failure to obtain credentials (AWS API, identity provider): names what was being fetched and carries the
 * underlying error as cause and its message (AWS error messages carry no credentials). Missing packages and
 * configuration errors pass unchanged.
 */
export function authFetchError(what: string, err: unknown): unknown {
  if (err instanceof AwsWrapperError) return err;
  const e = err as { name?: unknown; message?: unknown } | null;
  const detail =
    e && typeof e.message === 'string' && e.message !== ''
      ? `${typeof e.name === 'string' ? `${e.name}: ` : ''}${e.message}`
      : String(err);
  return new AwsWrapperError(`${what}: ${detail}`, { cause: err });
}

function sqlStateOf(err: unknown): string {
  const e = err as { code?: unknown; sqlState?: unknown };
  if (typeof e.sqlState === 'string') return e.sqlState;
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  return '28000';
}

export class AuthPlugin<C> implements ConnectionPlugin<C> {
  readonly subscribedMethods: ReadonlySet<string> = new Set([PIPELINE.connect, PIPELINE.forceConnect]);
  private readonly tls: boolean;

  constructor(
    private readonly service: PluginService<C>,
    readonly source: CredentialSource,
  ) {
    this.tls = usesTls(service.driverDialect.code, service.props.driver);
    if (source.kind === 'token' && !this.tls) {
      log.warn(
        "%s: this client does not use TLS, but RDS accepts IAM tokens only over TLS connections: set 'ssl' in the driver config (pg: ssl: { ca: <RDS CA bundle> } or sslmode=verify-full; mysql2: ssl: { ca: ... })",
        source.code,
      );
    }
  }

  get code(): string {
    return this.source.code;
  }

  connect(host: HostInfo, props: ConnectProps, _isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.connectWithCredentials(host, props, next);
  }

  forceConnect(host: HostInfo, props: ConnectProps, _isInitial: boolean, next: ConnectFn<C>): Promise<C> {
    return this.connectWithCredentials(host, props, next);
  }

  private isLoginError(err: unknown): boolean {
    // The driver's own classification too: a dialect may count a login SQLSTATE as a network error (multi-az-pg),
    // yet a refused cached credential is still worth one fresh fetch.
    return this.service.isLoginError(err) || this.service.driverDialect.classifyError(err) === 'login';
  }

  private async connectWithCredentials(host: HostInfo, props: ConnectProps, next: ConnectFn<C>): Promise<C> {
    const driver = this.service.driverDialect.code;
    await ensurePluginPackages(this.source.code);
    const first = await this.source.resolve(host, props, false);
    try {
      return await next(withCredentials(props, driver, this.source.kind, first.user, first.password));
    } catch (err) {
      if (!this.isLoginError(err)) throw err;
      if (!first.fromCache) throw this.loginFailure(err, first);
      log.debug(
        '%s: login with cached credentials for %s was refused; fetching new ones and retrying once',
        this.code,
        first.describe,
      );
    }
    const fresh = await this.source.resolve(host, props, true);
    try {
      return await next(withCredentials(props, driver, this.source.kind, fresh.user, fresh.password));
    } catch (err) {
      throw this.isLoginError(err) ? this.loginFailure(err, fresh) : err;
    }
  }

  /**
   * A refused login. Driver errors reach the user unchanged, except when an IAM token was sent without TLS: then
   * the likely cause is said (the driver error is the cause, the SQLSTATE kept as code).
   */
  private loginFailure(err: unknown, creds: ResolvedCredentials): unknown {
    log.debug('%s: login refused for %s', this.code, creds.describe);
    if (this.source.kind !== 'token' || this.tls) return err;
    return new AwsWrapperError(
      `${this.code}: the server refused the IAM token for ${creds.describe}. This connection does not use TLS, and RDS accepts IAM tokens only over TLS: set 'ssl' in the driver config`,
      { cause: err, code: sqlStateOf(err) },
    );
  }
}
