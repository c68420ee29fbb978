// DINOv2 ViT parity with the PyTorch reference (test/scripts/vit_reference.py): forwardFeatures at
// the training size, a larger non-square size, a smaller size and with masks; with and without
// registers; MLP and SwiGLU; getIntermediateLayers; and every parameter's gradient.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { DinoVisionTransformer, loadSafetensorsSync, Tensor } from '../lib/index.js';
import { vals, lcg } from './helpers.js';

const DIR = join(import.meta.dirname, 'fixtures', 'vit');
const { config, cases } = JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8'));
/**
 * Relative error of a whole tensor: max |ours - torch| <= 1e-5 * max |torch|. Per-element
 * relative error is not meaningful for entries near zero: float32 rounding of a sum is relative
 * to the magnitude of its terms, which is the tensor's scale.
 */
function expectRel(actual: Tensor, expected: Tensor, what: string): void {
  expect(actual.shape, what).toEqual(expected.shape);
  const a = vals(actual), e = vals(expected);
  if (e.length === 0) return;
  let err = 0, scale = 0, at = -1;
  for (let i = 0; i < e.length; i++) {
    scale = Math.max(scale, Math.abs(e[i]));
    const d = Math.abs(a[i] - e[i]);
    if (!(d <= err)) { err = d; at = i; }
  }
  expect(err / scale, `${what}: max error ${err} at ${at} (ours ${a[at]}, torch ${e[at]}), scale ${scale}`).toBeLessThanOrEqual(1e-5);
}

const image = (B: number, h: number, w: number, seed: number) => R.tensor(lcg(B * 3 * h * w, seed), [B, 3, h, w]);
const mask = (B: number, n: number, seed: number) => R.tensor(lcg(B * n, seed), [B, n]).gt(0.2);

function model(name: string): DinoVisionTransformer {
  const aa = name === 'mlp_reg_aa';
  const m = new DinoVisionTransformer({
    ...config, numRegisterTokens: name.startsWith('mlp_reg') ? 4 : 0, ffnLayer: name === 'swiglu' ? 'swiglufused' : 'mlp',
    interpolateAntialias: aa, interpolateOffset: aa ? 0 : 0.1,
  });
  const file = name === 'swiglu' ? 'weights_swiglu.safetensors' : 'weights_mlp.safetensors';
  const { tensors } = loadSafetensorsSync(join(DIR, file));
  if (name === 'mlp') {
    tensors.get('register_tokens')!.dispose();
    tensors.delete('register_tokens');
  }
  m.loadStateDict(tensors);
  for (const t of tensors.values()) t.dispose();
  return m.eval();
}

