// Validation of an SSLBatch (batch.ts) before the objective uses it: shapes, dtypes and counts,
// with errors that name the field and what was expected.
import { noGrad } from '../autograd/engine.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import type { SSLBatch } from './batch.js';

const shapeStr = (t: Tensor) => `${t.dtype} [${t.shape.join(', ')}]`;

/**
 * Checks `batch` for a ViT with patch size p (and, given `device`, that its tensors are there);
 * returns B, the number of local crops and M.
 */
export function checkBatch(batch: SSLBatch, patchSize: number, device?: string): { B: number; nLocal: number; M: number } {
  const fail = (field: string, got: string, want: string): never => {
    throw new RangeError(`SSLBatch: '${field}' is ${got} (expected ${want})`);
  };
  if (batch === null || typeof batch !== 'object') throw new TypeError('SSLBatch: the batch must be an object (see lib/ssl/batch.ts)');
  const B = batch.batchSize, nLocal = batch.nLocalCrops, M = batch.nMaskedPatches;
  if (!Number.isInteger(B) || B <= 0) fail('batchSize', String(B), 'a positive integer');
  if (batch.nGlobalCrops !== 2) fail('nGlobalCrops', String(batch.nGlobalCrops), '2 (DINOv2 trains on exactly two global crops)');
  if (!Number.isInteger(nLocal) || nLocal < 0) fail('nLocalCrops', String(nLocal), 'an integer >= 0');
  if (!Number.isInteger(M) || M < 0) fail('nMaskedPatches', String(M), 'an integer >= 0');
  const tensor = (field: keyof SSLBatch): Tensor => {
    const t = batch[field];
    if (!(t instanceof Tensor)) throw new TypeError(`SSLBatch: '${field}' must be a Tensor (got ${t === null ? 'null' : typeof t})`);
    if (t.isDisposed) throw new Error(`SSLBatch: '${field}' is disposed`);
    if (device !== undefined && t.device !== device) {
      throw new Error(`SSLBatch: '${field}' is on ${t.device} (expected ${device}, where the model is; see toDeviceBatch)`);
    }
    return t;
  };
  const g = tensor('globalCrops');
  if (g.ndim !== 4 || g.shape[0] !== 2 * B || g.dtype !== 'float32') fail('globalCrops', shapeStr(g), `float32 [${2 * B}, C, H, W] (2 crops x batchSize ${B})`);
  const [, C, H, W] = g.shape;
  if (H % patchSize !== 0 || W % patchSize !== 0) fail('globalCrops', shapeStr(g), `H and W multiples of the patch size ${patchSize}`);
  if (nLocal > 0) {
    const l = tensor('localCrops');
    if (l.ndim !== 4 || l.shape[0] !== nLocal * B || l.shape[1] !== C || l.dtype !== 'float32') {
      fail('localCrops', shapeStr(l), `float32 [${nLocal * B}, ${C}, h, w] (nLocalCrops ${nLocal} x batchSize ${B})`);
    }
  } else if (batch.localCrops instanceof Tensor && batch.localCrops.shape[0] !== 0) {
    fail('localCrops', shapeStr(batch.localCrops), 'null (nLocalCrops is 0)');
  }
  const N = (H / patchSize) * (W / patchSize);
  const masks = tensor('masks');
  if (masks.dtype !== 'bool' || masks.ndim !== 2 || masks.shape[0] !== 2 * B || masks.shape[1] !== N) fail('masks', shapeStr(masks), `bool [${2 * B}, ${N}]`);
  const idx = tensor('maskIndices'), w = tensor('masksWeight');
  if (idx.ndim !== 1 || idx.shape[0] !== M || (idx.dtype !== 'int64' && idx.dtype !== 'int32')) fail('maskIndices', shapeStr(idx), `int64 [${M}] (nMaskedPatches)`);
  if (w.ndim !== 1 || w.shape[0] !== M || w.dtype !== 'float32') fail('masksWeight', shapeStr(w), `float32 [${M}] (nMaskedPatches)`);
  const counted = noGrad(() => tidy(() => masks.to('float32').sum().item()));
  if (counted !== M) fail('nMaskedPatches', String(M), `${counted}, the number of set entries of 'masks'`);
  return { B, nLocal, M };
}
