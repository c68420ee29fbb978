// Multi-head self-attention as in DINOv2 (qkv Linear -> fused attention -> proj Linear).
// Shapes: B batch, N tokens, C = H * hd width, H heads, hd head dim.
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { attentionQkv } from './functional.js';
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
}
