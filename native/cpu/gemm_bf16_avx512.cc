// AVX512-BF16 kernels of the bfloat16-weight GEMM (gemm_bf16.cc), selected at run time when the
// CPU has AVX-512 F/BW/DQ/VL and BF16. Compiled for that ISA with a target pragma placed after
// every #include, inside the namespace raddino::cpu::gemm_bf16_detail::avx512bf16, so no such code
// can be picked by the linker for a baseline caller.
//
// Micro-kernel: 12 x 32 tile of C = 12 rows x 2 zmm vectors, 24 zmm accumulators. Each step
// covers a pair of k: it loads 2 vectors of the packed B panel (16 columns x 2 k each),
// broadcasts 12 32-bit pairs of A from the packed A panel, and issues 24 vdpbf16ps (each 16
// lanes x 2 products): 24 instructions per 14 loads, no spills (checked in the generated code).
// Edge tiles use instantiations with fewer rows and/or vectors and masked loads/stores of C.
//
// Blocking (loop nest in gemm_bf16.cc): kc = 768 (384 pairs), so the ViT shapes with K = 768 need
// a single pass over C; nc = 384 (packed B block 768 x 384 bfloat16 = 576 KiB, in L2) and
// mc = 1032 rows (packed A block 1.5 MiB, in L3). An A panel (12 x 768, 18 KiB) stays in L1 while
// the B panels (768 x 32, 48 KiB) stream from L2. On Zen 4 this runs at 92-96% of the vdpbf16ps
// peak inside the macro-kernel; 14 x 32, 16 x 32, 8 x 48 and 6 x 64 tiles and kc = 1024 or 1536
// measured the same within the noise (about 2%).
//
// Packing (layouts in gemm_bf16_kernels.h):
//   row-major A (csa == 1): rows of 32 floats are rounded to 32 bfloat16 by vcvtne2ps2bf16
//     (nearest even), i.e. 16 pair words per row, then 16 x 16 blocks of words are transposed
//     in registers (unpack / unpack / shuffle_i32x4);
//   B = W^T (rsb == 1): a pair (W(j, 2q), W(j, 2q + 1)) is one 32-bit word of row j of W, so a
//     B panel is a 16 x 16 word transpose of 16 rows of W;
//   column-major A (rsa == 1) and row-major B (csb == 1): two k columns / rows are converted or
//     loaded and interleaved with one 16-bit permute.
// vcvtne2ps2bf16 flushes float32 subnormals to zero where f32_to_bf16 keeps them as bfloat16
// subnormals; vdpbf16ps treats bfloat16 subnormal inputs as zero (and flushes subnormal float32
// results), so the products are the same either way (checked on Zen 4).
#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "gemm_bf16_kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2")
// GCC 12's AVX-512 intrinsics pass a self-initialised "undefined" vector as the unused merge
// source, which -Wmaybe-uninitialized reports inside the transposes (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace raddino::cpu::gemm_bf16_detail::avx512bf16 {
namespace {

#include "simd_avx512.h"  // first16, first32, transpose16x16 (here of 32-bit words: bfloat16 pairs)

constexpr int kMR = 12;  // rows of the micro-tile
constexpr int kNV = 2;   // vectors per micro-tile row (nr = 16 * kNV)
constexpr int64_t kKC = 768;
constexpr int64_t kMC = 1032;
constexpr int64_t kNC = 384;

inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh&>(v); }
inline __m512i as_si(__m512bh v) { return reinterpret_cast<__m512i&>(v); }

// C(M x n) = [C +] Ap * Bp [+ bias] for one micro-tile: M <= MR rows and NC <= NV vectors of the
// packed panels (MR words of A and NV * 16 words of B per k pair) are computed, and
// n <= NC * 16 columns are stored.
template <int MR, int NV, int M, int NC>
void micro_tile(int64_t kp, const uint32_t* __restrict a, const uint32_t* __restrict b, float* c,
                int64_t ldc, int n, bool load_c, const float* bias) {
  __m512 acc[M][NC];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) acc[i][v] = _mm512_setzero_ps();
  }
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NC * 16 - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t q = 0; q < kp; ++q) {
    __m512bh bv[NC];
#pragma GCC unroll 4
    for (int v = 0; v < NC; ++v) bv[v] = as_bh(_mm512_load_si512(b + v * 16));
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const __m512bh ai = as_bh(_mm512_set1_epi32(static_cast<int>(a[i])));
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], bv[v], ai);
    }
    a += MR;
    b += NV * 16;
  }
  if (n == NC * 16) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) {
        float* p = c + i * ldc + v * 16;
        __m512 r = acc[i][v];
        if (load_c) r = _mm512_add_ps(r, _mm512_loadu_ps(p));
        if (bias != nullptr) r = _mm512_add_ps(r, _mm512_loadu_ps(bias + v * 16));
        _mm512_storeu_ps(p, r);
      }
    }
  } else {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NC; ++v) {
        const int left = n - v * 16;
        if (left <= 0) continue;
        const __mmask16 mask = first16(std::min(left, 16));
        float* p = c + i * ldc + v * 16;
        __m512 r = acc[i][v];
        if (load_c) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, p));
        if (bias != nullptr) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, bias + v * 16));
        _mm512_mask_storeu_ps(p, mask, r);
      }
    }
  }
}

