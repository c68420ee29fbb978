// AVX-512 building blocks shared by the AVX-512 translation units (gemm_avx512.cc,
// attention_avx512.cc, gemm_bf16_avx512.cc).
//
// This header is included INSIDE each user's ISA namespace (after its `#pragma GCC target`), so
// every translation unit compiles its own copy for its own target and no ODR clash is possible;
// it must not include anything itself: callers include <immintrin.h> first.

// Mask of lanes [0, n) of a 16-lane vector, 0 <= n <= 16.
inline __mmask16 first16(int n) { return static_cast<__mmask16>((1u << n) - 1); }
// Mask of lanes [0, n) of a 32-lane vector (16-bit lanes), 0 <= n <= 32.
inline __mmask32 first32(int n) { return n >= 32 ? ~__mmask32(0) : static_cast<__mmask32>((1u << n) - 1); }

// ---- 16 x 16 transpose of 32-bit lanes ---------------------------------------------------------
// The permutations below exist for float vectors (__m512) and integer vectors (__m512i, e.g.
// words holding pairs of bfloat16); each overload keeps to its own instruction domain, so the
// one transpose serves both.

// Per 128-bit lane: lanes (a0, b0, a1, b1) / (a2, b2, a3, b3).
inline __m512 unpacklo32(__m512 a, __m512 b) { return _mm512_unpacklo_ps(a, b); }
inline __m512i unpacklo32(__m512i a, __m512i b) { return _mm512_unpacklo_epi32(a, b); }
inline __m512 unpackhi32(__m512 a, __m512 b) { return _mm512_unpackhi_ps(a, b); }
inline __m512i unpackhi32(__m512i a, __m512i b) { return _mm512_unpackhi_epi32(a, b); }
// Per 128-bit lane: 32-bit lanes (a0, a1, b0, b1) / (a2, a3, b2, b3).
inline __m512 unpacklo64(__m512 a, __m512 b) { return _mm512_shuffle_ps(a, b, 0x44); }
inline __m512i unpacklo64(__m512i a, __m512i b) { return _mm512_unpacklo_epi64(a, b); }
inline __m512 unpackhi64(__m512 a, __m512 b) { return _mm512_shuffle_ps(a, b, 0xEE); }
inline __m512i unpackhi64(__m512i a, __m512i b) { return _mm512_unpackhi_epi64(a, b); }
// 128-bit lanes of a then b picked by Imm (vshuff32x4 / vshufi32x4).
template <int Imm>
inline __m512 shuffle128(__m512 a, __m512 b) { return _mm512_shuffle_f32x4(a, b, Imm); }
template <int Imm>
inline __m512i shuffle128(__m512i a, __m512i b) { return _mm512_shuffle_i32x4(a, b, Imm); }

// In-register transpose: on return r[c] holds what was column c of the 16 x 16 block r[0..15].
// R is __m512 or __m512i.
template <typename R>
inline void transpose16x16(R r[16]) {
  R t[16], u[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = unpacklo32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = unpackhi32(r[2 * i], r[2 * i + 1]);
  }
  // u[4q + s], 128-bit lane l: column 4l + s of rows 4q .. 4q + 3.
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    u[4 * q + 0] = unpacklo64(t[4 * q + 0], t[4 * q + 2]);
    u[4 * q + 1] = unpackhi64(t[4 * q + 0], t[4 * q + 2]);
    u[4 * q + 2] = unpacklo64(t[4 * q + 1], t[4 * q + 3]);
    u[4 * q + 3] = unpackhi64(t[4 * q + 1], t[4 * q + 3]);
  }
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) {
    const R v0 = shuffle128<0x88>(u[s], u[4 + s]);
    const R v1 = shuffle128<0xDD>(u[s], u[4 + s]);
    const R w0 = shuffle128<0x88>(u[8 + s], u[12 + s]);
    const R w1 = shuffle128<0xDD>(u[8 + s], u[12 + s]);
    r[s] = shuffle128<0x88>(v0, w0);
    r[4 + s] = shuffle128<0x88>(v1, w1);
    r[8 + s] = shuffle128<0xDD>(v0, w0);
    r[12 + s] = shuffle128<0xDD>(v1, w1);
  }
}
