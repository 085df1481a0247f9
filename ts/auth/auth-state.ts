/**
 * Process-wide state of the authentication plugins, a slot of the WrapperServices (never in module variables): cached
 * IAM tokens and secrets with their expiry, fetches in flight (so clients connecting at once share one AWS call),
 * and the AWS credential providers per profile (each memoizes and refreshes its own credentials).
 */
import type { WrapperServices } from '../services.js';

interface Entry<V> {
  readonly value: V;
  /** Epoch ms after which the entry is not used any more. */
  readonly expiresAt: number;
}

/** A map whose entries expire; expired entries are dropped when read. */
export class ExpiringCache<V> {
  private readonly entries = new Map<string, Entry<V>>();

  get(key: string, now = Date.now()): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (now >= e.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    this.entries.set(key, { value, expiresAt });
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  /** Entries not expired yet. */
  get size(): number {
    const now = Date.now();
    let n = 0;
    for (const e of this.entries.values()) if (now < e.expiresAt) n++;
    return n;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Database credentials from a secret (or any other source): what the driver gets as user and password. */
export interface DbCredentials {
  readonly user: string;
  readonly password: string;
}

/** Temporary AWS credentials (the shape of the SDK's AwsCredentialIdentity). */
export interface RoleCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export class AuthState {
  /** IAM auth tokens (iam, federated_auth, okta) by `<plugin>:<region>:<host>:<port>:<user>`. */
  readonly tokens = new ExpiringCache<string>();
  /** Secrets Manager credentials by `<secretId>|<region>|<endpoint>|<userKey>|<passwordKey>`. */
  readonly secrets = new ExpiringCache<DbCredentials>();
  /** Temporary role credentials from STS AssumeRoleWithSAML (federated_auth, okta) by identity and role. */
  readonly roleCredentials = new ExpiringCache<RoleCredentials>();
  /** Fetches in flight by cache key: concurrent connects wait for the same fetch instead of starting their own. */
  readonly inFlight = new Map<string, Promise<unknown>>();
  /** AWS credential providers by profile name ('' = default chain); typed where used (the SDK is optional). */
  readonly credentialProviders = new Map<string, unknown>();

  /** Runs `fetch` once per key at a time; callers arriving while it runs get the same promise. */
  dedupe<T>(key: string, fetch: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running !== undefined) return running as Promise<T>;
    const p = fetch().finally(() => {
      if (this.inFlight.get(key) === p) this.inFlight.delete(key);
    });
    this.inFlight.set(key, p);
    return p;
  }

  clear(): void {
    this.tokens.clear();
    this.secrets.clear();
    this.roleCredentials.clear();
    this.inFlight.clear();
    this.credentialProviders.clear();
  }
}

/** The auth state of `services` (tokens, secrets and providers are forgotten when the services close). */
export function authState(services: WrapperServices): AuthState {
  return services.shared('auth:state', () => new AuthState());
}
