/**
 * Where this compiled module lives, in both builds (CommonJS has `__filename`; the ES module build has no
 * `import.meta` in source that also compiles to CommonJS, so it reads the file from a stack frame). The
 * lookalike needs it to start its supervisor process and to resolve optional packages next to the wrapper.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __filename: string | undefined;

export function thisModuleFile(): string {
  if (typeof __filename === 'string') return __filename;
  const stack = new Error().stack ?? '';
  const m = /(file:\/\/[^\s)]+?):\d+:\d+/.exec(stack) ?? /\(?(\/[^\s()]+?):\d+:\d+\)?/.exec(stack);
  if (!m?.[1]) throw new Error('cannot locate the aws-advanced-ts-wrapper testing module on disk');
  return m[1].startsWith('file:') ? fileURLToPath(m[1]) : m[1];
}

export function testingDir(): string {
  return path.dirname(thisModuleFile());
}

/** require.resolve from the wrapper's own location, falling back to the working directory. */
export function resolveFromWrapper(specifier: string): string {
  const bases = [thisModuleFile(), path.join(process.cwd(), 'noop.js')];
  let last: unknown;
  for (const base of bases) {
    try {
      return createRequire(base).resolve(specifier);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
