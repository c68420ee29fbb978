// The DINOv2 vision transformer (Oquab et al. 2023), exactly as ../shared/DINOV2.md states it:
// patch 14, optional register tokens (Darcet et al. 2024), mask token, position-embedding
// interpolation, LayerScale, MLP or SwiGLU FFN, both drop-path regimes.
// Shapes: B batch, N patch tokens, R register tokens, D width, G = grid side.
import { cat } from '../tensor/indexing.js';
import { empty, zeros } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { Block } from '../nn/block.js';
import { PatchEmbed } from '../nn/block.js';
import { interpolateBicubic } from '../nn/functional.js';
import { normal_, truncNormal_, zeros_ } from '../nn/init.js';
import { LayerNorm, Linear } from '../nn/layers.js';
import { LoadResult, Module } from '../nn/module.js';
import { NameFormat, toDinov2Names, toHfNames } from './keymap.js';

export interface DinoV2Config {
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  qkvBias: boolean;
  projBias: boolean;
  ffnBias: boolean;
  dropPathRate: number;
  /** Every block gets dropPathRate (true) or rates rise linearly from 0 (false). */
  dropPathUniform: boolean;
  /** LayerScale init; null disables LayerScale. */
  initValues: number | null;
  ffnLayer: 'mlp' | 'swiglufused' | 'swiglu';
  numRegisterTokens: number;
  interpolateAntialias: boolean;
  interpolateOffset: number;
  /** >0 stores blocks as blocks.{chunk}.{i} in dinov2 checkpoints (naming only). */
  blockChunks: number;
  layerNormEps: number;
  dtype: 'float32' | 'float64';
}

export const DEFAULT_CONFIG: DinoV2Config = {
  imgSize: 518, patchSize: 14, inChans: 3, embedDim: 768, depth: 12, numHeads: 12, mlpRatio: 4, qkvBias: true,
  projBias: true, ffnBias: true, dropPathRate: 0, dropPathUniform: false, initValues: 1e-5, ffnLayer: 'mlp',
  numRegisterTokens: 0, interpolateAntialias: false, interpolateOffset: 0.1, blockChunks: 0, layerNormEps: 1e-6,
  dtype: 'float32',
};

export interface ForwardFeatures {
  xNormClstoken: Tensor;     // (B, D)
  xNormRegtokens: Tensor;    // (B, R, D)
  xNormPatchtokens: Tensor;  // (B, N, D)
  xPrenorm: Tensor;          // (B, 1 + R + N, D)
  masks: Tensor | null;
}

export class DinoVisionTransformer extends Module {
  readonly config: DinoV2Config;
  readonly patchEmbed: PatchEmbed;
  readonly clsToken: Tensor;       // (1, 1, D)
  readonly posEmbed: Tensor;       // (1, 1 + N0, D)
  readonly registerTokens: Tensor | null;  // (1, R, D)
  readonly maskToken: Tensor;      // (1, D)
  readonly blocks: Block[];
  readonly norm: LayerNorm;

  constructor(config: Partial<DinoV2Config> = {}, opts: { generator?: Generator } = {}) {
    super();
    const c = (this.config = { ...DEFAULT_CONFIG, ...config });
    const D = c.embedDim, dtype = c.dtype, g = opts.generator;
    if (c.imgSize % c.patchSize !== 0) throw new RangeError(`DinoVisionTransformer: imgSize ${c.imgSize} is not a multiple of patchSize ${c.patchSize}`);
    const n0 = (c.imgSize / c.patchSize) ** 2;
    this.patchEmbed = this.module('patch_embed', new PatchEmbed(c.patchSize, c.inChans, D, { dtype, generator: g }));
    this.clsToken = this.param('cls_token', empty([1, 1, D], { dtype }));
    this.posEmbed = this.param('pos_embed', empty([1, 1 + n0, D], { dtype }));
    this.registerTokens = c.numRegisterTokens > 0 ? this.param('register_tokens', empty([1, c.numRegisterTokens, D], { dtype })) : null;
    this.maskToken = this.param('mask_token', zeros([1, D], { dtype }));
    const rates = Array.from({ length: c.depth }, (_, i) => (c.dropPathUniform ? c.dropPathRate : c.depth > 1 ? (c.dropPathRate * i) / (c.depth - 1) : 0));
    this.blocks = rates.map((r, i) => this.module(`blocks.${i}`, new Block(D, c.numHeads, {
      mlpRatio: c.mlpRatio, qkvBias: c.qkvBias, projBias: c.projBias, ffnBias: c.ffnBias, dropPath: r, initValues: c.initValues,
      ffnLayer: c.ffnLayer, normEps: c.layerNormEps, dtype, generator: g,
    })));
    this.norm = this.module('norm', new LayerNorm(D, c.layerNormEps, { dtype }));
    this.initWeights(g);
  }

