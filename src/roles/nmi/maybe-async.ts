// A value that may still be on its way. NMI's warm path (pod known, identity assigned, token cached) has
// every value at hand; making each step a promise anyway cost more allocation than the rest of the
// request, so steps return the value itself when they have it, and a promise only when they must wait.
export type MaybePromise<T> = T | Promise<T>;

/** Runs `next` on `value` now when it is already there, or once it arrives. */
export function andThen<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}
