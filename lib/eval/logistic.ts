// L2-regularised logistic regression on frozen features, in float64 JS: binary (sigmoid) for two
// classes, multinomial (softmax) for more. Features are standardised with the training mean and
// (population) standard deviation. The objective, with n samples, weights w and intercepts b:
//   f(w, b) = (1/n) sum_i loss_i + (l2 / 2) ||w||^2        (intercepts are not penalised)
// binary: loss_i = log(1 + exp(z_i)) - y_i z_i, z_i = w.x_i + b;
// multinomial: loss_i = logsumexp_k(z_ik) - z_i,y_i, z_ik = w_k.x_i + b_k.
// Minimised by L-BFGS with a backtracking Armijo line search, deterministic, until the largest
// gradient component is below `tol` or `maxIter` is reached.
// Shapes: n samples, d features, K classes.
import { Tensor } from '../tensor/tensor.js';

/** Feature rows (each of length d) or a 2-D tensor [n, d]. */
export type FeatureMatrix = readonly ArrayLike<number>[] | Tensor;

export interface LogisticOptions {
  /** L2 penalty on the weights (>= 0; default 1e-2). */
  l2?: number;
  /** L-BFGS iteration cap (default 1000). */
  maxIter?: number;
  /** Stop when max |gradient component| <= tol (default 1e-6). */
  tol?: number;
  /** Standardise features with the training statistics (default true). */
  standardize?: boolean;
  /** L-BFGS memory (default 10). */
  history?: number;
}

const DEFAULTS = { l2: 1e-2, maxIter: 1000, tol: 1e-6, standardize: true, history: 10 } as const;
const ARMIJO_C = 1e-4;
const MAX_BACKTRACKS = 50;

/** A row-major float64 copy [n, d] of the features, validated. */
export function toMatrix(op: string, X: FeatureMatrix, arg = 'X'): { data: Float64Array; n: number; d: number } {
  if (X instanceof Tensor) {
    if (X.ndim !== 2) throw new RangeError(`${op}: argument '${arg}' must be a 2-D tensor [n, d] (got [${X.shape.join(', ')}])`);
    if (X.dtype !== 'float32' && X.dtype !== 'float64' && X.dtype !== 'bfloat16' && X.dtype !== 'float16') throw new TypeError(`${op}: argument '${arg}' must be a floating tensor (got ${X.dtype})`);
    const data = Float64Array.from(X.dataSync() as Float32Array);
    checkFinite(op, arg, data);
    return { data, n: X.shape[0], d: X.shape[1] };
  }
  if (!Array.isArray(X)) throw new TypeError(`${op}: argument '${arg}' must be an array of feature rows or a 2-D tensor`);
  const n = X.length;
  if (n === 0) throw new RangeError(`${op}: argument '${arg}' has no rows (expected at least one)`);
  const d = X[0].length;
  const data = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const row = X[i];
    if (row == null || row.length !== d) throw new RangeError(`${op}: row ${i} of '${arg}' has ${row?.length} features (expected ${d}, like row 0)`);
    for (let j = 0; j < d; j++) data[i * d + j] = row[j];
  }
  checkFinite(op, arg, data);
  return { data, n, d };
}

function checkFinite(op: string, arg: string, data: Float64Array): void {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new RangeError(`${op}: argument '${arg}' holds ${data[i]} at flat index ${i} (expected finite features)`);
}

/** Objective value and gradient at theta (writes grad). */
type Objective = (theta: Float64Array, grad: Float64Array) => number;

