// lib/eval: metrics against hand-computed values and naive references, bootstrap intervals
// (determinism, skipped resamples, coverage), logistic regression (hand-solved cases, optimality
// by an independent gradient, separable data, errors), k-fold CV, the probe and feature extraction.
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';
import { prng } from './helpers.js';

/** Standard normal draws (Box-Muller on the test PRNG). */
function normals(n: number, seed: number): Float64Array {
  const r = prng(seed), out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

/** O(n^2) AUROC: fraction of (positive, negative) pairs ranked right, ties 1/2. */
function naiveAuroc(y: ArrayLike<number>, s: ArrayLike<number>): number {
  let num = 0, pairs = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < y.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      num += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  }
  return num / pairs;
}

/** Average precision straight from its definition: for each distinct threshold t (descending), (R(t) - R(prev)) * P(t). */
function naiveAP(y: ArrayLike<number>, s: ArrayLike<number>): number {
  const ts = [...new Set(Array.from(s))].sort((a, b) => b - a);
  const P = Array.from(y).filter((v) => v === 1).length;
  let ap = 0, prevR = 0;
  for (const t of ts) {
    let tp = 0, fp = 0;
    for (let i = 0; i < y.length; i++) if (s[i] >= t) (y[i] === 1 ? tp++ : fp++);
    ap += (tp / P - prevR) * (tp / (tp + fp));
    prevR = tp / P;
  }
  return ap;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The gradient of the logistic objective at the fitted model, recomputed independently (float64, standardised features). */
function objectiveGradient(m: R.LogisticRegression, X: readonly ArrayLike<number>[], y: number[]): number {
  const n = X.length, d = X[0].length, K = m.classes.length, rows = m.coef.length;
  const gW = m.coef.map(() => new Float64Array(d)), gb = new Float64Array(rows);
  for (let i = 0; i < n; i++) {
    const x = Array.from(X[i], (v, j) => (v - m.mean[j]) / m.scale[j]);
    const z = m.coef.map((w, r) => m.intercept[r] + w.reduce((s, wj, j) => s + wj * x[j], 0));
    const c = m.classes.indexOf(y[i]);
    let e: number[];
    if (K === 2) e = [sigmoid(z[0]) - c];
    else {
      const mx = Math.max(...z), ex = z.map((v) => Math.exp(v - mx)), s = ex.reduce((a, b) => a + b, 0);
      e = ex.map((v, r) => v / s - (r === c ? 1 : 0));
    }
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < d; j++) gW[r][j] += (e[r] * x[j]) / n;
      gb[r] += e[r] / n;
    }
  }
  let g = 0;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < d; j++) g = Math.max(g, Math.abs(gW[r][j] + m.l2 * m.coef[r][j]));
    g = Math.max(g, Math.abs(gb[r]));
  }
  return g;
}

/** n samples of d features with labels drawn from a logistic model (K = 2) or a softmax (K > 2). */
function logisticData(n: number, d: number, K: number, seed: number): { X: Float64Array[]; y: number[] } {
  const z = normals(n * d + K * d, seed), r = prng(seed + 1);
  const X = Array.from({ length: n }, (_, i) => Float64Array.from(z.subarray(i * d, (i + 1) * d), (v, j) => 3 + v * (j + 1)));  // unscaled, offset
  const W = Array.from({ length: K }, (_, k) => z.subarray(n * d + k * d, n * d + (k + 1) * d));
  const y = X.map((x) => {
    const logits = W.map((w) => w.reduce((s, wj, j) => s + (wj * (x[j] - 3)) / (j + 1), 0));
    const mx = Math.max(...logits), e = logits.map((v) => Math.exp(v - mx)), s = e.reduce((a, b) => a + b, 0);
    let u = r() * s, k = 0;
    while (k < K - 1 && (u -= e[k]) > 0) k++;
    return k;
  });
  return { X, y };
}

