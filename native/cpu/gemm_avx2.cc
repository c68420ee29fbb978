// AVX2 + FMA GEMM kernels (float and double), selected at run time on CPUs without AVX-512.
// Compiled for that ISA with a target pragma placed after every #include, inside the namespace
// raddino::cpu::gemm_detail::avx2, so no AVX2 code can be picked by the linker for a baseline
// caller.
//
// Micro-kernel (float): 6 x 16 tile of C = 6 rows x 2 ymm vectors, 12 ymm accumulators; each k
// step loads 2 vectors of the packed B panel and broadcasts 6 A values (12 FMAs per 8 loads).
// Double uses the same code with 4-lane vectors: a 6 x 8 tile. Rows past the end of A use
// instantiations with fewer rows; columns past the end of B go through a small tile buffer.
//
// Blocking (see gemm.cc for the loop nest): kc = 256 (A panel 6 x 256 floats = 6 KiB),
// nc = 512 (packed B block 256 x 512 floats = 512 KiB, L2), mc = 1020 rows.
//
// Packing (layouts in gemm_kernels.h): full panels of row-major A (csa == 1) and of B given as
// W^T (rsb == 1) are transposed 8 x 8 at a time in registers; row-major B is copied with vector
// loads/stores; everything else (column-major A, edge panels, k tails) is copied element-wise.
#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "gemm_kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

namespace raddino::cpu::gemm_detail::avx2 {
namespace {

#include "simd_avx2.h"  // transpose8x8

constexpr int kMR = 6;
constexpr int kNV = 2;
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 1020;
constexpr int64_t kNCFloat = 512;
constexpr int64_t kNCDouble = 256;

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using R = __m256;
  static constexpr int L = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R load(const float* p) { return _mm256_load_ps(p); }
  static R loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, R v) { _mm256_storeu_ps(p, v); }
  static R bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
};

template <>
struct Vec<double> {
  using R = __m256d;
  static constexpr int L = 4;
  static R zero() { return _mm256_setzero_pd(); }
  static R load(const double* p) { return _mm256_load_pd(p); }
  static R loadu(const double* p) { return _mm256_loadu_pd(p); }
  static void storeu(double* p, R v) { _mm256_storeu_pd(p, v); }
  static R bcast(const double* p) { return _mm256_broadcast_sd(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
};

// C(M x n) = [C +] Ap * Bp [+ bias] for one micro-tile; M <= MR rows are computed, the packed
// A panel has MR values per k step. n <= NV * L columns are stored.
template <typename T, int MR, int NV, int M>
void micro_tile(int64_t kc, const T* __restrict a, const T* __restrict b, T* c, int64_t ldc, int n,
                bool load_c, const T* bias) {
  using V = Vec<T>;
  using R = typename V::R;
  constexpr int L = V::L;
  constexpr int NR = NV * L;
  R acc[M][NV];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  }
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NR - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    R bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * L);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const R ai = V::bcast(a + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(ai, bv[v], acc[i][v]);
    }
    a += MR;
    b += NR;
  }
  if (n == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        T* p = c + i * ldc + v * L;
        R r = acc[i][v];
        if (load_c) r = V::add(r, V::loadu(p));
        if (bias != nullptr) r = V::add(r, V::loadu(bias + v * L));
        V::storeu(p, r);
      }
    }
    return;
  }
  // Right edge: spill the tile and update the n valid columns element-wise.
  alignas(32) T tile[M][NR];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) V::storeu(&tile[i][v * L], acc[i][v]);
  }
  for (int i = 0; i < M; ++i) {
    T* ci = c + i * ldc;
    for (int j = 0; j < n; ++j) {
      T r = tile[i][j];
      if (load_c) r += ci[j];
      if (bias != nullptr) r += bias[j];
      ci[j] = r;
    }
  }
}

template <typename T>
using TileFn = void (*)(int64_t, const T*, const T*, T*, int64_t, int, bool, const T*);

template <typename T, int MR, int NV, size_t... I>
constexpr std::array<TileFn<T>, MR> tile_table(std::index_sequence<I...>) {
  return {&micro_tile<T, MR, NV, static_cast<int>(I) + 1>...};
}

