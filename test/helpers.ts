// Shared test helpers: deterministic input data, layouts (contiguous, permuted, sliced,
// broadcast) that give the same logical values, a float64 reference toolkit and comparisons.
import { expect } from 'vitest';
import { DType, Tensor, tensor } from '../lib/index.js';
import { native, type NativeTensor } from '../lib/tensor/native.js';

/** Tolerances per dtype, in one place: |a - e| <= atol + rtol * |e|. */
export const TOL: Record<string, { rtol: number; atol: number }> = {
  float32: { rtol: 1e-5, atol: 1e-6 },
  float64: { rtol: 1e-12, atol: 1e-14 },
  bfloat16: { rtol: 1e-2, atol: 1e-2 },
  float16: { rtol: 2e-3, atol: 1e-3 },
  exact: { rtol: 0, atol: 0 },
};

/** mulberry32: a tiny seeded PRNG for test inputs (independent of the library's RNG). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Values uniform in [lo, hi), rounded to float32. */
export function values(n: number, seed = 1, lo = -2, hi = 2): Float64Array {
  const r = prng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(lo + (hi - lo) * r());
  return out;
}

export type Layout = 'contiguous' | 'permuted' | 'sliced';
export const LAYOUTS: Layout[] = ['contiguous', 'permuted', 'sliced'];

/**
 * A tensor with logical shape `shape` and the given values (row-major), stored in `layout`:
 * permuted = built transposed then permuted back (non-contiguous strides); sliced = every other
 * element of a twice-as-large last dim (stride 2). Intermediate tensors are disposed.
 */
export function make(vals: Float64Array, shape: number[], dtype: DType = 'float32', layout: Layout = 'contiguous'): Tensor {
  if (layout === 'contiguous' || shape.length === 0) return tensor(vals, shape, dtype);
  if (layout === 'permuted') {
    const nd = shape.length;
    const rev = [...shape].reverse();
    // element at logical index i (row-major over shape) goes to the reversed index in `rev`
    const buf = new Float64Array(vals.length);
    const idx = new Array(nd).fill(0);
    for (let i = 0; i < vals.length; i++) {
      let off = 0;
      for (let d = 0; d < nd; d++) off = off * rev[d] + idx[nd - 1 - d];
      buf[off] = vals[i];
      for (let d = nd - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    const base = tensor(buf, rev, dtype);
    const out = base.permute([...Array(nd).keys()].reverse());
    base.dispose();
    return out;
  }
  const last = shape[shape.length - 1];
  const wide = new Float64Array(vals.length * 2);
  for (let i = 0; i < vals.length; i++) {
    const row = Math.floor(i / last), col = i % last;
    wide[row * 2 * last + 2 * col] = vals[i];
    wide[row * 2 * last + 2 * col + 1] = Number.NaN;  // poison: must never be read
  }
  const base = tensor(wide, [...shape.slice(0, -1), 2 * last], dtype);
  const out = base.slice(-1, 0, 2 * last, 2);
  base.dispose();
  return out;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

/** Calls fn(multiIndex, flatIndex) for every index of shape in row-major order. */
export function forEachIndex(shape: readonly number[], fn: (idx: number[], flat: number) => void): void {
  const n = numel(shape);
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(idx, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Flat index into `shape` (row-major) of a broadcast index over a larger shape. */
export function broadcastIndex(idx: number[], shape: readonly number[]): number {
  let off = 0;
  const lead = idx.length - shape.length;
  for (let d = 0; d < shape.length; d++) off = off * shape[d] + (shape[d] === 1 ? 0 : idx[lead + d]);
  return off;
}

/** erf in double precision: Taylor series near 0, continued fraction for erfc beyond 2.5. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x);
  if (a < 2.5) {
    let term = a, sum = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const v = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -v : v;
  }
  return x < 0 ? -(1 - erfc(a)) : 1 - erfc(a);
}
/** erfc for x >= 2.5 by Lentz's continued fraction. */
export function erfc(x: number): number {
  if (x < 2.5) return 1 - erf(x);
  if (x === Infinity) return 0;
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
  let f = x, C = x, D = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    D = x + an * D;
    D = 1 / D;
    C = x + an / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Asserts |a - e| <= atol + rtol |e| elementwise; NaN must match NaN; reports the worst element. */
export function expectClose(actual: Tensor | ArrayLike<number>, expected: ArrayLike<number>, tol: { rtol: number; atol: number }, what = ''): void {
  const a = actual instanceof Tensor ? Array.from(actual.dataSync() as ArrayLike<number | bigint>, Number) : Array.from(actual);
  expect(a.length, `${what}: length`).toBe(expected.length);
  let worst = -1, worstErr = 0;
  for (let i = 0; i < a.length; i++) {
    const e = expected[i], v = a[i];
    if (Number.isNaN(e) || Number.isNaN(v)) {
      if (Number.isNaN(e) !== Number.isNaN(v)) { worst = i; worstErr = Infinity; break; }
      continue;
    }
    if (e === v) continue;
    const err = Math.abs(v - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (!(err <= 0) && (worst < 0 || err > worstErr)) { worst = i; worstErr = err; }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${a[worst]}, expected ${expected[worst]} (rtol ${tol.rtol}, atol ${tol.atol})`);
  }
}

/** The values of a tensor as float64 numbers (row-major logical order). */
export function vals(t: Tensor): number[] {
  return Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);
}

/** The PyTorch reference scripts' LCG (test/scripts/*_reference.py): floats in [-1, 1) with 24-bit resolution. */
export function lcg(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(1664525, x) + 1013904223) >>> 0;
    out[i] = ((x >>> 8) / 16777216) * 2 - 1;
  }
  return out;
}

/** Host float64 values of a native tensor of any device and dtype. */
export function hostValues(t: NativeTensor): Float64Array {
  const c = native.toDevice(t, 'cpu');
  const d = native.cast(c, 'float64');
  const out = new Float64Array(native.toBuffer(d));
  d.dispose();
  if (c !== t) c.dispose();
  return out;
}
