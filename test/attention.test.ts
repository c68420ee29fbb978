// Fused attention against the composite softmax(q kᵀ s) v, forward and backward, on odd shapes
// and on the strided q/k/v views a qkv projection gives; float64 gradient checks; determinism.
import { afterAll, describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { Tensor } from '../lib/index.js';
import { expectClose, vals } from './helpers.js';

// The composite is the exported attentionComposed (what backends without the fused kernel run).
const composite = (q: Tensor, k: Tensor, v: Tensor, s: number) => R.attentionComposed(q, k, v, s);

/** Max |a - b| relative to max |b|. */
function relErr(a: Tensor, b: Tensor): number {
  const x = vals(a), y = vals(b);
  let err = 0, scale = 0;
  for (let i = 0; i < y.length; i++) {
    err = Math.max(err, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return err / (scale || 1);
}

describe('attention', () => {
  afterAll(() => R.setNumThreads(0));
  const shapes: [number, number, number, number, number][] = [
    [1, 1, 1, 1, 16], [2, 3, 7, 11, 24], [1, 2, 257, 257, 64], [2, 1, 33, 65, 17], [1, 1, 5, 300, 128], [1, 2, 48, 48, 80],
  ];
  for (const [B, H, N, M, D] of shapes) {
    it(`forward and backward match the composite: B${B} H${H} N${N} M${M} D${D}`, () => {
      R.tidy(() => {
        const g = new R.Generator(B * 1000 + N);
        const mk = (n: number) => R.randn([B, H, n, D], { generator: g }).requiresGrad_();
        const q = mk(N), k = mk(M), v = mk(M);
        const s = 1 / Math.sqrt(D);
        const dy = R.randn([B, H, N, D], { generator: g });
        const fused = R.attention(q, k, v, s);
        fused.backward(dy);
        const [dq, dk, dv] = [q, k, v].map((t) => t.grad!.detach());
        for (const t of [q, k, v]) t.grad = null;
        const ref = composite(q, k, v, s);
        ref.backward(dy);
        expect(relErr(fused, ref)).toBeLessThan(5e-6);
        expect(relErr(dq, q.grad!)).toBeLessThan(1e-5);
        expect(relErr(dk, k.grad!)).toBeLessThan(1e-5);
        expect(relErr(dv, v.grad!)).toBeLessThan(1e-5);
        for (const t of [q, k, v]) t.grad = null;
      });
    });
  }

  it('reads q, k, v as strided views of a fused qkv buffer and returns a free-to-reshape output', () => {
    R.tidy(() => {
      const [B, N, H, D] = [2, 9, 3, 16];
      const qkv = R.randn([B, N, 3, H, D], { generator: new R.Generator(5) }).permute(2, 0, 3, 1, 4);
      const [q, k, v] = [0, 1, 2].map((i) => qkv.select(0, i));
      expect(q.isContiguous()).toBe(false);
      const out = R.attention(q, k, v);
      expect(out.shape).toEqual([B, H, N, D]);
      expect(out.transpose(1, 2).isContiguous()).toBe(true);
      expectClose(out, vals(composite(q.contiguous(), k.contiguous(), v.contiguous(), 1 / Math.sqrt(D))), { rtol: 1e-5, atol: 1e-6 }, 'strided');
    });
  });

  it('attentionQkv equals attention on the q, k, v views, forward and backward', () => {
    R.tidy(() => {
      const [B, N, H, D] = [2, 13, 3, 8];
      const qkv = R.randn([B, N, 3 * H * D], { generator: new R.Generator(8) }).requiresGrad_();
      const g = R.randn([B, N, H * D], { generator: new R.Generator(9) });
      R.attentionQkv(qkv, H).backward(g);
      const fused = qkv.grad!.detach();
      qkv.grad = null;
      const q5 = qkv.reshape(B, N, 3, H, D).permute(2, 0, 3, 1, 4);
      const ref = R.attention(q5.select(0, 0), q5.select(0, 1), q5.select(0, 2)).transpose(1, 2).reshape(B, N, H * D);
      ref.backward(g);
      expect(relErr(R.attentionQkv(qkv, H), ref)).toBeLessThan(1e-6);
      expect(relErr(fused, qkv.grad!)).toBeLessThan(1e-6);
      qkv.grad = null;
      const x64 = R.randn([1, 4, 3 * 2 * 3], { generator: new R.Generator(10), dtype: 'float64' }).requiresGrad_();
      R.gradCheck((t) => R.attentionQkv(t, 2), [x64]);
    });
  });

  it('attentionQkv writes the same gradient bits as attention on the views, on 1 and 2 threads (one head: the split path)', () => {
    R.tidy(() => {
      for (const [B, N, H, D, threads] of [[1, 300, 1, 64, 2], [2, 257, 3, 64, 2], [2, 50, 6, 16, 1], [1, 7, 2, 5, 2]]) {
        R.setNumThreads(threads);
        const g = new R.Generator(B * 1000 + N);
        const qkv = R.randn([B, N, 3 * H * D], { generator: g }).requiresGrad_();
        const dy = R.randn([B, N, H * D], { generator: g });
        R.attentionQkv(qkv, H).backward(dy);
        const fused = qkv.grad!.detach();
        const q5 = qkv.detach().reshape(B, N, 3, H, D).permute(2, 0, 3, 1, 4);
        const [q, k, v] = [0, 1, 2].map((i) => q5.select(0, i).requiresGrad_());
        R.attention(q, k, v).transpose(1, 2).reshape(B, N, H * D).backward(dy);
        const ref = R.stack([q.grad!, k.grad!, v.grad!], 0).permute(1, 3, 0, 2, 4).reshape(B, N, 3 * H * D);
        expect(Buffer.compare(Buffer.from((fused.dataSync() as Float32Array).buffer), Buffer.from((ref.contiguous().dataSync() as Float32Array).buffer)), `${[B, N, H, D]}`).toBe(0);
      }
      R.setNumThreads(2);
    });
  });

  it('gradient check in float64', () => {
    R.tidy(() => {
      const g = new R.Generator(3);
      const mk = (n: number) => R.randn([1, 2, n, 5], { generator: g, dtype: 'float64' }).requiresGrad_();
      R.gradCheck((q, k, v) => R.attention(q, k, v, 0.7), [mk(4), mk(6), mk(6)]);
    });
  });

  it('gives the same bits on 1 and 2 threads, forward and backward', () => {
    R.tidy(() => {
      const run = () => {
        const g = new R.Generator(11);
        const q = R.randn([1, 3, 130, 64], { generator: g }).requiresGrad_();
        const k = R.randn([1, 3, 200, 64], { generator: g }).requiresGrad_();
        const v = R.randn([1, 3, 200, 64], { generator: g }).requiresGrad_();
        const o = R.attention(q, k, v);
        o.backward(R.randn([1, 3, 130, 64], { generator: g }));
        return [o, q.grad!, k.grad!, v.grad!].map((t) => Buffer.from((t.contiguous().dataSync() as Float32Array).buffer));
      };
      R.setNumThreads(1);
      const one = run();
      R.setNumThreads(2);
      const two = run();
      one.forEach((b, i) => expect(Buffer.compare(b, two[i])).toBe(0));
    });
  });

  it('attentionQkvComposed (the fallback of attentionQkv) equals the fused kernel, forward and backward', () => {
    R.tidy(() => {
      const g = new R.Generator(3), B = 2, N = 37, H = 3, hd = 20;
      const qkv = R.randn([B, N, 3 * H * hd], { generator: g }).requiresGrad_();
      const dy = R.randn([B, N, H * hd], { generator: g });
      const fused = R.attentionQkv(qkv, H);
      fused.backward(dy);
      const dFused = qkv.grad!.detach();
      qkv.grad = null;
      const comp = R.attentionQkvComposed(qkv, H);
      comp.backward(dy);
      expect(comp.shape).toEqual([B, N, H * hd]);
      expect(relErr(comp, fused)).toBeLessThan(5e-6);
      expect(relErr(qkv.grad!, dFused)).toBeLessThan(2e-5);
      expect(() => R.attentionComposed(R.zeros([1, 2, 3, 4]), R.zeros([1, 2, 3, 5]), R.zeros([1, 2, 3, 5]))).toThrow(/attention: argument 'key' has shape \[1, 2, 3, 5\]/);
      expect(() => R.attentionComposed(R.zeros([1, 2, 3, 4]), R.zeros([1, 2, 3, 4]), R.zeros([1, 2, 4, 4]))).toThrow(/attention: argument 'value' has shape \[1, 2, 4, 4\] \(expected \[1, 2, 3, 4\], like 'key'\)/);
    });
  });

  it('rejects mismatched shapes', () => {
    R.tidy(() => {
      const q = R.zeros([1, 2, 3, 4]);
      expect(() => R.attention(q, R.zeros([1, 2, 3, 5]), R.zeros([1, 2, 3, 5]))).toThrow(/attention: argument 'key' has shape \[1, 2, 3, 5\]/);
      expect(() => R.attention(q, q, R.zeros([1, 2, 4, 4]))).toThrow(/attention: argument 'value' has shape \[1, 2, 4, 4\] \(expected \[1, 2, 3, 4\], like 'key'\)/);
      expect(() => R.attention(R.zeros([2, 3, 4]), q, q)).toThrow(/must be 4-D/);
    });
  });
});
