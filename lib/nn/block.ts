// The pre-norm transformer block and the patch embedding of DINOv2.
import { bernoulli, empty, randperm, tensor } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { Attention } from './attention.js';
import { linear } from './functional.js';
import { defaultLinearInit_ } from './init.js';
import { DropPath, Identity, LayerNorm, LayerOptions, LayerScale, Mlp, SwiGLUFFN } from './layers.js';
import { Module } from './module.js';

export interface BlockOptions extends LayerOptions {
  mlpRatio?: number;
  qkvBias?: boolean;
  projBias?: boolean;
  ffnBias?: boolean;
  dropPath?: number;
  /** LayerScale init (null: no LayerScale). */
  initValues?: number | null;
  ffnLayer?: 'mlp' | 'swiglufused' | 'swiglu';
  normEps?: number;
}

/**
 * x += ls1(attn(norm1(x))); x += ls2(ffn(norm2(x))). With drop path in training: above 0.1 the
 * residual is computed on a random subset of max(floor(B (1 - p)), 1) samples and added back
 * scaled by B / subset (DINOv2's "drop_add_residual_stochastic_depth"); at or below 0.1 it is
 * per-sample drop path, with the first DropPath module used for both branches (as DINOv2 does).
 */
export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly ls1: LayerScale | Identity;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp | SwiGLUFFN;
  readonly ls2: LayerScale | Identity;
  readonly dropPath1: DropPath;
  readonly dropPath2: DropPath;
  readonly sampleDropRatio: number;
  private readonly generator?: Generator;

  constructor(dim: number, numHeads: number, opts: BlockOptions = {}) {
    super();
    const eps = opts.normEps ?? 1e-6;
    const hidden = Math.floor(dim * (opts.mlpRatio ?? 4));
    this.norm1 = this.module('norm1', new LayerNorm(dim, eps, opts));
    this.attn = this.module('attn', new Attention(dim, numHeads, opts));
    this.ls1 = this.module('ls1', opts.initValues != null ? new LayerScale(dim, opts.initValues, opts) : new Identity());
    this.norm2 = this.module('norm2', new LayerNorm(dim, eps, opts));
    const ffn = opts.ffnLayer ?? 'mlp';
    this.mlp = this.module('mlp', ffn === 'mlp' ? new Mlp(dim, hidden, dim, { ...opts, bias: opts.ffnBias ?? true })
      : new SwiGLUFFN(dim, hidden, dim, { ...opts, bias: opts.ffnBias ?? true, fused: ffn === 'swiglufused' }));
    this.ls2 = this.module('ls2', opts.initValues != null ? new LayerScale(dim, opts.initValues, opts) : new Identity());
    this.sampleDropRatio = opts.dropPath ?? 0;
    this.dropPath1 = new DropPath(this.sampleDropRatio, opts.generator);
    this.dropPath2 = new DropPath(this.sampleDropRatio, opts.generator);
    this.generator = opts.generator;
  }

  // LayerScale is folded into the branch's last Linear (gamma scales its weight and bias rows):
  // the same function as ls(branch(x)) without a pass over the activations for it.
  attnResidual(x: Tensor): Tensor {
    const h = this.norm1.forward(x);
    return this.ls1 instanceof LayerScale ? this.attn.forward(h, this.ls1.gamma) : this.attn.forward(h);
  }
  ffnResidual(x: Tensor): Tensor {
    const h = this.norm2.forward(x);
    return this.ls2 instanceof LayerScale ? this.mlp.forward(h, this.ls2.gamma) : this.mlp.forward(h);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const p = this.sampleDropRatio;
      this.dropPath1.training = this.dropPath2.training = this.training;
      if (this.training && p > 0.1) {
        x = this.dropAddResidual(x, (t) => this.attnResidual(t));
        return this.dropAddResidual(x, (t) => this.ffnResidual(t));
      }
      if (this.training && p > 0) {
        x = x.add(this.dropPath1.forward(this.attnResidual(x)));
        return x.add(this.dropPath1.forward(this.ffnResidual(x)));
      }
      x = x.add(this.attnResidual(x));
      return x.add(this.ffnResidual(x));
    });
  }

  /**
   * forward(x).flatten(0, 1) at the given rows only, (R, D): keys and values are computed on
   * every token, the queries, attention, proj and the FFN branch only on the rows asked for (in
   * the drop-path subset regime, above 0.1, the attention branch runs on every token). The
   * same random draws as forward(), so that a loss that reads a few tokens of the last block (the
   * cls token, the masked patches) sees the values forward() gives them at a fraction of the work.
   * `rows` index x.flatten(0, 1): image b's token t is row b T + t.
   */
  forwardRows(x: Tensor, rows: ArrayLike<number>): Tensor {
    const [B, T] = x.shape;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (!Number.isInteger(r) || r < 0 || r >= B * T) throw new RangeError(`Block.forwardRows: row ${r} is out of range (expected 0..${B * T - 1})`);
    }
    return tidy(() => {
      const p = this.sampleDropRatio, dev = { device: x.device };
      const index = (v: ArrayLike<number>) => tensor(BigInt64Array.from(Array.from(v), BigInt), [v.length], 'int64', dev);
      this.dropPath1.training = this.dropPath2.training = this.training;
      const subset = this.training && p > 0.1;
      let xs: Tensor;
      if (subset) {
        x = this.dropAddResidual(x, (t) => this.attnResidual(t));
        xs = x.flatten(0, 1).indexSelect(0, index(rows));
      } else {
        // the attention branch at the rows only (queries, attention and proj; keys and values
        // on all tokens), with DropPath's per-image mask drawn as forward() draws it
        const h = this.norm1.forward(x);
        let a = this.ls1 instanceof LayerScale ? this.attn.forwardRows(h, rows, this.ls1.gamma) : this.attn.forwardRows(h, rows);
        if (this.training && p > 0) a = a.mul(this.rowMask(x, rows, index));
        xs = x.flatten(0, 1).indexSelect(0, index(rows)).add(a);
      }
      if (subset) {
        // the rows of the images drawn into the subset get the residual scaled by B / subset
        const subsetIdx = this.drawSubset(B, x.device), n = subsetIdx.shape[0];
        const drawn = new Set(Array.from(subsetIdx.dataSync() as BigInt64Array, Number));
        const pos: number[] = [];
        for (let i = 0; i < rows.length; i++) if (drawn.has(Math.floor(rows[i]! / T))) pos.push(i);
        if (pos.length === 0) return xs;
        const idx = index(pos);
        return xs.indexAdd(0, idx, this.ffnResidual(xs.indexSelect(0, idx)), B / n);
      }
      if (this.training && p > 0) return xs.add(this.ffnResidual(xs).mul(this.rowMask(x, rows, index)));
      return xs.add(this.ffnResidual(xs));
    });
  }

  /** DropPath's per-image mask / keep for x (B, T, C), drawn as DropPath.forward draws it (B values), spread over the rows: (R, 1). */
  private rowMask(x: Tensor, rows: ArrayLike<number>, index: (v: ArrayLike<number>) => Tensor): Tensor {
    const [B, T] = x.shape, keep = 1 - this.sampleDropRatio;
    const mask = bernoulli(keep, { shape: [B, 1], dtype: x.dtype as 'float32', device: x.device, generator: this.generator });
    return mask.indexSelect(0, index(Array.from(rows, (r) => Math.floor(r / T)))).div(keep);
  }

  /** The images whose residual is kept in the subset regime: max(floor(B (1 - p)), 1) of B, drawn on `device`. */
  private drawSubset(B: number, device: string): Tensor {
    const subset = Math.max(Math.floor(B * (1 - this.sampleDropRatio)), 1);
    return randperm(B, { device, generator: this.generator }).narrow(0, 0, subset);
  }

  private dropAddResidual(x: Tensor, residual: (t: Tensor) => Tensor): Tensor {
    const B = x.shape[0];
    const brange = this.drawSubset(B, x.device), subset = brange.shape[0];
    const r = residual(x.indexSelect(0, brange));
    return x.flatten(1).indexAdd(0, brange, r.flatten(1), B / subset).reshape(x.shape);
  }
}

