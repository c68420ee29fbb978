// iBOT block masking (dinov2/data/masking.py) and the collate step of the reference
// (dinov2/data/collate.py: collate_data_and_cast) on plain typed arrays; collate.ts turns the
// result into an SSLBatch of tensors. Notation: G x G patch grid, N = G·G patches per crop,
// B = images per batch, nG global crops.
import type { AugmentedSample } from './augment.js';
import type { Rng } from './rng.js';
import { roundHalfEven } from './transforms.js';

export interface MaskingOptions {
  /** Smallest block area drawn (default 4). */
  minNumPatches?: number;
  /** Largest block area drawn (default 0.5·G·G, as DINOV2.md states). */
  maxNumPatches?: number;
  /** Aspect ratios are log-uniform in [minAspect, maxAspect] (default 0.3, 1/0.3). */
  minAspect?: number;
  maxAspect?: number;
}

/**
 * Block masking on an H x W patch grid. generate(rng, n) adds rectangles until n patches are
 * masked: for each block, up to 10 attempts with area ~ U(minNumPatches, min(remaining,
 * maxNumPatches)) and aspect ~ exp(U(log minAspect, log maxAspect)), h = round(sqrt(area·aspect)),
 * w = round(sqrt(area/aspect)) (Python's round, half to even); a block must be strictly smaller than the grid, is placed
 * uniformly, and is accepted only if it adds between 1 and `remaining` new patches, so the count
 * never overshoots n. When 10 attempts add nothing, masking stops (possibly below n).
 *
 * The reference's train script passes max_num_patches = 0.5 * S // p * S // p, which Python
 * evaluates left to right ((0.5·S // p)·S // p); that equals 0.5·G² when S/p is even (224/14 → 128)
 * but not otherwise (518/14: 666 instead of 684.5). We use 0.5·G² as the spec states.
 */
export class MaskingGenerator {
  readonly height: number;
  readonly width: number;
  readonly minNumPatches: number;
  readonly maxNumPatches: number;
  private readonly logAspect: [number, number];

  constructor(height: number, width = height, opts: MaskingOptions = {}) {
    if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) {
      throw new RangeError(`MaskingGenerator: grid ${height}x${width} (expected positive integers)`);
    }
    this.height = height;
    this.width = width;
    this.minNumPatches = opts.minNumPatches ?? 4;
    this.maxNumPatches = opts.maxNumPatches ?? 0.5 * height * width;
    const minAspect = opts.minAspect ?? 0.3;
    const maxAspect = opts.maxAspect ?? 1 / minAspect;
    if (!(minAspect > 0 && minAspect <= maxAspect)) throw new RangeError(`MaskingGenerator: aspect range [${minAspect}, ${maxAspect}] (expected 0 < min <= max)`);
    this.logAspect = [Math.log(minAspect), Math.log(maxAspect)];
  }

  get numPatches(): number {
    return this.height * this.width;
  }

  /** A row-major H·W mask (1 = masked) with at most n (usually exactly n) masked patches. */
  generate(rng: Rng, n: number): Uint8Array {
    if (!(Number.isInteger(n) && n >= 0 && n <= this.numPatches)) throw new RangeError(`MaskingGenerator.generate: n = ${n} (expected an integer in [0, ${this.numPatches}])`);
    const mask = new Uint8Array(this.numPatches);
    let count = 0;
    while (count < n) {
      const delta = this.addBlock(rng, mask, Math.min(n - count, this.maxNumPatches));
      if (delta === 0) break;
      count += delta;
    }
    return mask;
  }

  /** Up to 10 attempts at one block adding 1..budget new patches; returns the number added. */
  private addBlock(rng: Rng, mask: Uint8Array, budget: number): number {
    const H = this.height;
    const W = this.width;
    for (let attempt = 0; attempt < 10; attempt++) {
      const area = rng.uniform(this.minNumPatches, budget);
      const aspect = Math.exp(rng.uniform(this.logAspect[0], this.logAspect[1]));
      const h = roundHalfEven(Math.sqrt(area * aspect));
      const w = roundHalfEven(Math.sqrt(area / aspect));
      if (w >= W || h >= H) continue;
      const top = rng.int(0, H - h);
      const left = rng.int(0, W - w);
      let already = 0;
      for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) already += mask[i * W + j]!;
      const added = h * w - already;
      if (added > 0 && added <= budget) {
        for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) mask[i * W + j] = 1;
        return added;
      }
    }
    return 0;
  }
}

/** The batch as typed arrays (the fields of SSLBatch before they become tensors). */
export interface CollatedArrays {
  /** [nG·B, 3, S, S], crop-major. */
  globalCrops: Float32Array;
  /** [nL·B, 3, s, s], crop-major; null without local crops. */
  localCrops: Float32Array | null;
  /** [nG·B, N], 1 = masked. */
  masks: Uint8Array;
  /** [M], ascending flat indices into masks. */
  maskIndices: BigInt64Array;
  /** [M], 1 / (masked patches of the patch's image). */
  masksWeight: Float32Array;
  nMaskedPatches: number;
  upperbound: number;
  batchSize: number;
  nGlobalCrops: number;
  nLocalCrops: number;
  globalSize: number;
  localSize: number;
}

