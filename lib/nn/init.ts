// Initialisers with PyTorch's semantics (torch.nn.init), writing in place without autograd.
import { noGrad } from '../autograd/engine.js';
import { full, rand, randn, truncNormal } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

type Opts = { generator?: Generator };

function fill(t: Tensor, make: () => Tensor): Tensor {
  noGrad(() => tidy(() => { t.copy_(make()); }));
  return t;
}

/** Normal(mean, std) truncated to [a, b] (absolute bounds, as torch.nn.init.trunc_normal_). */
export function truncNormal_(t: Tensor, opts: Opts & { mean?: number; std?: number; a?: number; b?: number } = {}): Tensor {
  return fill(t, () => truncNormal(t.shape, { mean: opts.mean ?? 0, std: opts.std ?? 1, a: opts.a ?? -2, b: opts.b ?? 2, dtype: t.dtype, generator: opts.generator }));
}
export function normal_(t: Tensor, opts: Opts & { mean?: number; std?: number } = {}): Tensor {
  return fill(t, () => randn(t.shape, { mean: opts.mean ?? 0, std: opts.std ?? 1, dtype: t.dtype, generator: opts.generator }));
}
export function uniform_(t: Tensor, low: number, high: number, opts: Opts = {}): Tensor {
  return fill(t, () => rand(t.shape, { low, high, dtype: t.dtype, generator: opts.generator }));
}
export function constant_(t: Tensor, value: number): Tensor {
  return fill(t, () => full(t.shape, value, { dtype: t.dtype }));
}
export const zeros_ = (t: Tensor) => constant_(t, 0);
export const ones_ = (t: Tensor) => constant_(t, 1);

/** Fan-in of a weight: dim 1 times the receptive field (dims 2..). */
export function fanIn(t: Tensor): number {
  if (t.ndim < 2) throw new RangeError(`fanIn: a weight needs at least 2 dimensions (got [${t.shape.join(', ')}])`);
  return t.shape.slice(1).reduce((a, b) => a * b, 1);
}

/** PyTorch's default Linear/Conv init: kaiming_uniform(a = sqrt 5) = U(±1/sqrt(fan_in)), bias alike. */
export function defaultLinearInit_(weight: Tensor, bias: Tensor | null, opts: Opts = {}): void {
  const bound = 1 / Math.sqrt(fanIn(weight));
  uniform_(weight, -bound, bound, opts);
  if (bias) uniform_(bias, -bound, bound, opts);
}
