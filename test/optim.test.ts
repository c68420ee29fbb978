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