using TileFn = void (*)(int64_t, const uint32_t*, const uint32_t*, float*, int64_t, int, bool, const float*);

// Edge tiles, indexed [vectors - 1][rows - 1].
template <int MR, int NV, size_t... I>
constexpr std::array<std::array<TileFn, MR>, NV> edge_tiles(std::index_sequence<I...>) {
  std::array<std::array<TileFn, MR>, NV> table{};
  ((table[I / MR][I % MR] = &micro_tile<MR, NV, static_cast<int>(I % MR) + 1, static_cast<int>(I / MR) + 1>), ...);
  return table;
}

// Runs the micro-kernel over every (A panel, B panel) pair of the packed blocks: A panels in the
// outer loop, so one A panel (L1-resident) is reused across the whole B block while B panels
// stream from L2.
template <int MR, int NV>
void macro_kernel(const MacroArgs& g) {
  constexpr int NR = NV * 16;
  static constexpr auto kEdgeTiles = edge_tiles<MR, NV>(std::make_index_sequence<MR * NV>{});
  for (int64_t i = 0; i < g.m; i += MR) {
    const int mi = static_cast<int>(std::min<int64_t>(MR, g.m - i));
    const uint32_t* ap = g.ap + i * g.kp;
    float* ci = g.c + i * g.ldc;
    for (int64_t j = 0; j < g.n; j += NR) {
      const int nj = static_cast<int>(std::min<int64_t>(NR, g.n - j));
      const float* bias = g.bias != nullptr ? g.bias + j : nullptr;
      if (mi == MR && nj == NR) {
        micro_tile<MR, NV, MR, NV>(g.kp, ap, g.bp + j * g.kp, ci + j, g.ldc, nj, g.accumulate, bias);
      } else {
        kEdgeTiles[(nj + 15) / 16 - 1][mi - 1](g.kp, ap, g.bp + j * g.kp, ci + j, g.ldc, nj, g.accumulate, bias);
      }
    }
  }
}

// Row-major A: 32 floats of `rows` <= 16 rows (stride ld; only `cols` <= 32 of them are read, the
// rest and the missing rows count as zero) rounded to 16 pair words per row, transposed, and the
// first ceil(cols / 2) columns stored as rows of dst (stride dst_ld words), lanes in out_mask.
template <int FullRows>
inline void pack_a_block(const float* src, int64_t ld, int rows, int cols, uint32_t* dst, int64_t dst_ld,
                         __mmask16 out_mask) {
  __m512i r[16];
  if (rows == FullRows && cols == 32) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      r[i] = i < FullRows ? as_si(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i * ld + 16), _mm512_loadu_ps(src + i * ld)))
                          : _mm512_setzero_si512();
    }
    transpose16x16(r);
#pragma GCC unroll 16
    for (int t = 0; t < 16; ++t) _mm512_mask_storeu_epi32(dst + t * dst_ld, out_mask, r[t]);
    return;
  }
  const __mmask16 lo = first16(std::min(cols, 16)), hi = first16(std::max(cols - 16, 0));
  for (int i = 0; i < 16; ++i) {
    r[i] = i < rows ? as_si(_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + i * ld + 16),
                                                _mm512_maskz_loadu_ps(lo, src + i * ld)))
                    : _mm512_setzero_si512();
  }
  transpose16x16(r);
  const int words = (cols + 1) / 2;
  for (int t = 0; t < words; ++t) _mm512_mask_storeu_epi32(dst + t * dst_ld, out_mask, r[t]);
}

