// AVX-512 GEMM kernels (float and double), selected at run time when the CPU has
// AVX-512 F/BW/DQ/VL. Compiled for that ISA with a target pragma placed after every #include,
// inside the namespace raddino::cpu::gemm_detail::avx512, so no AVX-512 code can be picked by
// the linker for a baseline caller.
//
// Micro-kernel (float): 12 x 32 tile of C = 12 rows x 2 zmm vectors, 24 zmm accumulators. Each
// k step loads 2 vectors of the packed B panel and broadcasts 12 A values from the packed A
// panel, each feeding 2 FMAs: 24 FMAs per 14 loads, no spills (checked in the generated code).
// Double uses the same code with 8-lane vectors: a 12 x 16 tile.
// Edge tiles use instantiations with fewer rows and/or vectors (no wasted FMAs beyond the last
// partial vector) and masked loads/stores of C.
//
// Blocking (see gemm.cc for the loop nest): kc = 768, so K <= 768 needs a single pass over C;
// nc = 384 (packed B block 768 x 384 floats = 1.1 MiB, about one L2) and mc = 1032 rows (packed A
// block 3 MiB, in L3). The A panel (12 x 768, 36 KiB) and B panels (768 x 32, 96 KiB) are read
// sequentially and streamed from L2/L3 by the hardware prefetchers; on Zen 4 this measured
// faster than smaller, L1-resident panels (fewer passes over C, fewer tile prologues/epilogues).
//
// Packing (layouts in gemm_kernels.h): row-major A (csa == 1) and B given as W^T (rsb == 1)
// need a transpose; both use 16 x 16 in-register transposes (unpack / shuffle / shuffle_f32x4).
// Column-major A and row-major B are copied with (masked) vector loads and stores. Double
// uses the generic packers.
#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "gemm_kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
// GCC 12's AVX-512 intrinsics pass a self-initialised "undefined" vector as the unused merge
// source, which -Wmaybe-uninitialized reports inside the transposes (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace raddino::cpu::gemm_detail::avx512 {
namespace {

#include "simd_avx512.h"  // first16, transpose16x16

constexpr int kMR = 12;  // rows of the micro-tile
constexpr int kNV = 2;   // vectors per micro-tile row (nr = kNV * lanes)
constexpr int64_t kKC = 768;
constexpr int64_t kMC = 1032;
constexpr int64_t kNCFloat = 384;
constexpr int64_t kNCDouble = 192;

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using R = __m512;
  using Mask = __mmask16;
  static constexpr int L = 16;
  static R zero() { return _mm512_setzero_ps(); }
  static R load(const float* p) { return _mm512_load_ps(p); }
  static R loadu(const float* p) { return _mm512_loadu_ps(p); }
  static R loadu(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void storeu(float* p, R v) { _mm512_storeu_ps(p, v); }
  static void storeu(float* p, Mask m, R v) { _mm512_mask_storeu_ps(p, m, v); }
  static R bcast(const float* p) { return _mm512_set1_ps(*p); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static Mask first(int n) { return first16(n); }
};

template <>
struct Vec<double> {
  using R = __m512d;
  using Mask = __mmask8;
  static constexpr int L = 8;
  static R zero() { return _mm512_setzero_pd(); }
  static R load(const double* p) { return _mm512_load_pd(p); }
  static R loadu(const double* p) { return _mm512_loadu_pd(p); }
  static R loadu(Mask m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void storeu(double* p, R v) { _mm512_storeu_pd(p, v); }
  static void storeu(double* p, Mask m, R v) { _mm512_mask_storeu_pd(p, m, v); }
  static R bcast(const double* p) { return _mm512_set1_pd(*p); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static Mask first(int n) { return static_cast<Mask>((1u << n) - 1); }
};

// Where the micro-kernel reads A: a packed panel (MR values per k step), or A itself when it is
// row-major (element (i, k) at a[i * lda + k]) or column-major (a[k * lda + i]); reading A in
// place spares the packing pass, and the products are the same, in the same order.
enum AMode { kPacked = 0, kRowMajor = 1, kColMajor = 2 };

// C(M x n) = [C +] A * Bp [+ bias] for one micro-tile: M <= MR rows and NC <= NV vectors of
// the panels (A read as AM says, NV * L values of packed B per k step) are computed, and
// n <= NC * L columns are stored.
template <typename T, int MR, int NV, int M, int NC, int AM>
void micro_tile(int64_t kc, const T* __restrict a, int64_t lda, const T* __restrict b, T* c, int64_t ldc, int n,
                bool load_c, const T* bias) {
  using V = Vec<T>;
  using R = typename V::R;
  constexpr int L = V::L;
  R acc[M][NC];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) acc[i][v] = V::zero();
  }
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NC * L - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    R bv[NC];
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) bv[v] = V::load(b + v * L);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const R ai = V::bcast(AM == kRowMajor ? a + i * lda + k : a + i);
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) acc[i][v] = V::fma(ai, bv[v], acc[i][v]);
    }
    if (AM == kPacked) a += MR;
    else if (AM == kColMajor) a += lda;
    b += NV * L;
  }
  if (n == NC * L) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) {
        T* p = c + i * ldc + v * L;
        R r = acc[i][v];
        if (load_c) r = V::add(r, V::loadu(p));
        if (bias != nullptr) r = V::add(r, V::loadu(bias + v * L));
        V::storeu(p, r);
      }
    }
  } else {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) {
        const int left = n - v * L;
        if (left <= 0) continue;
        const typename V::Mask mask = V::first(std::min(left, L));
        T* p = c + i * ldc + v * L;
        R r = acc[i][v];
        if (load_c) r = V::add(r, V::loadu(mask, p));
        if (bias != nullptr) r = V::add(r, V::loadu(mask, bias + v * L));
        V::storeu(p, mask, r);
      }
    }
  }
}

