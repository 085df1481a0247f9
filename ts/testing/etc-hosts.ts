/**
 * Optional /etc/hosts block (root only) so unmodified programs resolve the lookalike's RDS-shaped names. The block
 * is clearly marked with the cluster id and removed on `down`.
 */
import { promises as fs } from 'node:fs';

const HOSTS_FILE = '/etc/hosts';

function markers(clusterId: string): [string, string] {
  return [
    `# BEGIN aws-advanced-ts-wrapper lookalike cluster ${clusterId} (removed by 'cluster down')`,
    `# END aws-advanced-ts-wrapper lookalike cluster ${clusterId}`,
  ];
}

/**
 * Rewrites `file` in place (not by rename: /etc/hosts is often a bind mount in containers) without the empty moment
 * of a truncating write, when every name lookup on the machine would fail: the new text goes over the old in one
 * write, padded with blank lines to the old length, then the file is cut to the new length.
 */
async function rewrite(file: string, text: string): Promise<void> {
  const h = await fs.open(file, 'r+');
  try {
    const { size } = await h.stat();
    const data = Buffer.from(text, 'utf8');
    const padded = data.length < size ? Buffer.concat([data, Buffer.alloc(size - data.length, '\n')]) : data;
    await h.write(padded, 0, padded.length, 0);
    await h.truncate(data.length);
  } finally {
    await h.close();
  }
}

function without(text: string, clusterId: string): string {
  const [begin, end] = markers(clusterId);
  const lines = text.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    if (line === begin) inside = true;
    else if (line === end) inside = false;
    else if (!inside) out.push(line);
  }
  return out.join('\n');
}

/** Replaces the cluster's block with `entries` ([address, name] pairs). */
export async function writeHostsBlock(
  clusterId: string,
  entries: readonly (readonly [string, string])[],
  file = HOSTS_FILE,
): Promise<void> {
  const [begin, end] = markers(clusterId);
  const current = await fs.readFile(file, 'utf8');
  let base = without(current, clusterId);
  if (!base.endsWith('\n')) base += '\n';
  const block = [begin, ...entries.map(([addr, name]) => `${addr}\t${name}`), end].join('\n');
  await rewrite(file, `${base}${block}\n`);
}

export async function removeHostsBlock(clusterId: string, file = HOSTS_FILE): Promise<void> {
  let current: string;
  try {
    current = await fs.readFile(file, 'utf8');
  } catch {
    return;
  }
  const next = without(current, clusterId);
  if (next !== current) await rewrite(file, next.endsWith('\n') ? next : `${next}\n`);
}
