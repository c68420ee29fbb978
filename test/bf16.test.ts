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

describe("setMatmulPrecision('bfloat16'): mixed-precision matmuls", () => {
  const bf = (t: R.Tensor) => t.to('bfloat16').to('float64');
  const maxErr = (a: R.Tensor, b: R.Tensor) => a.to('float64').sub(b.to('float64')).abs().max().item();
  const LAYOUTS: [string, (g: R.Generator, M: number, K: number, N: number) => [R.Tensor, R.Tensor]][] = [
    ['A B', (g, M, K, N) => [R.randn([M, K], { generator: g }), R.randn([K, N], { generator: g })]],
    ['A Wᵀ (Linear)', (g, M, K, N) => [R.randn([M, K], { generator: g }), R.randn([N, K], { generator: g }).t()]],
    ['Aᵀ B (weight gradient)', (g, M, K, N) => [R.randn([K, M], { generator: g }).t(), R.randn([K, N], { generator: g })]],
    ['Aᵀ Bᵀ', (g, M, K, N) => [R.randn([K, M], { generator: g }).t(), R.randn([N, K], { generator: g }).t()]],
    ['strided (every other column)', (g, M, K, N) => [R.randn([M, 2 * K], { generator: g }).slice(1, 0, 2 * K, 2), R.randn([K, 2 * N], { generator: g }).slice(1, 1, 2 * N, 2)]],
  ];

  for (const threads of [1, 2]) {
    it(`equals float64 math on bf16-rounded operands, odd shapes, every layout, ${threads} thread(s)`, () => {
      R.setNumThreads(threads);
      try {
        for (const [M, K, N] of [[1, 1, 1], [5, 3, 2], [37, 53, 71], [100, 769, 33], [257, 96, 130]]) {
          for (const [name, build] of LAYOUTS) {
            R.tidy(() => {
              const [a, b] = build(new R.Generator(M * 1000 + N), M, K, N);
              const ref = bf(a).matmul(bf(b));
              const y = R.withMatmulPrecision('bfloat16', () => a.matmul(b));
              expect(y.dtype).toBe('float32');
              expect(maxErr(y, ref), `${name} ${M}x${K}x${N}`).toBeLessThan(2e-6 * Math.sqrt(K) * 4);
            });
          }
        }
      } finally {
        R.setNumThreads(0);
      }
    });
  }

  it('covers batched products, Linear with bias and its gradients; float64 is unaffected; the setting is restored', () => {
    R.tidy(() => {
      const g = new R.Generator(9);
      const a = R.randn([3, 41, 67], { generator: g }), b = R.randn([3, 67, 29], { generator: g });
      expect(maxErr(R.withMatmulPrecision('bfloat16', () => a.matmul(b)), bf(a).matmul(bf(b)))).toBeLessThan(2e-6 * Math.sqrt(67) * 4);
      // it is in effect: float32 products differ from the bf16 ones by far more than float32 rounding
      expect(maxErr(a.matmul(b), bf(a).matmul(bf(b)))).toBeGreaterThan(1e-3);
      const a64 = a.to('float64'), b64 = b.to('float64');
      expect(maxErr(R.withMatmulPrecision('bfloat16', () => a64.matmul(b64)), a64.matmul(b64))).toBe(0);

      const x = R.randn([50, 96], { generator: g }).requiresGrad_();
      const w = R.randn([70, 96], { generator: g }).requiresGrad_(), bias = R.randn([70], { generator: g }).requiresGrad_();
      const gy = R.randn([50, 70], { generator: g });
      const y = R.withMatmulPrecision('bfloat16', () => {
        const out = R.linear(x, w, bias);
        out.mul(gy).sum().backward();
        return out;
      });
      expect(maxErr(y, bf(x).matmul(bf(w).t()).add(bias.to('float64')))).toBeLessThan(1e-4);
      expect(maxErr(x.grad!, bf(gy).matmul(bf(w)))).toBeLessThan(1e-4);                // dX = bf16(dY) bf16(W)
      expect(maxErr(w.grad!, bf(gy).t().matmul(bf(x)))).toBeLessThan(1e-4);          // dW = bf16(dY)ᵀ bf16(X)
      expect(maxErr(bias.grad!, gy.to('float64').sum(0))).toBeLessThan(1e-4);         // float32 reduction
      expect(R.getMatmulPrecision()).toBe('float32');
      expect(() => R.withMatmulPrecision('bfloat16', () => { throw new Error('boom'); })).toThrow('boom');
      expect(R.getMatmulPrecision()).toBe('float32');
      expect(() => R.setMatmulPrecision('float16' as 'float32')).toThrow(/setMatmulPrecision: argument 'precision' is 'float16' \(expected 'float32' or 'bfloat16'\)/);
    });
  });

  it('Linear saves its input as bfloat16 on the tape: the same weight-gradient bits as a bf16 matmul on the float32 input', () => {
    R.tidy(() => {
      const g = new R.Generator(12);
      const x = R.randn([3, 70, 96], { generator: g }), w = R.randn([50, 96], { generator: g }).requiresGrad_();
      const gy = R.randn([3, 70, 50], { generator: g });
      R.withMatmulPrecision('bfloat16', () => R.linear(x, w).backward(gy));
      const ref = R.withMatmulPrecision('bfloat16', () => gy.reshape(-1, 50).t().matmul(x.reshape(-1, 96)));
      expect(Buffer.compare(Buffer.from(w.grad!.dataSync().buffer), Buffer.from(ref.contiguous().dataSync().buffer))).toBe(0);
      // float32 precision keeps the float32 input (float32 products)
      w.grad = null;
      R.linear(x, w).backward(gy);
      expect(maxErr(w.grad!, gy.to('float64').reshape(-1, 50).t().matmul(x.to('float64').reshape(-1, 96)))).toBeLessThan(1e-4);
    });
  });

  it('a Linear or matmul recorded under bfloat16 runs its backward in bfloat16 wherever backward() is called', () => {
    R.tidy(() => {
      const g = new R.Generator(14);
      const x = R.randn([30, 40], { generator: g }).requiresGrad_(), w = R.randn([20, 40], { generator: g }).requiresGrad_();
      const gy = R.randn([30, 20], { generator: g });
      const y = R.withMatmulPrecision('bfloat16', () => R.linear(x, w));
      y.backward(gy);  // outside the scope
      expect(maxErr(x.grad!, bf(gy).matmul(bf(w)))).toBeLessThan(1e-5);
      expect(maxErr(x.grad!, gy.to('float64').matmul(w.to('float64')))).toBeGreaterThan(1e-3);
      expect(maxErr(w.grad!, bf(gy).t().matmul(bf(x)))).toBeLessThan(1e-5);
      const a = R.randn([30, 40], { generator: g }).requiresGrad_(), b = R.randn([40, 20], { generator: g }).requiresGrad_();
      R.withMatmulPrecision('bfloat16', () => a.matmul(b)).backward(gy);
      expect(maxErr(a.grad!, bf(gy).matmul(bf(b).t()))).toBeLessThan(1e-5);
      expect(maxErr(b.grad!, bf(a).t().matmul(bf(gy)))).toBeLessThan(1e-5);
      // and the other way round: recorded in float32, differentiated inside a bfloat16 scope
      const c = R.randn([30, 40], { generator: g }).requiresGrad_();
      const z = c.matmul(b.detach());
      R.withMatmulPrecision('bfloat16', () => z.backward(gy));
      expect(maxErr(c.grad!, gy.to('float64').matmul(b.to('float64').t()))).toBeLessThan(1e-5);
    });
  });

  it('results are the same bits for 1 and 2 threads (ViT shape)', () => {
    R.tidy(() => {
      const x = R.randn([300, 384], { generator: new R.Generator(1) }), w = R.randn([1152, 384], { generator: new R.Generator(2) });
      const run = (n: number) => {
        R.setNumThreads(n);
        return Buffer.from(R.withMatmulPrecision('bfloat16', () => x.matmul(w, { transB: true })).dataSync().buffer);
      };
      try {
        expect(Buffer.compare(run(1), run(2))).toBe(0);
      } finally {
        R.setNumThreads(0);
      }
    });
  });
});
