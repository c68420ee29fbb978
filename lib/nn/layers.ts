// Basic layers: Linear, LayerNorm, GELU, Identity, LayerScale, DropPath, Mlp, SwiGLUFFN.
// Shapes: B batch, N tokens, D width.
import { bernoulli, empty, full } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { noGrad } from '../autograd/engine.js';
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { layerNorm, linear, linearBf16 } from './functional.js';
import { defaultLinearInit_ } from './init.js';
import { Module } from './module.js';

export interface LayerOptions {
  dtype?: 'float32' | 'float64';
  generator?: Generator;
}

/** y = x Wᵀ + b, weight [out, in] (PyTorch layout), default init U(±1/sqrt(in)). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** A bfloat16 copy of the weight while the bf16 inference mode is on (setInferenceDtype). */
  private weightBf16: Tensor | null = null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LayerOptions & { bias?: boolean } = {}) {
    super();
    const dtype = opts.dtype ?? 'float32';
    this.weight = this.param('weight', empty([outFeatures, inFeatures], { dtype }));
    this.bias = opts.bias === false ? null : this.param('bias', empty([outFeatures], { dtype }));
    defaultLinearInit_(this.weight, this.bias, opts);
  }
  /** Whether the bf16 inference mode is on (setInferenceDtype). */
  get bf16Inference(): boolean {
    return this.weightBf16 !== null;
  }

  forward(x: Tensor): Tensor {
    if (this.weightBf16) return linearBf16(x, this.weightBf16, this.bias);
    return linear(x, this.weight, this.bias);
  }

  /**
   * forward(x) * scale (a per-output-feature scale, e.g. LayerScale's gamma), computed as x (scale
   * W)ᵀ + scale b: the scale folds into the [out, in] weight, so no pass over the [.., out]
   * activations is made for it, forward or backward (its gradient comes from the weight's).
   */
  forwardScaled(x: Tensor, scale: Tensor): Tensor {
    if (this.weightBf16) return this.forward(x).mul(scale);
    return tidy(() => linear(x, this.weight.mul(scale.reshape(this.outFeatures, 1)), this.bias ? this.bias.mul(scale) : null));
  }

  /**
   * 'bfloat16': products use a bfloat16 copy of the weight and bf16-rounded inputs with float32
   * accumulation (inference only; the copy is taken now: call again after changing the weight).
   * 'float32' (the default) drops the copy.
   */
  setInferenceDtype(dtype: 'float32' | 'bfloat16'): void {
    this.weightBf16?.dispose();
    this.weightBf16 = dtype === 'bfloat16' ? keep(noGrad(() => this.weight.to('bfloat16'))) : null;
  }

  protected override moveOwnTensors(device: string): void {
    super.moveOwnTensors(device);
    this.weightBf16?._moveTo(device);
  }

  override dispose(): void {
    this.weightBf16?.dispose();
    this.weightBf16 = null;
    super.dispose();
  }
}

/** Sets the inference dtype of every Linear layer in a model (see Linear.setInferenceDtype). */
export function setInferenceDtype(model: Module, dtype: 'float32' | 'bfloat16'): void {
  if (dtype !== 'float32' && dtype !== 'bfloat16') {
    throw new TypeError(`setInferenceDtype: argument 'dtype' is ${JSON.stringify(dtype)} (expected 'float32' or 'bfloat16')`);
  }
  for (const [, m] of model.namedModules()) if (m instanceof Linear) m.setInferenceDtype(dtype);
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-5, opts: LayerOptions = {}) {
    super();
    this.weight = this.param('weight', full([dim], 1, { dtype: opts.dtype ?? 'float32' }));
    this.bias = this.param('bias', full([dim], 0, { dtype: opts.dtype ?? 'float32' }));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.gelu(this.approximate);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x.reshape(x.shape);
  }
}

/**
 * x * gamma, a learned per-channel scale (CaiT); gamma starts at initValues. Block folds it into
 * the weight of the Linear before it (Linear.forwardScaled) instead of calling forward().
 */
export class LayerScale extends Module {
  readonly gamma: Tensor;
  constructor(dim: number, initValues = 1e-5, opts: LayerOptions = {}) {
    super();
    this.gamma = this.param('gamma', full([dim], initValues, { dtype: opts.dtype ?? 'float32' }));
  }
  forward(x: Tensor): Tensor {
    return x.mul(this.gamma);
  }
}

/**
 * Stochastic depth per sample: in training, each sample's residual is dropped with probability
 * `p` and the kept ones are scaled by 1 / (1 - p); identity in eval or when p = 0.
 */
export class DropPath extends Module {
  constructor(readonly p = 0, readonly generator?: Generator) {
    super();
  }
  forward(x: Tensor): Tensor {
    if (this.p === 0 || !this.training) return x.reshape(x.shape);
    const keepProb = 1 - this.p;
    return tidy(() => {
      const mask = bernoulli(keepProb, { shape: [x.shape[0], ...new Array(x.ndim - 1).fill(1)], dtype: x.dtype as 'float32', device: x.device, generator: this.generator });
      return x.mul(mask.div(keepProb));
    });
  }
}

/** fc1 -> GELU -> fc2 (hidden = 4 D in the ViTs). */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly act: GELU;
  readonly fc2: Linear;
  constructor(inFeatures: number, hiddenFeatures: number, outFeatures = inFeatures, opts: LayerOptions & { bias?: boolean } = {}) {
    super();
    this.fc1 = this.module('fc1', new Linear(inFeatures, hiddenFeatures, opts));
    this.act = this.module('act', new GELU());
    this.fc2 = this.module('fc2', new Linear(hiddenFeatures, outFeatures, opts));
  }
  /** `outScale`: a per-feature scale of the output (LayerScale), folded into fc2. */
  forward(x: Tensor, outScale?: Tensor): Tensor {
    return tidy(() => {
      const h = this.act.forward(this.fc1.forward(x));
      return outScale ? this.fc2.forwardScaled(h, outScale) : this.fc2.forward(h);
    });
  }
}

/** SwiGLU: w3(silu(x1) * x2) with [x1, x2] = w12(x); DINOv2's fused form rounds the hidden width. */
export class SwiGLUFFN extends Module {
  readonly w12: Linear;
  readonly w3: Linear;
  readonly hidden: number;
  constructor(inFeatures: number, hiddenFeatures: number, outFeatures = inFeatures, opts: LayerOptions & { bias?: boolean; fused?: boolean } = {}) {
    super();
    this.hidden = opts.fused === false ? hiddenFeatures : Math.floor((Math.floor((hiddenFeatures * 2) / 3) + 7) / 8) * 8;
    this.w12 = this.module('w12', new Linear(inFeatures, 2 * this.hidden, opts));
    this.w3 = this.module('w3', new Linear(this.hidden, outFeatures, opts));
  }
  /** `outScale`: a per-feature scale of the output (LayerScale), folded into w3. */
  forward(x: Tensor, outScale?: Tensor): Tensor {
    return tidy(() => {
      const [x1, x2] = this.w12.forward(x).chunk(2, -1);
      const h = x1.silu().mul(x2);
      return outScale ? this.w3.forwardScaled(h, outScale) : this.w3.forward(h);
    });
  }
}
