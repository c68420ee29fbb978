// Classification metrics on a held-out set and their percentile-bootstrap confidence intervals.
// AUROC is the Mann-Whitney statistic (a tie between a positive and a negative counts 1/2);
// AUPRC is average precision as scikit-learn defines it: sum over distinct thresholds, from the
// highest score down, of (R_k - R_{k-1}) * P_k, with no interpolation.
// Binary labels are 0/1 with 1 the positive class.
import { seededRandom } from './rng.js';

/** A metric of true labels and scores (or predicted labels, for accuracy). */
export type Metric = (yTrue: ArrayLike<number>, yScore: ArrayLike<number>) => number;

function checkPair(op: string, yTrue: ArrayLike<number>, yScore: ArrayLike<number>): void {
  if (yTrue == null || typeof yTrue.length !== 'number') throw new TypeError(`${op}: argument 'yTrue' must be an array of numbers`);
  if (yScore == null || typeof yScore.length !== 'number') throw new TypeError(`${op}: argument 'yScore' must be an array of numbers`);
  if (yTrue.length !== yScore.length) throw new RangeError(`${op}: 'yTrue' has ${yTrue.length} values and 'yScore' ${yScore.length} (expected the same length)`);
  if (yTrue.length === 0) throw new RangeError(`${op}: no samples (expected at least one)`);
}

/** Checks binary 0/1 labels and finite scores; returns the number of positives. */
function checkBinary(op: string, yTrue: ArrayLike<number>, yScore: ArrayLike<number>): number {
  checkPair(op, yTrue, yScore);
  let pos = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const y = yTrue[i];
    if (y !== 0 && y !== 1) throw new RangeError(`${op}: 'yTrue[${i}]' is ${y} (expected binary labels 0 or 1)`);
    if (!Number.isFinite(yScore[i])) throw new RangeError(`${op}: 'yScore[${i}]' is ${yScore[i]} (expected finite scores)`);
    pos += y;
  }
  if (pos === 0 || pos === yTrue.length) throw new RangeError(`${op}: 'yTrue' holds a single class (${pos === 0 ? 0 : 1}); the metric needs both positives and negatives`);
  return pos;
}

/** Indices sorted by score, highest first (stable). */
export function argsortDescending(yScore: ArrayLike<number>): Int32Array {
  const order = Int32Array.from({ length: yScore.length }, (_, i) => i);
  return order.sort((a, b) => yScore[b] - yScore[a] || a - b);
}

/**
 * AUROC and AUPRC from a descending score order, each sample counted w[i] times (w = null: once).
 * Walks groups of tied scores; null when the weighted labels hold a single class.
 */
export function rankMetrics(yTrue: ArrayLike<number>, yScore: ArrayLike<number>, order: Int32Array, w: ArrayLike<number> | null): { auroc: number; auprc: number } | null {
  let P = 0, N = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const c = w ? w[i] : 1;
    if (yTrue[i] === 1) P += c;
    else N += c;
  }
  if (P === 0 || N === 0) return null;
  let tp = 0, fp = 0, u = 0, ap = 0, prevRecall = 0;
  for (let k = 0; k < order.length;) {
    const s = yScore[order[k]];
    let pg = 0, ng = 0;
    for (; k < order.length && yScore[order[k]] === s; k++) {
      const i = order[k], c = w ? w[i] : 1;
      if (yTrue[i] === 1) pg += c;
      else ng += c;
    }
    u += pg * (N - fp - ng) + 0.5 * pg * ng;  // positives of this group above lower negatives, ties half
    tp += pg;
    fp += ng;
    if (pg > 0) {
      const recall = tp / P;
      ap += (recall - prevRecall) * (tp / (tp + fp));
      prevRecall = recall;
    }
  }
  return { auroc: u / (P * N), auprc: ap };
}

/** Area under the ROC curve (Mann-Whitney U / (P N), ties counted 1/2). */
export function auroc(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): number {
  checkBinary('auroc', yTrue, yScore);
  return rankMetrics(yTrue, yScore, argsortDescending(yScore), null)!.auroc;
}

/** Average precision (scikit-learn's average_precision_score): sum_k (R_k - R_{k-1}) P_k over distinct thresholds. */
export function auprc(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): number {
  checkBinary('auprc', yTrue, yScore);
  return rankMetrics(yTrue, yScore, argsortDescending(yScore), null)!.auprc;
}

/** Fraction of exact matches between labels and predicted labels. */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkPair('accuracy', yTrue, yPred);
  let hit = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hit++;
  return hit / yTrue.length;
}

