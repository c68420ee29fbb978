// Element-wise math, reductions, softmax and matmul: each op is a function and a Tensor method.
// Numbers are accepted wherever a tensor operand is, as a scalar of the other operand's dtype.
import { isGradEnabled, record } from '../autograd/engine.js';
import { getMatmulPrecision } from './memory.js';
import { native, NativeTensor } from './native.js';
import { keep } from './scope.js';
import { Tensor, wrap } from './tensor.js';

export type Operand = Tensor | number | boolean;

/** The native handle of an operand; numbers become 0-d tensors of `like`'s dtype (freed by the caller). */
function operand(op: string, arg: string, x: Operand, like: Tensor, temps: NativeTensor[]): NativeTensor {
  if (x instanceof Tensor) return x.handle(op);
  if (typeof x !== 'number' && typeof x !== 'boolean') {
    throw new TypeError(`${op}: argument '${arg}' must be a Tensor, number or boolean (got ${x === null ? 'null' : typeof x})`);
  }
  const h = native.full([], Number(x), like.dtype, like.device);
  temps.push(h);
  return h;
}

function tensorArg(op: string, arg: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: argument '${arg}' must be a Tensor (got ${x === null ? 'null' : typeof x})`);
  return x;
}

const COMPARISONS = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or']);

/** The operand as a Tensor for the autograd tape (numbers become untracked 0-d tensors). */
function tapeOperand(x: Operand, h: NativeTensor, temps: Tensor[]): Tensor {
  if (x instanceof Tensor) return x;
  const t = keep(wrap(native.reshape(h, [])));
  temps.push(t);
  return t;
}

const wantsGrad = (...xs: unknown[]) => isGradEnabled() && xs.some((x) => x instanceof Tensor && x.requiresGrad);

function binary(op: string, a: Operand, b: Operand): Tensor {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
  if (like === null) throw new TypeError(`${op}: at least one of 'input' and 'other' must be a Tensor`);
  const temps: NativeTensor[] = [];
  const tapeTemps: Tensor[] = [];
  try {
    const ha = operand(op, 'input', a, like, temps), hb = operand(op, 'other', b, like, temps);
    const out = wrap(native.binary(op, ha, hb));
    if (COMPARISONS.has(op) || !wantsGrad(a, b)) return out;
    return record(op, out, [tapeOperand(a, ha, tapeTemps), tapeOperand(b, hb, tapeTemps)]);
  } finally {
    for (const t of temps) t.dispose();
    for (const t of tapeTemps) t.dispose();
  }
}

function unary(op: string, x: Tensor): Tensor {
  const out = wrap(native.unary(op, tensorArg(op, 'input', x).handle(op)));
  return op === 'logical_not' ? out : record(op, out, [x]);
}

// ---- element-wise ---------------------------------------------------------------------------
export const neg = (x: Tensor) => unary('neg', x);
export const abs = (x: Tensor) => unary('abs', x);
export const sign = (x: Tensor) => unary('sign', x);
export const square = (x: Tensor) => unary('square', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
export const exp = (x: Tensor) => unary('exp', x);
export const expm1 = (x: Tensor) => unary('expm1', x);
export const log = (x: Tensor) => unary('log', x);
export const log1p = (x: Tensor) => unary('log1p', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const sin = (x: Tensor) => unary('sin', x);
export const cos = (x: Tensor) => unary('cos', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const erf = (x: Tensor) => unary('erf', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const relu = (x: Tensor) => unary('relu', x);
export const silu = (x: Tensor) => unary('silu', x);
export const floor = (x: Tensor) => unary('floor', x);
export const ceil = (x: Tensor) => unary('ceil', x);
/** Rounds half to even. */
export const round = (x: Tensor) => unary('round', x);
export const logicalNot = (x: Tensor) => unary('logical_not', x);
/** GELU with the exact erf form, or the tanh approximation with approximate = 'tanh'. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate !== 'none' && approximate !== 'tanh') {
    throw new TypeError(`gelu: argument 'approximate' is ${JSON.stringify(approximate)} (expected 'none' or 'tanh')`);
  }
  return unary(approximate === 'tanh' ? 'gelu_tanh' : 'gelu', x);
}
/** dy * GELU'(x) (the backward of gelu, fused). */
export function geluBackward(dy: Tensor, x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return wrap(native.geluBackward(tensorArg('gelu_back', 'grad_output', dy).handle('gelu_back'),
    tensorArg('gelu_back', 'input', x).handle('gelu_back'), approximate === 'tanh'));
}
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  const out = wrap(native.clamp(tensorArg('clamp', 'input', x).handle('clamp'), min ?? null, max ?? null));
  return record('clamp', out, [x], { min: min ?? null, max: max ?? null });
}

/** a + alpha * b */
export function add(a: Operand, b: Operand, alpha = 1): Tensor {
  if (alpha === 1) return binary('add', a, b);
  if (!(b instanceof Tensor)) return binary('add', a, Number(b) * alpha);
  const scaled = binary('mul', b, alpha);
  try { return binary('add', a, scaled); } finally { scaled.dispose(); }
}
/** a - alpha * b */
export function sub(a: Operand, b: Operand, alpha = 1): Tensor {
  if (alpha === 1) return binary('sub', a, b);
  if (!(b instanceof Tensor)) return binary('sub', a, Number(b) * alpha);
  const scaled = binary('mul', b, alpha);
  try { return binary('sub', a, scaled); } finally { scaled.dispose(); }
}
export const mul = (a: Operand, b: Operand) => binary('mul', a, b);
export const div = (a: Operand, b: Operand) => binary('div', a, b);
export const pow = (a: Operand, b: Operand) => binary('pow', a, b);
/** Element-wise maximum (NaN propagates). */
export const maximum = (a: Operand, b: Operand) => binary('maximum', a, b);
export const minimum = (a: Operand, b: Operand) => binary('minimum', a, b);
export const eq = (a: Operand, b: Operand) => binary('eq', a, b);
export const ne = (a: Operand, b: Operand) => binary('ne', a, b);
export const lt = (a: Operand, b: Operand) => binary('lt', a, b);
export const le = (a: Operand, b: Operand) => binary('le', a, b);
export const gt = (a: Operand, b: Operand) => binary('gt', a, b);
export const ge = (a: Operand, b: Operand) => binary('ge', a, b);
export const logicalAnd = (a: Operand, b: Operand) => binary('logical_and', a, b);
export const logicalOr = (a: Operand, b: Operand) => binary('logical_or', a, b);

/** Elements of a where cond is true, else of b (shapes broadcast). */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const c = tensorArg('where', 'condition', cond);
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
  if (like === null) throw new TypeError('where: at least one of \'input\' and \'other\' must be a Tensor');
  const temps: NativeTensor[] = [];
  const tapeTemps: Tensor[] = [];
  try {
    const ha = operand('where', 'input', a, like, temps), hb = operand('where', 'other', b, like, temps);
    const out = wrap(native.where(c.handle('where'), ha, hb));
    if (!wantsGrad(a, b)) return out;
    return record('where', out, [c, tapeOperand(a, ha, tapeTemps), tapeOperand(b, hb, tapeTemps)]);
  } finally {
    for (const t of temps) t.dispose();
    for (const t of tapeTemps) t.dispose();
  }
}

// ---- reductions -----------------------------------------------------------------------------
export type Dims = number | number[] | undefined | null;
const dimList = (dim: Dims): number[] | null => (dim === undefined || dim === null ? null : Array.isArray(dim) ? dim : [dim]);

function reduce(op: string, x: Tensor, dim: Dims, keepdim: boolean, param = 0): Tensor {
  const dims = dimList(dim);
  const out = wrap(native.reduce(op, tensorArg(op, 'input', x).handle(op), dims, keepdim, param));
  if (x.dtype === 'bool' || x.dtype === 'int32' || x.dtype === 'int64' || x.dtype === 'uint8') return out;
  return record(op, out, [x], { dims, keepdim, param });
}

export const sum = (x: Tensor, dim?: Dims, keepdim = false) => reduce('sum', x, dim, keepdim);
export const mean = (x: Tensor, dim?: Dims, keepdim = false) => reduce('mean', x, dim, keepdim);
/** Maximum values over dims (all dims by default); use argmax for positions. */
export const max = (x: Tensor, dim?: Dims, keepdim = false) => reduce('max', x, dim, keepdim);
export const min = (x: Tensor, dim?: Dims, keepdim = false) => reduce('min', x, dim, keepdim);
export const logsumexp = (x: Tensor, dim?: Dims, keepdim = false) => reduce('logsumexp', x, dim, keepdim);
/** Variance with Bessel's correction by default (correction = 1). */
export function variance(x: Tensor, dim?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  return reduce('var', x, dim, opts.keepdim ?? false, opts.correction ?? 1);
}
export function std(x: Tensor, dim?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  const v = variance(x, dim, opts);
  try { return sqrt(v); } finally { v.dispose(); }
}
/** p-norm over dims (p > 0 or Infinity; default 2, over all elements). */
export const norm = (x: Tensor, p = 2, dim?: Dims, keepdim = false) => reduce('norm', x, dim, keepdim, p);
/** Whether all (any) elements are non-zero, as a bool tensor. */
export function all(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  const b = x.dtype === 'bool' ? x : x.to('bool');
  try { return reduce('min', b, dim, keepdim); } finally { if (b !== x) b.dispose(); }
}
export function any(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  const b = x.dtype === 'bool' ? x : x.to('bool');
  try { return reduce('max', b, dim, keepdim); } finally { if (b !== x) b.dispose(); }
}
/** Index of the maximum along dim (of the flattened tensor when dim is omitted); int64. */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return wrap(native.argReduce('argmax', tensorArg('argmax', 'input', x).handle('argmax'), dim ?? null, keepdim));
}
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return wrap(native.argReduce('argmin', tensorArg('argmin', 'input', x).handle('argmin'), dim ?? null, keepdim));
}
export function softmax(x: Tensor, dim = -1): Tensor {
  const out = wrap(native.softmax('softmax', tensorArg('softmax', 'input', x).handle('softmax'), dim));
  return record('softmax', out, [x], { dim });
}
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  const out = wrap(native.softmax('log_softmax', tensorArg('logSoftmax', 'input', x).handle('logSoftmax'), dim));
  return record('log_softmax', out, [x], { dim });
}

// ---- linear algebra -------------------------------------------------------------------------
/** torch.matmul semantics (1-D operands, broadcast batch dims); transA/transB transpose the last two dims first. */
export function matmul(a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
  tensorArg('matmul', 'input', a);
  tensorArg('matmul', 'other', b);
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  return record('matmul', wrap(native.matmul(a.handle('matmul'), b.handle('matmul'), transA, transB)), [a, b], { transA, transB, precision: getMatmulPrecision() });
}
export function mm(a: Tensor, b: Tensor): Tensor {
  if (tensorArg('mm', 'input', a).ndim !== 2 || tensorArg('mm', 'other', b).ndim !== 2) {
    throw new RangeError(`mm: arguments must be 2-D (got [${a.shape.join(', ')}] and [${b.shape.join(', ')}])`);
  }
  return matmul(a, b);
}
export function bmm(a: Tensor, b: Tensor): Tensor {
  if (tensorArg('bmm', 'input', a).ndim !== 3 || tensorArg('bmm', 'other', b).ndim !== 3) {
    throw new RangeError(`bmm: arguments must be 3-D (got [${a.shape.join(', ')}] and [${b.shape.join(', ')}])`);
  }
  return matmul(a, b);
}

// ---- methods --------------------------------------------------------------------------------
declare module './tensor.js' {
  interface Tensor {
    neg(): Tensor; abs(): Tensor; sign(): Tensor; square(): Tensor; reciprocal(): Tensor;
    exp(): Tensor; expm1(): Tensor; log(): Tensor; log1p(): Tensor; sqrt(): Tensor; rsqrt(): Tensor;
    sin(): Tensor; cos(): Tensor; tanh(): Tensor; erf(): Tensor; sigmoid(): Tensor; relu(): Tensor;
    silu(): Tensor; floor(): Tensor; ceil(): Tensor; round(): Tensor; logicalNot(): Tensor;
    gelu(approximate?: 'none' | 'tanh'): Tensor;
    clamp(min?: number | null, max?: number | null): Tensor;
    add(other: Operand, alpha?: number): Tensor; sub(other: Operand, alpha?: number): Tensor;
    mul(other: Operand): Tensor; div(other: Operand): Tensor; pow(other: Operand): Tensor;
    maximum(other: Operand): Tensor; minimum(other: Operand): Tensor;
    eq(other: Operand): Tensor; ne(other: Operand): Tensor; lt(other: Operand): Tensor;
    le(other: Operand): Tensor; gt(other: Operand): Tensor; ge(other: Operand): Tensor;
    logicalAnd(other: Operand): Tensor; logicalOr(other: Operand): Tensor;
    /** this where cond is true, else other. */
    where(cond: Tensor, other: Operand): Tensor;
    sum(dim?: Dims, keepdim?: boolean): Tensor; mean(dim?: Dims, keepdim?: boolean): Tensor;
    max(dim?: Dims, keepdim?: boolean): Tensor; min(dim?: Dims, keepdim?: boolean): Tensor;
    amax(dim?: Dims, keepdim?: boolean): Tensor; amin(dim?: Dims, keepdim?: boolean): Tensor;
    logsumexp(dim?: Dims, keepdim?: boolean): Tensor;
    var(dim?: Dims, opts?: { correction?: number; keepdim?: boolean }): Tensor;
    std(dim?: Dims, opts?: { correction?: number; keepdim?: boolean }): Tensor;
    norm(p?: number, dim?: Dims, keepdim?: boolean): Tensor;
    all(dim?: Dims, keepdim?: boolean): Tensor; any(dim?: Dims, keepdim?: boolean): Tensor;
    argmax(dim?: number, keepdim?: boolean): Tensor; argmin(dim?: number, keepdim?: boolean): Tensor;
    softmax(dim?: number): Tensor; logSoftmax(dim?: number): Tensor;
    matmul(other: Tensor, opts?: { transA?: boolean; transB?: boolean }): Tensor;
    mm(other: Tensor): Tensor; bmm(other: Tensor): Tensor;
  }
}

const unaries = { neg, abs, sign, square, reciprocal, exp, expm1, log, log1p, sqrt, rsqrt, sin, cos, tanh, erf,
  sigmoid, relu, silu, floor, ceil, round, logicalNot };
const binaries = { mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logicalAnd, logicalOr };
const proto = Tensor.prototype as unknown as Record<string, unknown>;
for (const [name, fn] of Object.entries(unaries)) proto[name] = function (this: Tensor) { return fn(this); };
for (const [name, fn] of Object.entries(binaries)) proto[name] = function (this: Tensor, o: Operand) { return fn(this, o); };
Object.assign(Tensor.prototype, {
  gelu(this: Tensor, approximate?: 'none' | 'tanh') { return gelu(this, approximate); },
  clamp(this: Tensor, lo?: number | null, hi?: number | null) { return clamp(this, lo, hi); },
  add(this: Tensor, o: Operand, alpha?: number) { return add(this, o, alpha); },
  sub(this: Tensor, o: Operand, alpha?: number) { return sub(this, o, alpha); },
  where(this: Tensor, cond: Tensor, other: Operand) { return where(cond, this, other); },
  sum(this: Tensor, d?: Dims, k?: boolean) { return sum(this, d, k); },
  mean(this: Tensor, d?: Dims, k?: boolean) { return mean(this, d, k); },
  max(this: Tensor, d?: Dims, k?: boolean) { return max(this, d, k); },
  min(this: Tensor, d?: Dims, k?: boolean) { return min(this, d, k); },
  amax(this: Tensor, d?: Dims, k?: boolean) { return max(this, d, k); },
  amin(this: Tensor, d?: Dims, k?: boolean) { return min(this, d, k); },
  logsumexp(this: Tensor, d?: Dims, k?: boolean) { return logsumexp(this, d, k); },
  var(this: Tensor, d?: Dims, o?: { correction?: number; keepdim?: boolean }) { return variance(this, d, o); },
  std(this: Tensor, d?: Dims, o?: { correction?: number; keepdim?: boolean }) { return std(this, d, o); },
  norm(this: Tensor, p?: number, d?: Dims, k?: boolean) { return norm(this, p, d, k); },
  all(this: Tensor, d?: Dims, k?: boolean) { return all(this, d, k); },
  any(this: Tensor, d?: Dims, k?: boolean) { return any(this, d, k); },
  argmax(this: Tensor, d?: number, k?: boolean) { return argmax(this, d, k); },
  argmin(this: Tensor, d?: number, k?: boolean) { return argmin(this, d, k); },
  softmax(this: Tensor, d?: number) { return softmax(this, d); },
  logSoftmax(this: Tensor, d?: number) { return logSoftmax(this, d); },
  matmul(this: Tensor, o: Tensor, opts?: { transA?: boolean; transB?: boolean }) { return matmul(this, o, opts); },
  mm(this: Tensor, o: Tensor) { return mm(this, o); },
  bmm(this: Tensor, o: Tensor) { return bmm(this, o); },
});

