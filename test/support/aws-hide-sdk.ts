/**
 * Preload (`node --import tsx --import ./test/support/aws-hide-sdk.ts …`) that makes the optional packages look
 * uninstalled: resolving `@aws-sdk/*`, `@smithy/*` or `htmlparser2` fails with Node's own "not found" error, both
 * through require() and through import(). Every attempt is recorded in `globalThis.__hiddenSdkAttempts`.
 */
import Module, { register } from 'node:module';

const HIDDEN = /^(@aws-sdk\/|@smithy\/|htmlparser2(\/|$))/;
const attempts: string[] = [];
(globalThis as { __hiddenSdkAttempts?: string[] }).__hiddenSdkAttempts = attempts;

type Resolve = (request: string, ...rest: unknown[]) => string;
const M = Module as unknown as { _resolveFilename: Resolve };
const original = M._resolveFilename;
M._resolveFilename = function (request: string, ...rest: unknown[]): string {
  if (HIDDEN.test(request)) {
    attempts.push(request);
    const err = new Error(`Cannot find module '${request}'`) as Error & { code: string };
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return original.call(this, request, ...rest);
};

// ESM resolution runs in the hooks thread: a resolve hook that fails the same way (attempts reported by message).
const hooks = `
export async function resolve(specifier, context, next) {
  if (${HIDDEN}.test(specifier)) {
    const err = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
