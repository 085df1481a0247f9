/**
 * `releaseResources()`: stops everything the wrapper runs in the background — the shared services' monitors and
 * caches, then the native runtime, joining every native thread within a bounded time. Idempotent, and safe to call
 * when nothing was started (it loads nothing). Clients created afterwards start fresh; clients still open keep working
 * and start the monitors they need again at their next call.
 */
import { releaseResources as releaseNative, DEFAULT_RELEASE_TIMEOUT_MS } from './native/index.js';
import { resetSharedServices } from './services.js';

export async function releaseResources(timeoutMs: number = DEFAULT_RELEASE_TIMEOUT_MS): Promise<void> {
  await resetSharedServices();
  await releaseNative(timeoutMs);
}
