import { AsyncLocalStorage, AsyncResource, executionAsyncId } from 'node:async_hooks';
import { useLeanAsyncResourceBind } from './lean-async-bind';

describe('useLeanAsyncResourceBind', () => {
  const nodeBind = AsyncResource.prototype.bind;
  beforeAll(() => useLeanAsyncResourceBind());

  it('binds without the deprecated asyncResource accessor Node 20 defines on every bound function', () => {
    const withNode = nodeBind.call(new AsyncResource('test'), () => undefined);
    const lean = new AsyncResource('test').bind(() => undefined);
    // Installed where Node's bind has the accessor (Node 20 here); a Node without it keeps its own.
    if (Object.getOwnPropertyDescriptor(withNode, 'asyncResource') !== undefined) expect(AsyncResource.prototype.bind).not.toBe(nodeBind);
    expect(Object.getOwnPropertyDescriptor(lean, 'asyncResource')).toBeUndefined();
  });

  it('runs the function in the resource\'s async context, with the caller\'s this, its arguments and its result', () => {
    const store = new AsyncLocalStorage<string>();
    let resource!: AsyncResource;
    let bound!: (this: unknown, ...args: unknown[]) => unknown;
    const seen: unknown[] = [];
    store.run('at creation', () => {
      resource = new AsyncResource('test');
      bound = resource.bind(function (this: unknown, a: unknown, b: unknown) {
        seen.push(store.getStore(), executionAsyncId() === resource.asyncId(), this, a, b);
        return 'result';
      });
    });
    const caller = { name: 'caller' };
    const result = store.run('at call', () => bound.call(caller, 1, 2));
    expect(result).toBe('result');
    expect(seen).toEqual(['at creation', true, caller, 1, 2]);
  });

  it('gives the function thisArg when one is bound, and so does the static AsyncResource.bind', () => {
    const self = { name: 'self' };
    // Node's bind takes a thisArg; its type declares only the function.
    const bindWith = AsyncResource.prototype.bind as unknown as (this: AsyncResource, fn: () => unknown, thisArg: unknown) => (this: unknown) => unknown;
    const viaResource = bindWith.call(
      new AsyncResource('test'),
      function (this: unknown) {
        return this;
      },
      self,
    );
    expect(viaResource.call({ other: true })).toBe(self);
    const viaStatic = AsyncResource.bind(function (this: unknown, x: number) {
      return [this, x];
    }, 'test', self);
    expect(viaStatic(7)).toEqual([self, 7]);
  });

  it('refuses a non-function with Node\'s own error, and installs once', () => {
    expect(() => new AsyncResource('test').bind(42 as unknown as () => void)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const installed = AsyncResource.prototype.bind;
    useLeanAsyncResourceBind();
    expect(AsyncResource.prototype.bind).toBe(installed);
  });

  it('propagates an exception from the bound function', () => {
    const bound = new AsyncResource('test').bind(() => {
      throw new Error('from inside');
    });
    expect(() => bound()).toThrow('from inside');
  });
});
