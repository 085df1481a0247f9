// The gdb_failover modes and where each lets a client end after a global failover, for the PG and MySQL global
// database tests (both fail the writer over to instance-101 in the other region).

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
export function allowed(mode: Mode, home: string, who: { reader: boolean; region: string; name: string }): boolean {
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
