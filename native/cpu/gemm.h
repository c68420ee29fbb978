#pragma once
#include <cstdint>
namespace raddino::cpu {
// C = beta * C + A * B (+ bias[j] on every row when bias != nullptr)
// A is M x K with element (i, k) at a[i * rsa + k * csa]; B is K x N with element (k, j) at b[k * rsb + j * csb];
// C is M x N with element (i, j) at c[i * ldc + j]. Any strides are allowed (including 0-free
// non-unit strides on both axes; the fast paths are csa == 1 or rsa == 1, and csb == 1 or rsb == 1).
// beta is 0 (C is overwritten and may hold garbage or NaN on entry) or 1 (accumulate).
// M, N or K may be 0 (K == 0 gives C = beta*C + bias). Runs on up to raddino::cpu::num_threads() threads.
void sgemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b,
           int64_t rsb, int64_t csb, float* c, int64_t ldc, float beta, const float* bias = nullptr);
void dgemm(int64_t M, int64_t N, int64_t K, const double* a, int64_t rsa, int64_t csa, const double* b,
           int64_t rsb, int64_t csb, double* c, int64_t ldc, double beta, const double* bias = nullptr);
// How float32 matmuls (the MATMUL op, forward and backward) compute their products on the CPU:
// Float32 (default) through sgemm; Bfloat16 through sgemm_bf16 (gemm_bf16.h): both operands
// rounded to bfloat16, products summed in float32 — about 2x the FLOP rate on CPUs with
// AVX512-BF16, at bfloat16 input precision (~3 significant digits). Process-wide.
enum class MatmulPrecision { Float32, Bfloat16 };
void set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();
// Name of the float32 micro-kernel selected for this CPU ("avx512", "avx2", "generic").
const char* sgemm_kernel_name();
}
