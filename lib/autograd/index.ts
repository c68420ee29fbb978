import './rules_math.js';
import './rules_shape.js';
import './rules_nn.js';

export { backward, enableGrad, hasGradient, isGradEnabled, noGrad, registerGradient } from './engine.js';
export type { GradContext, GradRule } from './engine.js';
export { gradCheck } from './gradcheck.js';
export type { GradCheckOptions } from './gradcheck.js';
export { sumTo } from './rules_math.js';
