// Functional forms of the fused network kernels (like torch.nn.functional), with autograd.
import { isGradEnabled, noGrad, record } from '../autograd/engine.js';
import { eye } from '../tensor/creation.js';
import { softmax } from '../tensor/math.js';
import { getMatmulPrecision, supports, useFused } from '../tensor/memory.js';
import { native } from '../tensor/native.js';
import { keep } from '../tensor/scope.js';
import { Tensor, wrap } from '../tensor/tensor.js';

function tensorArg(op: string, arg: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: argument '${arg}' must be a Tensor (got ${x === null ? 'null' : typeof x})`);
  return x;
}

/** x Wᵀ + b with the bias added inside the GEMM; weight [out, in] (PyTorch's Linear layout). */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  tensorArg('linear', 'input', x);
  tensorArg('linear', 'weight', weight);
  if (bias !== null) tensorArg('linear', 'bias', bias);
  const out = wrap(native.matmul(x.handle('linear'), weight.handle('linear'), false, true, bias ? bias.handle('linear') : null));
  // Under setMatmulPrecision('bfloat16') the weight gradient rounds x to bfloat16 anyway, so the
  // tape keeps x as bfloat16: the same gradient bits, half the saved bytes (the float32 x is freed
  // when nothing else holds it, e.g. a LayerNorm or GELU output).
  let xb: Tensor | null = null;
  if (isGradEnabled() && weight.requiresGrad && x.dtype === 'float32' && getMatmulPrecision() === 'bfloat16' && supports('linear_bf16', 'float32', x.device)) {
    xb = keep(noGrad(() => x.to('bfloat16')));
  }
  try {
    return record('linear', out, [x, weight, bias], xb ? { inputBf16: xb, precision: 'bfloat16' } : { precision: getMatmulPrecision() });
  } finally {
    xb?.dispose();
  }
}

/**
 * bf16(x) Wᵀ + b with float32 accumulation: the bf16 inference mode of Linear layers. weight is
 * bfloat16 [out, in]; x and the result are float32. Inference only (no gradient).
 */
export function linearBf16(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  tensorArg('linear_bf16', 'input', x);
  tensorArg('linear_bf16', 'weight', weight);
  if (isGradEnabled() && (x.requiresGrad || (bias !== null && bias.requiresGrad))) {
    throw new Error('linear_bf16: the bfloat16 inference mode has no backward (run under noGrad(), or switch the model back with setInferenceDtype(\'float32\') to train)');
  }
  return wrap(native.linearBf16(x.handle('linear_bf16'), weight.handle('linear_bf16'), bias ? bias.handle('linear_bf16') : null));
}

/** LayerNorm over the last dim with optional affine weight and bias (biased variance). */
export function layerNorm(x: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  tensorArg('layer_norm', 'input', x);
  const [y, mean, rstd] = native.layerNorm(x.handle('layer_norm'), weight ? tensorArg('layer_norm', 'weight', weight).handle('layer_norm') : null,
    bias ? tensorArg('layer_norm', 'bias', bias).handle('layer_norm') : null, eps);
  const out = wrap(y);
  // mean / rstd belong to the tape only: untracked, freed with the node (or now)
  const m = keep(wrap(mean)), r = keep(wrap(rstd));
  try {
    return record('layer_norm', out, [x, weight, bias], { mean: m, rstd: r, eps });
  } finally {
    m.dispose();
    r.dispose();
  }
}

/**
 * Scaled dot-product attention softmax(q kᵀ · scale) v, fused (never stores the N x M scores).
 * q [B, H, N, D], k and v [B, H, M, D] (last dim contiguous; other strides free). The result is
 * [B, H, N, D] viewing a [B, N, H, D] buffer, so `.transpose(1, 2).reshape(B, N, H * D)` is free.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, scale?: number): Tensor {
  tensorArg('attention', 'query', q);
  tensorArg('attention', 'key', k);
  tensorArg('attention', 'value', v);
  const s = scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1]);
  if (!useFused('attention', q.dtype, q.device)) return attentionComposed(q, k, v, s);
  const [o, lse] = native.attention(q.handle('attention'), k.handle('attention'), v.handle('attention'), s);
  const out = wrap(o);
  const l = keep(wrap(lse));
  try {
    return record('attention', out, [q, k, v], { scale: s, lse: l });
  } finally {
    l.dispose();
  }
}

/**
 * Multi-head self-attention on a fused qkv projection: qkv [B, N, 3 H hd] -> [B, N, H hd].
 * q, k and v are read in place as strided views; the backward writes dq, dk and dv straight into
 * one [B, N, 3 H hd] gradient through its strides (no copy; other backends copy once into it).
 */
export function attentionQkv(qkv: Tensor, numHeads: number, scale?: number): Tensor {
  tensorArg('attention', 'qkv', qkv);
  const [B, N, C3] = qkv.shape;
  if (qkv.ndim !== 3 || C3 % (3 * numHeads) !== 0) {
    throw new RangeError(`attention: argument 'qkv' has shape [${qkv.shape.join(', ')}] (expected [B, N, 3 * ${numHeads} * headDim])`);
  }
  const hd = C3 / 3 / numHeads;
  const s = scale ?? 1 / Math.sqrt(hd);
  if (!useFused('attention', qkv.dtype, qkv.device)) return attentionQkvComposed(qkv, numHeads, s);
  const qkv5 = native.reshape(qkv.handle('attention'), [B, N, 3, numHeads, hd]);
  const q5 = native.permute(qkv5, [2, 0, 3, 1, 4]);
  const [q, k, v] = [0, 1, 2].map((i) => native.select(q5, 0, i));
  qkv5.dispose();
  q5.dispose();
  try {
    const [o, lse] = native.attention(q, k, v, s);
    const oT = native.transpose(o, 1, 2);
    const out = wrap(native.reshape(oT, [B, N, C3 / 3]));
    oT.dispose();
    o.dispose();
    const l = keep(wrap(lse));
    try {
      return record('attention_qkv', out, [qkv], { scale: s, lse: l, heads: numHeads });
    } finally {
      l.dispose();
    }
  } finally {
    for (const h of [q, k, v]) h.dispose();
  }
}

/**
 * Attention from its parts, softmax(q kᵀ · scale) v as matmul, softmax and matmul (each with its
 * own gradient; the N x M scores are stored): what attention() and attentionQkv() run on a backend
 * or dtype without the fused kernel (the CUDA backend in float32), and a reference for it.
 */
export function attentionComposed(q: Tensor, k: Tensor, v: Tensor, scale?: number): Tensor {
  tensorArg('attention', 'query', q);
  tensorArg('attention', 'key', k);
  tensorArg('attention', 'value', v);
  const sh = (t: Tensor) => `[${t.shape.join(', ')}]`;
  for (const [name, t] of [['query', q], ['key', k], ['value', v]] as const) {
    if (t.ndim !== 4) throw new RangeError(`attention: argument '${name}' has shape ${sh(t)} (must be 4-D [B, H, N, D])`);
  }
  if (k.shape[0] !== q.shape[0] || k.shape[1] !== q.shape[1] || k.shape[3] !== q.shape[3]) {
    throw new RangeError(`attention: argument 'key' has shape ${sh(k)} (expected [${q.shape[0]}, ${q.shape[1]}, M, ${q.shape[3]}], matching 'query')`);
  }
  if (sh(v) !== sh(k)) throw new RangeError(`attention: argument 'value' has shape ${sh(v)} (expected ${sh(k)}, like 'key')`);
  const s = scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1]);
  return softmax(q.matmul(k, { transB: true }).mul(s), -1).matmul(v);
}

/** attentionQkv from its parts (see attentionComposed): qkv [B, N, 3 H hd] -> [B, N, H hd]. */
export function attentionQkvComposed(qkv: Tensor, numHeads: number, scale?: number): Tensor {
  const [B, N, C3] = qkv.shape;
  const hd = C3 / 3 / numHeads;
  const x = qkv.reshape(B, N, 3, numHeads, hd).permute(2, 0, 3, 1, 4);
  return attentionComposed(x.select(0, 0), x.select(0, 1), x.select(0, 2), scale ?? 1 / Math.sqrt(hd)).transpose(1, 2).reshape(B, N, C3 / 3);
}

export interface BicubicOptions {
  /** Output size [H, W] (then the source step is in / out). */
  size?: [number, number];
  /** Scale factors [sh, sw] (then the source step is 1 / scale, as PyTorch does). */
  scaleFactor?: [number, number];
  /** Antialiased kernel (PyTorch's antialias=True). */
  antialias?: boolean;
}

/** Bicubic resampling of [N, C, H, W] with F.interpolate(mode='bicubic', align_corners=False) semantics. */
export function interpolateBicubic(x: Tensor, opts: BicubicOptions): Tensor {
  tensorArg('interpolate', 'input', x);
  if (x.ndim !== 4) throw new RangeError(`interpolate: argument 'input' has shape [${x.shape.join(', ')}] (expected 4-D [N, C, H, W])`);
  const [H, W] = [x.shape[2], x.shape[3]];
  let oh: number, ow: number, sh: number, sw: number;
  if (opts.size && !opts.scaleFactor) {
    [oh, ow] = opts.size;
    [sh, sw] = [H / oh, W / ow];
  } else if (opts.scaleFactor && !opts.size) {
    const [fh, fw] = opts.scaleFactor;
    if (!(fh > 0 && fw > 0)) throw new RangeError(`interpolate: argument 'scaleFactor' [${fh}, ${fw}] must be positive`);
    [oh, ow] = [Math.floor(H * fh), Math.floor(W * fw)];
    [sh, sw] = [1 / fh, 1 / fw];
  } else {
    throw new TypeError('interpolate: pass exactly one of \'size\' and \'scaleFactor\'');
  }
  const aa = opts.antialias ?? false;
  if (!useFused('bicubic', x.dtype, x.device) && supports('matmul', x.dtype, x.device)) {
    // Separable and linear: out = Wh x Wwᵀ with the per-axis weight matrices (matmuls carry the gradient).
    const wh = bicubicMatrix(H, oh, sh, aa, x.dtype, x.device), ww = bicubicMatrix(W, ow, sw, aa, x.dtype, x.device);
    return wh.matmul(x.matmul(ww, { transB: true }));
  }
  const out = wrap(native.bicubic(x.handle('interpolate'), oh, ow, sh, sw, aa));
  return record('bicubic', out, [x], { stepH: sh, stepW: sw, antialias: aa });
}

// Weight matrices of bicubicMatrix, by (sizes, step, antialias, dtype, device): the pos-embed
// interpolation asks for the same few every step.
const bicubicMatrices = new Map<string, Tensor>();

/**
 * The [outSize, inSize] matrix of 1-D bicubic resampling along one axis (align_corners=False,
 * source step `step`, antialias as PyTorch): row o holds the weights output o gives each input.
 * Taken from the CPU kernel itself (it resamples the columns of an identity), so the weights are
 * its weights bit for bit; interpolateBicubic uses Wh x Wwᵀ where the backend has no bicubic kernel.
 * Cached (at most 64 matrices); the result is owned by the cache: do not dispose it.
 */
export function bicubicMatrix(inSize: number, outSize: number, step: number, antialias: boolean, dtype = 'float32', device = 'cpu'): Tensor {
  const key = `${inSize} ${outSize} ${step} ${antialias} ${dtype} ${device}`;
  let m = bicubicMatrices.get(key);
  if (m && !m.isDisposed) return m;
  const cpuDtype = supports('bicubic', dtype, 'cpu') ? dtype : 'float32';
  m = noGrad(() => {
    // [1, in, in, 1] identity: channel c is the unit impulse at row c; width 1 at step 1 is the identity.
    const id = eye(inSize, inSize, { dtype: cpuDtype as Tensor['dtype'] });
    const id4 = id.reshape(1, inSize, inSize, 1);
    const cols = wrap(native.bicubic(id4.handle('bicubicMatrix'), outSize, 1, step, 1, antialias));
    id.dispose();
    id4.dispose();
    const c2 = cols.reshape(inSize, outSize), ct = c2.t();
    const t = ct.contiguous();  // [out, in]
    for (const v of [cols, c2, ct]) v.dispose();
    const r = t.to({ dtype: dtype as Tensor['dtype'], device });
    if (r !== t) t.dispose();
    return r;
  });
  keep(m);
  if (bicubicMatrices.size >= 64) {
    const [first, old] = bicubicMatrices.entries().next().value as [string, Tensor];
    bicubicMatrices.delete(first);
    old.dispose();
  }
  bicubicMatrices.set(key, m);
  return m;
}
