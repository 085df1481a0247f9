import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resetSharedServices, sharedServices, WrapperServices } from '../ts/services.js';

test('shared(): one value per key, made on first use, disposed once in reverse order on close', async () => {
  const services = new WrapperServices();
  const disposed: string[] = [];
  let made = 0;
  const make = (name: string) => () => {
    made++;
    return { name };
  };
  const a = services.shared('a', make('a'), (v) => void disposed.push(v.name));
  assert.is(
    services.shared('a', make('other'), () => void disposed.push('never')),
    a,
  );
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
  services.shared(
    'ok',
    () => 1,
    () => {
      disposed = true;
    },
  );
  services.shared(
    'bad',
    () => 2,
    () => {
      throw new Error('boom');
    },
  );
  await services.close();
  assert.ok(disposed);
});

test('kept(): survives close (its close hook runs each time), not handed to a replacement', async () => {
  const services = new WrapperServices();
  const closed: number[] = [];
  const facts = services.kept(
    'facts',
    () => new Map<string, number>(),
    (m) => void closed.push(m.size),
  );
  facts.set('a', 1);
  assert.is(
    services.kept('facts', () => new Map<string, number>()),
    facts,
  );
  await services.close();
  await services.close();
  assert.equal(closed, [1, 1]);
  assert.is(services.peek('facts'), facts, 'kept across close');
  assert.is(new WrapperServices({ configurationOf: services }).peek('facts'), undefined, 'facts are not configuration');
});

test('configuration(): kept on close and shared with the services resetSharedServices() makes', async () => {
  const before = sharedServices();
  const registry = before.configuration('test:registry', () => ({ names: ['x'] }));
  const state = before.shared('test:state', () => ({}));
  await resetSharedServices();
  const after = sharedServices();
  assert.is.not(after, before);
  assert.is(
    after.configuration('test:registry', () => ({ names: [] })),
    registry,
  );
  assert.is(after.peek('test:state'), undefined);
  assert.is.not(
    after.shared('test:state', () => ({})),
    state,
  );
});

test('one key space: a key names one slot of one kind', () => {
  const services = new WrapperServices();
  services.shared('k', () => 1);
  services.kept('f', () => 2);
  services.configuration('c', () => 3);
  assert.equal([services.peek('k'), services.peek('f'), services.peek('c')], [1, 2, 3]);
  assert.throws(() => services.kept('k', () => 0), /'k' is a shared slot/);
  assert.throws(() => services.shared('f', () => 0), /'f' is a kept slot/);
  assert.throws(() => services.kept('c', () => 0), /'c' is configuration/);
});

test.run();
