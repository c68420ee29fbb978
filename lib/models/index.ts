export { DEFAULT_CONFIG, DinoVisionTransformer, vitBase, vitGiant2, vitLarge, vitSmall } from './dinov2.js';
export type { DinoV2Config, ForwardFeatures } from './dinov2.js';
export { configFromHf, fromHfConfig } from './hf.js';
export type { HfDinov2Config } from './hf.js';
export { detectFormat, toDinov2Names, toHfNames } from './keymap.js';
export type { NameFormat, StateDict } from './keymap.js';
export { DINO_HEAD_NORM_EPS, DINOHead } from './dino_head.js';
export type { DINOHeadOptions } from './dino_head.js';
