import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConnectProps } from '../ts/options.js';
import type { PluginService } from '../ts/plugin.js';
import { sharedInternalPools } from '../ts/plugins/rw-common.js';
import { WrapperServices } from '../ts/services.js';

/** What sharedInternalPools reads of a client's plugin service. */
function serviceOf(services: WrapperServices, config: Record<string, unknown>): PluginService<unknown> {
  const { options } = parseConnectProps('pg', { host: 'db.example.com', internalConnectionPool: true, ...config });
  return { services, options } as PluginService<unknown>;
}

test('internalConnectionPool: clients that size the pools alike share them; other sizes get their own', async () => {
  const services = new WrapperServices();
  const a = sharedInternalPools(serviceOf(services, {}));
  const b = sharedInternalPools(serviceOf(services, { internalPoolMaxPerHost: 10 }));
  const small = sharedInternalPools(serviceOf(services, { internalPoolMaxPerHost: 2 }));
  const quick = sharedInternalPools(serviceOf(services, { internalPoolAcquireTimeoutMs: 500 }));
  assert.is(b, a, 'the default sizing, spelled out, is the same sizing');
  assert.is.not(small, a, "a smaller pool is not the first client's pool");
  assert.is.not(quick, a);
  assert.is(sharedInternalPools(serviceOf(new WrapperServices(), {})) === a, false, 'per services');
  await services.close();
  assert.ok(a.isEnded && small.isEnded && quick.isEnded, 'all ended with the services');
  assert.is.not(sharedInternalPools(serviceOf(services, {})), a, 'new pools after the services closed');
  await services.close();
});

test.run();
