// Multi-head self-attention as in DINOv2 (qkv Linear -> fused attention -> proj Linear).
// Shapes: B batch, N tokens, C = H * hd width, H heads, hd head dim.
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { attention } from './functional.js';
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

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const [B, N, C] = x.shape;
      const H = this.numHeads;
      // (B, N, 3C) -> (3, B, H, N, hd): q, k and v are strided views of the qkv output
      const qkv = this.qkv.forward(x).reshape(B, N, 3, H, C / H).permute(2, 0, 3, 1, 4);
      const o = attention(qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2), this.scale);  // (B, H, N, hd)
      return this.proj.forward(o.transpose(1, 2).reshape(B, N, C));
    });
  }
}
