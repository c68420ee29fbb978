// The bfloat16 inference mode: linearBf16 equals float32 math on bf16-rounded operands (exactly
// the emulation on any CPU, to float32 accumulation error on AVX512-BF16), and a ViT in bf16 mode
// keeps its cls token (cosine similarity >= 0.999 against float32).
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { vals } from './helpers.js';

const cosine = (a: number[], b: number[]) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
};

describe('bf16 inference mode', () => {
  it('linearBf16 equals float64 math on the bf16-rounded operands', () => {
    R.tidy(() => {
      for (const [M, K, N] of [[1, 1, 1], [37, 50, 29], [257, 96, 130], [5, 768, 33]]) {
        const x = R.randn([M, K], { generator: new R.Generator(M) });
        const w = R.randn([N, K], { generator: new R.Generator(N) }).to('bfloat16');
        const b = R.randn([N], { generator: new R.Generator(K) });
        const ref = x.to('bfloat16').to('float64').matmul(w.to('float64'), { transB: true }).add(b.to('float64'));
        const y = R.linearBf16(x, w, b);
        expect(y.dtype).toBe('float32');
        const r = vals(ref);
        const err = vals(y).reduce((m, v, i) => Math.max(m, Math.abs(v - r[i])), 0);
        expect(err).toBeLessThan(1e-5 * Math.sqrt(K) * 4);
      }
    });
  });

  it('a ViT in bf16 mode keeps the float32 cls token (cosine >= 0.999) and refuses gradients', () => {
    const m = new R.DinoVisionTransformer({ imgSize: 56, embedDim: 96, depth: 3, numHeads: 3 }, { generator: new R.Generator(2) }).eval();
    R.tidy(() => R.noGrad(() => {
      const x = R.randn([2, 3, 56, 56], { generator: new R.Generator(3) });
      const f32 = vals(m.forward(x));
      R.setInferenceDtype(m, 'bfloat16');
      const bf16 = vals(m.forward(x));
      expect(cosine(f32, bf16)).toBeGreaterThanOrEqual(0.999);
      expect(bf16).not.toEqual(f32);
    }));
    R.tidy(() => {
      expect(() => m.forward(R.randn([1, 3, 56, 56]).requiresGrad_())).toThrow(/linear_bf16: the bfloat16 inference mode has no backward/);
    });
    R.setInferenceDtype(m, 'float32');
    m.dispose();
  });
});
