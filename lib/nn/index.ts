export * as F from './functional.js';
export { attention, interpolateBicubic, layerNorm } from './functional.js';
export type { BicubicOptions } from './functional.js';
