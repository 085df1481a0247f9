/**
 * Where this compiled module lives, in both builds: `__filename` in CommonJS (and under tsx), `import.meta.url` in
 * the ES module build. Never a stack trace: with source maps on (tsx, --enable-source-maps) it names the .ts
 * sources, which the package does not ship. The lookalike needs it to start its supervisor process and to resolve
 * optional packages next to the wrapper.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __filename: string | undefined;
// scripts/build-ts.mjs sets this to `import.meta.url` in the ES module build (the source also compiles to
// CommonJS, where `import.meta` is a syntax error).
const importMetaUrl = undefined as string | undefined;

export function thisModuleFile(): string {
  if (typeof __filename === 'string') return __filename;
  if (importMetaUrl === undefined) throw new Error('cannot locate the aws-advanced-ts-wrapper testing module on disk');
  return fileURLToPath(importMetaUrl);
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