  /** DINOv2's init: trunc-normal(0.02) position embedding and Linear weights, tiny tokens. */
  private initWeights(generator?: Generator): void {
    truncNormal_(this.posEmbed, { std: 0.02, a: -2, b: 2, generator });
    normal_(this.clsToken, { std: 1e-6, generator });
    if (this.registerTokens) normal_(this.registerTokens, { std: 1e-6, generator });
    for (const [, m] of this.namedModules()) {
      if (m instanceof Linear) {
        truncNormal_(m.weight, { std: 0.02, a: -2, b: 2, generator });
        if (m.bias) zeros_(m.bias);
      }
    }
  }

  /**
   * Loads weights named as in the original dinov2 code (also chunked `blocks.{chunk}.{i}`) or as
   * in Hugging Face's Dinov2Model (q/k/v are fused); see Module.loadStateDict for `strict`.
   */
  override loadStateDict(dict: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const { dict: named, created } = toDinov2Names(dict);
    try {
      return super.loadStateDict(named, opts);
    } finally {
      for (const t of created) t.dispose();
    }
  }

  /** The weights in dinov2 names (default) or Hugging Face Dinov2Model names, as views the caller owns. */
  override stateDict(opts: { format?: NameFormat } = {}): Map<string, Tensor> {
    const views = super.stateDict();
    if ((opts.format ?? 'dinov2') === 'dinov2') return views;
    const dict = toHfNames(views);
    for (const [k, t] of views) if (/\.attn\.qkv\./.test(k)) t.dispose();  // replaced by its q/k/v views
    return dict;
  }

  get numRegisterTokens(): number {
    return this.config.numRegisterTokens;
  }

  /** The position embedding for an h x w input: the stored grid resized bicubically when needed. */
  interpolatePosEncoding(numTokens: number, h: number, w: number): Tensor {
    return tidy(() => {
      const npatch = numTokens - 1;
      const N = this.posEmbed.shape[1] - 1;
      if (npatch === N && w === h) return this.posEmbed.reshape(this.posEmbed.shape);
      const D = this.posEmbed.shape[2], p = this.config.patchSize;
      const h0 = Math.floor(h / p), w0 = Math.floor(w / p);
      const M = Math.round(Math.sqrt(N));
      if (M * M !== N) throw new RangeError(`interpolatePosEncoding: ${N} position embeddings do not form a square grid`);
      const pos = this.posEmbed.to('float32');
      const cls = pos.narrow(1, 0, 1);
      const grid = pos.narrow(1, 1, N).reshape(1, M, M, D).permute(0, 3, 1, 2);
      const off = this.config.interpolateOffset;
      const resized = off
        ? interpolateBicubic(grid, { scaleFactor: [(h0 + off) / M, (w0 + off) / M], antialias: this.config.interpolateAntialias })
        : interpolateBicubic(grid, { size: [h0, w0], antialias: this.config.interpolateAntialias });
      if (resized.shape[2] !== h0 || resized.shape[3] !== w0) {
        throw new Error(`interpolatePosEncoding: resized grid is ${resized.shape[2]}x${resized.shape[3]} (expected ${h0}x${w0})`);
      }
      return cat([cls, resized.permute(0, 2, 3, 1).reshape(1, h0 * w0, D)], 1).to(this.posEmbed.dtype);
    });
  }

  /** Tokens (B, 1 + R + N, D): patch embedding, mask tokens, cls, position embedding, registers. */
  prepareTokens(x: Tensor, masks: Tensor | null = null): Tensor {
    return tidy(() => {
      const [B, , h, w] = x.shape;
      let t = this.patchEmbed.forward(x);  // (B, N, D)
      if (masks) {
        if (masks.dtype !== 'bool' || masks.ndim !== 2 || masks.shape[0] !== B || masks.shape[1] !== t.shape[1]) {
          throw new RangeError(`forwardFeatures: argument 'masks' must be a bool tensor [${B}, ${t.shape[1]}] (got ${masks.dtype} [${masks.shape.join(', ')}])`);
        }
        t = t.where(masks.unsqueeze(-1).logicalNot(), this.maskToken.to(t.dtype).unsqueeze(0));
      }
      t = cat([this.clsToken.expand(B, -1, -1), t], 1);
      t = t.add(this.interpolatePosEncoding(t.shape[1], h, w));
      if (this.registerTokens) {
        t = cat([t.narrow(1, 0, 1), this.registerTokens.expand(B, -1, -1), t.narrow(1, 1, t.shape[1] - 1)], 1);
      }
      return t;
    });
  }

  forwardFeatures(x: Tensor, opts: { masks?: Tensor | null } = {}): ForwardFeatures {
    return tidy(() => {
      let t = this.prepareTokens(x, opts.masks ?? null);
      for (const blk of this.blocks) t = blk.forward(t);
      const n = this.norm.forward(t);
      const R = this.config.numRegisterTokens;
      return {
        xNormClstoken: n.select(1, 0),
        xNormRegtokens: n.narrow(1, 1, R),
        xNormPatchtokens: n.narrow(1, 1 + R, n.shape[1] - 1 - R),
        xPrenorm: t,
        masks: opts.masks ? opts.masks.reshape(opts.masks.shape) : null,
      };
    });
  }

