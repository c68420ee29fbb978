// GEMM driver: argument handling, thread partitioning, cache blocking and packing.
//
// Blocking (Goto/BLIS scheme, written for row-major C with SIMD vectors along N):
//   Each thread owns a rectangle of C (rows [m0, m1) x columns [n0, n1), aligned to the
//   micro-tile) and runs the loops below on it with its own packing buffers:
//     for ic in rows, step mc:
//       for pc in K, step kc:
//         pack A(ic.., pc..)  -> Ap       (mc x kc, packed once, reused for all of N; the
//                                          AVX-512 float kernel reads unit-stride A in place
//                                          instead where that measured faster, see gemm_rect)
//         for jc in columns, step nc:
//           pack B(pc.., jc..) -> Bp      (kc x nc, reused for all mc rows)
//           macro-kernel: for each mr-row panel of Ap
//                           for each nr-column panel of Bp
//                             micro-kernel: mr x nr tile of C in registers over kc steps
//   Each kernel set picks kc, mc, nc for its register tile (see its file). Packed panels are read
//   strictly sequentially, so the hardware prefetchers stream them from L2/L3; a large kc keeps
//   the number of read-modify-write passes over C (K / kc) and the per-tile overhead low.
//   Blocks are balanced (e.g. K = 800 with kc = 768 gives two blocks of 400).
//   The K split depends only on K, so every element of C is accumulated in the same order
//   whatever the thread count: results are bitwise identical for any number of threads.
//   The first K block overwrites C (beta == 0) or adds to it (beta == 1) and adds the bias;
//   later blocks add to C.
// Threads: C is split into a grid of rectangles, one per thread (choose_grid, in gemm_driver.h
// with the other pieces shared with the bf16 driver, gemm_bf16.cc); threads share
// nothing but the inputs, so there is no synchronisation beyond the final join. Packing buffers
// are thread_local, 64-byte aligned, and grow as needed (about 3 + 1.2 MiB per thread for float
// on AVX-512).
// Packed panel layouts and the per-ISA kernel sets are described in gemm_kernels.h.
#include "gemm.h"

#include <atomic>

#include "cpu_features.h"
#include "gemm_driver.h"
#include "gemm_kernels.h"

namespace raddino::cpu {
namespace {

std::atomic<MatmulPrecision> g_matmul_precision{MatmulPrecision::Float32};

using gemm_detail::KernelSet;
using gemm_detail::MacroArgs;
using gemm_driver::balanced_block;
using gemm_driver::for_each_block;
using gemm_driver::GridCost;
using gemm_driver::RectBlocks;
using gemm_driver::ScratchBuffer;

const KernelSet<float>& sgemm_set() {
  static const KernelSet<float>* set = [] {
#if defined(__x86_64__)
    const CpuFeatures& f = cpu_features();
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) return &gemm_detail::avx512::sgemm_kernels();
    if (f.avx2 && f.fma) return &gemm_detail::avx2::sgemm_kernels();
#endif
    return &gemm_detail::generic::sgemm_kernels();
  }();
  return *set;
}

const KernelSet<double>& dgemm_set() {
  static const KernelSet<double>* set = [] {
#if defined(__x86_64__)
    const CpuFeatures& f = cpu_features();
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) return &gemm_detail::avx512::dgemm_kernels();
    if (f.avx2 && f.fma) return &gemm_detail::avx2::dgemm_kernels();
#endif
    return &gemm_detail::generic::dgemm_kernels();
  }();
  return *set;
}

// Per-thread packing buffers of this driver (A and B blocks).
thread_local ScratchBuffer t_packed_a;
thread_local ScratchBuffer t_packed_b;

template <typename T>
struct Problem {
  int64_t M, N, K;
  const T* a;
  int64_t rsa, csa;
  const T* b;
  int64_t rsb, csb;
  T* c;
  int64_t ldc;
  bool accumulate;  // beta == 1
  const T* bias;
};

template <typename T>
void pack_a(const KernelSet<T>& ks, int64_t m, int64_t k, const T* a, int64_t rsa, int64_t csa,
            T* dst) {
  if (ks.pack_a != nullptr && (csa == 1 || rsa == 1)) ks.pack_a(m, k, a, rsa, csa, dst);
  else gemm_detail::generic::pack_a_any(ks.mr, m, k, a, rsa, csa, dst);
}

