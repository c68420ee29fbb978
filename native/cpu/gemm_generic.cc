// Portable GEMM kernels (no intrinsics): the fallback on CPUs without AVX2/FMA and on non-x86
// builds, plus the any-stride packers that every kernel set uses for non-unit-stride layouts.
//
// Micro-tile: 4 x 8 for float and double. The accumulator tile is a small fixed-size array that
// the compiler keeps in vector registers (SSE2 on baseline x86-64, NEON on AArch64). Blocking:
// kc = 256, mc = 512 rows of A per packed block, nc = 1024 columns of B per packed block.
// Packed panel layouts are described in gemm_kernels.h.
#include <algorithm>
#include <cstdint>

#include "gemm_kernels.h"

namespace raddino::cpu::gemm_detail::generic {

template <typename T>
void pack_a_any(int mr, int64_t m, int64_t k, const T* a, int64_t rsa, int64_t csa, T* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += mr) {
    const int mp = static_cast<int>(std::min<int64_t>(mr, m - i0));
    for (int64_t kk = 0; kk < k; ++kk) {
      const T* src = a + i0 * rsa + kk * csa;
      T* d = dst + kk * mr;
      for (int i = 0; i < mp; ++i) d[i] = src[i * rsa];
      for (int i = mp; i < mr; ++i) d[i] = T(0);
    }
    dst += k * mr;
  }
}

template <typename T>
void pack_b_any(int nr, int64_t k, int64_t n, const T* b, int64_t rsb, int64_t csb, T* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += nr) {
    const int np = static_cast<int>(std::min<int64_t>(nr, n - j0));
    for (int64_t kk = 0; kk < k; ++kk) {
      const T* src = b + kk * rsb + j0 * csb;
      T* d = dst + kk * nr;
      if (csb == 1) {
        for (int j = 0; j < np; ++j) d[j] = src[j];
      } else {
        for (int j = 0; j < np; ++j) d[j] = src[j * csb];
      }
      for (int j = np; j < nr; ++j) d[j] = T(0);
    }
    dst += k * nr;
  }
}

template void pack_a_any<float>(int, int64_t, int64_t, const float*, int64_t, int64_t, float*);
template void pack_a_any<double>(int, int64_t, int64_t, const double*, int64_t, int64_t, double*);
template void pack_b_any<float>(int, int64_t, int64_t, const float*, int64_t, int64_t, float*);
template void pack_b_any<double>(int, int64_t, int64_t, const double*, int64_t, int64_t, double*);

namespace {

constexpr int kMR = 4;
constexpr int kNR = 8;

// One kMR x kNR tile: C(m x n) = [C +] Ap * Bp [+ bias] over kc steps.
template <typename T>
void micro_tile(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int m, int n, bool load_c,
                const T* bias) {
  T acc[kMR][kNR] = {};
  for (int64_t kk = 0; kk < kc; ++kk) {
    for (int i = 0; i < kMR; ++i) {
      const T ai = a[i];
      for (int j = 0; j < kNR; ++j) acc[i][j] += ai * b[j];
    }
    a += kMR;
    b += kNR;
  }
  for (int i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    for (int j = 0; j < n; ++j) {
      T v = acc[i][j];
      if (load_c) v += ci[j];
      if (bias != nullptr) v += bias[j];
      ci[j] = v;
    }
  }
}

template <typename T>
void macro_kernel(const MacroArgs<T>& g) {
  for (int64_t i = 0; i < g.m; i += kMR) {
    const int mi = static_cast<int>(std::min<int64_t>(kMR, g.m - i));
    const T* ap = g.ap + i * g.kc;
    for (int64_t j = 0; j < g.n; j += kNR) {
      const int nj = static_cast<int>(std::min<int64_t>(kNR, g.n - j));
      micro_tile<T>(g.kc, ap, g.bp + j * g.kc, g.c + i * g.ldc + j, g.ldc, mi, nj, g.accumulate,
                    g.bias != nullptr ? g.bias + j : nullptr);
    }
  }
}

}  // namespace

const KernelSet<float>& sgemm_kernels() {
  static const KernelSet<float> set{"generic", kMR, kNR, 256, 512, 1024,
                                    nullptr, nullptr, &macro_kernel<float>};
  return set;
}

const KernelSet<double>& dgemm_kernels() {
  static const KernelSet<double> set{"generic", kMR, kNR, 256, 512, 1024,
                                     nullptr, nullptr, &macro_kernel<double>};
  return set;
}

}  // namespace raddino::cpu::gemm_detail::generic
