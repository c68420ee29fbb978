// GEMM driver: argument handling, thread partitioning, cache blocking and packing.
//
// Blocking (Goto/BLIS scheme, written for row-major C with SIMD vectors along N):
//   Each thread owns a rectangle of C (rows [m0, m1) x columns [n0, n1), aligned to the
//   micro-tile) and runs the loops below on it with its own packing buffers:
//     for ic in rows, step mc:
//       for pc in K, step kc:
//         pack A(ic.., pc..)  -> Ap       (mc x kc, packed once, reused for all of N)
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
// Threads: C is split into a grid of rectangles, one per thread (choose_grid); threads share
// nothing but the inputs, so there is no synchronisation beyond the final join. Packing buffers
// are thread_local, 64-byte aligned, and grow as needed (about 3 + 1.2 MiB per thread for float
// on AVX-512).
// Packed panel layouts and the per-ISA kernel sets are described in gemm_kernels.h.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "cpu_features.h"
#include "gemm_kernels.h"
#include "threadpool.h"

namespace raddino::cpu {
namespace {

using gemm_detail::KernelSet;
using gemm_detail::MacroArgs;

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

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Splits `total` into the fewest blocks of at most `max_block` and returns the common block
// size, rounded up to a multiple of `unit` (so blocks are balanced instead of max + remainder).
int64_t balanced_block(int64_t total, int64_t max_block, int64_t unit) {
  const int64_t blocks = ceil_div(total, max_block);
  return std::max(unit, round_up(ceil_div(total, blocks), unit));
}

// A 64-byte aligned scratch buffer that only grows; one per thread and role, reused by calls.
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(ptr_); }

  void* get(size_t bytes) {
    if (bytes > capacity_) {
      std::free(ptr_);
      ptr_ = nullptr;
      capacity_ = 0;
      const size_t rounded = (bytes + 63) / 64 * 64;
      ptr_ = std::aligned_alloc(64, rounded);
      if (ptr_ == nullptr) throw std::bad_alloc();
      capacity_ = rounded;
    }
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  size_t capacity_ = 0;
};

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
  const int64_t rows = m1 - m0, cols = n1 - n0;
  const int64_t kc = balanced_block(p.K, ks.kc, 1);
  const int64_t mc = balanced_block(rows, ks.mc, ks.mr);
  const int64_t nc = balanced_block(cols, ks.nc, ks.nr);
  T* ap = static_cast<T*>(t_packed_a.get(sizeof(T) * std::min(mc, round_up(rows, ks.mr)) * kc));
  T* bp = static_cast<T*>(t_packed_b.get(sizeof(T) * std::min(nc, round_up(cols, ks.nr)) * kc));
  for (int64_t ic = m0; ic < m1; ic += mc) {
    const int64_t mb = std::min(mc, m1 - ic);
    for (int64_t pc = 0; pc < p.K; pc += kc) {
      const int64_t kb = std::min(kc, p.K - pc);
      pack_a(ks, mb, kb, p.a + ic * p.rsa + pc * p.csa, p.rsa, p.csa, ap);
      for (int64_t jc = n0; jc < n1; jc += nc) {
        const int64_t nb = std::min(nc, n1 - jc);
        pack_b(ks, kb, nb, p.b + pc * p.rsb + jc * p.csb, p.rsb, p.csb, bp);
        const bool first = pc == 0;
        MacroArgs<T> args{mb, nb, kb, ap, bp, p.c + ic * p.ldc + jc, p.ldc,
                          !first || p.accumulate,
                          first && p.bias != nullptr ? p.bias + jc : nullptr};
        ks.macro(args);
      }
    }
  }
}

// Chooses a grid of tm x tn C rectangles, one per thread (tm * tn <= the useful thread count):
// minimises the largest per-thread cost, i.e. padded multiply-adds plus packing weighted by an
// estimate of its relative price. A thread packs the A rows and B columns of its own rectangle,
// so splitting N repeats the packing of A and splitting M repeats the packing of B.
struct Grid {
  int tm = 1, tn = 1;
};

template <typename T>
Grid choose_grid(const KernelSet<T>& ks, int64_t M, int64_t N, int64_t K, int max_threads) {
  // Below this many multiply-adds per thread, waking another thread costs more than it saves.
  constexpr double kMinWorkPerThread = 1 << 20;
  // Cost of packing one element, in multiply-adds (a transpose-and-copy vs a 1/16 vector FMA).
  constexpr double kPackCost = 12.0;
  const double work = static_cast<double>(M) * N * K;
  const int nt = static_cast<int>(std::clamp<double>(work / kMinWorkPerThread, 1.0, max_threads));
  const int64_t mp = ceil_div(M, ks.mr), np = ceil_div(N, ks.nr);
  Grid best;
  double best_cost = -1;
  // Largest tm first, so that ties go to splitting M (measured faster on square shapes).
  for (int tm = static_cast<int>(std::min<int64_t>(nt, mp)); tm >= 1; --tm) {
    for (int tn = 1; tn <= std::min<int64_t>(nt / tm, np); ++tn) {
      const double rows = static_cast<double>(ceil_div(mp, tm) * ks.mr);
      const double cols = static_cast<double>(ceil_div(np, tn) * ks.nr);
      const double a_packs = rows * K;
      const double b_packs = cols * K * ceil_div(static_cast<int64_t>(rows), ks.mc);
      const double cost = rows * cols * K + kPackCost * (a_packs + b_packs);
      if (best_cost < 0 || cost < best_cost) {
        best_cost = cost;
        best = Grid{tm, tn};
      }
    }
  }
  return best;
}

// C = beta*C + bias on its own (K == 0, or the scaling step of a general beta).
template <typename T>
void scale_c(int64_t M, int64_t N, T* c, int64_t ldc, T beta, const T* bias) {
  for (int64_t i = 0; i < M; ++i) {
    T* ci = c + i * ldc;
    for (int64_t j = 0; j < N; ++j) {
      T v = beta == T(0) ? T(0) : beta * ci[j];
      if (bias != nullptr) v += bias[j];
      ci[j] = v;
    }
  }
}

template <typename T>
void gemm(const KernelSet<T>& ks, int64_t M, int64_t N, int64_t K, const T* a, int64_t rsa,
          int64_t csa, const T* b, int64_t rsb, int64_t csb, T* c, int64_t ldc, T beta,
          const T* bias) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scale_c(M, N, c, ldc, beta, bias);
    return;
  }
  if (beta != T(0) && beta != T(1)) {
    scale_c<T>(M, N, c, ldc, beta, nullptr);
    beta = T(1);
  }
  const Problem<T> p{M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, beta == T(1), bias};
  // Inside a parallel region (a batch of products spread over threads) this product is serial.
  const Grid grid = choose_grid(ks, M, N, K, in_parallel() ? 1 : num_threads());
  const int64_t mp = ceil_div(M, ks.mr), np = ceil_div(N, ks.nr);
  auto run = [&](int tid, int) {
    const int64_t r = tid / grid.tn, s = tid % grid.tn;
    const int64_t m0 = std::min(M, mp * r / grid.tm * ks.mr);
    const int64_t m1 = std::min(M, mp * (r + 1) / grid.tm * ks.mr);
    const int64_t n0 = std::min(N, np * s / grid.tn * ks.nr);
    const int64_t n1 = std::min(N, np * (s + 1) / grid.tn * ks.nr);
    if (m0 < m1 && n0 < n1) gemm_rect(ks, p, m0, m1, n0, n1);
  };
  const int nt = grid.tm * grid.tn;
  if (nt == 1) run(0, 1);
  else parallel_run(nt, run);
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

}  // namespace raddino::cpu
