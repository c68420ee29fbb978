// Multi-head self-attention as in DINOv2 (qkv Linear -> fused attention -> proj Linear).
// Shapes: B batch, N tokens, C = H * hd width, H heads, hd head dim.
import { tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { attention, attentionQkv, linear } from './functional.js';
import { LayerOptions, Linear } from './layers.js';
import { Module } from './module.js';

export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly scale: number;
  constructor(readonly dim: number, readonly numHeads: number, opts: LayerOptions & { qkvBias?: boolean; projBias?: boolean } = {}) {
    super();
    if (dim % numHeads !== 0) throw new RangeError(`Attention: dim ${dim} is not divisible by numHeads ${numHeads}`);
    this.scale = (dim / numHeads) ** -0.5;
    this.qkv = this.module('qkv', new Linear(dim, 3 * dim, { ...opts, bias: opts.qkvBias ?? true }));
    this.proj = this.module('proj', new Linear(dim, dim, { ...opts, bias: opts.projBias ?? true }));
  }

  /**
   * (B, N, C) -> qkv (B, N, 3C) -> fused attention on strided q, k, v views -> (B, N, C).
   * `outScale`: a per-channel scale of the output (LayerScale), folded into proj.
   */
  forward(x: Tensor, outScale?: Tensor): Tensor {
    return tidy(() => {
      const o = attentionQkv(this.qkv.forward(x), this.numHeads, this.scale);
      return outScale ? this.proj.forwardScaled(o, outScale) : this.proj.forward(o);
    });
  }

  /**
   * forward(x, outScale).flatten(0, 1) at the given rows only, (R, C); `rows` index
   * x.flatten(0, 1) (image b's token t is row b T + t). Keys and values are computed on every
   * token, the queries, the attention and proj only on the rows asked for: one attention call
   * with each image's queries padded to the largest count by repeats of one of its rows (the
   * padded outputs are dropped, so they get no gradient).
   */
  forwardRows(x: Tensor, rows: ArrayLike<number>, outScale?: Tensor): Tensor {
    const [B, T, C] = x.shape;
    const H = this.numHeads, D = C / H, R = rows.length;
    const index = (v: ArrayLike<number>) => tensor(BigInt64Array.from(Array.from(v), BigInt), [v.length], 'int64', { device: x.device });
    if (R === 0 || this.qkv.bf16Inference) {
      return tidy(() => this.forward(x, outScale).flatten(0, 1).indexSelect(0, index(rows)));
    }
    return tidy(() => {
      const perImage: number[][] = Array.from({ length: B }, () => []);
      for (let i = 0; i < R; i++) perImage[Math.floor(rows[i]! / T)]!.push(i);
      const n = Math.max(...perImage.map((p) => p.length));
      // query slot j of image b holds row position perImage[b][j] (padding: its last one, or any
      // row for an image without rows); back[i] is the slot of row position i
      const slot: number[] = [], back = new Array<number>(R);
      perImage.forEach((p, b) => {
        for (let j = 0; j < n; j++) {
          if (j < p.length) back[p[j]!] = b * n + j;
          slot.push(p.length > 0 ? p[Math.min(j, p.length - 1)]! : 0);
        }
      });
      const w = this.qkv.weight, bias = this.qkv.bias;
      const q = linear(x.flatten(0, 1).indexSelect(0, index(rows)), w.narrow(0, 0, C), bias ? bias.narrow(0, 0, C) : null);
      const [k, v] = [1, 2].map((i) => linear(x, w.narrow(0, i * C, C), bias ? bias.narrow(0, i * C, C) : null).reshape(B, T, H, D).transpose(1, 2));
      const qs = q.indexSelect(0, index(slot)).reshape(B, n, H, D).transpose(1, 2);
      const o = attention(qs, k!, v!, this.scale).transpose(1, 2).reshape(B * n, C).indexSelect(0, index(back));
      return outScale ? this.proj.forwardScaled(o, outScale) : this.proj.forward(o);
    });
  }
}
