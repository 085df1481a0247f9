import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WrapperServices } from '../ts/services.js';

test('shared(): one value per key, made on first use, disposed once in reverse order on close', async () => {
  const services = new WrapperServices();
  const disposed: string[] = [];
  let made = 0;
  const make = (name: string) => () => {
    made++;
    return { name };
  };
  const a = services.shared('a', make('a'), (v) => void disposed.push(v.name));
  assert.is(services.shared('a', make('other'), () => void disposed.push('never')), a);
  const b = services.shared('b', make('b'), async (v) => void disposed.push(v.name));
  assert.is(made, 2);
  assert.is(services.peek('b'), b);
  assert.is(services.peek('missing'), undefined);
  services.acquire();
  await services.release();
  assert.equal(disposed, ['b', 'a']);
  assert.is(services.peek('a'), undefined);
  await services.close();
  assert.equal(disposed, ['b', 'a']);
  assert.is.not(services.shared('a', make('a2')), a);
});

test('shared(): a failing dispose does not stop the others', async () => {
  const services = new WrapperServices();
  let disposed = false;
  services.shared('ok', () => 1, () => {
    disposed = true;
  });
  services.shared('bad', () => 2, () => {
    throw new Error('boom');
  });
  await services.close();
  assert.ok(disposed);
});

test.run();
