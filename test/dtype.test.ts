// Casts between all dtypes; bfloat16/float16 round to nearest even and round-trip exactly.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { DType, DTYPES } from '../lib/index.js';
import { expectClose, make, TOL } from './helpers.js';

/** Reference float32 -> bfloat16 (round to nearest even, NaN kept), as a float. */
function toBF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  if (Number.isNaN(x)) return NaN;
  const rounded = (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 0;
  u[0] = (rounded >>> 16) << 16;
  return f[0];
}
/** Reference float -> float16 value with round-to-nearest-even, overflow to inf. */
function toF16(x: number): number {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(Math.fround(x));
  if (a >= 65520) return Math.sign(x) * Infinity;
  const e = a === 0 ? -24 : Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  let q = a / ulp;
  const fl = Math.floor(q), frac = q - fl;
  q = frac > 0.5 || (frac === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  return Math.sign(x) * q * ulp || (Object.is(x, -0) || x < 0 ? -0 : 0);
}

describe('casts', () => {
  it('every dtype pair converts like the reference (truncation and saturation for ints, != 0 for bool)', () => {
    const src = [0, 1, -1, 2.7, -2.7, 100.5, 255, 256, -300, 3e9, -3e9, NaN, Infinity];
    const conv: Record<DType, (x: number) => number> = {
      float32: Math.fround, float64: (x) => x, bfloat16: (x) => toBF16(Math.fround(x)), float16: (x) => toF16(Math.fround(x)),
      int32: (x) => (Number.isNaN(x) ? 0 : Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.trunc(x)))),
      int64: (x) => (Number.isNaN(x) ? 0 : Math.max(-(2 ** 63), Math.min(2 ** 63, Math.trunc(x)))),
      uint8: (x) => (Number.isNaN(x) ? 0 : Math.max(0, Math.min(255, Math.trunc(x)))),
      bool: (x) => (x !== 0 ? 1 : 0),
    };
    R.tidy(() => {
      const x = R.tensor(src, undefined, 'float64');
      for (const to of DTYPES) {
        const expected = src.map(conv[to]);
        expectClose(x.to(to).to('float64'), expected, TOL.exact, `float64 -> ${to}`);
      }
      // integer sources to every dtype: integer targets wrap modulo 2^bits like C (and PyTorch)
      const ints = R.tensor([0, 1, -1, 127, -128, 300], undefined, 'int32');
      const wrapU8 = (x: number) => ((x % 256) + 256) % 256;
      for (const to of DTYPES) {
        const expected = [0, 1, -1, 127, -128, 300].map(to === 'uint8' ? wrapU8 : conv[to]);
        expectClose(ints.to(to).to('float64'), expected, TOL.exact, `int32 -> ${to}`);
      }
    });
  });

  it('bfloat16 and float16 round float32 to nearest even over a sweep of bit patterns', () => {
    R.tidy(() => {
      const n = 100_000;
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = (Math.imul(i, 2654435761) >>> 0) & 0xc7ffffff;  // sign and wide exponents
      const f = new Float32Array(bits.buffer);
      const x = R.tensor(f);
      expectClose(x.to('bfloat16').to('float32'), Array.from(f, toBF16), TOL.exact, 'bf16');
      expectClose(x.to('float16').to('float32'), Array.from(f, toF16), TOL.exact, 'f16');
    });
  });

  it('values representable in the half dtype round-trip exactly, including subnormals, inf and NaN', () => {
    R.tidy(() => {
      const halfs = [0, -0, 1, -2, 0.5, 65504, -65504, 2 ** -24, 2 ** -14, 3 * 2 ** -20, Infinity, -Infinity, NaN];
      expectClose(R.tensor(halfs).to('float16').to('float32'), halfs, TOL.exact, 'f16 round trip');
      const bfs = [0, 1, -3.5, 2 ** 100, -(2 ** -100), 2 ** -126, 2 ** -133, 3.3895313892515355e38, Infinity, NaN];
      expectClose(R.tensor(bfs).to('bfloat16').to('float32'), bfs.map(Math.fround), TOL.exact, 'bf16 round trip');
      // float16 -> float32 -> float16 keeps every one of the 65536 bit patterns (NaNs stay NaN)
      const all = new Float32Array(65536);
      const h = R.fromTypedArray(new Uint16Array(Array.from({ length: 65536 }, (_, i) => i)), [65536], { dtype: 'float16', copy: true });
      const back = h.to('float32').to('float16').to('float32');
      const ref = h.to('float32').dataSync() as Float32Array;
      all.set(ref);
      expectClose(back, Array.from(all), TOL.exact, 'all float16 bit patterns');
    });
  });

  it('non-contiguous and broadcast inputs cast in logical order', () => {
    R.tidy(() => {
      const v = Float64Array.from({ length: 5 * 7 * 11 }, (_, i) => i - 100);
      for (const layout of ['permuted', 'sliced'] as const) {
        expectClose(make(v, [5, 7, 11], 'float32', layout).to('int32'), Array.from(v), TOL.exact, layout);
      }
      const b = R.tensor([1, 2, 3]).expand(4, 3).to('float64');
      expect(b.toArray()).toEqual([[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]]);
    });
  });

  it('data() gives the JS typed array of each dtype', async () => {
    const typed: Record<DType, string> = {
      float32: 'Float32Array', float64: 'Float64Array', bfloat16: 'Float32Array', float16: 'Float32Array',
      int32: 'Int32Array', int64: 'BigInt64Array', uint8: 'Uint8Array', bool: 'Uint8Array',
    };
    for (const d of DTYPES) {
      const t = R.tensor([1, 0, 1], undefined, d);
      expect((await t.data()).constructor.name).toBe(typed[d]);
      expect(t.item === undefined).toBe(false);
      t.dispose();
    }
    using x = R.tensor([2n ** 40n, -5n]);
    expect(x.dtype).toBe('int64');
    expect(Array.from(x.dataSync() as BigInt64Array)).toEqual([2n ** 40n, -5n]);
  });
});