/** L-BFGS with a backtracking Armijo line search; theta is updated in place. */
export function lbfgs(f: Objective, theta: Float64Array, opts: { maxIter: number; tol: number; history: number }): { iters: number; converged: boolean; loss: number; gradMax: number } {
  const p = theta.length, m = opts.history;
  const g = new Float64Array(p), gNew = new Float64Array(p), dir = new Float64Array(p), trial = new Float64Array(p);
  const S: Float64Array[] = [], Y: Float64Array[] = [], rho: number[] = [];
  const alpha = new Float64Array(m);
  const dot = (a: Float64Array, b: Float64Array) => { let s = 0; for (let i = 0; i < p; i++) s += a[i] * b[i]; return s; };
  const maxAbs = (a: Float64Array) => { let s = 0; for (let i = 0; i < p; i++) s = Math.max(s, Math.abs(a[i])); return s; };
  let loss = f(theta, g);
  let iters = 0;
  while (maxAbs(g) > opts.tol && iters < opts.maxIter) {
    // two-loop recursion: dir = -H g
    for (let i = 0; i < p; i++) dir[i] = -g[i];
    for (let k = S.length - 1; k >= 0; k--) {
      alpha[k] = rho[k] * dot(S[k], dir);
      for (let i = 0; i < p; i++) dir[i] -= alpha[k] * Y[k][i];
    }
    const last = S.length - 1;
    const gamma = last >= 0 ? dot(S[last], Y[last]) / dot(Y[last], Y[last]) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let i = 0; i < p; i++) dir[i] *= gamma;
    for (let k = 0; k < S.length; k++) {
      const beta = rho[k] * dot(Y[k], dir);
      for (let i = 0; i < p; i++) dir[i] += (alpha[k] - beta) * S[k][i];
    }
    let slope = dot(g, dir);
    if (!(slope < 0)) {  // not a descent direction (numerical trouble): restart from steepest descent
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < p; i++) dir[i] = -g[i] / Math.max(1, Math.sqrt(dot(g, g)));
      slope = dot(g, dir);
    }
    let step = 1, newLoss = Number.POSITIVE_INFINITY, accepted = false;
    for (let b = 0; b < MAX_BACKTRACKS; b++, step *= 0.5) {
      for (let i = 0; i < p; i++) trial[i] = theta[i] + step * dir[i];
      newLoss = f(trial, gNew);
      if (newLoss <= loss + ARMIJO_C * step * slope) { accepted = true; break; }
    }
    iters++;
    if (!accepted) break;  // no decrease possible at float64 precision
    const s = new Float64Array(p), y = new Float64Array(p);
    for (let i = 0; i < p; i++) { s[i] = trial[i] - theta[i]; y[i] = gNew[i] - g[i]; }
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === m) { S.shift(); Y.shift(); rho.shift(); }
      S.push(s); Y.push(y); rho.push(1 / sy);
    }
    theta.set(trial);
    g.set(gNew);
    loss = newLoss;
  }
  const gradMax = maxAbs(g);
  return { iters, converged: gradMax <= opts.tol, loss, gradMax };
}

export class LogisticRegression {
  readonly l2: number;
  readonly maxIter: number;
  readonly tol: number;
  readonly standardize: boolean;
  readonly history: number;
  /** Sorted distinct training labels; predictProba's columns follow this order. */
  classes: number[] = [];
  /** Weights on standardised features: one row for binary (class classes[1]), K rows for multinomial. */
  coef: Float64Array[] = [];
  intercept = new Float64Array(0);
  /** Standardisation: x' = (x - mean) / scale (scale 1 for constant features). */
  mean = new Float64Array(0);
  scale = new Float64Array(0);
  /** From the last fit: L-BFGS iterations, whether max |grad| <= tol, final objective and max |grad|. */
  nIter = 0;
  converged = false;
  loss = Number.NaN;
  gradMax = Number.NaN;

  constructor(opts: LogisticOptions = {}) {
    const o = {
      l2: opts.l2 ?? DEFAULTS.l2, maxIter: opts.maxIter ?? DEFAULTS.maxIter, tol: opts.tol ?? DEFAULTS.tol,
      standardize: opts.standardize ?? DEFAULTS.standardize, history: opts.history ?? DEFAULTS.history,
    };
    if (!(o.l2 >= 0) || !Number.isFinite(o.l2)) throw new RangeError(`LogisticRegression: option 'l2' is ${o.l2} (expected a finite number >= 0)`);
    if (!Number.isInteger(o.maxIter) || o.maxIter < 1) throw new RangeError(`LogisticRegression: option 'maxIter' is ${o.maxIter} (expected an integer >= 1)`);
    if (!(o.tol > 0)) throw new RangeError(`LogisticRegression: option 'tol' is ${o.tol} (expected > 0)`);
    if (!Number.isInteger(o.history) || o.history < 1) throw new RangeError(`LogisticRegression: option 'history' is ${o.history} (expected an integer >= 1)`);
    this.l2 = o.l2; this.maxIter = o.maxIter; this.tol = o.tol; this.standardize = o.standardize; this.history = o.history;
  }

  get fitted(): boolean {
    return this.coef.length > 0;
  }

