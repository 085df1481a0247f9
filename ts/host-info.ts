/** Role of a database instance in a cluster. */
export enum HostRole {
  WRITER = 'writer',
  READER = 'reader',
  UNKNOWN = 'unknown',
}

/** Whether the wrapper currently considers a host usable for new connections. */
export enum HostAvailability {
  AVAILABLE = 'available',
  UNAVAILABLE = 'unavailable',
}

export interface HostInfoInit {
  host: string;
  /** -1 when no port is known (the dialect's default port applies). */
  port?: number;
  role?: HostRole;
  availability?: HostAvailability;
  weight?: number;
  /** Instance identifier as reported by the topology (e.g. `instance-1`). */
  hostId?: string;
  lastUpdateTime?: Date;
}

/** One database instance (or endpoint) the wrapper may connect to. Immutable except for its aliases. */
export class HostInfo {
  readonly host: string;
  readonly port: number;
  readonly role: HostRole;
  readonly availability: HostAvailability;
  readonly weight: number;
  readonly hostId: string | undefined;
  readonly lastUpdateTime: Date | undefined;
  /** Other names of the same instance (`host:port` strings), filled by alias queries. */
  readonly aliases = new Set<string>();

  constructor(init: HostInfoInit) {
    this.host = init.host;
    this.port = init.port ?? -1;
    this.role = init.role ?? HostRole.WRITER;
    this.availability = init.availability ?? HostAvailability.AVAILABLE;
    this.weight = init.weight ?? 100;
    this.hostId = init.hostId;
    this.lastUpdateTime = init.lastUpdateTime;
  }

  get hasPort(): boolean {
    return this.port > 0;
  }

  /** `host:port` (or `host` without a port); IPv6 hosts are bracketed. */
  get hostAndPort(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return this.hasPort ? `${h}:${this.port}` : h;
  }

  /** `host[:port]/` — the key used for host-list change detection, as in the Python wrapper. */
  get url(): string {
    return `${this.hostAndPort}/`;
  }

  /** Every name this host is known by, always including `host[:port]`. */
  get allAliases(): Set<string> {
    const all = new Set<string>([this.hostAndPort]);
    for (const a of this.aliases) all.add(a);
    return all;
  }

  with(changes: Partial<HostInfoInit>): HostInfo {
    const copy = new HostInfo({
      host: changes.host ?? this.host,
      port: changes.port ?? this.port,
      role: changes.role ?? this.role,
      availability: changes.availability ?? this.availability,
      weight: changes.weight ?? this.weight,
      hostId: 'hostId' in changes ? changes.hostId : this.hostId,
      lastUpdateTime: 'lastUpdateTime' in changes ? changes.lastUpdateTime : this.lastUpdateTime,
    });
    for (const a of this.aliases) copy.aliases.add(a);
    return copy;
  }

  /** Equality as in the Python wrapper: host, port, availability and role. */
  equals(other: HostInfo): boolean {
    return (
      this.host === other.host &&
      this.port === other.port &&
      this.availability === other.availability &&
      this.role === other.role
    );
  }

  toString(): string {
    return `HostInfo(${this.hostAndPort}, ${this.role}, ${this.availability}${this.hostId ? `, id=${this.hostId}` : ''})`;
  }
}

/** Changes reported to plugins through notifyHostListChanged, keyed by host url. */
export enum HostChange {
  HOST_ADDED = 'HOST_ADDED',
  HOST_DELETED = 'HOST_DELETED',
  URL_CHANGED = 'URL_CHANGED',
  CONVERTED_TO_WRITER = 'CONVERTED_TO_WRITER',
  CONVERTED_TO_READER = 'CONVERTED_TO_READER',
  WENT_UP = 'WENT_UP',
  WENT_DOWN = 'WENT_DOWN',
  HOST_CHANGED = 'HOST_CHANGED',
}

/** Diffs two host lists by url, as the Python wrapper's plugin service does. */
export function diffHostLists(
  oldHosts: readonly HostInfo[],
  newHosts: readonly HostInfo[],
): Map<string, Set<HostChange>> {
  const changes = new Map<string, Set<HostChange>>();
  const add = (url: string, c: HostChange) => {
    let set = changes.get(url);
    if (!set) changes.set(url, (set = new Set()));
    set.add(c);
  };
  const oldByUrl = new Map(oldHosts.map((h) => [h.url, h]));
  const newByUrl = new Map(newHosts.map((h) => [h.url, h]));
  for (const [url, o] of oldByUrl) {
    const n = newByUrl.get(url);
    if (!n) {
      add(url, HostChange.HOST_DELETED);
      continue;
    }
    if (o.role !== n.role)
      add(url, n.role === HostRole.WRITER ? HostChange.CONVERTED_TO_WRITER : HostChange.CONVERTED_TO_READER);
    if (o.availability !== n.availability)
      add(url, n.availability === HostAvailability.AVAILABLE ? HostChange.WENT_UP : HostChange.WENT_DOWN);
    if (changes.has(url)) add(url, HostChange.HOST_CHANGED);
  }
  for (const url of newByUrl.keys()) if (!oldByUrl.has(url)) add(url, HostChange.HOST_ADDED);
  return changes;
}

/**
 * The hosts a plugin restricts a client to (the custom endpoint plugin: its members), by host id (the instance
 * name). Applied to every host list plugins see, so to every host choice.
 */
export interface AllowedAndBlockedHosts {
  /** When set, only hosts with these ids. */
  readonly allowed?: ReadonlySet<string>;
  /** Never hosts with these ids. */
  readonly blocked?: ReadonlySet<string>;
}

/** Whether `host` passes `filter`; a host without an id is known by the first label of its name. */
export function isAllowed(filter: AllowedAndBlockedHosts, host: HostInfo): boolean {
  const id = host.hostId ?? host.host.split('.')[0];
  return (filter.allowed === undefined || filter.allowed.has(id)) && filter.blocked?.has(id) !== true;
}
