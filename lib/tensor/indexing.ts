// Joining, splitting and indexing: each op is a function and (where PyTorch has one) a method.
import { record } from '../autograd/engine.js';
import { native } from './native.js';
import { normAxis, Tensor, wrap } from './tensor.js';

function tensorArg(op: string, arg: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: argument '${arg}' must be a Tensor (got ${x === null ? 'null' : typeof x})`);
  return x;
}

function tensorList(op: string, xs: unknown): Tensor[] {
  if (!Array.isArray(xs)) throw new TypeError(`${op}: argument 'tensors' must be an array of Tensors (got ${typeof xs})`);
  xs.forEach((x, i) => tensorArg(op, `tensors[${i}]`, x));
  return xs as Tensor[];
}

/** Concatenates along an existing dim. */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  const xs = tensorList('cat', tensors);
  const out = wrap(native.cat(xs.map((x, i) => x.handle(`cat: tensors[${i}]`)), dim));
  return record('cat', out, xs, { dim: normAxis('cat', dim, out.ndim), sizes: xs.map((x) => x.shape[normAxis('cat', dim, out.ndim)]) });
}

/** Stacks along a new dim (all shapes must be equal). */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  const xs = tensorList('stack', tensors);
  if (xs.length === 0) throw new RangeError('stack: argument \'tensors\' is empty (expected at least one tensor)');
  const shape = xs[0].shape;
  xs.forEach((x, i) => {
    if (x.shape.length !== shape.length || x.shape.some((s, k) => s !== shape[k])) {
      throw new RangeError(`stack: argument 'tensors[${i}]' has shape [${x.shape.join(', ')}] (expected [${shape.join(', ')}], like tensors[0])`);
    }
  });
  const d = dim < 0 ? dim + shape.length + 1 : dim;
  if (!Number.isInteger(dim) || d < 0 || d > shape.length) {
    throw new RangeError(`stack: argument 'dim' is ${dim} (expected an axis in [${-shape.length - 1}, ${shape.length}])`);
  }
  const views = xs.map((x) => x.unsqueeze(d));
  try { return cat(views, d); } finally { for (const v of views) v.dispose(); }
}

/** Views of consecutive pieces along dim: of `size` each (the last may be smaller), or of the given sizes. */
export function split(x: Tensor, sizeOrSizes: number | number[], dim = 0): Tensor[] {
  tensorArg('split', 'input', x);
  const d = normAxis('split', dim, x.ndim);
  const n = x.shape[d];
  let sizes: number[];
  if (Array.isArray(sizeOrSizes)) {
    sizes = sizeOrSizes;
    const total = sizes.reduce((a, b) => a + b, 0);
    if (sizes.some((s) => !Number.isInteger(s) || s < 0) || total !== n) {
      throw new RangeError(`split: argument 'sizes' [${sizes.join(', ')}] must be non-negative integers summing to ${n} (the size of dim ${d})`);
    }
  } else {
    if (!Number.isInteger(sizeOrSizes) || sizeOrSizes <= 0) {
      throw new RangeError(`split: argument 'size' is ${sizeOrSizes} (expected a positive integer)`);
    }
    sizes = [];
    for (let at = 0; at < n; at += sizeOrSizes) sizes.push(Math.min(sizeOrSizes, n - at));
    if (sizes.length === 0) sizes.push(0);
  }
  const out: Tensor[] = [];
  let at = 0;
  for (const s of sizes) {
    out.push(x.narrow(d, at, s));
    at += s;
  }
  return out;
}

/** Splits into `chunks` views of size ceil(n / chunks) (fewer when n is small). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  tensorArg('chunk', 'input', x);
  if (!Number.isInteger(chunks) || chunks <= 0) throw new RangeError(`chunk: argument 'chunks' is ${chunks} (expected a positive integer)`);
  const n = x.shape[normAxis('chunk', dim, x.ndim)];
  return split(x, Math.max(1, Math.ceil(n / chunks)), dim);
}

export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const out = wrap(native.indexSelect(tensorArg('index_select', 'input', x).handle('index_select'), dim,
    tensorArg('index_select', 'index', index).handle('index_select')));
  return record('index_select', out, [x, index], { dim });
}
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const out = wrap(native.gather(tensorArg('gather', 'input', x).handle('gather'), dim, tensorArg('gather', 'index', index).handle('gather')));
  return record('gather', out, [x, index], { dim });
}
/** Out of place: x with src added at index along dim. */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const out = wrap(native.scatterAdd(tensorArg('scatter_add', 'input', x).handle('scatter_add'), dim,
    tensorArg('scatter_add', 'index', index).handle('scatter_add'), tensorArg('scatter_add', 'src', src).handle('scatter_add')));
  return record('scatter_add', out, [x, index, src], { dim });
}
/** Out of place: x with alpha * source added at the rows index along dim. */
export function indexAdd(x: Tensor, dim: number, index: Tensor, source: Tensor, alpha = 1): Tensor {
  const out = wrap(native.indexAdd(tensorArg('index_add', 'input', x).handle('index_add'), dim,
    tensorArg('index_add', 'index', index).handle('index_add'), tensorArg('index_add', 'source', source).handle('index_add'), alpha));
  return record('index_add', out, [x, index, source], { dim, alpha });
}
export function maskedFill(x: Tensor, mask: Tensor, value: number | boolean): Tensor {
  if (typeof value !== 'number' && typeof value !== 'boolean') throw new TypeError(`masked_fill: argument 'value' must be a number (got ${typeof value})`);
  const out = wrap(native.maskedFill(tensorArg('masked_fill', 'input', x).handle('masked_fill'),
    tensorArg('masked_fill', 'mask', mask).handle('masked_fill'), Number(value)));
  return record('masked_fill', out, [x, mask]);
}
export function maskedSelect(x: Tensor, mask: Tensor): Tensor {
  const out = wrap(native.maskedSelect(tensorArg('masked_select', 'input', x).handle('masked_select'),
    tensorArg('masked_select', 'mask', mask).handle('masked_select')));
  return record('masked_select', out, [x, mask]);
}
/** One-hot int64 encoding with a trailing dim of numClasses (-1: max + 1). */
export function oneHot(index: Tensor, numClasses = -1): Tensor {
  return wrap(native.oneHot(tensorArg('one_hot', 'input', index).handle('one_hot'), numClasses));
}
/** The k largest (or smallest) values along dim and their int64 indices, sorted. */
export function topk(x: Tensor, k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
  const [v, i] = native.topk(tensorArg('topk', 'input', x).handle('topk'), k, dim, largest, sorted);
  const indices = wrap(i);
  return { values: record('topk', wrap(v), [x], { dim: normAxis('topk', dim, Math.max(x.ndim, 1)), indices }), indices };
}

declare module './tensor.js' {
  interface Tensor {
    split(sizeOrSizes: number | number[], dim?: number): Tensor[];
    chunk(chunks: number, dim?: number): Tensor[];
    indexSelect(dim: number, index: Tensor): Tensor;
    gather(dim: number, index: Tensor): Tensor;
    scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor;
    indexAdd(dim: number, index: Tensor, source: Tensor, alpha?: number): Tensor;
    maskedFill(mask: Tensor, value: number | boolean): Tensor;
    maskedSelect(mask: Tensor): Tensor;
    topk(k: number, dim?: number, largest?: boolean, sorted?: boolean): { values: Tensor; indices: Tensor };
  }
}

Object.assign(Tensor.prototype, {
  split(this: Tensor, s: number | number[], d?: number) { return split(this, s, d); },
  chunk(this: Tensor, c: number, d?: number) { return chunk(this, c, d); },
  indexSelect(this: Tensor, d: number, i: Tensor) { return indexSelect(this, d, i); },
  gather(this: Tensor, d: number, i: Tensor) { return gather(this, d, i); },
  scatterAdd(this: Tensor, d: number, i: Tensor, s: Tensor) { return scatterAdd(this, d, i, s); },
  indexAdd(this: Tensor, d: number, i: Tensor, s: Tensor, a?: number) { return indexAdd(this, d, i, s, a); },
  maskedFill(this: Tensor, m: Tensor, v: number | boolean) { return maskedFill(this, m, v); },
  maskedSelect(this: Tensor, m: Tensor) { return maskedSelect(this, m); },
  topk(this: Tensor, k: number, d?: number, l?: boolean, s?: boolean) { return topk(this, k, d, l, s); },
});