describe('metrics', () => {
  it('match hand-computed AUROC and average precision, ties included', () => {
    expect(R.auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    expect(R.auprc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(5 / 6, 14);  // (1/2)(1) + (1/2)(2/3)
    // ties: pos {0.5, 0.9}, neg {0.5, 0.2}: pairs 1/2 + 1 + 1 + 1 = 3.5 of 4
    expect(R.auroc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBe(0.875);
    expect(R.auprc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBeCloseTo(0.5 + 0.5 * (2 / 3), 14);
    expect(R.auroc([1, 0, 1, 0], [3, 3, 3, 3])).toBe(0.5);
    expect(R.auprc([1, 0, 0, 0], [3, 3, 3, 3])).toBe(0.25);
    expect(R.auroc([1, 1, 0], [0, 0.1, 0.2])).toBe(0);
    expect(R.accuracy([0, 1, 2, 2], [0, 2, 2, 2])).toBe(0.75);
  });

  it('AUROC equals the O(n^2) pair count and AUPRC the threshold-by-threshold definition on random data with ties', () => {
    for (const seed of [1, 2, 3]) {
      const r = prng(seed), n = 301;
      const y = Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0));
      const s = y.map((v) => Math.round((v * 0.8 + r()) * 20) / 20);  // coarse grid: many ties
      expect(R.auroc(y, s)).toBeCloseTo(naiveAuroc(y, s), 12);
      expect(R.auprc(y, s)).toBeCloseTo(naiveAP(y, s), 12);
    }
  });

  it('reject mismatched lengths, a single class, non-binary labels and non-finite scores', () => {
    expect(() => R.auroc([0, 1], [0.1])).toThrow(/auroc: 'yTrue' has 2 values and 'yScore' 1/);
    expect(() => R.auroc([1, 1, 1], [0.1, 0.2, 0.3])).toThrow(/auroc: 'yTrue' holds a single class \(1\)/);
    expect(() => R.auprc([0, 2], [0.1, 0.2])).toThrow(/auprc: 'yTrue\[1\]' is 2 \(expected binary labels 0 or 1\)/);
    expect(() => R.auroc([0, 1], [0.1, Number.NaN])).toThrow(/'yScore\[1\]' is NaN/);
    expect(() => R.accuracy([], [])).toThrow(/accuracy: no samples/);
  });
});

describe('bootstrapCI', () => {
  const r = prng(4), n = 120;
  const y = Array.from({ length: n }, () => (r() < 0.4 ? 1 : 0));
  const s = y.map((v) => v + 1.5 * r());

  it('is deterministic for a seed, differs across seeds, and brackets the full-sample value', () => {
    const a = R.bootstrapCI(y, s, R.auroc, { n: 500, seed: 3 });
    expect(R.bootstrapCI(y, s, R.auroc, { n: 500, seed: 3 })).toEqual(a);
    expect(R.bootstrapCI(y, s, R.auroc, { n: 500, seed: 4 }).ci).not.toEqual(a.ci);
    expect(a.value).toBe(R.auroc(y, s));
    expect(a.ci[0]).toBeLessThan(a.value);
    expect(a.ci[1]).toBeGreaterThan(a.value);
    expect(a.n + a.skipped).toBe(500);
    expect(a.alpha).toBe(0.05);
    const wide = R.bootstrapCI(y, s, R.auroc, { n: 500, seed: 3, alpha: 0.01 });
    expect(wide.ci[0]).toBeLessThanOrEqual(a.ci[0]);
    expect(wide.ci[1]).toBeGreaterThanOrEqual(a.ci[1]);
  });

  it('gives the same interval on the O(n)-per-resample path (auroc, auprc) as on resampled arrays (any metric)', () => {
    for (const m of [R.auroc, R.auprc]) {
      const fast = R.bootstrapCI(y, s, m, { n: 200, seed: 8 });
      const slow = R.bootstrapCI(y, s, (a, b) => m(a, b), { n: 200, seed: 8 });
      expect(slow.ci[0]).toBeCloseTo(fast.ci[0], 12);
      expect(slow.ci[1]).toBeCloseTo(fast.ci[1], 12);
    }
    const acc = R.bootstrapCI(y, s.map((v) => (v > 1 ? 1 : 0)), R.accuracy, { n: 200, seed: 8 });
    expect(acc.ci[0]).toBeLessThan(acc.value);
  });

  it('skips and counts resamples with a single class (exactly those the seeded draws produce)', () => {
    const y5 = [0, 0, 0, 1, 0], s5 = [0.1, 0.2, 0.3, 0.9, 0.4];
    const res = R.bootstrapCI(y5, s5, R.auroc, { n: 1000, seed: 2 });
    // replay the resampling: a resample is skipped when it misses sample 3 (the only positive) or draws only it
    const rand = R.seededRandom(2);
    let expected = 0;
    for (let b = 0; b < 1000; b++) {
      let pos = 0;
      for (let k = 0; k < 5; k++) if (Math.floor(rand() * 5) === 3) pos++;
      if (pos === 0 || pos === 5) expected++;
    }
    expect(res.skipped).toBe(expected);
    expect(res.skipped).toBeGreaterThan(250);  // P(miss) = 0.8^5 = 0.33
    expect(res.n).toBe(1000 - expected);
  });

  it('covers the true AUROC about 95% of the time (binormal model, AUROC = Phi(mu / sqrt 2))', () => {
    const mu = 1, trueAuc = 0.7602499389065233;  // Phi(1 / sqrt(2))
    let covered = 0;
    const trials = 60;
    for (let t = 0; t < trials; t++) {
      const z = normals(200, 100 + t);
      const yy = Array.from({ length: 200 }, (_, i) => i % 2);
      const ss = yy.map((v, i) => z[i] + v * mu);
      const { ci } = R.bootstrapCI(yy, ss, R.auroc, { n: 300, seed: t });
      if (ci[0] <= trueAuc && trueAuc <= ci[1]) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.83);
    expect(covered / trials).toBeLessThanOrEqual(1);
  });

  it('rejects bad options', () => {
    expect(() => R.bootstrapCI(y, s, R.auroc, { n: 0 })).toThrow(/option 'n' is 0/);
    expect(() => R.bootstrapCI(y, s, R.auroc, { alpha: 1 })).toThrow(/option 'alpha' is 1/);
    expect(() => R.bootstrapCI(y, s, 'auroc' as unknown as R.Metric)).toThrow(/argument 'metric' must be a function/);
  });
});

describe('LogisticRegression', () => {
  // x in {-1, +1} (already standardised), 1 of 4 positive at -1, 3 of 4 at +1
  const X1 = [-1, -1, -1, -1, 1, 1, 1, 1].map((v) => [v]);
  const y1 = [1, 0, 0, 0, 1, 1, 1, 0];

  it('solves a hand-solved case: without penalty w = ln 3, b = 0, probabilities 1/4 and 3/4', () => {
    const m = new R.LogisticRegression({ l2: 0, tol: 1e-10 }).fit(X1, y1);
    expect(m.converged).toBe(true);
    expect(m.coef[0][0]).toBeCloseTo(Math.log(3), 8);
    expect(m.intercept[0]).toBeCloseTo(0, 8);
    const p = m.positiveProba([[-1], [1]]);
    expect(p[0]).toBeCloseTo(0.25, 8);
    expect(p[1]).toBeCloseTo(0.75, 8);
    expect(m.predictProba([[1]])[0][0]).toBeCloseTo(0.25, 8);
    expect(m.predict([[-1], [1]])).toEqual([0, 1]);
    // with l2: sigmoid(w) - 3/4 + l2 w = 0, solved here by bisection
    const l2 = 0.3;
    let lo = 0, hi = 2;
    for (let i = 0; i < 100; i++) { const mid = (lo + hi) / 2; if (sigmoid(mid) - 0.75 + l2 * mid > 0) hi = mid; else lo = mid; }
    const mr = new R.LogisticRegression({ l2, tol: 1e-10 }).fit(X1, y1);
    expect(mr.coef[0][0]).toBeCloseTo(lo, 8);
    expect(mr.coef[0][0]).toBeLessThan(Math.log(3));
  });

  it('standardises with training statistics: scaled and shifted features give the same probabilities', () => {
    const { X, y } = logisticData(200, 4, 2, 7);
    const a = new R.LogisticRegression({ l2: 0.05 }).fit(X, y);
    const T = X.map((x) => x.map((v, j) => 100 * v - 7 * j));
    const b = new R.LogisticRegression({ l2: 0.05 }).fit(T, y);
    const pa = a.positiveProba(X), pb = b.positiveProba(T);
    for (let i = 0; i < pa.length; i++) expect(pb[i]).toBeCloseTo(pa[i], 6);
    expect(Array.from(a.scale)).not.toEqual([1, 1, 1, 1]);
  });

  it('reaches the optimum: an independently computed gradient is ~0 (binary and multinomial)', () => {
    for (const K of [2, 3, 4]) {
      const { X, y } = logisticData(300, 6, K, 10 + K);
      const m = new R.LogisticRegression({ l2: 0.01, tol: 1e-8 }).fit(X, y);
      expect(m.converged).toBe(true);
      expect(m.classes).toEqual(Array.from({ length: K }, (_, k) => k));
      expect(m.coef.length).toBe(K === 2 ? 1 : K);
      expect(objectiveGradient(m, X, y)).toBeLessThan(1e-7);
      // probabilities are rows summing to 1, and the model beats chance on its training data
      const P = m.predictProba(X);
      for (const row of P) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(R.accuracy(y, m.predict(X))).toBeGreaterThan(1 / K + 0.15);
    }
  });

  it('multinomial with uninformative features gives the class frequencies', () => {
    const X = Array.from({ length: 10 }, () => [5, -2]);
    const y = [7, 7, 9, 9, 9, 8, 8, 8, 8, 8];  // classes 7, 8, 9 with 2, 5, 3 samples
    const m = new R.LogisticRegression({ l2: 1, tol: 1e-10 }).fit(X, y);
    expect(m.classes).toEqual([7, 8, 9]);
    const p = m.predictProba([[5, -2]])[0];
    expect(p[0]).toBeCloseTo(0.2, 8);
    expect(p[1]).toBeCloseTo(0.5, 8);
    expect(p[2]).toBeCloseTo(0.3, 8);
    expect(m.predict([[0, 0]])).toEqual([8]);
  });

  it('keeps separable data finite through the L2 term', () => {
    const r = prng(3);
    const X = Array.from({ length: 100 }, () => [r() * 2 - 1, r()]);
    const y = X.map((x) => (x[0] > 0 ? 1 : 0));
    const m = new R.LogisticRegression({ l2: 1e-3, tol: 1e-9 }).fit(X, y);
    expect(m.converged).toBe(true);
    expect(Number.isFinite(m.coef[0][0])).toBe(true);
    expect(objectiveGradient(m, X, y)).toBeLessThan(1e-8);
    expect(R.accuracy(y, m.predict(X))).toBe(1);
    // a weaker penalty lets the weight grow: the L2 term is what bounds it
    const weak = new R.LogisticRegression({ l2: 1e-5, tol: 1e-9 }).fit(X, y);
    expect(Math.abs(weak.coef[0][0])).toBeGreaterThan(3 * Math.abs(m.coef[0][0]));
    // without a penalty the iteration cap stops it, still finite
    const none = new R.LogisticRegression({ l2: 0, maxIter: 30 }).fit(X, y);
    expect(none.nIter).toBeLessThanOrEqual(30);
    expect(Number.isFinite(none.coef[0][0])).toBe(true);
  });

  it('is deterministic and takes rows or a 2-D tensor alike', () => {
    const { X, y } = logisticData(150, 5, 2, 21);
    const a = new R.LogisticRegression().fit(X, y), b = new R.LogisticRegression().fit(X, y);
    expect(b.coef).toEqual(a.coef);
    const flat = new Float32Array(150 * 5);
    X.forEach((x, i) => flat.set(x, i * 5));
    const rows32 = X.map((x) => Float32Array.from(x));
    const t = R.tensor(flat, [150, 5]);
    const c = new R.LogisticRegression().fit(t, y), d = new R.LogisticRegression().fit(rows32, y);
    t.dispose();
    expect(c.coef).toEqual(d.coef);
  });

  it('rejects bad input with the function and argument named', () => {
    const L = () => new R.LogisticRegression();
    expect(() => L().fit([[1], [2]], [0, 1, 1])).toThrow(/LogisticRegression\.fit: 'X' has 2 rows and 'y' 3 labels/);
    expect(() => L().fit([[1], [2], [3]], [1, 1, 1])).toThrow(/LogisticRegression\.fit: 'y' holds a single class \(1\)/);
    expect(() => L().fit([[1, 2], [3]], [0, 1])).toThrow(/row 1 of 'X' has 1 features \(expected 2/);
    expect(() => L().fit([[1], [Number.NaN]], [0, 1])).toThrow(/holds NaN/);
    expect(() => L().fit([], [])).toThrow(/has no rows/);
    expect(() => L().predict([[1]])).toThrow(/not fitted/);
    expect(() => L().fit([[1], [2]], [0, 1]).predict([[1, 2]])).toThrow(/'X' has 2 features \(expected 1, as in fit\)/);
    expect(() => new R.LogisticRegression({ l2: -1 })).toThrow(/option 'l2' is -1/);
    expect(() => new R.LogisticRegression().fit([[1], [2], [3]], [0, 1, 2]).positiveProba([[1]])).toThrow(/3 classes \(expected a binary model/);
  });
});

describe('kFoldCV', () => {
  it('stratifies folds, predicts every sample out of fold, and is deterministic', () => {
    const { X, y } = logisticData(240, 4, 3, 31);
    const a = R.kFoldCV(X, y, 5, 1, { l2: 0.01 });
    expect(R.kFoldCV(X, y, 5, 1, { l2: 0.01 })).toEqual(a);
    expect(a.folds.length).toBe(5);
    expect(a.accuracy).toBeCloseTo(a.folds.reduce((s, v) => s + v, 0) / 5, 14);
    expect(a.accuracy).toBeCloseTo(R.accuracy(y, a.predictions), 1);  // equal folds up to rounding of sizes
    expect(a.accuracy).toBeGreaterThan(0.5);
    // shuffled labels: chance level
    const r = prng(5);
    const shuffled = y.map(() => Math.floor(r() * 3));
    expect(R.kFoldCV(X, shuffled, 5, 1).accuracy).toBeLessThan(0.5);
    expect(() => R.kFoldCV(X, y, 1)).toThrow(/kFoldCV: argument 'k' is 1/);
    expect(() => R.kFoldCV(X, y.slice(1))).toThrow(/'X' has 240 rows and 'y' 239 labels/);
  });
});

describe('linearProbe', () => {
  it('reports per-label and mean AUROC/AUPRC with intervals from shared resamples', () => {
    const { X, y } = logisticData(400, 5, 2, 41);
    const noise = normals(400, 42);
    const y2 = X.map((x, i) => (x[1] + noise[i] > 3 ? 1 : 0));  // x[1] has std 2: informative, not separable
    const train = X.slice(0, 250), test = X.slice(250);
    const res = R.linearProbe({ trainX: train, trainY: { a: y.slice(0, 250), b: y2.slice(0, 250) }, testX: test, testY: { a: y.slice(250), b: y2.slice(250) }, l2: 0.01, bootstrap: { n: 400, seed: 2 } });
    expect(Object.keys(res.labels)).toEqual(['a', 'b']);
    for (const k of ['a', 'b']) {
      const l = res.labels[k];
      const own = new R.LogisticRegression({ l2: 0.01 }).fit(train, (k === 'a' ? y : y2).slice(0, 250)).positiveProba(test);
      expect(Array.from(l.scores)).toEqual(Array.from(own));
      expect(l.auroc.value).toBe(R.auroc((k === 'a' ? y : y2).slice(250), own));
      expect(l.auprc.value).toBe(R.auprc((k === 'a' ? y : y2).slice(250), own));
      expect(l.auroc.ci[0]).toBeLessThan(l.auroc.value);
      expect(l.auroc.ci[1]).toBeGreaterThan(l.auroc.value);
    }
    expect(res.labels.b.auroc.value).toBeGreaterThan(0.8);
    expect(res.mean.auroc.value).toBeCloseTo((res.labels.a.auroc.value + res.labels.b.auroc.value) / 2, 14);
    expect(res.mean.auroc.ci[0]).toBeLessThan(res.mean.auroc.value);
    expect(res.mean.auprc.ci[1]).toBeGreaterThan(res.mean.auprc.value);
    expect(res.bootstrap.n + res.bootstrap.skipped).toBe(400);
    // one label column as a plain array
    const single = R.linearProbe({ trainX: train, trainY: y2.slice(0, 250), testX: test, testY: y2.slice(250), bootstrap: { n: 50 } });
    expect(Object.keys(single.labels)).toEqual(['label']);
  });

  it('rejects mismatched shapes, multi-class and single-class labels', () => {
    const X = [[0], [1], [2], [3]];
    expect(() => R.linearProbe({ trainX: X, trainY: [0, 1, 0, 1], testX: [[0, 1]], testY: [1] })).toThrow(/'trainX' has 1 features and 'testX' 2/);
    expect(() => R.linearProbe({ trainX: X, trainY: [0, 1, 2, 1], testX: X, testY: [0, 1, 0, 1] })).toThrow(/holds 2 at 2 \(expected binary 0\/1 labels; use kFoldCV/);
    expect(() => R.linearProbe({ trainX: X, trainY: [0, 1, 0], testX: X, testY: [0, 1, 0, 1] })).toThrow(/has 3 values \(expected 4/);
    expect(() => R.linearProbe({ trainX: X, trainY: [1, 1, 1, 1], testX: X, testY: [0, 1, 0, 1] })).toThrow(/single class/);
    expect(() => R.linearProbe({ trainX: X, trainY: [0, 1, 0, 1], testX: X, testY: [1, 1, 1, 1] })).toThrow(/label 'label' of 'testY' holds a single class/);
  });
});

describe('extractFeatures', () => {
  const vit = () => new R.DinoVisionTransformer({ imgSize: 28, embedDim: 24, depth: 1, numHeads: 2 }, { generator: new R.Generator(3) });
  const images = Array.from({ length: 5 }, (_, i) => R.generateSyntheticCXR(i, { size: 28, seed: 1 }).image);

  it('gives cls (and mean patch) features equal to a direct forward on the normalised batch, freeing every tensor', () => {
    const model = vit();
    const before = R.memory().tensors;
    const f = R.extractFeatures(model, images, { batchSize: 2 });
    const fm = R.extractFeatures(model, images, { batchSize: 4, withMeanPatch: true });
    expect(R.memory().tensors).toBe(before);
    expect(model.training).toBe(true);  // mode restored
    expect(f.length).toBe(5);
    expect(f[0].length).toBe(24);
    expect(fm[4].length).toBe(48);
    // reference: the ImageNet-normalised 3-channel batch through forwardFeatures
    const x = new Float32Array(5 * 3 * 784);
    images.forEach((im, b) => { for (let c = 0; c < 3; c++) for (let k = 0; k < 784; k++) x[(b * 3 + c) * 784 + k] = (im[k] - R.IMAGENET_MEAN[c]) / R.IMAGENET_STD[c]; });
    const [cls, patch] = R.tidy(() => R.noGrad(() => {
      const out = model.eval().forwardFeatures(R.tensor(x, [5, 3, 28, 28]));
      return [out.xNormClstoken.dataSync() as Float32Array, out.xNormPatchtokens.mean(1).dataSync() as Float32Array];
    }));
    for (let b = 0; b < 5; b++) {
      for (let j = 0; j < 24; j++) {
        expect(f[b][j]).toBeCloseTo(cls[b * 24 + j], 5);
        expect(fm[b][j]).toBeCloseTo(cls[b * 24 + j], 5);
        expect(fm[b][24 + j]).toBeCloseTo(patch[b * 24 + j], 5);
      }
    }
    model.dispose();
  });

  it('pools patch tokens on a coarse grid (uneven cells when the grid does not divide G); grid 1 is the mean patch token', () => {
    const model = new R.DinoVisionTransformer({ imgSize: 42, embedDim: 16, depth: 1, numHeads: 2 }, { generator: new R.Generator(5) });
    const imgs = Array.from({ length: 3 }, (_, i) => R.generateSyntheticCXR(i, { size: 42, seed: 2 }).image);
    const before = R.memory().tensors;
    const g2 = R.extractFeatures(model, imgs, { batchSize: 2, grid: 2 });
    const g1 = R.extractFeatures(model, imgs, { grid: 1 });
    const mean = R.extractFeatures(model, imgs, { withMeanPatch: true });
    expect(R.memory().tensors).toBe(before);
    expect(g2[0].length).toBe(16 * (1 + 4));
    const x = new Float32Array(3 * 3 * 42 * 42);
    imgs.forEach((im, b) => { for (let c = 0; c < 3; c++) for (let k = 0; k < 42 * 42; k++) x[(b * 3 + c) * 42 * 42 + k] = (im[k] - R.IMAGENET_MEAN[c]) / R.IMAGENET_STD[c]; });
    const patches = R.tidy(() => R.noGrad(() => model.eval().forwardFeatures(R.tensor(x, [3, 3, 42, 42])).xNormPatchtokens.dataSync() as Float32Array));  // (3, 9, 16)
    // G = 3, grid 2: rows/cols {0, 1} -> cell 0, {2} -> cell 1; cells hold 4, 2, 2 and 1 patches
    const cells = [[0, 1, 3, 4], [2, 5], [6, 7], [8]];
    for (let b = 0; b < 3; b++) {
      cells.forEach((ps, c) => {
        for (let d = 0; d < 16; d++) {
          const want = ps.reduce((acc, p) => acc + patches[(b * 9 + p) * 16 + d], 0) / ps.length;
          expect(g2[b][16 * (1 + c) + d]).toBeCloseTo(want, 5);
        }
      });
      for (let d = 0; d < 32; d++) expect(g1[b][d]).toBeCloseTo(mean[b][d], 5);
    }
    expect(() => R.extractFeatures(model, imgs, { grid: -1 })).toThrow(/option 'grid' is -1/);
    model.dispose();
  });

  it('rejects sizes that are not multiples of the patch and images of the wrong length', () => {
    const model = vit();
    expect(() => R.extractFeatures(model, [new Float32Array(30 * 30)])).toThrow(/extractFeatures: image size 30 is not a positive multiple of the patch size 14/);
    expect(() => R.extractFeatures(model, [images[0], new Float32Array(10)])).toThrow(/image 1 has 10 values \(expected a Float32Array of 28x28\)/);
    expect(() => R.extractFeatures(model, [])).toThrow(/non-empty array/);
    model.dispose();
  });
});
