// The DINOv2 ViT beyond PyTorch parity: names and sizes of its weights, both state-dict namings
// (a ViT-B/14 saved in HF names equals the same weights in dinov2 names), chunked checkpoints,
// HF config.json, drop path in training, and bad input.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { vals } from './helpers.js';

const small = (c: Partial<R.DinoV2Config> = {}) => new R.DinoVisionTransformer({ imgSize: 56, embedDim: 48, depth: 2, numHeads: 3, ...c }, { generator: new R.Generator(1) });

describe('DinoVisionTransformer', () => {
  it('has the dinov2 parameter names and sizes', () => {
    const m = small({ numRegisterTokens: 4 });
    const names = [...m.namedParameters()].map(([n]) => n);
    expect(names.slice(0, 8)).toEqual(['cls_token', 'pos_embed', 'register_tokens', 'mask_token', 'patch_embed.proj.weight', 'patch_embed.proj.bias', 'blocks.0.norm1.weight', 'blocks.0.norm1.bias']);
    expect(names).toContain('blocks.1.attn.qkv.weight');
    expect(names).toContain('blocks.1.ls2.gamma');
    expect(names).toContain('blocks.1.mlp.fc2.bias');
    expect(names.slice(-2)).toEqual(['norm.weight', 'norm.bias']);
    const D = 48;
    const perBlock = 12 * D * D + 4 * D + 3 * D + D + 4 * D + D + 2 * D;  // linears + LNs + LayerScales
    expect(m.numParameters()).toBe(3 * 196 * D + D + D + 17 * D + 4 * D + D + 2 * perBlock + 2 * D);
    const sw = small({ ffnLayer: 'swiglufused' });
    expect(new Map(sw.namedParameters()).get('blocks.0.mlp.w12.weight')!.shape).toEqual([2 * 128, D]);  // (int(192*2/3)+7)//8*8
    m.dispose();
    sw.dispose();
  });

  it('a ViT-B/14 saved in HF names loads and gives the same output as the dinov2 names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raddino-vit-'));
    try {
      const a = R.vitBase({ imgSize: 224 }, { generator: new R.Generator(7) }).eval();
      const hf = a.stateDict({ format: 'hf' });
      expect(hf.has('encoder.layer.11.attention.attention.value.weight')).toBe(true);
      expect(hf.has('embeddings.patch_embeddings.projection.weight')).toBe(true);
      expect(R.detectFormat(hf)).toBe('hf');
      await R.saveSafetensors(join(dir, 'hf.safetensors'), hf);
      for (const t of hf.values()) t.dispose();
      const b = R.vitBase({ imgSize: 224 }, { generator: new R.Generator(8) }).eval();
      const { tensors } = await R.loadSafetensors(join(dir, 'hf.safetensors'));
      const res = b.loadStateDict(tensors);
      expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
      for (const t of tensors.values()) t.dispose();
      R.tidy(() => R.noGrad(() => {
        const x = R.randn([1, 3, 224, 224], { generator: new R.Generator(9) });
        expect(vals(b.forward(x))).toEqual(vals(a.forward(x)));
      }));
      a.dispose();
      b.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads chunked dinov2 checkpoints (blocks.{chunk}.{i}) and reports missing/unexpected keys', () => {
    const a = small(), b = small({});
    const sd = a.stateDict();
    const chunked = new Map([...sd].map(([k, t]) => [k.replace(/^blocks\.(\d+)\./, (_, i) => `blocks.${Math.floor(Number(i) / 2)}.${i}.`), t]));
    expect(b.loadStateDict(chunked)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    R.tidy(() => expect(vals(b.posEmbed)).toEqual(vals(a.posEmbed)));
    const partial = new Map(sd);
    partial.delete('norm.bias');
    partial.set('head.weight', sd.get('norm.weight')!);
    expect(() => b.loadStateDict(partial)).toThrow(/missing keys: norm\.bias\. unexpected keys: head\.weight/);
    expect(b.loadStateDict(partial, { strict: false })).toEqual({ missingKeys: ['norm.bias'], unexpectedKeys: ['head.weight'] });
    const wrong = new Map(sd);
    wrong.set('norm.bias', R.zeros([7]));
    expect(() => b.loadStateDict(wrong)).toThrow(/loadStateDict: 'norm\.bias' has shape \[7\] \(expected \[48\]\)/);
    wrong.get('norm.bias')!.dispose();
    for (const t of sd.values()) t.dispose();
    a.dispose();
    b.dispose();
  });

  it('is built from a Hugging Face config.json', () => {
    const m = R.fromHfConfig({ model_type: 'dinov2', hidden_size: 48, num_hidden_layers: 2, num_attention_heads: 3, image_size: 56, patch_size: 14, layerscale_value: 1, use_swiglu_ffn: false });
    expect(m.config).toMatchObject({ embedDim: 48, depth: 2, numHeads: 3, imgSize: 56, initValues: 1, interpolateOffset: 0.1, ffnLayer: 'mlp' });
    expect(() => R.configFromHf({ model_type: 'vit', hidden_size: 1, num_hidden_layers: 1, num_attention_heads: 1 })).toThrow(/model_type 'vit' is not a DINOv2 model/);
    m.dispose();
  });

  it('drop path: both regimes train and are reproducible from the generator; eval is deterministic', () => {
    for (const rate of [0.05, 0.4]) {
      const outs = [1, 2].map(() => {
        const m = new R.DinoVisionTransformer({ imgSize: 28, embedDim: 24, depth: 3, numHeads: 2, dropPathRate: rate }, { generator: new R.Generator(5) });
        m.train();
        const y = R.tidy(() => vals(m.forwardFeatures(R.randn([4, 3, 28, 28], { generator: new R.Generator(6) })).xNormClstoken));
        m.eval();
        const z = R.tidy(() => R.noGrad(() => vals(m.forward(R.randn([4, 3, 28, 28], { generator: new R.Generator(6) })))));
        m.dispose();
        return [y, z];
      });
      expect(outs[0][0]).toEqual(outs[1][0]);
      expect(outs[0][1]).toEqual(outs[1][1]);
      expect(outs[0][0]).not.toEqual(outs[0][1]);  // training dropped something
    }
  });

  it('forwardTokens equals forwardFeatures at the cls tokens and the chosen patches, gradients included, in every drop-path regime', () => {
    for (const rate of [0, 0.05, 0.4]) {
      const g = new R.Generator(5);
      const m = new R.DinoVisionTransformer({ imgSize: 42, embedDim: 24, depth: 3, numHeads: 2, numRegisterTokens: 2, dropPathRate: rate, initValues: 0.5, dtype: 'float64' }, { generator: g });
      m.train();
      const B = 3, N = 9;
      const x = R.randn([B, 3, 42, 42], { dtype: 'float64', generator: new R.Generator(6) });
      const masks = R.tensor(Array.from({ length: B * N }, (_, i) => i % 4 === 1), [B, N], 'bool');
      const picked = [25, 1, 13, 5, 9, 21, 17];  // unsorted, every image, not only masked ones
      const idx = R.tensor(BigInt64Array.from(picked, BigInt), [picked.length], 'int64');
      const wc = R.randn([B, 24], { dtype: 'float64', generator: new R.Generator(7) });
      const wp = R.randn([picked.length, 24], { dtype: 'float64', generator: new R.Generator(8) });
      const state = g.getState();
      const run = (tokens: boolean) => {
        g.setState(state);
        m.zeroGrad();
        return R.tidy(() => {
          let cls: R.Tensor, patches: R.Tensor;
          if (tokens) ({ cls, patches } = m.forwardTokens(x, { masks, patchIndices: idx }) as { cls: R.Tensor; patches: R.Tensor });
          else {
            const f = m.forwardFeatures(x, { masks });
            cls = f.xNormClstoken;
            patches = f.xNormPatchtokens.flatten(0, 1).indexSelect(0, idx);
          }
          cls.mul(wc).sum().add(patches.mul(wp).sum()).backward();
          return { cls: vals(cls), patches: vals(patches), grads: [...m.namedParameters()].map(([, p]) => vals(p.grad!)) };
        });
      };
      const full = run(false), sel = run(true);
      const close = (a: number[], b: number[]) => {
        expect(a.length).toBe(b.length);
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(a[i]!)));
      };
      close(sel.cls, full.cls);
      close(sel.patches, full.patches);
      full.grads.forEach((gr, i) => close(sel.grads[i]!, gr));
      expect(g.getState()).toEqual(R.tidy(() => { g.setState(state); m.forwardFeatures(x, { masks }); return g.getState(); }));  // same draws
      R.tidy(() => {
        expect(() => m.forwardTokens(x, { patchIndices: R.tensor([27n], [1], 'int64') })).toThrow(/forwardTokens: patch index 27 is out of range \(expected 0..26\)/);
        expect(() => m.forwardTokens(x, { patchIndices: R.zeros([2, 2]) })).toThrow(/argument 'patchIndices' must be a 1-D int64 tensor/);
      });
      for (const t of [x, masks, idx, wc, wp]) t.dispose();
      m.dispose();
    }
  });

  it('rejects bad input with clear errors', () => {
    const m = small();
    R.tidy(() => {
      expect(() => m.forward(R.zeros([1, 3, 50, 56]))).toThrow(/PatchEmbed: input size 50x56 is not a multiple of the patch size 14/);
      expect(() => m.forward(R.zeros([1, 1, 56, 56]))).toThrow(/PatchEmbed: input has shape \[1, 1, 56, 56\] \(expected \[B, 3, H, W\]\)/);
      expect(() => m.forwardFeatures(R.zeros([1, 3, 56, 56]), { masks: R.zeros([1, 16]) })).toThrow(/argument 'masks' must be a bool tensor \[1, 16\]/);
      expect(() => m.getIntermediateLayers(R.zeros([1, 3, 56, 56]), { n: [5] })).toThrow(/block index 5 is out of range/);
    });
    m.dispose();
  });
});
