// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
// as 1, 2, 3", SC'11). Element i of a call draws from counter (offset + i) under key seed, so a
// result depends only on (seed, offset, i): the same on every backend and thread count.
// The transforms below are written once and shared by every backend.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define RADDINO_HD __host__ __device__ inline
#else
#define RADDINO_HD inline
#endif

namespace raddino::rng {

struct U32x4 {
  uint32_t v[4];
};

RADDINO_HD void mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

// Philox4x32 with 10 rounds on the 128-bit counter (counter, hi) and the 64-bit key seed. `hi`
// (default 0) indexes extra draws of one element, e.g. the retries of rejection sampling.
RADDINO_HD U32x4 philox(uint64_t seed, uint64_t counter, uint32_t hi = 0) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = hi, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, c0, &hi0, &lo0);
    mulhilo(kM1, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += kW0;
    k1 += kW1;
  }
  return U32x4{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 random bits (float32 resolution).
RADDINO_HD float uniform_f32(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }
// Uniform in [0, 1) with 53 random bits.
RADDINO_HD double uniform_f64(uint32_t x0, uint32_t x1) {
  uint64_t bits = (static_cast<uint64_t>(x0) << 21) ^ (static_cast<uint64_t>(x1) >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}
// Uniform in (0, 1], safe for log().
RADDINO_HD double uniform_open0(uint32_t x0, uint32_t x1) { return 1.0 - uniform_f64(x0, x1); }

// Standard normal by Box-Muller on the element's first three words (computed in double).
RADDINO_HD double normal(const U32x4& r) {
  double u1 = uniform_open0(r.v[0], r.v[1]);
  double u2 = static_cast<double>(r.v[2]) * (1.0 / 4294967296.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// 64 random bits.
RADDINO_HD uint64_t bits64(const U32x4& r) { return (static_cast<uint64_t>(r.v[1]) << 32) | r.v[0]; }

// Inverse error function in double: a rational first guess refined by Newton steps on erf.
RADDINO_HD double erfinv(double y) {
  if (!(y > -1.0 && y < 1.0)) return y == 1.0 ? INFINITY : (y == -1.0 ? -INFINITY : NAN);
  // Initial guess from the closed-form approximation erfinv(y) ~ sign(y) sqrt(sqrt(t^2 - l/a) - t)
  // with a = 0.147, l = ln(1 - y^2), t = 2/(pi a) + l/2 (Winitzki); good to ~2e-3.
  double l = std::log(1.0 - y * y);
  double t = 2.0 / (3.141592653589793 * 0.147) + 0.5 * l;
  double x = std::sqrt(std::sqrt(t * t - l / 0.147) - t);
  if (y < 0) x = -x;
  for (int i = 0; i < 3; ++i) {  // Newton on erf(x) - y; erf'(x) = 2/sqrt(pi) e^{-x^2}
    double err = std::erf(x) - y;
    x -= err / (1.1283791670955126 * std::exp(-x * x));
  }
  return x;
}

// Normal(mean, std) truncated to [a, b] for element `counter`. Where the interval holds at least
// a quarter of the mass, by rejection: up to kTries Box-Muller pairs drawn at (counter, try),
// the first value inside wins; otherwise (or if every try missed, p < 1e-9 at +-2 sigma) by
// inverse CDF. Deterministic per element, so counter-based like every other draw.
RADDINO_HD double trunc_normal(uint64_t seed, uint64_t counter, double mean, double std, double a, double b) {
  constexpr int kTries = 8;
  auto cdf = [](double z) { return 0.5 * (1.0 + std::erf(z / 1.4142135623730951)); };
  const double za = (a - mean) / std, zb = (b - mean) / std;
  const double lo = cdf(za), hi = cdf(zb);
  if (hi - lo >= 0.25) {
    for (int t = 0; t < kTries; ++t) {
      U32x4 r = philox(seed, counter, static_cast<uint32_t>(t + 1));
      double rad = std::sqrt(-2.0 * std::log(uniform_open0(r.v[0], r.v[1])));
      double ang = 6.283185307179586 * (static_cast<double>(r.v[2]) * (1.0 / 4294967296.0));
      double z0 = rad * std::cos(ang), z1 = rad * std::sin(ang);
      if (z0 >= za && z0 <= zb) return mean + std * z0;
      if (z1 >= za && z1 <= zb) return mean + std * z1;
    }
  }
  U32x4 r = philox(seed, counter);
  double u = uniform_f64(r.v[0], r.v[1]);
  double v = (2.0 * lo - 1.0) + u * (2.0 * (hi - lo));
  double x = erfinv(v) * 1.4142135623730951 * std + mean;
  return x < a ? a : (x > b ? b : x);
}

}  // namespace raddino::rng
