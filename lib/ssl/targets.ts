// Teacher targets of the DINO and iBOT losses, written once for both: softmax with centering
// (Caron et al. 2021) and Sinkhorn-Knopp normalisation (Caron et al. 2020, SwAV; used by DINOv2).
// Shapes: B rows (samples: images for DINO, masked patches for iBOT), K prototypes.
import { noGrad } from '../autograd/engine.js';
import { zeros } from '../tensor/creation.js';
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

/** EMA momentum of the teacher centers (DINOv2's center_momentum). */
export const CENTER_MOMENTUM = 0.9;
/** Sinkhorn-Knopp iterations (DINOv2's n_iterations). */
export const SINKHORN_ITERATIONS = 3;

function checkLogits(fn: string, arg: string, t: unknown, K?: number): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${fn}: argument '${arg}' must be a Tensor`);
  if (t.ndim !== 2 || (K !== undefined && t.shape[1] !== K)) {
    throw new RangeError(`${fn}: argument '${arg}' has shape [${t.shape.join(', ')}] (expected [B, ${K ?? 'K'}])`);
  }
  if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new TypeError(`${fn}: argument '${arg}' is ${t.dtype} (expected float32 or float64)`);
  return t;
}

function checkTemp(fn: string, temp: number): void {
  if (typeof temp !== 'number' || !(temp > 0) || !Number.isFinite(temp)) {
    throw new RangeError(`${fn}: argument 'teacherTemp' is ${temp} (expected a positive number)`);
  }
}

/**
 * The center c (1, K) of teacher logits: an EMA of batch means, c = m c + (1 - m) mean. As in
 * DINOv2, the mean of batch i is recorded by update() and applied lazily, by applyPending(),
 * just before the targets of batch i + 1 are made (softmaxCenterTeacher does it).
 */
export class CenterState {
  readonly K: number;
  readonly momentum: number;
  /** (1, K) float32, owned. */
  private center_: Tensor;
  /** (1, K) batch mean waiting to be applied, owned; null when none. */
  private pending_: Tensor | null = null;

  constructor(K: number, opts: { momentum?: number } = {}) {
    if (!Number.isInteger(K) || K <= 0) throw new RangeError(`CenterState: argument 'K' is ${K} (expected a positive integer)`);
    const m = opts.momentum ?? CENTER_MOMENTUM;
    if (!(m >= 0 && m <= 1)) throw new RangeError(`CenterState: option 'momentum' is ${m} (expected a number in [0, 1])`);
    this.K = K;
    this.momentum = m;
    this.center_ = keep(zeros([1, K]));
  }

  /** The current center (1, K) (owned by the state: do not dispose). */
  get center(): Tensor {
    return this.center_;
  }
  get hasPending(): boolean {
    return this.pending_ !== null;
  }

  /** Records the mean over rows of teacher logits (B, K) for the next applyPending(). */
  update(logits: Tensor): void {
    checkLogits('CenterState.update', 'logits', logits, this.K);
    if (logits.shape[0] === 0) throw new RangeError('CenterState.update: argument \'logits\' has no rows (the mean of an empty batch is undefined)');
    const mean = keep(noGrad(() => tidy(() => logits.to('float32').mean(0, true))));
    this.pending_?.dispose();
    this.pending_ = mean;
  }

  /** Moves the center (and a pending mean) to `device`; returns this. */
  to(device: string): this {
    this.center_._moveTo(device);
    this.pending_?._moveTo(device);
    return this;
  }

  /** c = m c + (1 - m) pending, when an update is pending; then none is. */
  applyPending(): void {
    if (!this.pending_) return;
    const m = this.momentum, p = this.pending_;
    const next = keep(noGrad(() => tidy(() => this.center_.mul(m).add(p.mul(1 - m)))));
    this.center_.dispose();
    p.dispose();
    this.center_ = next;
    this.pending_ = null;
  }

  /** { center, pending? } as copies the caller owns (pending only while an update waits). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>([['center', keep(this.center_.clone())]]);
    if (this.pending_) out.set('pending', keep(this.pending_.clone()));
    return out;
  }

  /** Restores stateDict()'s content (a missing 'pending' means none waits). */
  loadStateDict(dict: Map<string, Tensor> | Record<string, Tensor>): void {
    const src = dict instanceof Map ? dict : new Map(Object.entries(dict));
    for (const k of src.keys()) {
      if (k !== 'center' && k !== 'pending') throw new Error(`CenterState.loadStateDict: unexpected key '${k}' (expected 'center' and optionally 'pending')`);
    }
    const read = (k: string): Tensor | null => {
      const t = src.get(k);
      if (!t) return null;
      if (!(t instanceof Tensor) || t.numel() !== this.K) {
        throw new RangeError(`CenterState.loadStateDict: '${k}' has shape [${t instanceof Tensor ? t.shape.join(', ') : typeof t}] (expected ${this.K} values)`);
      }
      return keep(noGrad(() => tidy(() => t.to({ dtype: 'float32', device: this.center_.device }).reshape(1, this.K).clone())));
    };
    if (!src.has('center')) throw new Error('CenterState.loadStateDict: missing key \'center\'');
    const center = read('center')!, pending = read('pending');
    this.center_.dispose();
    this.pending_?.dispose();
    this.center_ = center;
    this.pending_ = pending;
  }

  dispose(): void {
    this.center_.dispose();
    this.pending_?.dispose();
    this.pending_ = null;
  }
}

/**
 * Centered and sharpened teacher targets softmax((t - c) / teacherTemp) over K, after applying
 * the center's pending update (DINOv2's softmax_center_teacher). Record this batch's mean with
 * center.update(logits) afterwards. No gradient.
 */
export function softmaxCenterTeacher(logits: Tensor, center: CenterState, teacherTemp: number): Tensor {
  if (!(center instanceof CenterState)) throw new TypeError('softmaxCenterTeacher: argument \'center\' must be a CenterState');
  checkLogits('softmaxCenterTeacher', 'logits', logits, center.K);
  checkTemp('softmaxCenterTeacher', teacherTemp);
  center.applyPending();
  return noGrad(() => tidy(() => logits.sub(center.center.to(logits.dtype)).div(teacherTemp).softmax(-1)));
}

/**
 * Sinkhorn-Knopp targets (B, K) of teacher logits (B, K): with Q = exp(t / T)ᵀ (K x B),
 * Q /= sum(Q), then nIterations times {rows of Q sum to 1/K; columns sum to 1/B}, then Q *= B,
 * so that each sample's target sums to 1. `nSamples` is B (default: the number of rows; for
 * iBOT the number of masked patches). No gradient; float32 (float64 stays float64).
 *
 * Stabilised: the first row normalisation makes the global normalisation redundant, and
 * together they are a softmax over the samples of each prototype, computed with its max
 * subtracted. The result equals the reference's where exp(t / T) does not overflow (t / T below
 * ~88.7 in float32) and stays finite beyond, where the reference gives NaN.
 */
export function sinkhornKnopp(teacherLogits: Tensor, teacherTemp: number, opts: { nIterations?: number; nSamples?: number } = {}): Tensor {
  checkLogits('sinkhornKnopp', 'teacherLogits', teacherLogits);
  checkTemp('sinkhornKnopp', teacherTemp);
  const [rows, K] = teacherLogits.shape;
  const iters = opts.nIterations ?? SINKHORN_ITERATIONS;
  const B = opts.nSamples ?? rows;
  if (!Number.isInteger(iters) || iters < 0) throw new RangeError(`sinkhornKnopp: option 'nIterations' is ${iters} (expected an integer >= 0)`);
  if (!(B > 0)) throw new RangeError(`sinkhornKnopp: option 'nSamples' is ${B} (expected a positive number)`);
  if (rows === 0) throw new RangeError('sinkhornKnopp: argument \'teacherLogits\' has no rows');
  return noGrad(() => tidy(() => {
    const x = (teacherLogits.dtype === 'float64' ? teacherLogits : teacherLogits.to('float32')).div(teacherTemp);  // (B, K)
    // Q is kept as its transpose (B, K): a reference "row" (prototype) is a column here.
    if (iters === 0) return x.reshape(rows * K).softmax(0).reshape(rows, K).mul(B);
    let q = x.softmax(0).div(K);  // iteration 1, rows: Q / sum(Q) / rowsum / K
    q = q.div(q.sum(1, true)).div(B);  // columns
    for (let it = 1; it < iters; it++) {
      q = q.div(q.sum(0, true)).div(K);
      q = q.div(q.sum(1, true)).div(B);
    }
    return q.mul(B);
  }));
}