template <typename T>
void pack_b(const KernelSet<T>& ks, int64_t k, int64_t n, const T* b, int64_t rsb, int64_t csb,
            T* dst) {
  if (ks.pack_b != nullptr && (csb == 1 || rsb == 1)) ks.pack_b(k, n, b, rsb, csb, dst);
  else gemm_detail::generic::pack_b_any(ks.nr, k, n, b, rsb, csb, dst);
}

// Computes rows [m0, m1) x columns [n0, n1) of C on the calling thread.
template <typename T>
void gemm_rect(const KernelSet<T>& ks, const Problem<T>& p, int64_t m0, int64_t m1, int64_t n0,
               int64_t n1) {
  const int64_t kc = balanced_block(p.K, ks.kc, 1);
  const RectBlocks blocks = gemm_driver::rect_blocks(ks, m1 - m0, n1 - n0);
  // A is read in place, without a packing pass, when the kernel set can: column-major A (its
  // k steps are already MR-value runs), and row-major A when this rectangle is one B block wide
  // (each A panel then meets few B panels; wider, the packed copy pays for itself). Measured on
  // Zen 4 (2 threads): dW = dY^T X +3-5%, x W^T with N = 384 +4%, N >= 1152 -3-9% in place.
  const int a_direct = !ks.reads_a_in_place ? 0
                       : p.rsa == 1                        ? 2
                       : p.csa == 1 && n1 - n0 <= ks.nc    ? 1
                                                           : 0;
  T* ap = a_direct ? nullptr : t_packed_a.get<T>(blocks.a_rows * kc);
  T* bp = t_packed_b.get<T>(blocks.b_cols * kc);
  const T* a_block = nullptr;
  for_each_block(
      m0, m1, n0, n1, p.K, blocks.mc, kc, blocks.nc,
      [&](int64_t ic, int64_t mb, int64_t pc, int64_t kb) {
        if (a_direct) a_block = p.a + ic * p.rsa + pc * p.csa;
        else pack_a(ks, mb, kb, p.a + ic * p.rsa + pc * p.csa, p.rsa, p.csa, ap);
      },
      [&](int64_t ic, int64_t mb, int64_t pc, int64_t kb, int64_t jc, int64_t nb) {
        pack_b(ks, kb, nb, p.b + pc * p.rsb + jc * p.csb, p.rsb, p.csb, bp);
        const bool first = pc == 0;
        MacroArgs<T> args{mb, nb, kb, a_direct ? a_block : ap, bp, p.c + ic * p.ldc + jc, p.ldc,
                          !first || p.accumulate,
                          first && p.bias != nullptr ? p.bias + jc : nullptr,
                          a_direct, a_direct == 1 ? p.rsa : p.csa};
        ks.macro(args);
      });
}

// The thread-grid cost model (see GridCost), in multiply-adds: below 2^20 of them per thread,
// waking another thread costs more than it saves; packing one element costs about 12 (a
// transpose-and-copy vs a 1/16 vector FMA).
constexpr GridCost kGridCost{1 << 20, 1.0, 12.0, 12.0};

template <typename T>
void gemm(const KernelSet<T>& ks, int64_t M, int64_t N, int64_t K, const T* a, int64_t rsa,
          int64_t csa, const T* b, int64_t rsb, int64_t csb, T* c, int64_t ldc, T beta,
          const T* bias) {
  if (!gemm_driver::prepare(M, N, K, c, ldc, beta, bias)) return;
  const Problem<T> p{M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, beta == T(1), bias};
  gemm_driver::run_grid(ks, kGridCost, M, N, K, [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    gemm_rect(ks, p, m0, m1, n0, n1);
  });
}

}  // namespace

void sgemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b,
           int64_t rsb, int64_t csb, float* c, int64_t ldc, float beta, const float* bias) {
  gemm(sgemm_set(), M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, beta, bias);
}

void dgemm(int64_t M, int64_t N, int64_t K, const double* a, int64_t rsa, int64_t csa,
           const double* b, int64_t rsb, int64_t csb, double* c, int64_t ldc, double beta,
           const double* bias) {
  gemm(dgemm_set(), M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, beta, bias);
}

const char* sgemm_kernel_name() { return sgemm_set().name; }

void set_matmul_precision(MatmulPrecision p) { g_matmul_precision.store(p, std::memory_order_relaxed); }
MatmulPrecision matmul_precision() { return g_matmul_precision.load(std::memory_order_relaxed); }

}  // namespace raddino::cpu