  /**
   * What the SSL losses read, without the work they do not read: the normed cls tokens (B, D) and
   * the normed patch tokens at `patchIndices` (M, D), int64 indices into the B N patch tokens
   * (`xNormPatchtokens.flatten(0, 1)`, as the collate step's mask indices are). Equal to the same
   * selection from forwardFeatures(): every block but the last runs on all tokens, the last one
   * runs its attention on all tokens and its FFN only on the rows returned (Block.forwardRows).
   */
  forwardTokens(x: Tensor, opts: { masks?: Tensor | null; patchIndices?: Tensor | null } = {}): { cls: Tensor; patches: Tensor | null } {
    const last = this.blocks[this.blocks.length - 1];
    const pi = opts.patchIndices ?? null;
    if (pi && (pi.ndim !== 1 || (pi.dtype !== 'int64' && pi.dtype !== 'int32'))) {
      throw new RangeError(`forwardTokens: argument 'patchIndices' must be a 1-D int64 tensor (got ${pi.dtype} [${pi.shape.join(', ')}])`);
    }
    if (!last) {
      return tidy(() => {
        const f = this.forwardFeatures(x, { masks: opts.masks });
        return { cls: f.xNormClstoken, patches: pi ? f.xNormPatchtokens.flatten(0, 1).indexSelect(0, pi) : null };
      });
    }
    return tidy(() => {
      let t = this.prepareTokens(x, opts.masks ?? null);
      for (const blk of this.blocks.slice(0, -1)) t = blk.forward(t);
      const [B, T] = t.shape;
      const lead = 1 + this.config.numRegisterTokens, N = T - lead;
      const idx = pi ? Array.from(pi.dataSync() as ArrayLike<number | bigint>, Number) : [];
      const rows = new Array<number>(B + idx.length);
      for (let b = 0; b < B; b++) rows[b] = b * T;
      idx.forEach((k, i) => {
        if (!Number.isInteger(k) || k < 0 || k >= B * N) throw new RangeError(`forwardTokens: patch index ${k} is out of range (expected 0..${B * N - 1})`);
        rows[B + i] = k + (Math.floor(k / N) + 1) * lead;  // image b's patch q is token b T + lead + q
      });
      const n = this.norm.forward(last.forwardRows(t, rows));
      return { cls: n.narrow(0, 0, B), patches: pi ? n.narrow(0, B, idx.length) : null };
    });
  }

  /** The cls token after the final norm (the features a linear probe reads). */
  forward(x: Tensor): Tensor {
    return tidy(() => this.forwardFeatures(x).xNormClstoken);
  }

  /**
   * Outputs of the last `n` blocks (or the blocks at the given indices), optionally normed,
   * without registers; reshape gives (B, D, H/p, W/p); with returnClassToken each entry is
   * [patches, cls].
   */
  getIntermediateLayers(x: Tensor, opts: { n?: number | number[]; reshape?: boolean; returnClassToken?: boolean; norm?: boolean } = {}): (Tensor | [Tensor, Tensor])[] {
    const total = this.blocks.length;
    const n = opts.n ?? 1;
    const take = new Set(typeof n === 'number' ? Array.from({ length: n }, (_, i) => total - n + i) : n);
    for (const i of take) {
      if (!Number.isInteger(i) || i < 0 || i >= total) throw new RangeError(`getIntermediateLayers: block index ${i} is out of range (expected 0..${total - 1})`);
    }
    return tidy(() => {
      let t = this.prepareTokens(x);
      const outs: Tensor[] = [];
      this.blocks.forEach((blk, i) => {
        t = blk.forward(t);
        if (take.has(i)) outs.push(t);
      });
      const R = this.config.numRegisterTokens, p = this.config.patchSize;
      const [B, , h, w] = x.shape;
      return outs.map((o) => {
        const z = opts.norm ?? true ? this.norm.forward(o) : o;
        let patches = z.narrow(1, 1 + R, z.shape[1] - 1 - R);
        if (opts.reshape) patches = patches.reshape(B, h / p, w / p, -1).permute(0, 3, 1, 2).contiguous();
        return opts.returnClassToken ? ([patches, z.select(1, 0)] as [Tensor, Tensor]) : patches;
      });
    });
  }
}

// ---- variants (dinov2/models/vision_transformer.py) -----------------------------------------
type Overrides = Partial<DinoV2Config>;
export const vitSmall = (c: Overrides = {}, o = {}) => new DinoVisionTransformer({ embedDim: 384, depth: 12, numHeads: 6, mlpRatio: 4, ...c }, o);
export const vitBase = (c: Overrides = {}, o = {}) => new DinoVisionTransformer({ embedDim: 768, depth: 12, numHeads: 12, mlpRatio: 4, ...c }, o);
export const vitLarge = (c: Overrides = {}, o = {}) => new DinoVisionTransformer({ embedDim: 1024, depth: 24, numHeads: 16, mlpRatio: 4, ...c }, o);
export const vitGiant2 = (c: Overrides = {}, o = {}) =>
  new DinoVisionTransformer({ embedDim: 1536, depth: 40, numHeads: 24, mlpRatio: 4, ffnLayer: 'swiglufused', ...c }, o);