// Index vector for vpermw / vpermt2w that interleaves 16-bit lanes into pair words: word j of the
// result is (lane base + j, lane base + j + offset).
inline __m512i pair_index(int base, int offset) {
  alignas(64) uint16_t idx[32];
  for (int j = 0; j < 16; ++j) {
    idx[2 * j] = static_cast<uint16_t>(base + j);
    idx[2 * j + 1] = static_cast<uint16_t>(base + j + offset);
  }
  return _mm512_load_si512(idx);
}

template <int MR>
void pack_a_bf16(int64_t m, int64_t k, const float* a, int64_t rsa, int64_t csa, uint32_t* dst) {
  static_assert(MR <= 16, "A panels are transposed as 16 x 16 blocks");
  const __mmask16 out_mask = first16(MR);
  const int64_t kp = (k + 1) / 2;
  if (csa == 1) {
    // Row-major A: round and transpose mp rows x 32 columns at a time.
    for (int64_t i0 = 0; i0 < m; i0 += MR, dst += kp * MR) {
      const int mp = static_cast<int>(std::min<int64_t>(MR, m - i0));
      const float* src = a + i0 * rsa;
      for (int64_t k0 = 0; k0 < k; k0 += 32) {
        const int kr = static_cast<int>(std::min<int64_t>(32, k - k0));
        pack_a_block<MR>(src + k0, rsa, mp, kr, dst + k0 / 2 * MR, MR, out_mask);
      }
    }
    return;
  }
  // Column-major A (rsa == 1): column kk holds mp consecutive values; vcvtne2ps2bf16 rounds two
  // columns at once (bf16 lanes 0..15 = column 2q, 16..31 = column 2q + 1) and vpermw
  // interleaves them into pair words.
  const __m512i idx = pair_index(0, 16);
  for (int64_t i0 = 0; i0 < m; i0 += MR, dst += kp * MR) {
    const int mp = static_cast<int>(std::min<int64_t>(MR, m - i0));
    const __mmask16 load_mask = first16(mp);
    const float* src = a + i0;
    for (int64_t q = 0; q < kp; ++q) {
      const __m512 c0 = _mm512_maskz_loadu_ps(load_mask, src + 2 * q * csa);
      const __m512 c1 = 2 * q + 1 < k ? _mm512_maskz_loadu_ps(load_mask, src + (2 * q + 1) * csa) : _mm512_setzero_ps();
      const __m512i w = _mm512_permutexvar_epi16(idx, as_si(_mm512_cvtne2ps_pbh(c1, c0)));
      _mm512_mask_storeu_epi32(dst + q * MR, out_mask, w);
    }
  }
}

// B = W^T (W row-major, rows of W are columns of B): visits each 16-column group of every panel,
// fn(row0, rows, d) with row0 the group's first row of W, rows <= 16 of them and d its words in
// the panel (row stride NR words); groups past n are zero-filled here (padding of the last panel).
template <int NV, typename F>
inline void for_each_wt_group(int64_t k, int64_t n, uint32_t* dst, F fn) {
  constexpr int NR = NV * 16;
  const int64_t kp = (k + 1) / 2;
  for (int64_t j0 = 0; j0 < n; j0 += NR, dst += kp * NR) {
    for (int v = 0; v < NV; ++v) {
      const int rows = static_cast<int>(std::clamp<int64_t>(n - j0 - v * 16, 0, 16));
      uint32_t* d = dst + v * 16;
      if (rows == 0) {
        for (int64_t q = 0; q < kp; ++q) _mm512_store_si512(d + q * NR, _mm512_setzero_si512());
      } else {
        fn(j0 + v * 16, rows, d);
      }
    }
  }
}

