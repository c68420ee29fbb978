export * from './metrics.js';
export * from './logistic.js';
export * from './probe.js';
export { seededRandom } from './rng.js';