template <typename T, int MR, int NV>
void macro_kernel(const MacroArgs<T>& g) {
  constexpr int NR = NV * Vec<T>::L;
  static constexpr std::array<TileFn<T>, MR> kTiles =
      tile_table<T, MR, NV>(std::make_index_sequence<MR>{});
  for (int64_t i = 0; i < g.m; i += MR) {
    const int mi = static_cast<int>(std::min<int64_t>(MR, g.m - i));
    const T* ap = g.ap + i * g.kc;
    T* ci = g.c + i * g.ldc;
    for (int64_t j = 0; j < g.n; j += NR) {
      const int nj = static_cast<int>(std::min<int64_t>(NR, g.n - j));
      const T* bias = g.bias != nullptr ? g.bias + j : nullptr;
      if (mi == MR) {
        micro_tile<T, MR, NV, MR>(g.kc, ap, g.bp + j * g.kc, ci + j, g.ldc, nj, g.accumulate, bias);
      } else {
        kTiles[mi - 1](g.kc, ap, g.bp + j * g.kc, ci + j, g.ldc, nj, g.accumulate, bias);
      }
    }
  }
}

void pack_a_f32(int64_t m, int64_t k, const float* a, int64_t rsa, int64_t csa, float* dst) {
  static_assert(kMR == 6, "the transposed store below writes 6 lanes");
  for (int64_t i0 = 0; i0 < m; i0 += kMR, dst += k * kMR) {
    const int mp = static_cast<int>(std::min<int64_t>(kMR, m - i0));
    const float* src = a + i0 * rsa;
    int64_t k0 = 0;
    if (csa == 1 && mp == kMR) {
      for (; k0 + 8 <= k; k0 += 8) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) r[i] = i < kMR ? _mm256_loadu_ps(src + i * rsa + k0) : _mm256_setzero_ps();
        transpose8x8(r);
#pragma GCC unroll 8
        for (int t = 0; t < 8; ++t) {
          float* d = dst + (k0 + t) * kMR;
          _mm_storeu_ps(d, _mm256_castps256_ps128(r[t]));
          _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm256_extractf128_ps(r[t], 1));
        }
      }
    }
    for (int64_t kk = k0; kk < k; ++kk) {
      float* d = dst + kk * kMR;
      for (int i = 0; i < mp; ++i) d[i] = src[i * rsa + kk * csa];
      for (int i = mp; i < kMR; ++i) d[i] = 0.0f;
    }
  }
}

void pack_b_f32(int64_t k, int64_t n, const float* b, int64_t rsb, int64_t csb, float* dst) {
  constexpr int NR = kNV * 8;
  for (int64_t j0 = 0; j0 < n; j0 += NR, dst += k * NR) {
    const int np = static_cast<int>(std::min<int64_t>(NR, n - j0));
    const float* src = b + j0 * csb;
    int64_t k0 = 0;
    if (np == NR && csb == 1) {
      for (; k0 < k; ++k0) {
#pragma GCC unroll 4
        for (int v = 0; v < kNV; ++v) {
          _mm256_store_ps(dst + k0 * NR + v * 8, _mm256_loadu_ps(src + k0 * rsb + v * 8));
        }
      }
    } else if (np == NR) {
      // B = W^T with W row-major (rsb == 1): transpose 8 x 8 blocks of W.
      for (; k0 + 8 <= k; k0 += 8) {
        for (int v = 0; v < kNV; ++v) {
          __m256 r[8];
#pragma GCC unroll 8
          for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (v * 8 + i) * csb + k0);
          transpose8x8(r);
#pragma GCC unroll 8
          for (int t = 0; t < 8; ++t) _mm256_store_ps(dst + (k0 + t) * NR + v * 8, r[t]);
        }
      }
    }
    for (int64_t kk = k0; kk < k; ++kk) {
      float* d = dst + kk * NR;
      for (int j = 0; j < np; ++j) d[j] = src[kk * rsb + j * csb];
      for (int j = np; j < NR; ++j) d[j] = 0.0f;
    }
  }
}

}  // namespace

const KernelSet<float>& sgemm_kernels() {
  static const KernelSet<float> set{"avx2",      kMR,         kNV * 8,  kKC,
                                    kMC,         kNCFloat,    &pack_a_f32, &pack_b_f32,
                                    &macro_kernel<float, kMR, kNV>};
  return set;
}

const KernelSet<double>& dgemm_kernels() {
  static const KernelSet<double> set{"avx2",   kMR,     kNV * 4, kKC, kMC, kNCDouble,
                                     nullptr, nullptr, &macro_kernel<double, kMR, kNV>};
  return set;
}

}  // namespace raddino::cpu::gemm_detail::avx2

#if defined(__clang__)
#pragma clang attribute pop
#endif

#endif  // defined(__x86_64__)
