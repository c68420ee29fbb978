// The DINOv2 objectives: the DINO cls-token loss (Caron et al. 2021), the iBOT masked-patch loss
// (Zhou et al. 2022) and the KoLeo regulariser (Sablayrolles et al. 2019).
// Shapes: B rows, K prototypes, M masked patches, D feature width.
import { noGrad } from '../autograd/engine.js';
import { eye } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

/** Student temperature τs of both losses. */
export const STUDENT_TEMP = 0.1;
/** KoLeo's normalisation floor and distance offset. */
export const KOLEO_EPS = 1e-8;

function tensorArg(fn: string, arg: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${fn}: argument '${arg}' must be a Tensor (got ${t === null ? 'null' : typeof t})`);
  return t;
}

const shapeStr = (t: Tensor) => `[${t.shape.join(', ')}]`;

/** -Σ_k t_k log softmax(s / τs)_k for each row (B,). */
function crossEntropyRows(s: Tensor, t: Tensor, studentTemp: number): Tensor {
  return t.mul(s.div(studentTemp).logSoftmax(-1)).sum(-1).neg();
}

/**
 * DINO loss: for every student output s (B, K) and every teacher target t (B, K),
 * -mean_b Σ_k t_bk log softmax(s_b / τs)_k, summed over all pairs (the caller divides by the
 * number of terms), as DINOv2's DINOLoss.forward.
 */
export function dinoLoss(studentOutputs: Tensor[], teacherTargets: Tensor[], opts: { studentTemp?: number } = {}): Tensor {
  if (!Array.isArray(studentOutputs) || studentOutputs.length === 0) throw new TypeError('dinoLoss: argument \'studentOutputs\' must be a non-empty array of Tensors');
  if (!Array.isArray(teacherTargets) || teacherTargets.length === 0) throw new TypeError('dinoLoss: argument \'teacherTargets\' must be a non-empty array of Tensors');
  const ref = tensorArg('dinoLoss', 'studentOutputs[0]', studentOutputs[0]);
  if (ref.ndim !== 2) throw new RangeError(`dinoLoss: argument 'studentOutputs[0]' has shape ${shapeStr(ref)} (expected [B, K])`);
  const check = (arg: string, t: unknown) => {
    const x = tensorArg('dinoLoss', arg, t);
    if (x.ndim !== 2 || x.shape[0] !== ref.shape[0] || x.shape[1] !== ref.shape[1]) {
      throw new RangeError(`dinoLoss: argument '${arg}' has shape ${shapeStr(x)} (expected ${shapeStr(ref)}, like studentOutputs[0])`);
    }
  };
  studentOutputs.forEach((s, i) => check(`studentOutputs[${i}]`, s));
  teacherTargets.forEach((t, i) => check(`teacherTargets[${i}]`, t));
  const tau = opts.studentTemp ?? STUDENT_TEMP;
  return tidy(() => {
    let total: Tensor | null = null;
    for (const s of studentOutputs) {
      const lsm = s.div(tau).logSoftmax(-1);
      for (const t of teacherTargets) {
        const term = t.mul(lsm).sum(-1).mean();
        total = total ? total.sub(term) : term.neg();
      }
    }
    return total!;
  });
}

export interface IbotLossOptions {
  /** (M,) weight of each masked patch: 1 / (masked patches of its image). Derived from the masks when omitted. */
  masksWeight?: Tensor | null;
  /** Only the first M rows of the student outputs are used (the reference's padded buffer). */
  nMaskedPatches?: number | null;
  studentTemp?: number;
}

/**
 * iBOT masked-patch loss (DINOv2's iBOTPatchLoss.forward_masked): with CE_p the cross-entropy of
 * masked patch p between the teacher target and softmax(s_p / τs),
 * loss = (1 / nImages) Σ_p w_p CE_p where w_p = 1 / (masked patches of p's image) and nImages
 * counts every image of `masks` (masked or not), i.e. the mean over images of the per-image
 * mean CE. studentMasked and teacherMasked (≥ M, K): only their first M rows are used (M =
 * nMaskedPatches, default the teacher's rows); masks bool (nImages, N).
 */
export function ibotLoss(studentMasked: Tensor, teacherMasked: Tensor, masks: Tensor, opts: IbotLossOptions = {}): Tensor {
  const fn = 'ibotLoss';
  tensorArg(fn, 'studentMasked', studentMasked);
  tensorArg(fn, 'teacherMasked', teacherMasked);
  tensorArg(fn, 'masks', masks);
  if (masks.ndim !== 2 || masks.dtype !== 'bool') throw new RangeError(`${fn}: argument 'masks' is ${masks.dtype} ${shapeStr(masks)} (expected bool [nImages, N])`);
  if (teacherMasked.ndim !== 2) throw new RangeError(`${fn}: argument 'teacherMasked' has shape ${shapeStr(teacherMasked)} (expected [M, K])`);
  const K = teacherMasked.shape[1];
  const M = opts.nMaskedPatches ?? teacherMasked.shape[0];
  if (!Number.isInteger(M) || M < 0 || M > teacherMasked.shape[0]) {
    throw new RangeError(`${fn}: option 'nMaskedPatches' is ${M} (expected an integer in [0, ${teacherMasked.shape[0]}], the rows of 'teacherMasked')`);
  }
  if (studentMasked.ndim !== 2 || studentMasked.shape[1] !== K || studentMasked.shape[0] < M) {
    throw new RangeError(`${fn}: argument 'studentMasked' has shape ${shapeStr(studentMasked)} (expected [>= ${M}, ${K}])`);
  }
  const nImages = masks.shape[0];
  if (nImages === 0) throw new RangeError(`${fn}: argument 'masks' has no images`);
  const tau = opts.studentTemp ?? STUDENT_TEMP;
  return tidy(() => {
    let w = opts.masksWeight ?? null;
    if (w === null) {
      // 1 / max(count, 1) of each image, at each masked patch, in flat mask order
      w = noGrad(() => {
        const counts = masks.to('float32').sum(-1, true).clamp(1);
        return counts.reciprocal().expand(masks.shape).maskedSelect(masks);
      });
    }
    tensorArg(fn, 'masksWeight', w);
    if (w.ndim !== 1 || w.shape[0] !== M) throw new RangeError(`${fn}: option 'masksWeight' has shape ${shapeStr(w)} (expected [${M}], one weight per masked patch)`);
    const first = (x: Tensor) => (x.shape[0] === M ? x : x.narrow(0, 0, M));
    const ce = crossEntropyRows(first(studentMasked), first(teacherMasked), tau);  // (M,)
    return ce.mul(w.to(ce.dtype)).sum().div(nImages);
  });
}

/**
 * KoLeo regulariser on x (B, D), B ≥ 2: L2-normalise the rows (floor 1e-8), find each row's
 * nearest neighbour by the largest dot product (itself excluded), d_i = ||x_i - x_nn(i) + 1e-8||,
 * loss = -mean_i log(d_i + 1e-8). A batch of 1 has no neighbour: an error.
 */
export function koleoLoss(x: Tensor, opts: { eps?: number } = {}): Tensor {
  tensorArg('koleoLoss', 'x', x);
  if (x.ndim !== 2) throw new RangeError(`koleoLoss: argument 'x' has shape ${shapeStr(x)} (expected [B, D])`);
  const B = x.shape[0];
  if (B < 2) throw new RangeError(`koleoLoss: argument 'x' has ${B} row${B === 1 ? '' : 's'} (expected at least 2: a single vector has no nearest neighbour)`);
  const eps = opts.eps ?? KOLEO_EPS;
  return tidy(() => {
    const z = x.div(x.norm(2, -1, true).clamp(eps));  // (B, D), F.normalize
    const nn = noGrad(() => {
      const dots = z.matmul(z, { transB: true });  // (B, B)
      return dots.where(eye(B, B, { dtype: 'bool', device: dots.device }).logicalNot(), -1).argmax(1);  // diagonal set to -1
    });
    const d = z.sub(z.indexSelect(0, nn)).add(eps).norm(2, -1);  // (B,), PairwiseDistance(eps)
    return d.add(eps).log().mean().neg();
  });
}
