// The random ops on CUDA give the CPU's numbers for the same (seed, offset): both run the Philox
// stream and transforms of native/core/rng.h, element i drawing counter offset + i. Compared bit
// for bit (as float64 values of the outputs) on every dtype both backends register, so the file
// passes on machines without a GPU.
import { describe, expect, it } from 'vitest';
import { cudaAvailable, supports } from '../lib/index.js';
import { native, type NativeTensor } from '../lib/tensor/native.js';
import { prng } from './helpers.js';

type H = NativeTensor;
const CUDA = cudaAvailable();
const DTYPES = ['float32', 'bfloat16', 'float16', 'float64', 'int32', 'int64'];

function host(t: H): number[] {
  const c = native.toDevice(t, 'cpu');
  const d = native.cast(c, 'float64');
  const out = Array.from(new Float64Array(native.toBuffer(d)));
  d.dispose();
  if (c !== t) c.dispose();
  return out;
}

// Runs make on both devices and expects identical values; returns the CUDA values.
function same(make: (device: string) => H): number[] {
  const g = make('cuda'), c = make('cpu');
  expect(g.device).toMatch(/^cuda/);
  expect(g.dtype).toBe(c.dtype);
  expect(g.shape).toEqual(c.shape);
  const gv = host(g), cv = host(c);
  g.dispose();
  c.dispose();
  let diff = -1;
  for (let i = 0; i < cv.length && diff < 0; i++) if (!Object.is(gv[i], cv[i])) diff = i;
  if (diff >= 0) expect.fail(`element ${diff} of ${cv.length}: cuda ${gv[diff]}, cpu ${cv[diff]}`);
  return gv;
}

const both = (op: string, dtype: string) => CUDA && supports(op, dtype, 'cuda') && supports(op, dtype, 'cpu');
const SEED = 0x5eedn * 1000003n, OFFSET = 977;

describe('CUDA random ops against the CPU (same seed and offset, bit for bit)', () => {
  for (const dtype of DTYPES) {
    it.skipIf(!both('rand', dtype))(`rand ${dtype}`, () => {
      const v = same((d) => native.rand([301, 37], -2, 3, dtype, d, SEED, OFFSET));
      expect(Math.min(...v)).toBeGreaterThanOrEqual(-2);
      expect(Math.max(...v)).toBeLessThan(3.0001);
      same((d) => native.rand([1000], 0.25, 0.25, dtype, d, 3, 0));  // low == high
    });
    it.skipIf(!both('randn', dtype))(`randn ${dtype}`, () => {
      const v = same((d) => native.randn([257, 129], 0.5, 2, dtype, d, SEED, OFFSET));
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    });
    it.skipIf(!both('trunc_normal', dtype))(`trunc_normal ${dtype} (rejection and inverse-CDF paths)`, () => {
      const v = same((d) => native.truncNormal([200, 101], 0, 1, -2, 2, dtype, d, SEED, OFFSET));
      expect(Math.min(...v)).toBeGreaterThanOrEqual(-2);
      expect(Math.max(...v)).toBeLessThanOrEqual(2);
      // [1.5, 3] holds under a quarter of the mass: the inverse CDF
      const w = same((d) => native.truncNormal([5000], 0, 1, 1.5, 3, dtype, d, 11, 5));
      expect(Math.min(...w)).toBeGreaterThanOrEqual(1.49);
    });
    it.skipIf(!both('randint', dtype))(`randint ${dtype}`, () => {
      const v = same((d) => native.randint([40001], -5, 1000, dtype, d, SEED, OFFSET));
      if (!['bfloat16', 'float16'].includes(dtype)) {  // 999 rounds to 1000 in bfloat16
        expect(Math.min(...v)).toBe(-5);
        expect(Math.max(...v)).toBe(999);
      }
      if (dtype === 'int64') same((d) => native.randint([999], 0, 2 ** 40, dtype, d, 7, 1));
    });
    it.skipIf(!both('randperm', dtype))(`randperm ${dtype}`, () => {
      for (const n of [1, 1369, 100003]) {
        if ((dtype === 'bfloat16' && n > 256) || (dtype === 'float16' && n > 2048)) continue;  // not exactly representable
        const v = same((d) => native.randperm(n, dtype, d, SEED, OFFSET + n));
        expect([...v].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }
    });
    it.skipIf(!both('bernoulli', dtype))(`bernoulli ${dtype} from a permuted probability view`, () => {
      const r = prng(5);
      const pv = new Float32Array(90 * 70);
      for (let i = 0; i < pv.length; i++) pv[i] = r();
      pv[0] = 0;
      pv[1] = 1;
      const v = same((d) => {
        const f = native.fromBuffer(pv, [90, 70], 'float32', true);
        const c = native.cast(f, dtype);
        const m = native.toDevice(c, d);
        const p = native.permute(m, [1, 0]);
        const out = native.bernoulli(p, SEED, OFFSET);
        for (const t of [f, c, m, p]) if (t !== out) t.dispose();
        return out;
      });
      expect(new Set(v)).toEqual(new Set([0, 1]));
    });
  }

  it.skipIf(!both('rand', 'float32'))('element i of a call is counter offset + i on CUDA too', () => {
    const a = host(native.rand([100], 0, 1, 'float32', 'cuda', 42, 10));
    const b = host(native.rand([95], 0, 1, 'float32', 'cuda', 42, 15));
    expect(b).toEqual(a.slice(5));
  });
});
