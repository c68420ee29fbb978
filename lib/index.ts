// @raddino/core: tensors on a native C++ core for Node.js, autograd, nn modules, the DINOv2 ViT
// and safetensors weights.
export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './nn/index.js';
export * from './models/index.js';
export * from './io/index.js';
export * from './optim/index.js';
export * from './eval/index.js';
export * from './data/synthetic.js';
export * from './data/index.js';
export * from './ssl/index.js';