  /** Fits to features X [n, d] and class labels y (any numbers; >= 2 distinct). */
  fit(X: FeatureMatrix, y: ArrayLike<number>): this {
    const { data, n, d } = toMatrix('LogisticRegression.fit', X);
    if (y == null || typeof y.length !== 'number') throw new TypeError(`LogisticRegression.fit: argument 'y' must be an array of class labels`);
    if (y.length !== n) throw new RangeError(`LogisticRegression.fit: 'X' has ${n} rows and 'y' ${y.length} labels (expected the same number)`);
    for (let i = 0; i < n; i++) if (!Number.isFinite(y[i])) throw new RangeError(`LogisticRegression.fit: 'y[${i}]' is ${y[i]} (expected finite class labels)`);
    const classes = [...new Set(Array.from(y))].sort((a, b) => a - b);
    if (classes.length < 2) throw new RangeError(`LogisticRegression.fit: 'y' holds a single class (${classes[0]}); need at least two classes to fit`);
    const K = classes.length, rows = K === 2 ? 1 : K;
    const cls = Int32Array.from(y, (v) => classes.indexOf(v));

    // standardise (training statistics only)
    const mean = new Float64Array(d), scale = new Float64Array(d).fill(1);
    if (this.standardize) {
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j];
      for (let j = 0; j < d; j++) mean[j] /= n;
      const v = new Float64Array(d);
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) { const c = data[i * d + j] - mean[j]; v[j] += c * c; }
      for (let j = 0; j < d; j++) { const s = Math.sqrt(v[j] / n); scale[j] = s > 1e-12 * (1 + Math.abs(mean[j])) ? s : 1; }
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[i * d + j] = (data[i * d + j] - mean[j]) / scale[j];
    }

    const lam = this.l2;
    const theta = new Float64Array(rows * d + rows);  // [W (rows x d) | b (rows)]
    const z = new Float64Array(rows);
    const objective: Objective = (th, grad) => {
      grad.fill(0);
      let loss = 0;
      for (let i = 0; i < n; i++) {
        const xi = i * d;
        for (let r = 0; r < rows; r++) {
          let s = th[rows * d + r];
          const wr = r * d;
          for (let j = 0; j < d; j++) s += th[wr + j] * data[xi + j];
          z[r] = s;
        }
        if (rows === 1) {
          const zi = z[0], yi = cls[i];
          loss += (zi > 0 ? zi + Math.log1p(Math.exp(-zi)) : Math.log1p(Math.exp(zi))) - yi * zi;
          z[0] = 1 / (1 + Math.exp(-zi)) - yi;  // dloss/dz
        } else {
          let mx = -Infinity;
          for (let r = 0; r < rows; r++) mx = Math.max(mx, z[r]);
          let se = 0;
          for (let r = 0; r < rows; r++) se += Math.exp(z[r] - mx);
          loss += mx + Math.log(se) - z[cls[i]];
          for (let r = 0; r < rows; r++) z[r] = Math.exp(z[r] - mx) / se - (r === cls[i] ? 1 : 0);
        }
        for (let r = 0; r < rows; r++) {
          const e = z[r], wr = r * d;
          for (let j = 0; j < d; j++) grad[wr + j] += e * data[xi + j];
          grad[rows * d + r] += e;
        }
      }
      let pen = 0;
      for (let k = 0; k < grad.length; k++) grad[k] /= n;
      for (let k = 0; k < rows * d; k++) { pen += th[k] * th[k]; grad[k] += lam * th[k]; }
      return loss / n + 0.5 * lam * pen;
    };
    const res = lbfgs(objective, theta, { maxIter: this.maxIter, tol: this.tol, history: this.history });

    this.classes = classes;
    this.coef = Array.from({ length: rows }, (_, r) => theta.slice(r * d, (r + 1) * d));
    this.intercept = theta.slice(rows * d);
    this.mean = mean;
    this.scale = scale;
    this.nIter = res.iters;
    this.converged = res.converged;
    this.loss = res.loss;
    this.gradMax = res.gradMax;
    return this;
  }

  /** Linear scores: [n] for binary (log-odds of classes[1]), rows of K for multinomial. */
  decisionFunction(X: FeatureMatrix): Float64Array[] {
    if (!this.fitted) throw new Error('LogisticRegression.decisionFunction: the model is not fitted (call fit first)');
    const { data, n, d } = toMatrix('LogisticRegression.decisionFunction', X);
    if (d !== this.mean.length) throw new RangeError(`LogisticRegression.decisionFunction: 'X' has ${d} features (expected ${this.mean.length}, as in fit)`);
    const out: Float64Array[] = [];
    for (let i = 0; i < n; i++) {
      const z = new Float64Array(this.coef.length);
      for (let r = 0; r < this.coef.length; r++) {
        let s = this.intercept[r];
        const w = this.coef[r];
        for (let j = 0; j < d; j++) s += w[j] * ((data[i * d + j] - this.mean[j]) / this.scale[j]);
        z[r] = s;
      }
      out.push(z);
    }
    return out;
  }

  /** Class probabilities, one row of K per sample, columns in `classes` order. */
  predictProba(X: FeatureMatrix): Float64Array[] {
    return this.decisionFunction(X).map((z) => {
      if (z.length === 1) {
        const p = 1 / (1 + Math.exp(-z[0]));
        return Float64Array.of(1 - p, p);
      }
      const mx = Math.max(...z);
      const e = z.map((v) => Math.exp(v - mx));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    });
  }

  /** Binary models: P(y = classes[1]) per sample. */
  positiveProba(X: FeatureMatrix): Float64Array {
    if (this.fitted && this.classes.length !== 2) throw new Error(`LogisticRegression.positiveProba: the model has ${this.classes.length} classes (expected a binary model; use predictProba)`);
    return Float64Array.from(this.decisionFunction(X), (z) => 1 / (1 + Math.exp(-z[0])));
  }

  /** The most probable class per sample. */
  predict(X: FeatureMatrix): number[] {
    return this.decisionFunction(X).map((z) => {
      if (z.length === 1) return this.classes[z[0] > 0 ? 1 : 0];
      let best = 0;
      for (let r = 1; r < z.length; r++) if (z[r] > z[best]) best = r;
      return this.classes[best];
    });
  }
}
