// The collate step producing the SSLBatch tensors (lib/ssl/batch.ts) from augmented samples.
import { fromTypedArray } from '../tensor/creation.js';
import type { SSLBatch } from '../ssl/batch.js';
import type { AugmentedSample } from './augment.js';
import { collateArrays, type CollateOptions, type CollatedArrays } from './masking.js';

/**
 * Wraps collated arrays as tensors without copying (the tensors share the arrays' memory: do not
 * transfer or detach their buffers while the batch is alive).
 */
export function toSSLBatch(a: CollatedArrays): SSLBatch {
  const { batchSize: B, nGlobalCrops: nG, nLocalCrops: nL, globalSize: S, localSize: s } = a;
  const N = a.masks.length / (nG * B);
  return {
    globalCrops: fromTypedArray(a.globalCrops, [nG * B, 3, S, S]),
    localCrops: a.localCrops === null ? null : fromTypedArray(a.localCrops, [nL * B, 3, s, s]),
    masks: fromTypedArray(a.masks, [nG * B, N], { dtype: 'bool' }),
    maskIndices: fromTypedArray(a.maskIndices, [a.nMaskedPatches]),
    masksWeight: fromTypedArray(a.masksWeight, [a.nMaskedPatches]),
    nMaskedPatches: a.nMaskedPatches,
    upperbound: a.upperbound,
    batchSize: B,
    nGlobalCrops: nG,
    nLocalCrops: nL,
  };
}

/** The reference's collate_data_and_cast (see collateArrays) as an SSLBatch of tensors. */
export function collate(samples: readonly AugmentedSample[], opts: CollateOptions): SSLBatch {
  return toSSLBatch(collateArrays(samples, opts));
}

/** Disposes every tensor of a batch. */
export function disposeBatch(batch: SSLBatch): void {
  batch.globalCrops.dispose();
  batch.localCrops?.dispose();
  batch.masks.dispose();
  batch.maskIndices.dispose();
  batch.masksWeight.dispose();
}
