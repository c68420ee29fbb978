// One batch from (seed, epoch, step): the work a loader worker does. Pure JS (no tensors), so it
// runs the same in a worker thread and on the main thread.
//
// Randomness, all from the seed (streams of Rng, see rng.ts):
//   order of epoch e:           Rng(seed, 0, e)          (a permutation of the data set)
//   sample at position k of e:  Rng(seed, 1, e, k, a)    (a = 0, or the substitute attempt)
//   collate (masks) of step s:  Rng(seed, 2, e, s)
// Batch s of epoch e holds positions k = s·B .. s·B + B - 1 of the epoch's order. When the file
// at position k cannot be decoded it is reported and replaced by the file at position k + a
// (a = 1, 2, ..., wrapping around), whose crops come from Rng(seed, 1, e, k, a): a batch only
// depends on (seed, e, s) and the files, never on workers or timing.
import { DataAugmentationDINO, type AugmentationConfig, type AugmentedSample } from './augment.js';
import { decodeImage, ImageDecodeError } from './decode.js';
import { collateArrays, MaskingGenerator, type CollatedArrays } from './masking.js';
import { Rng } from './rng.js';

export const STREAM_ORDER = 0;
export const STREAM_SAMPLE = 1;
export const STREAM_COLLATE = 2;

export interface PipelineConfig {
  seed: number;
  batchSize: number;
  shuffle: boolean;
  augmentation: AugmentationConfig;
  maskRatio: [number, number];
  maskProbability: number;
  /** How many files a sample may try before the batch fails (the first one included). */
  maxAttempts: number;
}

/** A file that was left out, and why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

export interface BuiltBatch {
  epoch: number;
  step: number;
  arrays: CollatedArrays;
  /** Data-set indices of the B images actually used, in batch order. */
  indices: number[];
  skipped: SkippedFile[];
}

/** The order of epoch `epoch`: a seeded permutation of 0..n-1, or the identity without shuffling. */
export function epochOrder(seed: number, epoch: number, n: number, shuffle: boolean): number[] {
  return shuffle ? new Rng(seed, STREAM_ORDER, epoch).permutation(n) : Array.from({ length: n }, (_, i) => i);
}

export class BatchBuilder {
  private readonly augment: DataAugmentationDINO;
  private readonly masking: MaskingGenerator;
  private readonly bad = new Map<number, string>();
  private order: { epoch: number; perm: number[] } | null = null;

  constructor(readonly paths: readonly string[], readonly config: PipelineConfig) {
    this.augment = new DataAugmentationDINO(config.augmentation);
    const a = this.augment.config;
    this.masking = new MaskingGenerator(a.globalCropsSize / a.patchSize);
  }

  private perm(epoch: number): number[] {
    if (this.order?.epoch !== epoch) this.order = { epoch, perm: epochOrder(this.config.seed, epoch, this.paths.length, this.config.shuffle) };
    return this.order.perm;
  }

  async build(epoch: number, step: number): Promise<BuiltBatch> {
    const { batchSize: B, seed } = this.config;
    const perm = this.perm(epoch);
    const n = perm.length;
    const samples: AugmentedSample[] = [];
    const indices: number[] = [];
    const skipped: SkippedFile[] = [];
    for (let b = 0; b < B; b++) {
      const k = step * B + b;
      const limit = Math.min(this.config.maxAttempts, n);
      let done = false;
      for (let a = 0; a < limit && !done; a++) {
        const index = perm[(k + a) % n]!;
        const path = this.paths[index]!;
        if (this.bad.has(index)) continue;
        let image;
        try {
          image = await decodeImage(path);
        } catch (e) {
          if (!(e instanceof ImageDecodeError)) throw e;
          this.bad.set(index, e.reason);
          skipped.push({ path, reason: e.reason });
          continue;
        }
        try {
          samples.push(this.augment.apply(image, new Rng(seed, STREAM_SAMPLE, epoch, k, a)));
        } catch (e) {
          throw new Error(`DataLoader: augmenting ${path} failed: ${(e as Error).message}`);
        }
        indices.push(index);
        done = true;
      }
      if (!done) {
        throw new Error(`DataLoader: epoch ${epoch} step ${step}: the image at position ${k} and its ${limit - 1} substitutes `
          + `could not be decoded (last: ${this.paths[perm[(k + limit - 1) % n]!]}); see the skipped files`);
      }
    }
    const arrays = collateArrays(samples, {
      maskRatio: this.config.maskRatio,
      maskProbability: this.config.maskProbability,
      patchSize: this.augment.config.patchSize,
      rng: new Rng(seed, STREAM_COLLATE, epoch, step),
      maskGenerator: this.masking,
    });
    return { epoch, step, arrays, indices, skipped };
  }
}

/** The ArrayBuffers of a built batch, for a zero-copy transfer between threads. */
export function transferList(a: CollatedArrays): ArrayBuffer[] {
  const list = [a.globalCrops.buffer, a.masks.buffer, a.maskIndices.buffer, a.masksWeight.buffer];
  if (a.localCrops) list.push(a.localCrops.buffer);
  return list as ArrayBuffer[];
}
