export { AdamW } from './adamw.js';
export type { AdamWOptions, ParamGroup } from './adamw.js';
export { applyOptimSchedule, fuseParamGroups, paramGroupsWithDecay, vitLrDecayRate } from './param_groups.js';
export type { ParamInfo } from './param_groups.js';
export { CLIP_EPS, clipGradNorm } from './clip.js';
export { ema_ } from './ema.js';
