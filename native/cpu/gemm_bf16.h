// Mixed-precision GEMM for bfloat16 weights: float32 activations rounded to bfloat16, float32
// accumulation (AVX512-BF16 vdpbf16ps where the CPU has it). bfloat16 values are uint16_t bit
// patterns (see core/dtype.h).
#pragma once
#include <cstdint>
#include <memory>

namespace raddino::cpu {

// C = beta * C + bf16(A) * B (+ bias[j] on every row when bias != nullptr), float32 accumulation.
// A is float32 (M x K, element (i, k) at a[i*rsa + k*csa]) rounded to bfloat16 (nearest even) as it
// is packed; B is bfloat16 (K x N, element (k, j) at b[k*rsb + j*csb]); C is float32 (M x N,
// c[i*ldc + j]). beta is 0 (C is overwritten and may hold garbage) or 1 (another beta is accepted:
// C is scaled first). M, N or K may be 0.
// Fast paths: row-major A (csa == 1) and B given as W^T with W [N x K] row-major (rsb == 1), i.e.
// the Linear layer x W^T; column-major A and row-major B are fast too, other strides are correct.
// Every product is bf16(A(i, k)) * B(k, j), summed in float32; results do not depend on the thread
// count. On the AVX512-BF16 path, as vdpbf16ps does, bfloat16 subnormals (|x| < 2^-126) count as
// zero and float32 partial sums below 2^-126 are flushed to zero. Runs on up to num_threads()
// threads (serially inside a parallel region).
void sgemm_bf16w(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const uint16_t* b,
                 int64_t rsb, int64_t csb, float* c, int64_t ldc, float beta, const float* bias = nullptr);

// The bfloat16-compute GEMM for float32 operands: C = beta * C + bf16(A) * bf16(B) (+ bias), both
// operands rounded to bfloat16 (nearest even) as they are packed, products summed in float32.
// Same conventions, fast paths and determinism as sgemm_bf16w, with B float32 (element (k, j) at
// b[k*rsb + j*csb]). The CPU side of setMatmulPrecision('bfloat16').
void sgemm_bf16(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b,
                int64_t rsb, int64_t csb, float* c, int64_t ldc, float beta, const float* bias = nullptr);

// Whether the fast AVX512-BF16 path is used on this CPU (else a portable path computes the same
// math: bf16-rounded A times B in float32, through sgemm).
bool sgemm_bf16w_native();

// A bfloat16 weight W [N x K] stored once in the kernel's packed layout, for repeated products
// x * W^T with the same weight (inference). Immutable once built, so it may be shared between
// threads. Holds about N * K * 2 bytes (N * K * 4 on the portable path).
struct PackedBf16 {
  int64_t n = 0, k = 0;  // W is [n x k]
  struct Impl;           // layout details, private to gemm_bf16.cc
  std::unique_ptr<Impl> impl;
  PackedBf16();
  ~PackedBf16();
};

// Packs W [N x K] row-major (the caller's buffer is not referenced afterwards).
std::shared_ptr<PackedBf16> pack_bf16_weight(int64_t N, int64_t K, const uint16_t* w);

// C = beta * C + bf16(A) * W^T (+ bias), A float32 [M x w.k] row-major with row stride rsa,
// C [M x w.n] with row stride ldc. Same results (bitwise) as sgemm_bf16w with b = W, rsb = 1,
// csb = K.
void sgemm_bf16w_packed(int64_t M, const float* a, int64_t rsa, const PackedBf16& w, float* c, int64_t ldc,
                        float beta, const float* bias = nullptr);

}  // namespace raddino::cpu
