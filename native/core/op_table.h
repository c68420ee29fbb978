// The one op table. Every native op is declared here once with its name; backends implement
// the ops they can and answer supports(op, dtype) (core/backend.h). Backward kernels are ordinary
// ops in this table. The TypeScript layer checks in a test that its op names equal these.
#pragma once
#include <cstdint>

// X(enum, name, kind) — kind groups ops that share a calling convention in the dispatcher.
#define RADDINO_OPS(X)                         \
  /* memory */                                 \
  X(COPY, "copy", copy)                        \
  X(CAST, "cast", copy)                        \
  X(FILL, "fill", creation)                    \
  X(ARANGE, "arange", creation)                \
  X(LINSPACE, "linspace", creation)            \
  /* unary element-wise */                     \
  X(NEG, "neg", unary)                         \
  X(ABS, "abs", unary)                         \
  X(SIGN, "sign", unary)                       \
  X(SQUARE, "square", unary)                   \
  X(RECIPROCAL, "reciprocal", unary)           \
  X(EXP, "exp", unary)                         \
  X(EXPM1, "expm1", unary)                     \
  X(LOG, "log", unary)                         \
  X(LOG1P, "log1p", unary)                     \
  X(SQRT, "sqrt", unary)                       \
  X(RSQRT, "rsqrt", unary)                     \
  X(SIN, "sin", unary)                         \
  X(COS, "cos", unary)                         \
  X(TANH, "tanh", unary)                       \
  X(ERF, "erf", unary)                         \
  X(SIGMOID, "sigmoid", unary)                 \
  X(RELU, "relu", unary)                       \
  X(GELU, "gelu", unary)                       \
  X(GELU_TANH, "gelu_tanh", unary)             \
  X(SILU, "silu", unary)                       \
  X(FLOOR, "floor", unary)                     \
  X(CEIL, "ceil", unary)                       \
  X(ROUND, "round", unary)                     \
  X(LOGICAL_NOT, "logical_not", unary)         \
  X(CLAMP, "clamp", unary)                     \
  /* binary element-wise, with broadcasting */ \
  X(ADD, "add", binary)                        \
  X(SUB, "sub", binary)                        \
  X(MUL, "mul", binary)                        \
  X(DIV, "div", binary)                        \
  X(POW, "pow", binary)                        \
  X(MAXIMUM, "maximum", binary)                \
  X(MINIMUM, "minimum", binary)                \
  X(EQ, "eq", compare)                         \
  X(NE, "ne", compare)                         \
  X(LT, "lt", compare)                         \
  X(LE, "le", compare)                         \
  X(GT, "gt", compare)                         \
  X(GE, "ge", compare)                         \
  X(LOGICAL_AND, "logical_and", compare)       \
  X(LOGICAL_OR, "logical_or", compare)         \
  X(WHERE, "where", ternary)                   \
  /* reductions over any set of axes */        \
  X(SUM, "sum", reduce)                        \
  X(MEAN, "mean", reduce)                      \
  X(MAX, "max", reduce)                        \
  X(MIN, "min", reduce)                        \
  X(VAR, "var", reduce)                        \
  X(LOGSUMEXP, "logsumexp", reduce)            \
  X(NORM, "norm", reduce)                      \
  X(ARGMAX, "argmax", argreduce)               \
  X(ARGMIN, "argmin", argreduce)               \
  X(SOFTMAX, "softmax", softmax)               \
  X(LOG_SOFTMAX, "log_softmax", softmax)       \
  /* linear algebra */                         \
  X(MATMUL, "matmul", matmul)                  \
  X(LINEAR_BF16, "linear_bf16", matmul)        \
  /* shape and indexing */                     \
  X(CAT, "cat", index)                         \
  X(INDEX_SELECT, "index_select", index)       \
  X(GATHER, "gather", index)                   \
  X(SCATTER_ADD, "scatter_add", index)         \
  X(INDEX_ADD, "index_add", index)             \
  X(MASKED_FILL, "masked_fill", index)         \
  X(MASKED_SELECT, "masked_select", index)     \
  X(ONE_HOT, "one_hot", index)                 \
  X(TOPK, "topk", index)                       \
  /* network kernels: forward and backward */  \
  X(LAYER_NORM, "layer_norm", nn)              \
  X(LAYER_NORM_BACK, "layer_norm_back", nn)    \
  X(GELU_BACK, "gelu_back", nn)                \
  X(SOFTMAX_BACK, "softmax_back", nn)          \
  X(LOG_SOFTMAX_BACK, "log_softmax_back", nn)  \
  X(GELU_TANH_BACK, "gelu_tanh_back", nn)      \
  X(ATTENTION, "attention", nn)                \
  X(ATTENTION_BACK, "attention_back", nn)      \
  X(BICUBIC, "bicubic", nn)                    \
  X(BICUBIC_BACK, "bicubic_back", nn)          \
  X(ADAMW, "adamw", nn)                        \
  X(EMA, "ema", nn)                            \
  /* counter-based random numbers */           \
  X(RAND, "rand", random)                      \
  X(RANDN, "randn", random)                    \
  X(BERNOULLI, "bernoulli", random)            \
  X(RANDINT, "randint", random)                \
  X(RANDPERM, "randperm", random)              \
  X(TRUNC_NORMAL, "trunc_normal", random)

namespace raddino {

enum class Op : uint16_t {
#define X(e, n, k) e,
  RADDINO_OPS(X)
#undef X
      kCount
};
constexpr int kNumOps = static_cast<int>(Op::kCount);

const char* op_name(Op op);
// The op's calling-convention group ("unary", "binary", "reduce", ...).
const char* op_kind(Op op);
// Parses an op name; returns false when unknown.
bool op_from_name(const char* name, Op* out);

}  // namespace raddino
