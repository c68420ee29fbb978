// AVX2 building blocks shared by the AVX2 translation units (gemm_avx2.cc, attention_avx2.cc).
//
// This header is included INSIDE each user's ISA namespace (after its `#pragma GCC target`), so
// every translation unit compiles its own copy for its own target and no ODR clash is possible;
// it must not include anything itself: callers include <immintrin.h> first.

// In-register transpose: on return r[c] holds what was column c of the 8 x 8 block r[0..7].
inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], u[8];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4q + s], 128-bit lane l: column 4l + s of rows 4q .. 4q + 3.
#pragma GCC unroll 2
  for (int q = 0; q < 2; ++q) {
    u[4 * q + 0] = _mm256_shuffle_ps(t[4 * q + 0], t[4 * q + 2], 0x44);
    u[4 * q + 1] = _mm256_shuffle_ps(t[4 * q + 0], t[4 * q + 2], 0xEE);
    u[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
    u[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) {
    r[s] = _mm256_permute2f128_ps(u[s], u[4 + s], 0x20);
    r[4 + s] = _mm256_permute2f128_ps(u[s], u[4 + s], 0x31);
  }
}
