// AdamW against a float64 reference of PyTorch's update over several steps.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { expectClose, values, vals } from './helpers.js';

describe('AdamW', () => {
  it('matches the reference update for 5 steps, with weight decay, in float32 and float64', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      R.tidy(() => {
        const n = 1031;
        const p0 = values(n, 1), lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.04;
        const p = R.tensor(p0, [n], dtype).requiresGrad_();
        const opt = new R.AdamW([p], { lr, betas: [b1, b2], eps, weightDecay: wd });
        const ref = Array.from(p0), m = new Array(n).fill(0), v = new Array(n).fill(0);
        for (let t = 1; t <= 5; t++) {
          const g = values(n, 10 + t);
          p.grad = R.tensor(g, [n], dtype);
          opt.step();
          for (let i = 0; i < n; i++) {
            ref[i] *= 1 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            ref[i] -= (lr / (1 - b1 ** t)) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps);
          }
        }
        expectClose(vals(p), ref, dtype === 'float32' ? { rtol: 1e-5, atol: 1e-6 } : { rtol: 1e-12, atol: 1e-12 }, dtype);
        opt.dispose();
        p.grad = null;
        p.dispose();
      });
    }
  });

  it('rejects parameters without requiresGrad and mismatched states', () => {
    R.tidy(() => {
      expect(() => new R.AdamW([R.zeros([2])])).toThrow(/AdamW: a parameter does not require grad/);
    });
  });
});

describe('ema_ (the teacher update)', () => {
  it('target = m target + (1 - m) source in one pass, float32 and float64, any source layout', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      R.tidy(() => {
        const shape = [5, 7, 11];
        const n = 5 * 7 * 11, m = 0.9963;
        const t0 = values(n, 3), s0 = values(n, 4);
        const t = R.tensor(t0, shape, dtype);
        // a non-contiguous source: the transpose of a contiguous [11, 7, 5] tensor holding s0 permuted
        const sT = R.tensor(s0, shape, dtype).permute(2, 1, 0).contiguous().permute(2, 1, 0);
        expect(sT.isContiguous()).toBe(false);
        R.ema_(t, sT, m);
        expectClose(vals(t), Array.from(t0, (x, i) => m * x + (1 - m) * s0[i]), dtype === 'float32' ? { rtol: 1e-6, atol: 1e-7 } : { rtol: 1e-14, atol: 1e-15 }, dtype);
        R.ema_(t, sT, 1);  // momentum 1 keeps the target
        R.ema_(t, sT, 0);  // momentum 0 copies the source
        expectClose(vals(t), s0, { rtol: 0, atol: 0 }, dtype);
      });
    }
  });

  it('a dtype without the fused kernel (bfloat16 on the CPU) takes the element-wise path', () => {
    R.tidy(() => {
      expect(R.supports('ema', 'bfloat16')).toBe(false);
      const t = R.randn([6, 5], { generator: new R.Generator(1) }).to('bfloat16');
      const s = R.randn([6, 5], { generator: new R.Generator(2) }).to('bfloat16');
      const m = 0.75;  // computed in float32, rounded to bfloat16 once
      const ref = vals(t).map((x, i) => x * m + vals(s)[i]! * (1 - m));
      R.ema_(t, s, m);
      expect(t.dtype).toBe('bfloat16');
      expectClose(vals(t), ref, { rtol: 2 ** -8, atol: 1e-30 }, 'bf16');
      // float32 and float64 with the fused kernel turned off: computed in their own precision
      for (const [dtype, tol] of [['float32', 2e-7], ['float64', 1e-15]] as const) {
        const a = R.randn([7, 9], { generator: new R.Generator(3), dtype }), b = R.randn([7, 9], { generator: new R.Generator(4), dtype });
        const a2 = a.clone();
        R.ema_(a, b, 0.996);
        R.setFusedKernels({ ema: false });
        try {
          R.ema_(a2, b, 0.996);
        } finally {
          R.setFusedKernels({ ema: true });
        }
        expectClose(vals(a2), vals(a), { rtol: tol, atol: tol }, `${dtype} fallback`);
      }
      expect(() => R.setFusedKernels({ softmax: false } as never)).toThrow(/setFusedKernels: unknown kernel 'softmax' \(expected attention, bicubic or ema\)/);
      expect(() => R.ema_(t, R.zeros([6, 5]), 0.5)).toThrow(/ema: argument 'source' is float32 \[6, 5\] on cpu \(expected bfloat16 \[6, 5\] on cpu/);
      expect(() => R.ema_(t, s, -1)).toThrow(/ema: argument 'momentum' is -1/);
    });
  });

  it('names the argument and the expectation on bad input', () => {
    R.tidy(() => {
      const t = R.zeros([3, 4]);
      expect(() => R.ema_(t, R.zeros([4, 3]), 0.9)).toThrow(/ema: argument 'source' has shape \[4, 3\] \(expected \[3, 4\]/);
      expect(() => R.ema_(t, R.zeros([3, 4], { dtype: 'float64' }), 0.9)).toThrow(/ema/);
      expect(() => R.ema_(t, R.zeros([3, 4]), 1.5)).toThrow(/ema: argument 'momentum' is 1.5 \(expected a number in \[0, 1\]\)/);
      expect(() => R.ema_(t.t(), R.zeros([4, 3]), 0.5)).toThrow(/ema: argument 'target' must be contiguous/);
      expect(() => R.ema_(R.zeros([3], { dtype: 'int32' }), R.zeros([3], { dtype: 'int32' }), 0.5)).toThrow(/ema/);
    });
  });
});
