// Fused attention, float32, compiled for AVX-512 (F/BW/DQ/VL) and selected at run time by
// cpu/attention.cc. The algorithm lives in cpu/attention_impl.h; this file supplies its vector
// traits: 16-lane zmm vectors, score micro-tiles of 12 query rows x 32 keys (24 accumulators),
// row-product tiles of 12 x 1-2, 8 x 3 or 6 x 4 vectors (at most 24 accumulators), exp2 with
// vscalefps.
//
// Measured on the 2-core Zen 4 development machine (FMA peak 114 GFLOP/s per core), D = 64,
// q/k/v views of a fused qkv buffer, GFLOP/s with the FlashAttention counting (forward 4NMD,
// backward 8NMD; bench/native/attention_harness.cc): N = 1370, 12 heads: forward 98 / 195
// GFLOP/s on 1 / 2 threads (86% of peak), backward 78 / 157 (68%; it issues 10NMD, so ~85% of
// the FMA slots); N = 257, 96 heads: forward 87 / 162, backward 76 / 151.
#include "cpu/attention.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <utility>

#include "core/backend.h"
#include "cpu/scratch_buffer.h"
#include "cpu/threadpool.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")
// GCC 12's AVX-512 intrinsics pass a self-initialised "undefined" vector as the unused merge
// source, which -W(maybe-)uninitialized reports (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace raddino::cpu::attention_avx512 {
namespace {

#include "cpu/simd_avx512.h"  // first16, transpose16x16

struct V {
  using R = __m512;
  static constexpr int L = 16;
  static constexpr int kMR = 12;
  static constexpr int kNVmax = 4;
  static constexpr int rmax(int nv) { return nv <= 2 ? 12 : (nv == 3 ? 8 : 6); }

  static R zero() { return _mm512_setzero_ps(); }
  static R set1(float x) { return _mm512_set1_ps(x); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, R x) { _mm512_storeu_ps(p, x); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(first16(n), p); }
  static void store_n(float* p, R x, int n) { _mm512_mask_storeu_ps(p, first16(n), x); }
  static R fill_tail(R x, int n, float fill) { return _mm512_mask_mov_ps(set1(fill), first16(n), x); }
  static float first(R x) { return _mm512_cvtss_f32(x); }
  static float hsum(R x) { return _mm512_reduce_add_ps(x); }
  static R allmax(R x) {
    x = max(x, _mm512_shuffle_f32x4(x, x, _MM_SHUFFLE(1, 0, 3, 2)));
    x = max(x, _mm512_shuffle_f32x4(x, x, _MM_SHUFFLE(2, 3, 0, 1)));
    x = max(x, _mm512_permute_ps(x, _MM_SHUFFLE(1, 0, 3, 2)));
    return max(x, _mm512_permute_ps(x, _MM_SHUFFLE(2, 3, 0, 1)));
  }

  // 2^x = 2^n 2^r, n = round(x), r in [-1/2, 1/2], 2^r by a degree-5 minimax polynomial
  // (relative error 2.2e-7 in float32), 2^n applied by vscalefps. x is clamped to >= -126.
  static R exp2(R x) {
    x = _mm512_max_ps(set1(-126.0f), x);  // NaN stays NaN (max returns its second operand)
    const R n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R r = sub(x, n);
    R p = set1(0.0013202981790527701f);
    p = fma(p, r, set1(0.009674952365458012f));
    p = fma(p, r, set1(0.055510472506284714f));
    p = fma(p, r, set1(0.24022166430950165f));
    p = fma(p, r, set1(0.6931465864181519f));
    p = fma(p, r, set1(1.0f));
    return _mm512_scalef_ps(p, n);
  }

  // In-register transpose: on return t[c] holds what was column c of the rows t[0..15].
  static void transpose(R t[16]) { transpose16x16(t); }
};

#include "cpu/attention_impl.h"

}  // namespace

bool forward_f32(const OpCall& c) { return attention_avx512::forward_f32_impl(c); }
bool backward_f32(const OpCall& c) { return attention_avx512::backward_f32_impl(c); }

}  // namespace raddino::cpu::attention_avx512

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else  // not x86-64 GCC/Clang: never selected

namespace raddino::cpu::attention_avx512 {
bool forward_f32(const OpCall&) { return false; }
bool backward_f32(const OpCall&) { return false; }
}  // namespace raddino::cpu::attention_avx512

#endif
