// The native op names the TypeScript layer calls, by family. A test checks this list against
// the native op table (opNames()), so the two cannot drift apart.
export const OPS = {
  memory: ['copy', 'cast', 'fill', 'arange', 'linspace'],
  unary: ['neg', 'abs', 'sign', 'square', 'reciprocal', 'exp', 'expm1', 'log', 'log1p', 'sqrt', 'rsqrt', 'sin', 'cos',
    'tanh', 'erf', 'sigmoid', 'relu', 'gelu', 'gelu_tanh', 'silu', 'floor', 'ceil', 'round', 'logical_not', 'clamp'],
  binary: ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and',
    'logical_or', 'where'],
  reduce: ['sum', 'mean', 'max', 'min', 'var', 'logsumexp', 'norm', 'argmax', 'argmin', 'softmax', 'log_softmax'],
  linalg: ['matmul', 'linear_bf16'],
  index: ['cat', 'index_select', 'gather', 'scatter_add', 'index_add', 'masked_fill', 'masked_select', 'one_hot', 'topk'],
  nn: ['layer_norm', 'layer_norm_back', 'gelu_back', 'softmax_back', 'log_softmax_back', 'gelu_tanh_back', 'attention', 'attention_back', 'bicubic',
    'bicubic_back', 'adamw', 'ema'],
  random: ['rand', 'randn', 'bernoulli', 'randint', 'randperm', 'trunc_normal'],
} as const;

export type OpName = (typeof OPS)[keyof typeof OPS][number];