template <typename T>
using TileFn = void (*)(int64_t, const T*, int64_t, const T*, T*, int64_t, int, bool, const T*);

// Edge tiles, indexed [vectors - 1][rows - 1].
template <typename T, int MR, int NV, int AM, size_t... I>
constexpr std::array<std::array<TileFn<T>, MR>, NV> edge_tiles(std::index_sequence<I...>) {
  std::array<std::array<TileFn<T>, MR>, NV> table{};
  ((table[I / MR][I % MR] = &micro_tile<T, MR, NV, static_cast<int>(I % MR) + 1, static_cast<int>(I / MR) + 1, AM>), ...);
  return table;
}

// Runs the micro-kernel over every (A panel, B panel) pair of the blocks: A panels in the outer
// loop, so one A panel is reused across the whole B block while B panels stream.
template <typename T, int MR, int NV, int AM>
void macro_kernel_a(const MacroArgs<T>& g) {
  constexpr int L = Vec<T>::L;
  constexpr int NR = NV * L;
  static constexpr auto kEdgeTiles = edge_tiles<T, MR, NV, AM>(std::make_index_sequence<MR * NV>{});
  for (int64_t i = 0; i < g.m; i += MR) {
    const int mi = static_cast<int>(std::min<int64_t>(MR, g.m - i));
    const T* ap = g.ap + (AM == kPacked ? i * g.kc : AM == kRowMajor ? i * g.lda : i);
    T* ci = g.c + i * g.ldc;
    for (int64_t j = 0; j < g.n; j += NR) {
      const int nj = static_cast<int>(std::min<int64_t>(NR, g.n - j));
      const T* bias = g.bias != nullptr ? g.bias + j : nullptr;
      if (mi == MR && nj == NR) {
        micro_tile<T, MR, NV, MR, NV, AM>(g.kc, ap, g.lda, g.bp + j * g.kc, ci + j, g.ldc, nj, g.accumulate, bias);
      } else {
        kEdgeTiles[(nj + L - 1) / L - 1][mi - 1](g.kc, ap, g.lda, g.bp + j * g.kc, ci + j, g.ldc, nj,
                                                 g.accumulate, bias);
      }
    }
  }
}

template <typename T, int MR, int NV>
void macro_kernel(const MacroArgs<T>& g) {
  if (g.a_direct == 0) macro_kernel_a<T, MR, NV, kPacked>(g);
  else if (g.a_direct == 1) macro_kernel_a<T, MR, NV, kRowMajor>(g);
  else macro_kernel_a<T, MR, NV, kColMajor>(g);
}

// Loads `rows` <= 16 rows (stride ld) of `cols` <= 16 consecutive floats (missing rows and
// columns read as zero), transposes them, and stores the first `cols` columns as rows of dst
// (stride dst_ld), writing only the lanes in out_mask. FullRows is the common row count, for
// which the whole block is unrolled.
template <int FullRows>
inline void transpose_block(const float* src, int64_t ld, int rows, int cols, float* dst,
                            int64_t dst_ld, __mmask16 out_mask) {
  __m512 r[16];
  if (rows == FullRows && cols == 16) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) r[i] = i < FullRows ? _mm512_loadu_ps(src + i * ld) : _mm512_setzero_ps();
    transpose16x16(r);
