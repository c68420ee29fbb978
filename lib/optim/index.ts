export { AdamW } from './adamw.js';
export type { AdamWOptions, ParamGroup } from './adamw.js';
