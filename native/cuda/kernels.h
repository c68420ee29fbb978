// The CUDA backend's kernels, one entry point per op family (signature: core/backend.h Kernel).
#pragma once
#include "core/backend.h"

namespace raddino::cuda {

void copy_kernel(const OpCall& c);       // COPY, CAST (strided, any dtype pair)
void fill_kernel(const OpCall& c);       // FILL, ARANGE, LINSPACE
void unary_kernel(const OpCall& c);      // element-wise unary ops and CLAMP
void binary_kernel(const OpCall& c);     // arithmetic and comparisons, broadcast by the dispatcher
void where_kernel(const OpCall& c);
void gelu_backward_kernel(const OpCall& c);  // GELU_BACK, GELU_TANH_BACK
void reduce_kernel(const OpCall& c);     // SUM, MEAN, MAX, MIN, VAR, LOGSUMEXP, NORM
void softmax_kernel(const OpCall& c);    // SOFTMAX, LOG_SOFTMAX
void softmax_backward_kernel(const OpCall& c);
void layer_norm_kernel(const OpCall& c);
void layer_norm_backward_kernel(const OpCall& c);
void matmul_kernel(const OpCall& c);     // cuBLASLt
void adamw_kernel(const OpCall& c);
void ema_kernel(const OpCall& c);
void argreduce_kernel(const OpCall& c);  // ARGMAX, ARGMIN
void index_kernel(const OpCall& c);      // INDEX_SELECT, GATHER, SCATTER_ADD, INDEX_ADD, MASKED_FILL
void random_kernel(const OpCall& c);     // RAND, RANDN, TRUNC_NORMAL, RANDINT, RANDPERM, BERNOULLI (Philox, as the CPU)
void attention_kernel(const OpCall& c);           // flash attention forward (bf16, f16; D <= 128)
void attention_backward_kernel(const OpCall& c);  // its backward by recomputation

// cuBLASLt state (cuda/matmul.cu).
void set_tf32(bool on);
bool tf32_enabled();
int cublas_version();

}  // namespace raddino::cuda
