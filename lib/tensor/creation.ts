// Creating tensors: from JS values and typed arrays, filled, ranges and random draws.
import { DType, dtypeOfArray, isDType, ITEM_SIZE } from './dtype.js';
import { native } from './native.js';
import { defaultGenerator, Generator } from './random.js';
import { Shape, Tensor, wrap } from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  device?: string;
}
export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

type Nested = number | boolean | bigint | Nested[];

function checkDType(op: string, d: unknown): DType {
  if (!isDType(d)) {
    throw new TypeError(`${op}: argument 'dtype' is ${JSON.stringify(d)} (expected one of float32, float64, bfloat16, float16, int32, int64, uint8, bool)`);
  }
  return d;
}

function checkShape(op: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: argument 'shape' must be an array of integers (got ${typeof shape})`);
  for (const s of shape) {
    if (typeof s !== 'number' || !Number.isInteger(s)) throw new TypeError(`${op}: argument 'shape' must hold integers (got ${String(s)})`);
    if (s < 0) throw new RangeError(`${op}: argument 'shape' [${shape.join(', ')}] has a negative size (expected sizes >= 0)`);
  }
  return [...shape] as number[];
}

/** Shape and flat values of a nested array; throws on ragged input or non-numeric leaves. */
function flatten(values: Nested): { shape: number[]; flat: (number | boolean | bigint)[] } {
  const shape: number[] = [];
  let probe: Nested = values;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0] as Nested;
    if (probe === undefined) break;
  }
  const flat: (number | boolean | bigint)[] = [];
  const walk = (v: Nested, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(v) || (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint')) {
        throw new TypeError(`tensor: argument 'values' is ragged or holds a ${Array.isArray(v) ? 'nested array' : typeof v} at depth ${depth} (expected numbers, booleans or bigints in a rectangular array)`);
      }
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw new TypeError(`tensor: argument 'values' is ragged at depth ${depth} (expected ${shape[depth]} elements, got ${Array.isArray(v) ? v.length : typeof v})`);
    }
    for (const x of v) walk(x, depth + 1);
  };
  walk(values, 0);
  return { shape, flat };
}

/**
 * A tensor from a number, boolean, nested array or typed array. The dtype defaults to the typed
 * array's own, bool for booleans, int64 for bigints, and float32 for numbers. Always copies.
 */
export function tensor(values: Nested | ArrayBufferView, shape?: Shape, dtype?: DType, opts: { device?: string } = {}): Tensor {
  const t = hostTensor(values, shape, dtype);
  if (opts.device === undefined || opts.device === 'cpu') return t;
  try { return t.to(opts.device); } finally { t.dispose(); }
}

function hostTensor(values: Nested | ArrayBufferView, shape?: Shape, dtype?: DType): Tensor {
  if (dtype !== undefined) checkDType('tensor', dtype);
  if (ArrayBuffer.isView(values)) {
    const own = dtypeOfArray(values);
    if (own === undefined) throw new TypeError(`tensor: argument 'values' is a ${values.constructor.name} (expected Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array)`);
    const n = values.byteLength / ITEM_SIZE[own];
    const s = shape ? checkShape('tensor', shape) : [n];
    const base = wrap(native.fromBuffer(values, s, own, true));
    if (dtype === undefined || dtype === own) return base;
    try { return base.to(dtype); } finally { base.dispose(); }
  }
  const { shape: inferred, flat } = flatten(values as Nested);
  const s = shape ? checkShape('tensor', shape) : inferred;
  const kind = flat.length > 0 ? typeof flat[0] : 'number';
  const target = dtype ?? (kind === 'boolean' ? 'bool' : kind === 'bigint' ? 'int64' : 'float32');
  let buf: ArrayBufferView;
  let bufType: DType;
  if (kind === 'bigint') {
    buf = BigInt64Array.from(flat, (v) => BigInt(v as bigint));
    bufType = 'int64';
  } else {
    buf = Float64Array.from(flat, (v) => Number(v));
    bufType = 'float64';
  }
  const base = wrap(native.fromBuffer(buf, s, bufType, true));
  if (target === bufType) return base;
  try { return base.to(target); } finally { base.dispose(); }
}

/**
 * A CPU tensor over a typed array's memory without a copy when the array is aligned for its
 * dtype (pass { copy: true } to copy). The tensor and the array then share memory: do not
 * transfer or detach the array's buffer while the tensor is alive.
 */
export function fromTypedArray(data: ArrayBufferView, shape?: Shape, opts: { copy?: boolean; dtype?: DType } = {}): Tensor {
  if (!ArrayBuffer.isView(data)) throw new TypeError('fromTypedArray: argument \'data\' must be a typed array');
  const own = opts.dtype ?? dtypeOfArray(data);
  if (own === undefined) throw new TypeError(`fromTypedArray: cannot infer a dtype for ${data.constructor.name} (pass opts.dtype)`);
  checkDType('fromTypedArray', own);
  const n = data.byteLength / ITEM_SIZE[own];
  return wrap(native.fromBuffer(data, shape ? checkShape('fromTypedArray', shape) : [n], own, opts.copy === true));
}

export function full(shape: Shape, value: number | boolean, opts: CreateOptions = {}): Tensor {
  const dtype = checkDType('full', opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32'));
  return wrap(native.full(checkShape('full', shape), Number(value), dtype, opts.device));
}
export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}
export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}
/** Uninitialised memory (fast; contents are arbitrary). */
export function empty(shape: Shape, opts: CreateOptions = {}): Tensor {
  return wrap(native.empty(checkShape('empty', shape), checkDType('empty', opts.dtype ?? 'float32'), opts.device));
}
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return full(t.shape, 0, { dtype: opts.dtype ?? t.dtype, device: opts.device ?? t.device });
}
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return full(t.shape, 1, { dtype: opts.dtype ?? t.dtype, device: opts.device ?? t.device });
}
export function fullLike(t: Tensor, value: number, opts: CreateOptions = {}): Tensor {
  return full(t.shape, value, { dtype: opts.dtype ?? t.dtype, device: opts.device ?? t.device });
}

/** arange(end) or arange(start, end, step = 1); int64 when all arguments are integers, else float32. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  const ints = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const dtype = checkDType('arange', opts.dtype ?? (ints ? 'int64' : 'float32'));
  return wrap(native.arange(start, end, step, dtype, opts.device));
}
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  return wrap(native.linspace(start, end, steps, checkDType('linspace', opts.dtype ?? 'float32'), opts.device));
}
/** Identity matrix n x m. */
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  const dtype = checkDType('eye', opts.dtype ?? 'float32');
  const k = Math.min(n, m);
  const data = new Float64Array(n * m);
  for (let i = 0; i < k; i++) data[i * m + i] = 1;
  return tensor(data, [n, m], dtype, { device: opts.device });
}

function draw(opts: RandomOptions, n: number): [bigint, bigint] {
  const g = opts.generator ?? defaultGenerator;
  if (!(g instanceof Generator)) throw new TypeError('random: option \'generator\' must be a Generator');
  return g.take(n);
}
const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Uniform in [low, high) (default [0, 1)). */
export function rand(shape: Shape, opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const s = checkShape('rand', shape);
  const [seed, off] = draw(opts, count(s));
  return wrap(native.rand(s, opts.low ?? 0, opts.high ?? 1, checkDType('rand', opts.dtype ?? 'float32'), opts.device ?? 'cpu', seed, off));
}
/** Normal with mean and std (default standard normal). */
export function randn(shape: Shape, opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const s = checkShape('randn', shape);
  const [seed, off] = draw(opts, count(s));
  return wrap(native.randn(s, opts.mean ?? 0, opts.std ?? 1, checkDType('randn', opts.dtype ?? 'float32'), opts.device ?? 'cpu', seed, off));
}
/** Normal(mean, std) truncated to [a, b] (defaults: 0, 1, -2, 2, as torch.nn.init.trunc_normal_). */
export function truncNormal(shape: Shape, opts: RandomOptions & { mean?: number; std?: number; a?: number; b?: number } = {}): Tensor {
  const s = checkShape('truncNormal', shape);
  const [seed, off] = draw(opts, count(s));
  return wrap(native.truncNormal(s, opts.mean ?? 0, opts.std ?? 1, opts.a ?? -2, opts.b ?? 2,
    checkDType('truncNormal', opts.dtype ?? 'float32'), opts.device ?? 'cpu', seed, off));
}
/** Integers uniform in [low, high) (int64 by default). */
export function randint(low: number, high: number, shape: Shape, opts: RandomOptions = {}): Tensor {
  const s = checkShape('randint', shape);
  const [seed, off] = draw(opts, count(s));
  return wrap(native.randint(s, low, high, checkDType('randint', opts.dtype ?? 'int64'), opts.device ?? 'cpu', seed, off));
}
/** A random permutation of 0..n-1 (int64 by default). */
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  const [seed, off] = draw(opts, Number.isInteger(n) && n > 0 ? n : 0);
  return wrap(native.randperm(n, checkDType('randperm', opts.dtype ?? 'int64'), opts.device ?? 'cpu', seed, off));
}
/** 1 with probability p (elementwise), in p's dtype. */
export function bernoulli(p: Tensor | number, opts: RandomOptions & { shape?: Shape } = {}): Tensor {
  if (typeof p === 'number') {
    const probs = full(opts.shape ?? [], p, { dtype: opts.dtype ?? 'float32', device: opts.device });
    try { return bernoulli(probs, opts); } finally { probs.dispose(); }
  }
  if (!(p instanceof Tensor)) throw new TypeError('bernoulli: argument \'p\' must be a Tensor or a number');
  const [seed, off] = draw(opts, p.numel());
  return wrap(native.bernoulli(p.handle('bernoulli'), seed, off));
}