#pragma GCC unroll 16
    for (int t = 0; t < 16; ++t) _mm512_mask_storeu_ps(dst + t * dst_ld, out_mask, r[t]);
    return;
  }
  const __mmask16 load_mask = Vec<float>::first(cols);
  for (int i = 0; i < 16; ++i) {
    r[i] = i < rows ? _mm512_maskz_loadu_ps(load_mask, src + i * ld) : _mm512_setzero_ps();
  }
  transpose16x16(r);
  for (int t = 0; t < cols; ++t) _mm512_mask_storeu_ps(dst + t * dst_ld, out_mask, r[t]);
}

template <int MR>
void pack_a_f32(int64_t m, int64_t k, const float* a, int64_t rsa, int64_t csa, float* dst) {
  static_assert(MR <= 16, "A panels are transposed as 16 x 16 blocks");
  const __mmask16 out_mask = Vec<float>::first(MR);
  for (int64_t i0 = 0; i0 < m; i0 += MR, dst += k * MR) {
    const int mp = static_cast<int>(std::min<int64_t>(MR, m - i0));
    if (csa == 1) {
      // Row-major A: transpose mp rows x 16 columns at a time.
      const float* src = a + i0 * rsa;
      for (int64_t k0 = 0; k0 < k; k0 += 16) {
        const int kr = static_cast<int>(std::min<int64_t>(16, k - k0));
        transpose_block<MR>(src + k0, rsa, mp, kr, dst + k0 * MR, MR, out_mask);
      }
    } else {
      // Column-major A: each k step is mp consecutive values.
      const __mmask16 load_mask = Vec<float>::first(mp);
      const float* src = a + i0;
      for (int64_t kk = 0; kk < k; ++kk) {
        _mm512_mask_storeu_ps(dst + kk * MR, out_mask,
                              _mm512_maskz_loadu_ps(load_mask, src + kk * csa));
      }
    }
  }
}

template <int NV>
void pack_b_f32(int64_t k, int64_t n, const float* b, int64_t rsb, int64_t csb, float* dst) {
  constexpr int NR = NV * 16;
  if (csb == 1) {
    // Row-major B: each k step of a panel is NR consecutive values of one row of B.
    for (int64_t j0 = 0; j0 < n; j0 += NR, dst += k * NR) {
      const int np = static_cast<int>(std::min<int64_t>(NR, n - j0));
      const float* src = b + j0;
      if (np == NR) {
        for (int64_t kk = 0; kk < k; ++kk) {
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            _mm512_store_ps(dst + kk * NR + v * 16, _mm512_loadu_ps(src + kk * rsb + v * 16));
          }
        }
      } else {
        for (int64_t kk = 0; kk < k; ++kk) {
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            const __mmask16 mask = Vec<float>::first(std::clamp(np - v * 16, 0, 16));
            _mm512_store_ps(dst + kk * NR + v * 16, _mm512_maskz_loadu_ps(mask, src + kk * rsb + v * 16));
          }
        }
      }
    }
    return;
  }
  // B = W^T with W row-major (rsb == 1): column j of B is row j of W; transpose 16 x 16 blocks.
  for (int64_t j0 = 0; j0 < n; j0 += NR, dst += k * NR) {
    for (int v = 0; v < NV; ++v) {
      const int rows = static_cast<int>(std::clamp<int64_t>(n - j0 - v * 16, 0, 16));
      if (rows == 0) {  // padding half of the last panel
        for (int64_t kk = 0; kk < k; ++kk) _mm512_store_ps(dst + kk * NR + v * 16, _mm512_setzero_ps());
        continue;
      }
      const float* src = b + (j0 + v * 16) * csb;
      for (int64_t k0 = 0; k0 < k; k0 += 16) {
        const int kr = static_cast<int>(std::min<int64_t>(16, k - k0));
        transpose_block<16>(src + k0, csb, rows, kr, dst + k0 * NR + v * 16, NR, 0xFFFF);
      }
    }
  }
}

}  // namespace

const KernelSet<float>& sgemm_kernels() {
  static const KernelSet<float> set{"avx512",        kMR,          kNV * 16,
                                    kKC,             kMC,          kNCFloat,
                                    &pack_a_f32<kMR>, &pack_b_f32<kNV>, &macro_kernel<float, kMR, kNV>,
                                    /*reads_a_in_place=*/true};
  return set;
}

const KernelSet<double>& dgemm_kernels() {
  static const KernelSet<double> set{"avx512", kMR,     kNV * 8, kKC, kMC, kNCDouble,
                                     nullptr,  nullptr, &macro_kernel<double, kMR, kNV>};
  return set;
}

}  // namespace raddino::cpu::gemm_detail::avx512

#if defined(__clang__)
#pragma clang attribute pop
#endif

#endif  // defined(__x86_64__)
