// The lookalike's /etc/hosts block (root only, opt-in) is clearly marked, replaced as a whole, and removed
// without touching other lines. Exercised on a copy, not the machine's real /etc/hosts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeHostsBlock, writeHostsBlock } from '../ts/testing/etc-hosts.js';

test('block is added, replaced and removed; other lines stay', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lookalike-hosts-'));
  const file = path.join(dir, 'hosts');
  const original = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n';
  writeFileSync(file, original);
  try {
    await writeHostsBlock(
      'abc123def456',
      [['127.10.0.1', 'instance-1.abc123def456.us-east-1.rds.amazonaws.com']],
      file,
    );
    await writeHostsBlock(
      'zzz999zzz999',
      [['127.20.0.1', 'instance-1.zzz999zzz999.us-east-1.rds.amazonaws.com']],
      file,
    );
    await writeHostsBlock(
      'abc123def456',
      [
        ['127.10.0.1', 'instance-1.abc123def456.us-east-1.rds.amazonaws.com'],
        ['127.10.0.2', 'instance-2.abc123def456.us-east-1.rds.amazonaws.com'],
      ],
      file,
    );
    const text = readFileSync(file, 'utf8');
    assert.ok(text.startsWith(original));
    assert.is(text.match(/# BEGIN aws-advanced-ts-wrapper lookalike cluster abc123def456/g)?.length, 1);
    assert.match(text, /127\.10\.0\.2\tinstance-2\.abc123def456/);
    assert.match(text, /127\.20\.0\.1\tinstance-1\.zzz999zzz999/);
    await removeHostsBlock('abc123def456', file);
    await removeHostsBlock('zzz999zzz999', file);
    assert.is(readFileSync(file, 'utf8'), original);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
