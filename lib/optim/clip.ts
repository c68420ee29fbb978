// Gradient clipping by the global norm (torch.nn.utils.clip_grad_norm_).
import { noGrad } from '../autograd/engine.js';
import { stack } from '../tensor/indexing.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

/** Added to the total norm before dividing (PyTorch's). */
export const CLIP_EPS = 1e-6;

/**
 * Scales the gradients of `params` in place so that their joint L2 norm is at most maxNorm:
 * total = ||(||g_1||, ..., ||g_n||)||, every g *= min(maxNorm / (total + 1e-6), 1) (computed in
 * float32 as PyTorch does). Parameters without a gradient are skipped. Returns the total norm
 * before clipping (NaN/Inf propagate, as in PyTorch with error_if_nonfinite = false).
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): number {
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new RangeError(`clipGradNorm: argument 'maxNorm' is ${maxNorm} (expected a number >= 0)`);
  const withGrad: Tensor[] = [];
  for (const p of params) {
    if (!(p instanceof Tensor)) throw new TypeError('clipGradNorm: argument \'params\' must hold Tensors');
    if (p.grad) withGrad.push(p);
  }
  if (withGrad.length === 0) return 0;
  return noGrad(() => tidy(() => {
    const total = stack(withGrad.map((p) => p.grad!.norm(2).to('float32'))).norm(2);
    const coef = total.add(CLIP_EPS).reciprocal().mul(maxNorm).clamp(null, 1);  // as torch: (total + eps).reciprocal() * max
    // A coefficient of exactly 1 (the norm is within bounds) leaves every gradient as it is:
    // skip the pass (torch multiplies by 1.0, which changes nothing either).
    if (coef.item() !== 1) for (const p of withGrad) p.grad = p.grad!.mul(coef.to(p.grad!.dtype));
    return total.item();
  }));
}
