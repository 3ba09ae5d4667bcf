import { AsyncResource } from 'node:async_hooks';

type Bind = (this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown) => (...args: unknown[]) => unknown;

const LEAN = Symbol.for('borealis.leanAsyncResourceBind');

/**
 * Node 20's `AsyncResource.prototype.bind` gives every function it binds a deprecated
 * `asyncResource` accessor (DEP0172), defined with two `util.deprecate` wrappers: about 6 µs and
 * 5 KB of garbage a call here, against 0.1 µs for the binding itself. Fastify binds one per request
 * with a body (its content-type parser runs the route in the request's async context that way), so
 * every push paid it (docs/benchmarks.md). This replaces it, once per process, with a bind that runs
 * the function in the resource's async scope as Node's does (the same `this` and arguments, the same
 * errors for a non-function), without the deprecated accessor and the copied `length`. Only where
 * Node's own bind still defines that accessor; a later Node that dropped it keeps its own.
 */
export function useLeanAsyncResourceBind(): void {
  const proto = AsyncResource.prototype as unknown as { bind: Bind & { [LEAN]?: true } };
  const original = proto.bind;
  if (original[LEAN] || !definesDeprecatedAccessor(original)) return;
  const lean = function bind(this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown) {
    // Node's own validation and error for anything but a function.
    if (typeof fn !== 'function') return original.call(this, fn, thisArg);
    return boundTo(this, fn, thisArg);
  } as Bind & { [LEAN]?: true };
  lean[LEAN] = true;
  proto.bind = lean;
}

/** `fn` run in `resource`'s async scope: with `thisArg`, or else with the caller's `this`. */
function boundTo(resource: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg: unknown): (...args: unknown[]) => unknown {
  if (thisArg !== undefined) return (...args: unknown[]) => resource.runInAsyncScope(fn, thisArg, ...args);
  return function (this: unknown, ...args: unknown[]) {
    return resource.runInAsyncScope(fn, this, ...args);
  };
}

function definesDeprecatedAccessor(bind: Bind): boolean {
  const probe = new AsyncResource('borealis:bind-probe');
  try {
    // The descriptor only: reading the accessor would print the deprecation warning.
    return Object.getOwnPropertyDescriptor(bind.call(probe, () => undefined), 'asyncResource') !== undefined;
  } finally {
    probe.emitDestroy();
  }
}
