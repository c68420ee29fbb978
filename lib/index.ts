// @raddino/core: tensors on a native C++ core for Node.js (the DINOv2 / RAD-DINO stack builds
// on this layer).
export * from './tensor/index.js';
