// The batch that the data pipeline hands to the DINOv2/iBOT objective: the layout of the
// reference's collate step (crop-major stacking, flat masked-patch indices, per-patch weights).
import { Tensor } from '../tensor/tensor.js';

export interface SSLBatch {
  /** float32 [nGlobal·B, C, Hg, Wg], crop-major: crop 0 of every image, then crop 1 of every image. */
  globalCrops: Tensor;
  /** float32 [nLocal·B, C, Hl, Wl], crop-major like the global crops; null when there are no local crops. */
  localCrops: Tensor | null;
  /** bool [nGlobal·B, N]: the iBOT masks of the global crops (N = (Hg/p)·(Wg/p) patches, row-major). */
  masks: Tensor;
  /** int64 [M]: indices of the masked patches into the flattened [nGlobal·B·N] mask, ascending. */
  maskIndices: Tensor;
  /** float32 [M]: for each masked patch, 1 / (number of masked patches of its image). */
  masksWeight: Tensor;
  /** M, the total number of masked patches. */
  nMaskedPatches: number;
  /** The reference's padded buffer size (sum over masked crops of floor(N·ratio_max)); informational. */
  upperbound: number;
  /** Images per crop (B). */
  batchSize: number;
  nGlobalCrops: number;
  nLocalCrops: number;
}

/**
 * The batch with its tensors copied to `device` (e.g. 'cuda', where SSLMetaArch.to() put the
 * model); the counts are shared. The caller owns (disposes) the copies; tensors already on the
 * device are returned as new views of the same data.
 */
export function toDeviceBatch(batch: SSLBatch, device: string): SSLBatch {
  const move = (t: Tensor) => t.to({ device });
  return {
    ...batch, globalCrops: move(batch.globalCrops), localCrops: batch.localCrops instanceof Tensor ? move(batch.localCrops) : null,
    masks: move(batch.masks), maskIndices: move(batch.maskIndices), masksWeight: move(batch.masksWeight),
  };
}
