// Memory scopes: tidy(fn) disposes every tensor created inside fn except those it returns (and
// those passed to keep()). Scopes nest; a tensor belongs to the innermost scope open when it was
// created. Outside any scope, tensors live until dispose(), a `using` block ends, or (as a safety
// net only) garbage collection.

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];

/** Called by every tensor at creation. */
export function track(t: Disposable): void {
  const top = scopes[scopes.length - 1];
  if (top) top.add(t);
}

/** Excludes t from the open scopes so it survives them; returns t. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

type Returned = unknown;

function collect(value: Returned, out: Set<Disposable>, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if ('dispose' in value && 'isDisposed' in value) {
    out.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, out, depth + 1);
}

/**
 * Runs fn and disposes the tensors it created, except the ones it returns (a tensor, or tensors
 * inside a returned array or plain object), which move to the enclosing scope.
 * fn must be synchronous: a returned Promise is an error.
 */
export function tidy<R>(fn: () => R): R {
  if (typeof fn !== 'function') throw new TypeError(`tidy: argument 'fn' must be a function (got ${typeof fn})`);
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy: argument \'fn\' returned a Promise (expected a synchronous function)');
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}