template <int NV>
void pack_b_bf16(int64_t k, int64_t n, const uint16_t* b, int64_t rsb, int64_t csb, uint32_t* dst) {
  constexpr int NR = NV * 16;
  const int64_t kp = (k + 1) / 2;
  if (rsb == 1) {
    // B = W^T with W row-major: column j of B is row j of W and a pair of k is one 32-bit word of
    // it; transpose 16 rows x 16 words at a time.
    for_each_wt_group<NV>(k, n, dst, [&](int64_t row0, int rows, uint32_t* d) {
      const uint16_t* src = b + row0 * csb;
      __m512i r[16];
      for (int64_t k0 = 0; k0 < k; k0 += 32) {
        const int kr = static_cast<int>(std::min<int64_t>(32, k - k0));
        if (rows == 16 && kr == 32) {
#pragma GCC unroll 16
          for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(src + i * csb + k0);
          transpose16x16(r);
#pragma GCC unroll 16
          for (int t = 0; t < 16; ++t) _mm512_store_si512(d + (k0 / 2 + t) * NR, r[t]);
        } else {
          const __mmask32 mask = first32(kr);
          for (int i = 0; i < 16; ++i) {
            r[i] = i < rows ? _mm512_maskz_loadu_epi16(mask, src + i * csb + k0) : _mm512_setzero_si512();
          }
          transpose16x16(r);
          const int words = (kr + 1) / 2;
          for (int t = 0; t < words; ++t) _mm512_store_si512(d + (k0 / 2 + t) * NR, r[t]);
        }
      }
    });
    return;
  }
  // Row-major B (csb == 1): a k pair of a panel interleaves 32 columns of rows 2q and 2q + 1.
  const __m512i idx_lo = pair_index(0, 32), idx_hi = pair_index(16, 32);
  for (int64_t j0 = 0; j0 < n; j0 += NR, dst += kp * NR) {
    const int np = static_cast<int>(std::min<int64_t>(NR, n - j0));
    for (int64_t q = 0; q < kp; ++q) {
      const uint16_t* r0 = b + 2 * q * rsb + j0;
      const bool odd = 2 * q + 1 < k;
#pragma GCC unroll 4
      for (int v = 0; v < NV; v += 2) {
        const int lanes = std::clamp(np - v * 16, 0, v + 1 < NV ? 32 : 16);
        const __mmask32 mask = first32(lanes);
        const __m512i x = _mm512_maskz_loadu_epi16(mask, r0 + v * 16);
        const __m512i y = odd ? _mm512_maskz_loadu_epi16(mask, r0 + rsb + v * 16) : _mm512_setzero_si512();
        _mm512_store_si512(dst + q * NR + v * 16, _mm512_permutex2var_epi16(x, idx_lo, y));
        if (v + 1 < NV) _mm512_store_si512(dst + q * NR + (v + 1) * 16, _mm512_permutex2var_epi16(x, idx_hi, y));
      }
    }
  }
}

// B in float32 (the bfloat16-compute GEMM, sgemm_bf16), rounded as it is packed.
//   B = W^T (rsb == 1): row j of W holds column j of B, so 16 rows x 32 floats are rounded to
//     16 x 16 pair words and transposed, exactly as row-major A (pack_a_block);
//   row-major B (csb == 1): rows 2q and 2q + 1 are rounded together by vcvtne2ps2bf16 (lanes
//     0..15 row 2q, 16..31 row 2q + 1) and vpermw interleaves them into 16 pair words.
template <int NV>
void pack_b_f32_bf16(int64_t k, int64_t n, const float* b, int64_t rsb, int64_t csb, uint32_t* dst) {
  constexpr int NR = NV * 16;
  const int64_t kp = (k + 1) / 2;
  if (rsb == 1) {
    for_each_wt_group<NV>(k, n, dst, [&](int64_t row0, int rows, uint32_t* d) {
      for (int64_t k0 = 0; k0 < k; k0 += 32) {
        const int kr = static_cast<int>(std::min<int64_t>(32, k - k0));
        pack_a_block<16>(b + row0 * csb + k0, csb, rows, kr, d + k0 / 2 * NR, NR, first16(16));
      }
    });
    return;
  }
  const __m512i idx = pair_index(0, 16);
  for (int64_t j0 = 0; j0 < n; j0 += NR, dst += kp * NR) {
    const int np = static_cast<int>(std::min<int64_t>(NR, n - j0));
    for (int64_t q = 0; q < kp; ++q) {
      const float* r0 = b + 2 * q * rsb + j0;
      const bool odd = 2 * q + 1 < k;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const __mmask16 mask = first16(std::clamp(np - v * 16, 0, 16));
        const __m512 x = _mm512_maskz_loadu_ps(mask, r0 + v * 16);
        const __m512 y = odd ? _mm512_maskz_loadu_ps(mask, r0 + rsb + v * 16) : _mm512_setzero_ps();
        _mm512_store_si512(dst + q * NR + v * 16, _mm512_permutexvar_epi16(idx, as_si(_mm512_cvtne2ps_pbh(y, x))));
      }
    }
  }
}

}  // namespace

const KernelSet& kernels() {
  static const KernelSet set{"avx512bf16", kMR, kNV * 16, kKC, kMC, kNC,
                             &pack_a_bf16<kMR>, &pack_b_bf16<kNV>, &pack_b_f32_bf16<kNV>, &macro_kernel<kMR, kNV>};
  return set;
}

}  // namespace raddino::cpu::gemm_bf16_detail::avx512bf16

#if defined(__clang__)
#pragma clang attribute pop
#endif

#endif  // defined(__x86_64__)