export interface CollateOptions {
  /** The range of mask ratios spread over the masked crops (default [0.1, 0.5]). */
  maskRatio?: [number, number];
  /** The fraction of global crops that get a mask (default 0.5). */
  maskProbability?: number;
  patchSize: number;
  rng: Rng;
  /** Default: a MaskingGenerator on the global crops' grid with its defaults. */
  maskGenerator?: MaskingGenerator;
}

/**
 * The reference's collate step. Crops are stacked crop-major (crop 0 of every image, then crop 1
 * ...). Of the nG·B global crops, m = floor(nG·B·maskProbability) get masks: with
 * probs = linspace(r0, r1, m + 1), mask i covers floor(N·U(probs[i], probs[i+1])) patches; the
 * rest get empty masks; the list is shuffled. upperbound = Σ floor(N·probs[i+1]). probs are
 * computed in float64 where the reference uses a float32 linspace, so a count or the
 * (informational) upperbound can differ by one where N·p lands on an integer.
 */
export function collateArrays(samples: readonly AugmentedSample[], opts: CollateOptions): CollatedArrays {
  const B = samples.length;
  if (B === 0) throw new RangeError('collate: argument \'samples\' is empty (expected at least one sample)');
  const first = samples[0]!;
  const nG = first.globalCrops.length;
  const nL = first.localCrops.length;
  const S = first.globalSize;
  const s = first.localSize;
  for (const [i, x] of samples.entries()) {
    if (x.globalCrops.length !== nG || x.localCrops.length !== nL || x.globalSize !== S || x.localSize !== s) {
      throw new RangeError(`collate: sample ${i} has ${x.globalCrops.length}+${x.localCrops.length} crops of ${x.globalSize}/${x.localSize} (expected ${nG}+${nL} of ${S}/${s} like sample 0)`);
    }
  }
  const p = opts.patchSize;
  if (!(Number.isInteger(p) && p > 0 && S % p === 0)) throw new RangeError(`collate: option 'patchSize' is ${p} (expected a positive divisor of the global crop size ${S})`);
  const [r0, r1] = opts.maskRatio ?? [0.1, 0.5];
  if (!(r0 >= 0 && r0 <= r1 && r1 <= 1)) throw new RangeError(`collate: option 'maskRatio' is [${r0}, ${r1}] (expected 0 <= lo <= hi <= 1)`);
  const maskProbability = opts.maskProbability ?? 0.5;
  if (!(maskProbability >= 0 && maskProbability <= 1)) throw new RangeError(`collate: option 'maskProbability' is ${maskProbability} (expected a probability)`);
  const G = S / p;
  const gen = opts.maskGenerator ?? new MaskingGenerator(G);
  if (gen.height !== G || gen.width !== G) throw new RangeError(`collate: mask generator grid ${gen.height}x${gen.width} (expected ${G}x${G} for crops of ${S} and patch ${p})`);
  const N = G * G;

  const globalCrops = stackCropMajor(samples.map((x) => x.globalCrops), 3 * S * S);
  const localCrops = nL > 0 ? stackCropMajor(samples.map((x) => x.localCrops), 3 * s * s) : null;

  const rows = nG * B;
  const nMasked = Math.floor(rows * maskProbability);
  const probs = Array.from({ length: nMasked + 1 }, (_, i) => (nMasked === 0 ? r0 : r0 + ((r1 - r0) * i) / nMasked));
  const maskList: Uint8Array[] = [];
  let upperbound = 0;
  for (let i = 0; i < nMasked; i++) {
    const count = Math.floor(N * opts.rng.uniform(probs[i]!, probs[i + 1]!));
    maskList.push(gen.generate(opts.rng, Math.min(count, N)));
    upperbound += Math.floor(N * probs[i + 1]!);
  }
  for (let i = nMasked; i < rows; i++) maskList.push(new Uint8Array(N));
  opts.rng.shuffle(maskList);

  const masks = new Uint8Array(rows * N);
  const perRow = new Int32Array(rows);
  let M = 0;
  maskList.forEach((m, r) => {
    masks.set(m, r * N);
    for (let j = 0; j < N; j++) perRow[r]! += m[j]!;
    M += perRow[r]!;
  });
  const maskIndices = new BigInt64Array(M);
  const masksWeight = new Float32Array(M);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    const w = 1 / Math.max(perRow[r]!, 1);
    for (let j = 0; j < N; j++) {
      if (masks[r * N + j]) {
        maskIndices[k] = BigInt(r * N + j);
        masksWeight[k++] = w;
      }
    }
  }
  return { globalCrops, localCrops, masks, maskIndices, masksWeight, nMaskedPatches: M, upperbound, batchSize: B, nGlobalCrops: nG, nLocalCrops: nL, globalSize: S, localSize: s };
}

/** crops[b][c] (each `size` values) stacked as row c·B + b. */
function stackCropMajor(crops: Float32Array[][], size: number): Float32Array {
  const B = crops.length;
  const nC = crops[0]!.length;
  const out = new Float32Array(nC * B * size);
  for (let c = 0; c < nC; c++) {
    for (let b = 0; b < B; b++) {
      const x = crops[b]![c]!;
      if (x.length !== size) throw new RangeError(`collate: crop ${c} of sample ${b} has ${x.length} values (expected ${size})`);
      out.set(x, (c * B + b) * size);
    }
  }
  return out;
}
