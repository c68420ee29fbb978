// Data pipeline for DINOv2 / RAD-DINO pretraining: decoding, transforms, multi-crop augmentation,
// block masking and collate, datasets and the worker-thread loader.
export * from './image.js';
export { Rng } from './rng.js';
export * from './decode.js';
export * from './transforms.js';
export * from './augment.js';
export * from './masking.js';
export * from './collate.js';
export * from './dataset.js';
export { epochOrder, type BuiltBatch, type PipelineConfig } from './pipeline.js';
export * from './loader.js';
