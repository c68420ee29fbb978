// The DINO / iBOT projection head (Caron et al. 2021, DINO; Oquab et al. 2023, DINOv2): an MLP to a
// bottleneck, L2 normalisation, then a weight-normalised linear layer onto K prototypes
// (Salimans & Kingma 2016: W = g · v / ||v|| per output row, g trainable).
// Shapes: B rows, Din input width, Dh hidden, Db bottleneck, K prototypes.
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { empty, full } from '../tensor/creation.js';
import { Tensor } from '../tensor/tensor.js';
import { linear } from '../nn/functional.js';
import { defaultLinearInit_, truncNormal_, zeros_ } from '../nn/init.js';
import { GELU, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';

export interface DINOHeadOptions {
  /** Hidden width of the MLP (2048 in DINOv2). */
  hiddenDim?: number;
  /** Width before the prototypes (256 in DINOv2). */
  bottleneckDim?: number;
  /** Linear layers in the MLP (3 in DINOv2; 1 is a single Linear). */
  nlayers?: number;
  mlpBias?: boolean;
  dtype?: 'float32' | 'float64';
  generator?: Generator;
}

/** The L2 normalisation floor of the bottleneck features (float32; the reference uses 1e-6 in float16). */
export const DINO_HEAD_NORM_EPS = 1e-12;

/** Layers applied in order, named 0, 1, 2, ... like torch.nn.Sequential. */
class Sequential extends Module {
  constructor(readonly layers: (Linear | GELU)[]) {
    super();
    layers.forEach((m, i) => this.module(String(i), m));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => this.layers.reduce((h, m) => m.forward(h), x));
  }
}

/** Linear(Db, K, bias = false) under weight normalisation: weight_g [K, 1], weight_v [K, Db]. */
class WeightNormLinear extends Module {
  readonly weightG: Tensor;  // (K, 1)
  readonly weightV: Tensor;  // (K, Db)
  constructor(inFeatures: number, outFeatures: number, opts: { dtype?: 'float32' | 'float64'; generator?: Generator }) {
    super();
    const dtype = opts.dtype ?? 'float32';
    this.weightG = this.param('weight_g', full([outFeatures, 1], 1, { dtype }));
    this.weightV = this.param('weight_v', empty([outFeatures, inFeatures], { dtype }));
    // torch builds the Linear (default init) and then wraps it; DINOv2 then sets g to 1
    defaultLinearInit_(this.weightV, null, opts);
  }
  /** The effective weight g · v / ||v|| (row norms; torch's _weight_norm with dim 0). */
  weight(): Tensor {
    return tidy(() => this.weightV.mul(this.weightG.div(this.weightV.norm(2, 1, true))));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => linear(x, this.weight()));
  }
}

export class DINOHead extends Module {
  readonly inDim: number;
  readonly outDim: number;
  readonly mlp: Sequential | Linear;
  readonly lastLayer: WeightNormLinear;

  constructor(inDim: number, outDim: number, opts: DINOHeadOptions = {}) {
    super();
    const hidden = opts.hiddenDim ?? 2048, bottleneck = opts.bottleneckDim ?? 256;
    const nlayers = Math.max(opts.nlayers ?? 3, 1);
    for (const [name, v] of [['inDim', inDim], ['outDim', outDim], ['hiddenDim', hidden], ['bottleneckDim', bottleneck], ['nlayers', nlayers]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new RangeError(`DINOHead: argument '${name}' is ${v} (expected a positive integer)`);
    }
    this.inDim = inDim;
    this.outDim = outDim;
    const lo = { dtype: opts.dtype, generator: opts.generator, bias: opts.mlpBias ?? true };
    if (nlayers === 1) {
      this.mlp = this.module('mlp', new Linear(inDim, bottleneck, lo));
    } else {
      const layers: (Linear | GELU)[] = [new Linear(inDim, hidden, lo), new GELU()];
      for (let i = 0; i < nlayers - 2; i++) layers.push(new Linear(hidden, hidden, lo), new GELU());
      layers.push(new Linear(hidden, bottleneck, lo));
      this.mlp = this.module('mlp', new Sequential(layers));
    }
    // DINOv2 initialises the MLP (trunc-normal 0.02, zero bias) before adding the last layer
    for (const [, m] of this.mlp.namedModules()) {
      if (m instanceof Linear) {
        truncNormal_(m.weight, { std: 0.02, a: -2, b: 2, generator: opts.generator });
        if (m.bias) zeros_(m.bias);
      }
    }
    this.lastLayer = this.module('last_layer', new WeightNormLinear(bottleneck, outDim, opts));
  }

  /** (B, Din) -> (B, K): prototype scores of L2-normalised bottleneck features. */
  forward(x: Tensor): Tensor {
    if (!(x instanceof Tensor)) throw new TypeError('DINOHead.forward: argument \'x\' must be a Tensor');
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inDim) {
      throw new RangeError(`DINOHead.forward: argument 'x' has shape [${x.shape.join(', ')}] (expected a last dim of ${this.inDim})`);
    }
    return tidy(() => {
      const h = this.mlp.forward(x);  // (B, Db)
      const z = h.div(h.norm(2, -1, true).clamp(DINO_HEAD_NORM_EPS));  // F.normalize
      return this.lastLayer.forward(z);  // (B, K)
    });
  }
}
