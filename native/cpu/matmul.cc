// MATMUL: batched matrix products on top of sgemm/dgemm (cpu/gemm.h). Operands arrive expanded
// to [batch..., M, K] and [batch..., K, N] with any strides (0 on broadcast batch dims).
//  - When b is shared by every batch entry and a's batch and row dims flatten to one stride, the
//    whole call is one GEMM with M' = batch * M (the Linear-layer case).
//  - Many small products run in parallel across the batch, one thread per product; large ones
//    run one after another, each using every thread.
#include <cstdint>

#include "core/backend.h"
#include "cpu/gemm.h"
#include "cpu/gemm_bf16.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {
namespace {

// Products below this many FLOPs are spread across threads by batch rather than inside the GEMM.
constexpr double kSmallGemmFlops = 1 << 22;

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t rsa, int64_t csa, const T* b, int64_t rsb,
          int64_t csb, T* c, int64_t ldc, const T* bias) {
  if constexpr (sizeof(T) == 4) {
    if (matmul_precision() == MatmulPrecision::Bfloat16) sgemm_bf16(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, 0.0f, bias);
    else sgemm(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, 0.0f, bias);
  } else {
    dgemm(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, 0.0, bias);
  }
}

template <typename T>
void matmul_typed(const OpCall& c) {
  const Tensor& A = *c.in[0];
  const Tensor& B = *c.in[1];
  const Tensor& C = *c.out[0];
  const int nd = A.ndim(), nb = nd - 2;
  const int64_t M = A.shape()[nd - 2], K = A.shape()[nd - 1], N = B.shape()[nd - 1];
  const int64_t rsa = A.strides()[nd - 2], csa = A.strides()[nd - 1];
  const int64_t rsb = B.strides()[nd - 2], csb = B.strides()[nd - 1];
  const T* a = A.data<T>();
  const T* b = B.data<T>();
  T* out = C.data<T>();
  const T* bias = c.in.size() > 2 ? c.in[2]->data<T>() : nullptr;  // contiguous [N]
  int64_t batch = 1;
  for (int i = 0; i < nb; ++i) batch *= A.shape()[i];

  // One GEMM when b is broadcast over the batch and a's (batch..., M) rows have a single stride.
  bool b_shared = true, a_flat = true;
  int64_t span = rsa * M;  // the stride the next non-unit batch dim of a must have
  for (int i = nb - 1; i >= 0; --i) {
    b_shared = b_shared && (B.strides()[i] == 0 || B.shape()[i] == 1);
    if (A.shape()[i] == 1) continue;
    a_flat = a_flat && A.strides()[i] == span;
    span = A.strides()[i] * A.shape()[i];
  }
  if (batch == 1 || (b_shared && a_flat)) {
    gemm<T>(batch * M, N, K, a, rsa, csa, b, rsb, csb, out, N, bias);
    return;
  }

  auto offsets = [&](int64_t i, int64_t* oa, int64_t* ob) {
    *oa = 0;
    *ob = 0;
    for (int d = nb - 1; d >= 0; --d) {
      int64_t idx = i % A.shape()[d];
      i /= A.shape()[d];
      *oa += idx * A.strides()[d];
      *ob += idx * B.strides()[d];
    }
  };
  auto one = [&](int64_t i) {
    int64_t oa, ob;
    offsets(i, &oa, &ob);
    gemm<T>(M, N, K, a + oa, rsa, csa, b + ob, rsb, csb, out + i * M * N, N, bias);
  };
  double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (flops < kSmallGemmFlops && batch > 1) {
    parallel_for(batch, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
}

}  // namespace

// LINEAR_BF16: x [M, K] float32 times W [N, K] bfloat16 transposed, both with any strides (the
// fast layouts: row-major x with row-major W, the Linear layer; column-major x with column-major
// W, the weight gradient dY^T X of a bf16-saved input).
void linear_bf16_kernel(const OpCall& c) {
  const Tensor& x = *c.in[0];
  const Tensor& w = *c.in[1];
  const int64_t M = x.shape()[0], K = x.shape()[1], N = w.shape()[0];
  const float* bias = c.in.size() > 2 ? c.in[2]->data<float>() : nullptr;
  sgemm_bf16w(M, N, K, x.data<float>(), x.strides()[0], x.strides()[1], w.data<uint16_t>(), w.strides()[1], w.strides()[0],
              c.out[0]->data<float>(), N, 0.0f, bias);
}

void matmul_kernel(const OpCall& c) {
  if (c.in[0]->dtype() == DType::F32) matmul_typed<float>(c);
  else matmul_typed<double>(c);
}

}  // namespace raddino::cpu