// Both ways: with the fused attention and bicubic kernels, and with them turned off (the matmul /
// softmax / weight-matrix forms other backends run, e.g. CUDA in float32).
for (const fused of [true, false]) describe(`DINOv2 ViT parity with PyTorch (${fused ? 'fused kernels' : 'composed fallbacks'})`, () => {
  beforeAll(() => R.setFusedKernels({ attention: fused, bicubic: fused }));
  afterAll(() => R.setFusedKernels({ attention: true, bicubic: true }));
  const expected = loadSafetensorsSync(join(DIR, 'expected.safetensors')).tensors;
  const models = new Map(['mlp', 'mlp_reg', 'swiglu', 'mlp_reg_aa'].map((n) => [n, model(n)]));

  for (const c of cases.filter((c: { kind: string }) => c.kind === 'features')) {
    it(`forwardFeatures ${c.model} ${c.B}x3x${c.h}x${c.w}${c.maskSeed ? ' masked' : ''}`, () => {
      R.tidy(() => R.noGrad(() => {
        const x = image(c.B, c.h, c.w, c.imageSeed);
        const masks = c.maskSeed ? mask(c.B, (c.h / 14) * (c.w / 14), c.maskSeed) : null;
        const out = models.get(c.model)!.forwardFeatures(x, { masks });
        const parts: [string, Tensor][] = [['cls', out.xNormClstoken], ['reg', out.xNormRegtokens], ['patch', out.xNormPatchtokens], ['prenorm', out.xPrenorm]];
        for (const [part, t] of parts) expectRel(t, expected.get(`${c.id}.${part}`)!, `${c.id}.${part}`);
      }));
    });
  }

  for (const c of cases.filter((c: { kind: string }) => c.kind === 'intermediate')) {
    it(`getIntermediateLayers ${c.model} n=${JSON.stringify(c.n)} reshape=${c.reshape} norm=${c.norm}`, () => {
      R.tidy(() => R.noGrad(() => {
        const x = image(c.B, c.h, c.w, c.imageSeed);
        const outs = models.get(c.model)!.getIntermediateLayers(x, { n: c.n, reshape: c.reshape, norm: c.norm, returnClassToken: true });
        expect(outs.length).toBe(c.count);
        outs.forEach((o, j) => {
          const [patch, cls] = o as [Tensor, Tensor];
          expectRel(patch, expected.get(`${c.id}.${j}.patch`)!, `${c.id}.${j}.patch`);
          expectRel(cls, expected.get(`${c.id}.${j}.cls`)!, `${c.id}.${j}.cls`);
        });
      }));
    });
  }

  for (const c of cases.filter((c: { kind: string }) => c.kind === 'grad')) {
    it(`gradients of every parameter, ${c.model} ${c.B}x3x${c.h}x${c.w}${c.maskSeed ? ' masked' : ''}`, () => {
      const m = models.get(c.model)!;
      m.zeroGrad();
      R.tidy(() => {
        const x = image(c.B, c.h, c.w, c.imageSeed);
        const masks = c.maskSeed ? mask(c.B, (c.h / 14) * (c.w / 14), c.maskSeed) : null;
        const out = m.forwardFeatures(x, { masks });
        let loss: Tensor | null = null;
        [out.xNormClstoken, out.xNormRegtokens, out.xNormPatchtokens].forEach((t, j) => {
          if (t.numel() === 0) return;
          const term = t.mul(R.tensor(lcg(t.numel(), c.lossSeed + j), t.shape)).sum();
          loss = loss ? loss.add(term) : term;
        });
        expect(Math.abs(loss!.item() - c.loss)).toBeLessThan(1e-5 * Math.abs(c.loss) + 1e-5);
        loss!.backward();
      });
      const params = new Map(m.namedParameters());
      for (const [name, summary] of Object.entries(c.grads) as [string, { norm: number; sum: number; dot: number; idx: number[]; values: number[] }][]) {
        const p = params.get(name);
        expect(p, name).toBeDefined();
        const g = p!.grad ? vals(p!.grad) : new Array<number>(p!.numel()).fill(0);
        const probe = lcg(g.length, c.probeSeed);
        let norm = 0, sum = 0, dot = 0;
        for (let i = 0; i < g.length; i++) {
          norm += g[i] * g[i];
          sum += g[i];
          dot += g[i] * probe[i];
        }
        const scale = summary.norm + 1e-12;
        expect(Math.abs(Math.sqrt(norm) - summary.norm) / scale, `${name} norm`).toBeLessThan(1e-5);
        expect(Math.abs(sum - summary.sum) / (scale * Math.sqrt(g.length)), `${name} sum`).toBeLessThan(1e-5);
        expect(Math.abs(dot - summary.dot) / (scale * Math.sqrt(g.length)), `${name} dot`).toBeLessThan(1e-5);
        summary.idx.forEach((k, j) => {
          expect(Math.abs(g[k] - summary.values[j]), `${name}[${k}]`).toBeLessThanOrEqual(1e-5 * Math.abs(summary.values[j]) + 1e-6 * scale);
        });
      }
      m.zeroGrad();
    });
  }
});
