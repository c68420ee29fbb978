// Fused network kernels against their composites and by finite differences: LayerNorm, GELU's
// backward (attention and bicubic have their own files).
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { DType, Tensor } from '../lib/index.js';
import { expectClose, make, numel, values, vals } from './helpers.js';

const composite = (x: Tensor, w: Tensor | null, b: Tensor | null, eps: number) => {
  const mean = x.mean(-1, true);
  const xc = x.sub(mean);
  let y = xc.div(xc.square().mean(-1, true).add(eps).sqrt());
  if (w) y = y.mul(w);
  if (b) y = y.add(b);
  return y;
};

describe('layerNorm', () => {
  it('matches the composite in float32 and float64, any layout, with and without affine', () => {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      for (const layout of ['contiguous', 'permuted', 'sliced'] as const) {
        for (const affine of [[true, true], [true, false], [false, false]]) {
          R.tidy(() => {
            const shape = [5, 7, 37];
            const x = make(values(numel(shape), 1, -3, 3), shape, dtype, layout).mul(2).add(0.5);
            const w = affine[0] ? make(values(37, 2), [37], dtype) : null;
            const b = affine[1] ? make(values(37, 3), [37], dtype) : null;
            const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 2e-6 } : { rtol: 1e-12, atol: 1e-12 };
            expectClose(R.layerNorm(x, w, b, 1e-6), vals(composite(x.to('float64'), w?.to('float64') ?? null, b?.to('float64') ?? null, 1e-6)), tol,
              `${dtype} ${layout} ${affine}`);
          });
        }
      }
    }
  });

  it('gradient checks (input, weight, bias) in float64', () => {
    R.tidy(() => {
      for (const layout of ['contiguous', 'permuted'] as const) {
        const x = make(values(3 * 4 * 9, 4), [3, 4, 9], 'float64', layout).requiresGrad_();
        const w = make(values(9, 5), [9], 'float64').requiresGrad_();
        const b = make(values(9, 6), [9], 'float64').requiresGrad_();
        R.gradCheck((x, w, b) => R.layerNorm(x, w, b, 1e-5), [x, w, b]);
        R.gradCheck((x) => R.layerNorm(x, null, null, 1e-5), [x]);
      }
    });
  });

  it('float32 backward matches the composite\'s backward; dweight/dbias independent of thread count', () => {
    R.tidy(() => {
      const run = () => {
        const x = R.randn([300, 96], { generator: new R.Generator(3) }).requiresGrad_();
        const w = R.randn([96], { generator: new R.Generator(4) }).requiresGrad_();
        const b = R.randn([96], { generator: new R.Generator(5) }).requiresGrad_();
        const g = R.randn([300, 96], { generator: new R.Generator(6) });
        R.layerNorm(x, w, b, 1e-6).backward(g);
        return [x, w, b].map((t) => t.grad!.dataSync() as Float32Array);
      };
      R.setNumThreads(1);
      const one = run();
      R.setNumThreads(2);
      const two = run();
      R.setNumThreads(0);
      one.forEach((a, i) => expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(two[i].buffer))).toBe(0));
      const x = R.randn([300, 96], { generator: new R.Generator(3), dtype: 'float64' }).requiresGrad_();
      const w = R.randn([96], { generator: new R.Generator(4), dtype: 'float64' }).requiresGrad_();
      const b = R.randn([96], { generator: new R.Generator(5), dtype: 'float64' }).requiresGrad_();
      composite(x, w, b, 1e-6).backward(R.randn([300, 96], { generator: new R.Generator(6), dtype: 'float64' }));
      [x, w, b].forEach((t, i) => expectClose(one[i], vals(t.grad!), { rtol: 1e-4, atol: 1e-4 }, `grad ${i}`));
    });
  });

  it('rejects a weight of the wrong size', () => {
    R.tidy(() => {
      expect(() => R.layerNorm(R.zeros([2, 5]), R.zeros([4]))).toThrow(/layer_norm: argument 'weight' has shape \[4\] \(expected \[5\]/);
    });
  });
});

describe('softmax backward', () => {
  it('the fused kernels equal the composite formulas along every dim', () => {
    R.tidy(() => {
      const x = R.randn([5, 7, 11], { generator: new R.Generator(1), dtype: 'float64' });
      const g = R.randn([5, 7, 11], { generator: new R.Generator(2), dtype: 'float64' });
      for (let dim = 0; dim < 3; dim++) {
        const y = x.softmax(dim), ly = x.logSoftmax(dim);
        const ref = y.mul(g.sub(g.mul(y).sum(dim, true)));
        const lref = g.sub(ly.exp().mul(g.sum(dim, true)));
        for (const [r, log] of [[ref, false], [lref, true]] as const) {
          const xx = x.detach().requiresGrad_();
          (log ? xx.logSoftmax(dim) : xx.softmax(dim)).backward(g);
          expectClose(xx.grad!, vals(r), { rtol: 1e-12, atol: 1e-14 }, `${log ? 'log_' : ''}softmax dim ${dim}`);
        }
      }
    });
  });
});

describe('gelu backward', () => {
  it('the vectorised float32 kernel equals the float64 one (std::erfc based, itself gradient-checked), both forms', () => {
    R.tidy(() => {
      const v = values(10_000, 7, -8, 8);
      const x = R.tensor(v, [10_000]);
      const dy = R.tensor(values(10_000, 8), [10_000]);
      for (const approximate of ['none', 'tanh'] as const) {
        const x64 = R.tensor(v, [10_000], 'float64').requiresGrad_();
        x64.gelu(approximate).backward(dy.to('float64'));
        expectClose(R.geluBackward(dy, x, approximate), vals(x64.grad!), { rtol: 2e-5, atol: 1e-6 }, approximate);
      }
    });
  });
});
