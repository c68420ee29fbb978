// Driver pieces shared by the GEMM drivers: gemm.cc (float32 / float64) and gemm_bf16.cc (float32
// activations x bfloat16 weights). Internal, not part of the public API.
//
// Both drivers follow the same scheme (described in gemm.cc): C is split into a grid of
// rectangles aligned to the micro-tile, one per thread (choose_grid, run_grid); each thread runs
// the Goto loop nest over its rectangle (for_each_block) with balanced cache blocks
// (balanced_block, rect_blocks) and its own thread_local packing buffers (ScratchBuffer, from
// scratch_buffer.h).
// What differs (element types, packed layouts, K blocking, pre-packed weights, kernel costs) stays
// in the drivers and reaches these helpers as the kernel set, a GridCost and callbacks.
//
// A kernel set `KS` is any struct with the members
//   int mr, nr;           micro-tile (rows of A panels, columns of B panels)
//   int64_t kc, mc, nc;   largest cache blocks: K block, A block rows, B block columns
// i.e. gemm_detail::KernelSet<T> (gemm_kernels.h) and gemm_bf16_detail::KernelSet
// (gemm_bf16_kernels.h).
#pragma once
#include <algorithm>
#include <cstdint>

#include "scratch_buffer.h"
#include "threadpool.h"

namespace raddino::cpu::gemm_driver {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Splits `total` into the fewest blocks of at most `max_block` and returns the common block
// size, rounded up to a multiple of `unit` (so blocks are balanced instead of max + remainder).
inline int64_t balanced_block(int64_t total, int64_t max_block, int64_t unit) {
  const int64_t blocks = ceil_div(total, max_block);
  return std::max(unit, round_up(ceil_div(total, blocks), unit));
}

// The drivers' thread_local packing buffers (scratch_buffer.h; the attention kernels use it too).
using cpu::ScratchBuffer;

// Cache blocks of one thread's rectangle of C (rows x cols): A blocks of mc rows and B blocks of
// nc columns (balanced, whole micro-panels), and the rows / columns the packing buffers need
// (a block, or the whole rectangle rounded to micro-panels when that is smaller).
struct RectBlocks {
  int64_t mc, nc;
  int64_t a_rows, b_cols;
};

template <typename KS>
RectBlocks rect_blocks(const KS& ks, int64_t rows, int64_t cols) {
  const int64_t mc = balanced_block(rows, ks.mc, ks.mr);
  const int64_t nc = balanced_block(cols, ks.nc, ks.nr);
  return RectBlocks{mc, nc, std::min(mc, round_up(rows, ks.mr)), std::min(nc, round_up(cols, ks.nr))};
}

// The Goto loop nest over rows [m0, m1) x columns [n0, n1) of C and K in blocks of mc x kc x nc:
//   for ic in rows, step mc:
//     for pc in K, step kc:
//       pack_a(ic, mb, pc, kb)                      A(ic.., pc..), mb x kb
//       for jc in columns, step nc:
//         block(ic, mb, pc, kb, jc, nb)             pack B(pc.., jc..) if needed, macro-kernel
// mb, kb, nb are the sizes of the blocks at ic, pc, jc (the last ones may be smaller).
template <typename PackA, typename Block>
void for_each_block(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, int64_t mc, int64_t kc, int64_t nc,
                    PackA&& pack_a, Block&& block) {
  for (int64_t ic = m0; ic < m1; ic += mc) {
    const int64_t mb = std::min(mc, m1 - ic);
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kb = std::min(kc, K - pc);
      pack_a(ic, mb, pc, kb);
      for (int64_t jc = n0; jc < n1; jc += nc) block(ic, mb, pc, kb, jc, std::min(nc, n1 - jc));
    }
  }
}

// The thread-grid cost model of a driver: the per-thread cost of a rectangle of C (rows x cols,
// padded to whole micro-panels) is
//   madd * rows * cols * K + pack_a * (A elements packed) + pack_b * (B elements packed)
// in any unit (multiply-adds, cycles), where each thread packs the A rows and B columns of its
// own rectangle: splitting N repeats the packing of A and splitting M repeats the packing of B.
struct GridCost {
  double min_work_per_thread;  // multiply-adds per thread below which waking another one costs more
  double madd;                 // one (padded) multiply-add
  double pack_a, pack_b;       // packing one element of A / of B (0 when B is pre-packed)
};

// A grid of tm x tn rectangles of C, one per thread.
struct Grid {
  int tm = 1, tn = 1;
};

// Chooses the grid (tm * tn <= the useful thread count) that minimises the largest per-thread cost.
template <typename KS>
Grid choose_grid(const KS& ks, const GridCost& gc, int64_t M, int64_t N, int64_t K, int max_threads) {
  const double work = static_cast<double>(M) * N * K;
  const int nt = static_cast<int>(std::clamp<double>(work / gc.min_work_per_thread, 1.0, max_threads));
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
      const double cost = rows * cols * K * gc.madd + gc.pack_a * a_packs + gc.pack_b * b_packs;
      if (best_cost < 0 || cost < best_cost) {
        best_cost = cost;
        best = Grid{tm, tn};
      }
    }
  }
  return best;
}

// Computes C (M x N) on the grid chosen for it: calls rect(m0, m1, n0, n1) for every non-empty
// rectangle (rows [m0, m1) x columns [n0, n1), aligned to the micro-tile), one thread each.
// Inside a parallel region (a batch of products spread over threads) the product is serial.
template <typename KS, typename Rect>
void run_grid(const KS& ks, const GridCost& gc, int64_t M, int64_t N, int64_t K, const Rect& rect) {
  const Grid grid = choose_grid(ks, gc, M, N, K, in_parallel() ? 1 : num_threads());
  const int64_t mp = ceil_div(M, ks.mr), np = ceil_div(N, ks.nr);
  auto run = [&](int tid, int) {
    const int64_t r = tid / grid.tn, s = tid % grid.tn;
    const int64_t m0 = std::min(M, mp * r / grid.tm * ks.mr);
    const int64_t m1 = std::min(M, mp * (r + 1) / grid.tm * ks.mr);
    const int64_t n0 = std::min(N, np * s / grid.tn * ks.nr);
    const int64_t n1 = std::min(N, np * (s + 1) / grid.tn * ks.nr);
    if (m0 < m1 && n0 < n1) rect(m0, m1, n0, n1);
  };
  const int nt = grid.tm * grid.tn;
  if (nt == 1) run(0, 1);
  else parallel_run(nt, run);
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

// The argument handling shared by the entry points: returns false when nothing is left to
// compute (empty C, or K == 0 and C has been updated already), else normalises beta to 0 or 1
// (a general beta scales C first).
template <typename T>
bool prepare(int64_t M, int64_t N, int64_t K, T* c, int64_t ldc, T& beta, const T* bias) {
  if (M <= 0 || N <= 0) return false;
  if (K <= 0) {
    scale_c(M, N, c, ldc, beta, bias);
    return false;
  }
  if (beta != T(0) && beta != T(1)) {
    scale_c<T>(M, N, c, ldc, beta, nullptr);
    beta = T(1);
  }
  return true;
}

}  // namespace raddino::cpu::gemm_driver
