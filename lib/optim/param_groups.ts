// Parameter groups of DINOv2 training (dinov2/utils/param_groups.py): layer-wise lr decay
// (BEiT, Bao et al. 2022), the patch-embedding lr multiplier, no weight decay for biases, norms
// and LayerScale, the last-layer flag; groups fused by (lr multiplier, wd multiplier, last layer);
// and the per-iteration application of the scheduled lr and weight decay.
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { AdamW, ParamGroup } from './adamw.js';

export interface ParamInfo {
  name: string;
  param: Tensor;
  lrMultiplier: number;
  wdMultiplier: number;
  isLastLayer: boolean;
}

const EMBEDDINGS = ['pos_embed', 'patch_embed', 'mask_token', 'cls_token', 'register_tokens'];

/**
 * lrDecayRate^(numLayers + 1 - layer_id) for a parameter name: the embeddings (patch, position,
 * cls, mask, registers) are layer 0, block i is layer i + 1 (`blocks.{i}.` or chunked
 * `blocks.{chunk}.{i}.`), everything else (the final norm, heads) is layer numLayers + 1.
 * Names are matched as the reference does: with a leading dot when the name starts with
 * "backbone", without one when forceIsBackbone.
 */
export function vitLrDecayRate(name: string, opts: { lrDecayRate?: number; numLayers?: number; forceIsBackbone?: boolean; chunkedBlocks?: boolean } = {}): number {
  const rate = opts.lrDecayRate ?? 1, L = opts.numLayers ?? 12, force = opts.forceIsBackbone ?? false, chunked = opts.chunkedBlocks ?? false;
  let layerId = L + 1;
  if (name.startsWith('backbone') || force) {
    const blockAt = (key: string, part: number) => Number.parseInt(name.slice(name.indexOf(key)).split('.')[part], 10) + 1;
    if (EMBEDDINGS.some((e) => name.includes(`.${e}`))) layerId = 0;
    else if (force && EMBEDDINGS.some((e) => name.includes(e))) layerId = 0;
    else if (name.includes('.blocks.') && !name.includes('.residual.')) layerId = blockAt('.blocks.', 2);
    else if (chunked && name.includes('blocks.') && !name.includes('residual.')) layerId = blockAt('blocks.', 2);
    else if (name.includes('blocks.') && !name.includes('residual.')) layerId = blockAt('blocks.', 1);
  }
  return rate ** (L + 1 - layerId);
}

/**
 * One entry per trainable parameter of `model` (a backbone with `blocks`, or a head): the lr
 * multiplier (layer-wise decay, × patchEmbedLrMult for the patch embedding), the wd multiplier
 * (0 for names ending in `.bias` or containing `norm` or `gamma`) and the last-layer flag
 * (names containing `last_layer`), as get_params_groups_with_decay.
 */
export function paramGroupsWithDecay(model: Module, opts: { lrDecayRate?: number; patchEmbedLrMult?: number } = {}): ParamInfo[] {
  const blocks = (model as unknown as { blocks?: unknown }).blocks;
  const nBlocks = Array.isArray(blocks) ? blocks.length : 0;
  const out: ParamInfo[] = [];
  for (const [name, param] of model.namedParameters()) {
    if (!param.requiresGrad) continue;
    let lrMultiplier = vitLrDecayRate(name, { lrDecayRate: opts.lrDecayRate ?? 1, numLayers: nBlocks, forceIsBackbone: nBlocks > 0 });
    const wdMultiplier = name.endsWith('.bias') || name.includes('norm') || name.includes('gamma') ? 0 : 1;
    if (name.includes('patch_embed')) lrMultiplier *= opts.patchEmbedLrMult ?? 1;
    out.push({ name, param, lrMultiplier, wdMultiplier, isLastLayer: name.includes('last_layer') });
  }
  return out;
}

/** AdamW groups holding the parameters with equal (lrMultiplier, wdMultiplier, isLastLayer), in first-seen order. */
export function fuseParamGroups(infos: ParamInfo[]): ParamGroup[] {
  const groups = new Map<string, ParamGroup>();
  for (const p of infos) {
    const id = `lr_multiplier${p.lrMultiplier}_wd_multiplier${p.wdMultiplier}_is_last_layer${p.isLastLayer}`;
    let g = groups.get(id);
    if (!g) {
      g = { params: [], name: id, lrMultiplier: p.lrMultiplier, wdMultiplier: p.wdMultiplier, isLastLayer: p.isLastLayer };
      groups.set(id, g);
    }
    g.params.push(p.param);
  }
  return [...groups.values()];
}

/**
 * Sets each group's weight decay to wd · wdMultiplier and its lr to (lastLayerLr for last-layer
 * groups, else lr) · lrMultiplier (DINOv2's apply_optim_scheduler). Multipliers default to 1.
 */
export function applyOptimSchedule(optimizer: AdamW, values: { lr: number; wd: number; lastLayerLr: number }): void {
  for (const [k, v] of Object.entries(values)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`applyOptimSchedule: value '${k}' is ${v} (expected a finite number)`);
  }
  for (const g of optimizer.groups) {
    g.weightDecay = values.wd * (g.wdMultiplier ?? 1);
    g.lr = (g.isLastLayer ? values.lastLayerLr : values.lr) * (g.lrMultiplier ?? 1);
  }
}
