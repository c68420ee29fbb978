// Linear probing of frozen features (RAD-DINO's downstream protocol): features from a frozen
// DINOv2 backbone (cls token, optionally with the mean patch token), a logistic regression per
// label fitted on the training split, AUROC and AUPRC on the test split with percentile-bootstrap
// intervals (one set of resamples shared by all labels, so the mean over labels gets one too),
// and k-fold cross-validated accuracy for metadata-style labels.
// Shapes: B batch, D width, F = D or 2D features, n samples.
import { noGrad } from '../autograd/engine.js';
import { fromTypedArray } from '../tensor/creation.js';
import { cat } from '../tensor/indexing.js';
import { tidy } from '../tensor/scope.js';
import type { DinoVisionTransformer } from '../models/dinov2.js';
import { FeatureMatrix, LogisticOptions, LogisticRegression, toMatrix } from './logistic.js';
import { argsortDescending, BOOTSTRAP_DEFAULTS, BootstrapOptions, bootstrapCounts, percentileCI, rankMetrics } from './metrics.js';
import { seededRandom } from './rng.js';

/** ImageNet normalisation (the DINOv2 and RAD-DINO preprocessors use it). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export interface ExtractOptions {
  /** Images per forward pass (default 32). */
  batchSize?: number;
  /** Image side; every image must hold size*size values (default: from the first image). */
  size?: number;
  /** Concatenate the mean patch token after the cls token (F = 2D). */
  withMeanPatch?: boolean;
  /**
   * Then concatenate the patch tokens average-pooled on a grid x grid layout of the G x G patch
   * grid (patch (i, j) falls in cell (floor(i·grid/G), floor(j·grid/G)); grid is capped at G), cells
   * row-major: F grows by grid²·D. Keeps coarse spatial information (left/right findings).
   */
  grid?: number;
}

/**
 * Frozen features of grayscale images in [0, 1] (each size*size, row-major): replicated to 3
 * channels, normalised with the ImageNet mean/std, run through the model in eval mode without
 * gradients, batch by batch (every batch's tensors are freed). Returns one Float32Array row of
 * F features per image: xNormClstoken, then the mean of xNormPatchtokens with withMeanPatch.
 */
