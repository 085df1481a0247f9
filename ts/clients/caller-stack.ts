/**
 * The caller's frames on a failed promise call, as mysql2's promise API gives them (its `trace` option, on by
 * default): the stack is captured when the call is made and put on the error when the call fails, so an error from
 * a statement that went through asynchronous plugins still names the function that issued it.
 */
export interface CallerStack {
  stack?: string;
}

/** Captures the stack above `entry` (the public method the caller called). */
export function captureCallerStack(entry: (...args: never[]) => unknown): CallerStack {
  const holder: CallerStack = {};
  Error.captureStackTrace(holder, entry);
  return holder;
}

/** Replaces the error's frames with the captured ones, keeping the error object and its fields. */
export function applyCallerStack(err: unknown, holder: CallerStack | undefined): void {
  const stack = holder?.stack;
  if (typeof stack !== 'string' || !(err instanceof Error)) return;
  const lines = stack.split('\n');
  lines[0] = `${err.name}: ${err.message}`;
  err.stack = lines.join('\n');
}

/** `promise`, with the caller's frames on its rejection when `holder` is set. */
export function withCallerStack<T>(promise: Promise<T>, holder: CallerStack | undefined): Promise<T> {
  if (holder === undefined) return promise;
  return promise.catch((err: unknown) => {
    applyCallerStack(err, holder);
    throw err;
  });
}
