// Shared by the PG and MySQL Global Database tests: the two regions, the clients a test opens (ended with their
// services after each test), the gdb_failover modes and where each lets a client end after a global failover.
import * as assert from 'uvu/assert';
import { FailoverSuccessError } from '../../ts/errors.js';
import { WrapperServices } from '../../ts/services.js';

export const A = 'us-east-1';
export const B = 'us-west-2';

/** The region of a lookalike instance of a two-region global database (instance-1xx: the second region). */
export function regionOf(name: string): string {
  return /^instance-1\d\d$/.test(name) ? B : A;
}

interface Client {
  connect(): Promise<unknown>;
  end(): Promise<unknown>;
}

/** Clients on the global database, each with its own services unless given one. */
export class GlobalDbClients<C extends Client> {
  private readonly clients: C[] = [];
  private readonly services: WrapperServices[] = [];

  constructor(private readonly create: (endpoint: string, options: Record<string, unknown>, s: WrapperServices) => C) {}

  newServices(): WrapperServices {
    const s = new WrapperServices();
    this.services.push(s);
    return s;
  }

  client(endpoint: string, options: Record<string, unknown>, s = this.newServices()): C {
    const c = this.create(endpoint, { connectTimeout: 3000, ...options }, s);
    this.clients.push(c);
    return c;
  }

  async connected(endpoint: string, options: Record<string, unknown>, s?: WrapperServices): Promise<C> {
    const c = this.client(endpoint, options, s);
    await c.connect();
    return c;
  }

  async endAll(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.end().catch(() => {})));
    for (const s of this.services.splice(0)) await s.close();
  }
}

export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

export const MODES = [
  'strict-writer',
  'strict-home-reader',
  'strict-out-of-home-reader',
  'strict-any-reader',
  'home-reader-or-writer',
  'out-of-home-reader-or-writer',
  'any-reader-or-writer',
] as const;
export type Mode = (typeof MODES)[number];

/** Where a client may end after a failover in `mode` (new writer: instance-101). */
export function allowed(mode: Mode, home: string, who: Who): boolean {
  const homeReader = who.reader && who.region === home;
  const awayReader = who.reader && who.region !== home;
  const writer = !who.reader && who.name === 'instance-101';
  switch (mode) {
    case 'strict-writer':
      return writer;
    case 'strict-home-reader':
      return homeReader;
    case 'strict-out-of-home-reader':
      return awayReader;
    case 'strict-any-reader':
      return who.reader;
    case 'home-reader-or-writer':
      return homeReader || writer;
    case 'out-of-home-reader-or-writer':
      return awayReader || writer;
    case 'any-reader-or-writer':
      return who.reader || writer;
  }
}

export interface Who {
  name: string;
  reader: boolean;
  region: string;
}

/**
 * After a global failover to instance-101: every client was told FailoverSuccessError and ended where its mode
 * allows. A client that found an instance of the old primary region before that region was rebuilt loses it again
 * (as on Aurora, whose old primary region restarts): it fails over once more, by the same rules.
 */
export async function assertFailoverOutcomes<C>(
  cases: readonly { mode: Mode; home: string; c: C }[],
  errors: readonly unknown[],
  whoami: (c: C) => Promise<Who>,
): Promise<void> {
  for (const [i, { mode, home, c }] of cases.entries()) {
    assert.instance(errors[i], FailoverSuccessError, `${mode} / home ${home}: ${String(errors[i])}`);
    const who = await whoami(c).catch(async (err: unknown) => {
      assert.instance(err, FailoverSuccessError);
      return whoami(c);
    });
    assert.ok(
      allowed(mode, home, who),
      `${mode} with home ${home} (${home === B ? 'active' : 'inactive'}) ended on ${who.name} (${who.region}, ${who.reader ? 'reader' : 'writer'})`,
    );
  }
}