export function extractFeatures(model: DinoVisionTransformer, images: readonly Float32Array[], opts: ExtractOptions = {}): Float32Array[] {
  const op = 'extractFeatures';
  if (!Array.isArray(images) || images.length === 0) throw new RangeError(`${op}: argument 'images' must be a non-empty array of Float32Array images`);
  const size = opts.size ?? Math.round(Math.sqrt(images[0].length));
  const batchSize = opts.batchSize ?? 32;
  const p = model.config.patchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${op}: option 'batchSize' is ${batchSize} (expected an integer >= 1)`);
  if (!Number.isInteger(size) || size < p || size % p !== 0) throw new RangeError(`${op}: image size ${size} is not a positive multiple of the patch size ${p}`);
  if (model.config.inChans !== 3) throw new RangeError(`${op}: the model takes ${model.config.inChans} input channels (expected 3)`);
  const grid = opts.grid ?? 0;
  if (!Number.isInteger(grid) || grid < 0) throw new RangeError(`${op}: option 'grid' is ${grid} (expected an integer >= 0)`);
  images.forEach((im, i) => {
    if (!(im instanceof Float32Array) || im.length !== size * size) throw new RangeError(`${op}: image ${i} has ${im?.length} values (expected a Float32Array of ${size}x${size})`);
  });
  const HW = size * size;
  const wasTraining = model.training;
  model.eval();
  const rows: Float32Array[] = [];
  try {
    for (let start = 0; start < images.length; start += batchSize) {
      const B = Math.min(batchSize, images.length - start);
      const x = new Float32Array(B * 3 * HW);  // (B, 3, H, W)
      for (let b = 0; b < B; b++) {
        const im = images[start + b];
        for (let c = 0; c < 3; c++) {
          const off = (b * 3 + c) * HW, m = IMAGENET_MEAN[c], s = IMAGENET_STD[c];
          for (let k = 0; k < HW; k++) x[off + k] = (im[k] - m) / s;
        }
      }
      const feats = tidy(() => noGrad(() => {
        let input = fromTypedArray(x, [B, 3, size, size]);
        if (model.config.dtype !== 'float32') input = input.to(model.config.dtype);
        if (model.device !== 'cpu') input = input.to({ device: model.device });
        const f = model.forwardFeatures(input);
        const out = opts.withMeanPatch ? cat([f.xNormClstoken, f.xNormPatchtokens.mean(1)], 1) : f.xNormClstoken;  // (B, F)
        return [out.to('float32').dataSync() as Float32Array, grid > 0 ? f.xNormPatchtokens.to('float32').dataSync() as Float32Array : null] as const;
      }));
      const [head, patches] = feats;
      const F = head.length / B;
      for (let b = 0; b < B; b++) {
        const row = head.slice(b * F, (b + 1) * F);
        rows.push(patches ? concatRows(row, gridPool(patches, b, size / p, grid, patches.length / (B * (size / p) ** 2))) : row);
      }
    }
  } finally {
    model.train(wasTraining);
  }
  return rows;
}

/** Image b's patch tokens (rows of D values, G·G per image) averaged per cell of a grid x grid layout, cells row-major. */
function gridPool(patches: Float32Array, b: number, G: number, grid: number, D: number): Float32Array {
  const g = Math.min(grid, G);
  const cellOf = Array.from({ length: G }, (_, i) => Math.floor((i * g) / G));
  const count = new Float64Array(g * g);
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) count[cellOf[i] * g + cellOf[j]] += 1;
  const out = new Float32Array(g * g * D);
  for (let i = 0; i < G; i++) {
    for (let j = 0; j < G; j++) {
      const cell = cellOf[i] * g + cellOf[j], o = cell * D, src = (b * G * G + i * G + j) * D, w = 1 / count[cell];
      for (let d = 0; d < D; d++) out[o + d] += patches[src + d] * w;
    }
  }
  return out;
}

function concatRows(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

// ---- linear probe ----------------------------------------------------------------------------
/** Labels: one column per label name (binary 0/1), or a single binary column. */
export type LabelColumns = Record<string, ArrayLike<number>> | ArrayLike<number>;

export interface MetricWithCI {
  value: number;
  ci: [number, number];
}

export interface LabelProbeResult {
  auroc: MetricWithCI;
  auprc: MetricWithCI;
  /** P(label = 1) on the test set. */
  scores: Float64Array;
  nIter: number;
  converged: boolean;
}

export interface ProbeResult {
  labels: Record<string, LabelProbeResult>;
  /** Mean over labels of each metric, its interval from the same resamples. */
  mean: { auroc: MetricWithCI; auprc: MetricWithCI };
  /** Bootstrap resamples used and those skipped (some label had a single class). */
  bootstrap: { n: number; skipped: number; alpha: number; seed: number };
  nTrain: number;
  nTest: number;
}

export interface ProbeOptions {
  trainX: FeatureMatrix;
  trainY: LabelColumns;
  testX: FeatureMatrix;
  testY: LabelColumns;
  /** L2 penalty of the logistic regression (see LogisticRegression; default 1e-2). */
  l2?: number;
  logistic?: Omit<LogisticOptions, 'l2'>;
  bootstrap?: BootstrapOptions;
}

function columns(op: string, arg: string, y: LabelColumns, n: number): Map<string, ArrayLike<number>> {
  const cols = new Map<string, ArrayLike<number>>(typeof (y as ArrayLike<number>).length === 'number' ? [['label', y as ArrayLike<number>]] : Object.entries(y));
  if (cols.size === 0) throw new RangeError(`${op}: argument '${arg}' has no label columns`);
  for (const [name, c] of cols) {
    if (c.length !== n) throw new RangeError(`${op}: label '${name}' of '${arg}' has ${c.length} values (expected ${n}, one per feature row)`);
    for (let i = 0; i < n; i++) {
      if (c[i] !== 0 && c[i] !== 1) throw new RangeError(`${op}: label '${name}' of '${arg}' holds ${c[i]} at ${i} (expected binary 0/1 labels; use kFoldCV for multi-class accuracy)`);
    }
  }
  return cols;
}

/**
 * Fits one logistic regression per label on the training features and reports AUROC and AUPRC
 * on the test features, each with a percentile-bootstrap interval over test samples; the same
 * resamples serve every label and the mean over labels.
 */
export function linearProbe(opts: ProbeOptions): ProbeResult {
  const op = 'linearProbe';
  const train = toMatrix(op, opts.trainX, 'trainX'), test = toMatrix(op, opts.testX, 'testX');
  if (train.d !== test.d) throw new RangeError(`${op}: 'trainX' has ${train.d} features and 'testX' ${test.d} (expected the same)`);
  const trainCols = columns(op, 'trainY', opts.trainY, train.n), testCols = columns(op, 'testY', opts.testY, test.n);
  const rowsOf = (m: { data: Float64Array; n: number; d: number }) => Array.from({ length: m.n }, (_, i) => m.data.subarray(i * m.d, (i + 1) * m.d));
  const trainRows = rowsOf(train), testRows = rowsOf(test);
  const names = [...trainCols.keys()];
  for (const name of names) if (!testCols.has(name)) throw new RangeError(`${op}: label '${name}' is in 'trainY' but not in 'testY'`);

  const labels: Record<string, LabelProbeResult> = {};
  const orders: Int32Array[] = [];
  for (const name of names) {
    const model = new LogisticRegression({ ...opts.logistic, l2: opts.l2 }).fit(trainRows, trainCols.get(name)!);
    const scores = model.positiveProba(testRows);
    const y = testCols.get(name)!;
    const order = argsortDescending(scores);
    const full = rankMetrics(y, scores, order, null);
    if (!full) throw new RangeError(`${op}: label '${name}' of 'testY' holds a single class; AUROC/AUPRC are undefined`);
    orders.push(order);
    labels[name] = { auroc: { value: full.auroc, ci: [Number.NaN, Number.NaN] }, auprc: { value: full.auprc, ci: [Number.NaN, Number.NaN] }, scores, nIter: model.nIter, converged: model.converged };
  }

  // One set of resamples; per resample, every label's metrics and their means.
  const L = names.length;
  const perLabel = names.map(() => ({ auroc: [] as number[], auprc: [] as number[] }));
  const meanAuprc: number[] = [];
  const b = opts.bootstrap ?? {};
  const bs = { n: b.n ?? BOOTSTRAP_DEFAULTS.n, seed: b.seed ?? BOOTSTRAP_DEFAULTS.seed, alpha: b.alpha ?? BOOTSTRAP_DEFAULTS.alpha };
  const { values: meanAuroc, skipped } = bootstrapCounts(test.n, (counts) => {
    const got = names.map((name, k) => rankMetrics(testCols.get(name)!, labels[name].scores, orders[k], counts));
    if (got.some((g) => g === null)) return null;
    let a = 0, p = 0;
    got.forEach((g, k) => { perLabel[k].auroc.push(g!.auroc); perLabel[k].auprc.push(g!.auprc); a += g!.auroc; p += g!.auprc; });
    meanAuprc.push(p / L);
    return a / L;
  }, bs);
  const ci = (v: number[] | Float64Array) => percentileCI(Float64Array.from(v).sort(), bs.alpha);
  names.forEach((name, k) => {
    labels[name].auroc.ci = ci(perLabel[k].auroc);
    labels[name].auprc.ci = ci(perLabel[k].auprc);
  });
  const mean = (key: 'auroc' | 'auprc') => names.reduce((s, n) => s + labels[n][key].value, 0) / L;
  return {
    labels,
    mean: { auroc: { value: mean('auroc'), ci: ci(meanAuroc) }, auprc: { value: mean('auprc'), ci: ci(meanAuprc) } },
    bootstrap: { n: meanAuroc.length, skipped, alpha: bs.alpha, seed: bs.seed },
    nTrain: train.n,
    nTest: test.n,
  };
}

// ---- k-fold cross-validation --------------------------------------------------------------------
export interface KFoldResult {
  /** Mean of the fold accuracies. */
  accuracy: number;
  /** Sample standard deviation of the fold accuracies. */
  std: number;
  folds: number[];
  /** Out-of-fold prediction per sample. */
  predictions: number[];
}

/**
 * Stratified k-fold cross-validated accuracy of a logistic regression (RAD-DINO's metadata
 * protocol: 5 folds): each class's samples are shuffled (seeded) and dealt to the folds in turn.
 */
export function kFoldCV(X: FeatureMatrix, y: ArrayLike<number>, k = 5, seed = 0, opts: LogisticOptions = {}): KFoldResult {
  const op = 'kFoldCV';
  const m = toMatrix(op, X);
  if (y == null || y.length !== m.n) throw new RangeError(`${op}: 'X' has ${m.n} rows and 'y' ${y?.length} labels (expected the same number)`);
  if (!Number.isInteger(k) || k < 2 || k > m.n) throw new RangeError(`${op}: argument 'k' is ${k} (expected an integer in [2, ${m.n}])`);
  const rand = seededRandom(seed);
  const fold = new Int32Array(m.n);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < m.n; i++) {
    if (!byClass.has(y[i])) byClass.set(y[i], []);
    byClass.get(y[i])!.push(i);
  }
  let dealt = 0;
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = byClass.get(cls)!;
    for (let i = idx.length - 1; i > 0; i--) {  // Fisher-Yates
      const j = Math.floor(rand() * (i + 1));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    for (const i of idx) fold[i] = dealt++ % k;
  }
  const rows = Array.from({ length: m.n }, (_, i) => m.data.subarray(i * m.d, (i + 1) * m.d));
  const predictions = new Array<number>(m.n);
  const folds: number[] = [];
  for (let f = 0; f < k; f++) {
    const tr: number[] = [], te: number[] = [];
    for (let i = 0; i < m.n; i++) (fold[i] === f ? te : tr).push(i);
    const model = new LogisticRegression(opts).fit(tr.map((i) => rows[i]), tr.map((i) => y[i]));
    const pred = model.predict(te.map((i) => rows[i]));
    let hit = 0;
    te.forEach((i, t) => { predictions[i] = pred[t]; if (pred[t] === y[i]) hit++; });
    folds.push(hit / te.length);
  }
  const acc = folds.reduce((a, b) => a + b, 0) / k;
  const std = Math.sqrt(folds.reduce((s, a) => s + (a - acc) ** 2, 0) / (k - 1));
  return { accuracy: acc, std, folds, predictions };
}
