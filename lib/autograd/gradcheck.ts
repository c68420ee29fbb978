// Finite-difference gradient checks (central differences in float64) for tests and for users
// writing their own ops.
import { tensor } from '../tensor/creation.js';
import { Generator, randn } from '../tensor/index.js';
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from './engine.js';

export interface GradCheckOptions {
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Seed of the random projection that turns a tensor output into a scalar. */
  seed?: number;
}

/**
 * Compares the autograd gradients of sum(f(inputs) * w) (w a fixed random tensor) with central
 * differences, for every element of every float64 input with requiresGrad. Throws an Error
 * naming the input and element on mismatch; returns the largest error seen.
 */
export function gradCheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradCheckOptions = {}): number {
  const eps = opts.eps ?? 1e-6, rtol = opts.rtol ?? 1e-5, atol = opts.atol ?? 1e-8;
  for (const [i, x] of inputs.entries()) {
    if (x.dtype !== 'float64') throw new TypeError(`gradCheck: input ${i} is ${x.dtype} (expected float64)`);
  }
  const proj: { w: Tensor | null } = { w: null };  // fixed random projection, made on first use
  const loss = (xs: Tensor[]) => {
    const y = f(...xs);
    proj.w ??= keep(randn(y.shape, { dtype: 'float64', generator: new Generator(opts.seed ?? 1234) }));
    return y.mul(proj.w).sum();
  };
  // analytic
  for (const x of inputs) x.grad = null;
  tidy(() => loss(inputs).backward());
  const analytic = inputs.map((x) => (x.requiresGrad ? (x.grad ? Array.from(x.grad.dataSync() as Float64Array) : new Array<number>(x.numel()).fill(0)) : null));
  // numeric
  let worst = 0;
  noGrad(() => {
    const values = inputs.map((x) => Float64Array.from(x.dataSync() as Float64Array));
    inputs.forEach((x, i) => {
      const a = analytic[i];
      if (!a) return;
      for (let k = 0; k < values[i].length; k++) {
        const at = (delta: number) => tidy(() => {
          const v = Float64Array.from(values[i]);
          v[k] += delta;
          const xs = inputs.map((t, j) => (j === i ? tensor(v, t.shape, 'float64') : t));
          return loss(xs).item();
        });
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        const err = Math.abs(numeric - a[k]);
        if (!(err <= atol + rtol * Math.abs(numeric))) {
          throw new Error(`gradCheck: input ${i} element ${k}: autograd ${a[k]}, finite differences ${numeric} (|diff| ${err.toExponential(2)})`);
        }
        worst = Math.max(worst, err / (atol + rtol * Math.abs(numeric)));
      }
    });
  });
  proj.w?.dispose();
  for (const x of inputs) x.grad = null;
  return worst;
}
