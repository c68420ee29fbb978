// matmul against a float64 triple loop: odd shapes, transposes, strided and broadcast batch
// operands, 1-D rules, float32 and float64, one and two threads.
import { afterAll, describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { DType } from '../lib/index.js';
import { expectClose, make, numel, TOL, values, vals } from './helpers.js';

/** C[b] = A[b] B[b] for row-major values with batch broadcasting over leading dims. */
function refMatmul(a: number[], sa: number[], b: number[], sb: number[]): { out: number[]; shape: number[] } {
  const M = sa[sa.length - 2], K = sa[sa.length - 1], N = sb[sb.length - 1];
  const ba = sa.slice(0, -2), bb = sb.slice(0, -2);
  const nb = Math.max(ba.length, bb.length);
  const batch: number[] = [];
  for (let i = 0; i < nb; i++) {
    const x = ba[ba.length - nb + i] ?? 1, y = bb[bb.length - nb + i] ?? 1;
    batch.push(x === 1 ? y : x);
  }
  const out: number[] = [];
  const idx = new Array(nb).fill(0);
  for (let t = 0; t < numel(batch); t++) {
    let oa = 0, ob = 0;
    for (let d = 0; d < ba.length; d++) oa = oa * ba[d] + (ba[d] === 1 ? 0 : idx[nb - ba.length + d]);
    for (let d = 0; d < bb.length; d++) ob = ob * bb[d] + (bb[d] === 1 ? 0 : idx[nb - bb.length + d]);
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[oa * M * K + i * K + k] * b[ob * K * N + k * N + j];
        out.push(s);
      }
    for (let d = nb - 1; d >= 0; d--) { if (++idx[d] < batch[d]) break; idx[d] = 0; }
  }
  return { out, shape: [...batch, M, N] };
}

const tol = (dtype: DType, K: number) => (dtype === 'float32' ? { rtol: 1e-5, atol: 2e-6 * Math.sqrt(K) } : TOL.float64);

describe('matmul', () => {
  afterAll(() => R.setNumThreads(0));
  const CASES: [number[], number[]][] = [
    [[1, 1], [1, 1]],
    [[5, 7], [7, 11]],
    [[13, 1], [1, 17]],
    [[33, 65], [65, 47]],
    [[3, 129, 31], [3, 31, 70]],
    [[2, 1, 15, 9], [3, 9, 14]],
    [[257, 96], [96, 130]],
    [[4, 7, 5], [5, 6]],  // b shared by the batch: folded into one GEMM
    [[0, 5], [5, 3]],
    [[4, 0], [0, 3]],
  ];
  // float32 only (float64's relative tolerance is too tight for sums of 1537 terms that cancel):
  // several A row blocks and K blocks, with A read in place by the AVX-512 kernel (narrow N)
  const F32_CASES: [number[], number[]][] = [[[1045, 1537], [1537, 40]]];
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const threads of [1, 2]) {
      it(`${dtype}, ${threads} thread(s): odd shapes, broadcast batches, every layout`, () => {
        R.setNumThreads(threads);
        for (const [sa, sb] of dtype === 'float32' ? [...CASES, ...F32_CASES] : CASES) {
          const va = values(numel(sa), 3), vb = values(numel(sb), 4);
          const { out, shape } = refMatmul(Array.from(va), sa, Array.from(vb), sb);
          for (const la of ['contiguous', 'permuted', 'sliced'] as const) {
            R.tidy(() => {
              const a = make(va, sa, dtype, la), b = make(vb, sb, dtype, la === 'sliced' ? 'permuted' : 'contiguous');
              const r = a.matmul(b);
              expect(r.shape).toEqual(shape);
              expectClose(r, out, tol(dtype, sa[sa.length - 1]), `${JSON.stringify([sa, sb])} ${la}`);
            });
          }
        }
      });
    }
  }

  it('transA / transB and x.matmul(W, {transB}) (the Linear layout)', () => {
    R.tidy(() => {
      const M = 37, K = 50, N = 29;
      const va = values(M * K, 5), vw = values(N * K, 6);
      const x = make(va, [M, K]), w = make(vw, [N, K]);
      const wt: number[] = [];
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) wt.push(vw[n * K + k]);
      const { out } = refMatmul(Array.from(va), [M, K], wt, [K, N]);
      expectClose(x.matmul(w, { transB: true }), out, tol('float32', K), 'transB');
      const xt = make(Float64Array.from(vals(x.t().contiguous())), [K, M]);
      expectClose(xt.matmul(w, { transA: true, transB: true }), out, tol('float32', K), 'transA + transB');
      expectClose(R.matmul(x, w.t()), out, tol('float32', K), 'transposed view');
    });
  });

  it('follows torch.matmul for 1-D operands', () => {
    R.tidy(() => {
      const v = R.tensor([1, 2, 3]), m = R.tensor([[1, 0], [0, 1], [1, 1]]), bm = R.tensor([[[1, 2, 3]], [[4, 5, 6]]]);
      expect(v.matmul(v).shape).toEqual([]);
      expect(v.matmul(v).item()).toBe(14);
      expect(v.matmul(m).toArray()).toEqual([4, 5]);
      expect(m.t().matmul(v).toArray()).toEqual([4, 5]);
      expect(bm.matmul(v).toArray()).toEqual([[14], [32]]);
      expect(() => R.mm(v, m)).toThrow(/mm: arguments must be 2-D/);
    });
  });

  it('is bit-identical across thread counts for a large product', () => {
    R.tidy(() => {
      const a = R.randn([300, 500], { generator: new R.Generator(1) }), b = R.randn([500, 260], { generator: new R.Generator(2) });
      R.setNumThreads(1);
      const one = a.matmul(b).dataSync();
      R.setNumThreads(2);
      const two = a.matmul(b).dataSync();
      expect(Buffer.compare(Buffer.from(one.buffer), Buffer.from(two.buffer))).toBe(0);
    });
  });

  it('ViT-sized Linear shapes match a float64 reference on sampled entries', () => {
    R.tidy(() => {
      const M = 257, K = 768, N = 2304;
      const x = R.randn([M, K], { generator: new R.Generator(3) }), w = R.randn([N, K], { generator: new R.Generator(4) });
      const y = x.matmul(w, { transB: true }).dataSync() as Float32Array;
      const xv = x.dataSync() as Float32Array, wv = w.dataSync() as Float32Array;
      for (let t = 0; t < 500; t++) {
        const i = (t * 7919) % M, j = (t * 104729) % N;
        let s = 0;
        for (let k = 0; k < K; k++) s += xv[i * K + k] * wv[j * K + k];
        expect(Math.abs(y[i * N + j] - s)).toBeLessThan(1e-5 * Math.sqrt(K) * 4);
      }
    });
  });
});

