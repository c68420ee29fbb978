// The CPU backend's kernels, one per op family (registered in cpu/backend.cc).
#pragma once
#include "core/backend.h"

namespace raddino::cpu {

void copy_kernel(const OpCall& c);                 // COPY, CAST
void fill_kernel(const OpCall& c);                 // FILL, ARANGE, LINSPACE
void unary_kernel(const OpCall& c);                // unary element-wise ops and CLAMP
void binary_kernel(const OpCall& c);               // arithmetic, comparison and logical binary ops
void where_kernel(const OpCall& c);                // WHERE
void reduce_kernel(const OpCall& c);               // SUM, MEAN, MAX, MIN, VAR, LOGSUMEXP, NORM
void argreduce_kernel(const OpCall& c);            // ARGMAX, ARGMIN
void softmax_kernel(const OpCall& c);              // SOFTMAX, LOG_SOFTMAX
void softmax_backward_kernel(const OpCall& c);     // SOFTMAX_BACK, LOG_SOFTMAX_BACK
void matmul_kernel(const OpCall& c);               // MATMUL
void linear_bf16_kernel(const OpCall& c);          // LINEAR_BF16
void index_kernel(const OpCall& c);                // INDEX_SELECT, GATHER, SCATTER_ADD, INDEX_ADD, MASKED_*, ONE_HOT
void topk_kernel(const OpCall& c);                 // TOPK
void random_kernel(const OpCall& c);               // RAND, RANDN, BERNOULLI, RANDINT, RANDPERM, TRUNC_NORMAL
void layer_norm_kernel(const OpCall& c);           // LAYER_NORM
void layer_norm_backward_kernel(const OpCall& c);  // LAYER_NORM_BACK
void gelu_backward_kernel(const OpCall& c);        // GELU_BACK, GELU_TANH_BACK
void attention_kernel(const OpCall& c);            // ATTENTION (cpu/attention.cc)
void attention_backward_kernel(const OpCall& c);   // ATTENTION_BACK
void bicubic_kernel(const OpCall& c);              // BICUBIC (cpu/interpolate.cc)
void bicubic_backward_kernel(const OpCall& c);     // BICUBIC_BACK
void adamw_kernel(const OpCall& c);                // ADAMW (cpu/optim.cc)
void ema_kernel(const OpCall& c);                  // EMA (cpu/optim.cc)

// Registers the CPU backend with the core (called once when the addon loads).
void register_cpu_backend();

// The float32 fast paths compiled once per ISA (elementwise_impl.h) in namespaces generic, avx2
// and avx512; the bool ones return false when they do not handle the op.
#define RADDINO_ISA_KERNELS(ns)                                                                                 \
  namespace ns {                                                                                                \
  bool unary_f32(const OpCall& c);                                                                              \
  bool binary_f32(const OpCall& c);                                                                             \
  bool gelu_backward_f32(const OpCall& c);                                                                      \
  void softmax_row_f32(const float* x, float* y, int64_t n, bool log);                                         \
  void layer_norm_row_f32(const float* x, float* y, int64_t C, const float* w, const float* b, float eps,       \
                          float* mean, float* rstd);                                                            \
  void layer_norm_back_row_f32(const float* dy, const float* x, float mean, float rstd, const float* w, float* dx, \
                               float* dw, float* db, int64_t C);                                                \
  }
RADDINO_ISA_KERNELS(generic)
RADDINO_ISA_KERNELS(avx2)
RADDINO_ISA_KERNELS(avx512)
#undef RADDINO_ISA_KERNELS

}  // namespace raddino::cpu