/** The weight [D, C, p, p] and bias [D] of the patch convolution (state-dict name `proj`). */
class PatchProjection extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(shape: [number, number, number, number], opts: LayerOptions) {
    super();
    this.weight = this.param('weight', empty(shape, { dtype: opts.dtype ?? 'float32' }));
    this.bias = this.param('bias', empty([shape[0]], { dtype: opts.dtype ?? 'float32' }));
    defaultLinearInit_(this.weight, this.bias, opts);  // PyTorch's Conv2d default
  }
}

/** Patch embedding: a p x p convolution with stride p, computed as one GEMM over unfolded patches. */
export class PatchEmbed extends Module {
  readonly proj: PatchProjection;
  constructor(readonly patchSize: number, readonly inChans: number, readonly embedDim: number, opts: LayerOptions = {}) {
    super();
    this.proj = this.module('proj', new PatchProjection([embedDim, inChans, patchSize, patchSize], opts));
  }
  /** (B, C, H, W) -> (B, N, D) with N = (H / p)(W / p), patches row-major. */
  forward(x: Tensor): Tensor {
    const [B, C, H, W] = x.shape;
    const p = this.patchSize;
    if (x.ndim !== 4 || C !== this.inChans) {
      throw new RangeError(`PatchEmbed: input has shape [${x.shape.join(', ')}] (expected [B, ${this.inChans}, H, W])`);
    }
    if (H % p !== 0 || W % p !== 0) {
      throw new RangeError(`PatchEmbed: input size ${H}x${W} is not a multiple of the patch size ${p}`);
    }
    return tidy(() => {
      // (B, C, H/p, p, W/p, p) -> (B, H/p, W/p, C, p, p): one row of C p p values per patch
      const patches = x.reshape(B, C, H / p, p, W / p, p).permute(0, 2, 4, 1, 3, 5).reshape(B * (H / p) * (W / p), C * p * p);
      const y = linear(patches, this.proj.weight.reshape(this.embedDim, C * p * p), this.proj.bias);
      return y.reshape(B, (H / p) * (W / p), this.embedDim);
    });
  }
}
