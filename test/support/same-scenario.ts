// The drop-in tests' shared step: one scenario run against the raw driver and against ours, results compared.
import * as assert from 'uvu/assert';

/** Runs `scenario` with each maker in turn (the raw driver's first); asserts every result equals the first; returns it. */
export async function sameScenario<M, T>(
  makers: ReadonlyArray<readonly [string, M]>,
  scenario: (make: M, which: string) => Promise<T>,
  what: string,
): Promise<T> {
  const results: T[] = [];
  for (const [which, make] of makers) results.push(await scenario(make, which));
  for (const result of results.slice(1)) assert.equal(result, results[0], what);
  return results[0];
}

/** An error's message (what both drivers are compared on). */
export const message = (e: unknown): string => (e instanceof Error ? e.message : `not an error: ${String(e)}`);

/** 'ok', or the rejection's message. */
export const settle = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: unknown) => message(e),
  );