// ---- bootstrap --------------------------------------------------------------------------------
export interface BootstrapOptions {
  /** Resamples drawn (default 1000). */
  n?: number;
  seed?: number;
  /** 1 - confidence level (default 0.05: a 95% interval). */
  alpha?: number;
}

export interface BootstrapResult {
  /** The statistic on the full sample. */
  value: number;
  /** Percentile interval [alpha/2, 1 - alpha/2] of the valid resamples. */
  ci: [number, number];
  /** Resamples that gave a value. */
  n: number;
  /** Resamples skipped (a single class, so the metric is undefined). */
  skipped: number;
  alpha: number;
}

export const BOOTSTRAP_DEFAULTS = { n: 1000, seed: 0, alpha: 0.05 } as const;

function checkBootstrap(op: string, opts: BootstrapOptions): Required<BootstrapOptions> {
  const o = { n: opts.n ?? BOOTSTRAP_DEFAULTS.n, seed: opts.seed ?? BOOTSTRAP_DEFAULTS.seed, alpha: opts.alpha ?? BOOTSTRAP_DEFAULTS.alpha };
  if (!Number.isInteger(o.n) || o.n < 1) throw new RangeError(`${op}: option 'n' is ${o.n} (expected an integer >= 1)`);
  if (!(o.alpha > 0 && o.alpha < 1)) throw new RangeError(`${op}: option 'alpha' is ${o.alpha} (expected 0 < alpha < 1)`);
  return o;
}

/** Linear-interpolated quantile (numpy's default) of ascending values. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = q * (sorted.length - 1), lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Draws `n` resamples of `size` indices with replacement (seeded) and evaluates `statistic` on
 * each resample's counts (counts[i] = times sample i was drawn); a null result is skipped.
 * Returns the values of the valid resamples, ascending, and the number skipped.
 */
export function bootstrapCounts(size: number, statistic: (counts: Int32Array) => number | null, opts: BootstrapOptions = {}): { values: Float64Array; skipped: number } {
  const o = checkBootstrap('bootstrap', opts);
  const rand = seededRandom(o.seed);
  const counts = new Int32Array(size);
  const values: number[] = [];
  let skipped = 0;
  for (let b = 0; b < o.n; b++) {
    counts.fill(0);
    for (let k = 0; k < size; k++) counts[Math.floor(rand() * size)]++;
    const v = statistic(counts);
    if (v === null || Number.isNaN(v)) skipped++;
    else values.push(v);
  }
  return { values: Float64Array.from(values).sort(), skipped };
}

/** The percentile interval of bootstrap values (ascending). */
export function percentileCI(sorted: Float64Array, alpha: number): [number, number] {
  return [quantileSorted(sorted, alpha / 2), quantileSorted(sorted, 1 - alpha / 2)];
}

/**
 * Percentile-bootstrap confidence interval of metric(yTrue, yScore) over test samples. Resamples
 * whose labels hold a single class are skipped and counted. auroc and auprc run on a score order
 * computed once (O(n) per resample); any other metric gets the resampled arrays.
 */
export function bootstrapCI(yTrue: ArrayLike<number>, yScore: ArrayLike<number>, metric: Metric, opts: BootstrapOptions = {}): BootstrapResult {
  checkPair('bootstrapCI', yTrue, yScore);
  if (typeof metric !== 'function') throw new TypeError(`bootstrapCI: argument 'metric' must be a function (got ${typeof metric})`);
  const o = checkBootstrap('bootstrapCI', opts);
  const value = metric(yTrue, yScore);
  const n = yTrue.length;
  let statistic: (counts: Int32Array) => number | null;
  if (metric === auroc || metric === auprc) {
    const order = argsortDescending(yScore);
    const key = metric === auroc ? 'auroc' : 'auprc';
    statistic = (counts) => rankMetrics(yTrue, yScore, order, counts)?.[key] ?? null;
  } else {
    const t = new Float64Array(n), s = new Float64Array(n);
    statistic = (counts) => {
      let k = 0;
      for (let i = 0; i < n; i++) for (let c = 0; c < counts[i]; c++) { t[k] = yTrue[i]; s[k++] = yScore[i]; }
      for (let i = 1; i < n; i++) if (t[i] !== t[0]) return metric(t, s);
      return null;
    };
  }
  const { values, skipped } = bootstrapCounts(n, statistic, o);
  return { value, ci: percentileCI(values, o.alpha), n: values.length, skipped, alpha: o.alpha };
}
