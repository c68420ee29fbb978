// Fused attention, float32, compiled for AVX2 + FMA and selected at run time by cpu/attention.cc
// on CPUs without AVX-512. The algorithm lives in cpu/attention_impl.h; this file supplies its
// vector traits: 8-lane ymm vectors, score micro-tiles of 6 query rows x 16 keys and row-product
// tiles of 6 rows x 1-2 vectors (12 accumulators of the 16 ymm registers).
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
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

namespace raddino::cpu::attention_avx2 {
namespace {

#include "cpu/simd_avx2.h"  // transpose8x8

struct V {
  using R = __m256;
  static constexpr int L = 8;
  static constexpr int kMR = 6;
  static constexpr int kNVmax = 2;
  static constexpr int rmax(int) { return 6; }

  static R zero() { return _mm256_setzero_ps(); }
  static R set1(float x) { return _mm256_set1_ps(x); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R x) { _mm256_storeu_ps(p, x); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static __m256i lanes_below(int n) {  // all-ones in lanes [0, n)
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static R load_n(const float* p, int n) { return _mm256_maskload_ps(p, lanes_below(n)); }
  static void store_n(float* p, R x, int n) { _mm256_maskstore_ps(p, lanes_below(n), x); }
  static R fill_tail(R x, int n, float fill) {
    return _mm256_blendv_ps(set1(fill), x, _mm256_castsi256_ps(lanes_below(n)));
  }
  static float first(R x) { return _mm256_cvtss_f32(x); }
  static float hsum(R x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static R allmax(R x) {
    x = max(x, _mm256_permute2f128_ps(x, x, 1));
    x = max(x, _mm256_permute_ps(x, _MM_SHUFFLE(1, 0, 3, 2)));
    return max(x, _mm256_permute_ps(x, _MM_SHUFFLE(2, 3, 0, 1)));
  }

  // 2^x = 2^n 2^r, n = round(x), r in [-1/2, 1/2], 2^r by a degree-5 minimax polynomial
  // (relative error 2.2e-7 in float32), 2^n built in the exponent field. x is clamped to
  // [-126, 127]; NaN stays NaN (min/max return their second operand on NaN).
  static R exp2(R x) {
    x = _mm256_max_ps(set1(-126.0f), _mm256_min_ps(set1(127.0f), x));
    const R n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R r = sub(x, n);
    R p = set1(0.0013202981790527701f);
    p = fma(p, r, set1(0.009674952365458012f));
    p = fma(p, r, set1(0.055510472506284714f));
    p = fma(p, r, set1(0.24022166430950165f));
    p = fma(p, r, set1(0.6931465864181519f));
    p = fma(p, r, set1(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return mul(p, _mm256_castsi256_ps(e));
  }

  // In-register transpose: on return t[c] holds what was column c of the rows t[0..7].
  static void transpose(R t[8]) { transpose8x8(t); }
};

#include "cpu/attention_impl.h"

}  // namespace

bool forward_f32(const OpCall& c) { return attention_avx2::forward_f32_impl(c); }
bool backward_f32(const OpCall& c) { return attention_avx2::backward_f32_impl(c); }

}  // namespace raddino::cpu::attention_avx2

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else  // not x86-64 GCC/Clang: never selected

namespace raddino::cpu::attention_avx2 {
bool forward_f32(const OpCall&) { return false; }
bool backward_f32(const OpCall&) { return false; }
}  // namespace raddino::cpu::attention_avx2

#endif
