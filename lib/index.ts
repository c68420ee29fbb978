// @raddino/core: tensors on a native C++ core for Node.js, autograd, and the DINOv2 / RAD-DINO
// stack built on them.
export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './nn/index.js';
