// Branch-free float32 math that the compiler can vectorise: each function is a few selects,
// integer bit operations and a polynomial, so a loop calling it becomes SIMD code in every ISA
// translation unit that includes this file (see elementwise_impl.h). Coefficients come from
// scripts/fit_vmath.py, which also prints their float32 error (<= 2e-7 relative except erfc
// far in its tail).
//
// This header is included INSIDE an ISA namespace (after a `#pragma GCC target`), so it must
// not include anything itself: callers include <cstdint> and core/dtype.h first.

namespace vm {

// Bit casts come from core/dtype.h (raddino::f32_bits / bits_f32).
inline float pow2i(int32_t n) { return bits_f32(static_cast<uint32_t>(n + 127) << 23); }  // 2^n, n in [-126, 127]

constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.428606765330187e-06f, kLog2e = 1.4426950408889634f;

// e^x with 2^n scaling split in two factors so that results down to the subnormal range are exact.
// e^xc for xc in [-104, 88.7228] (no range checks): the core of exp below.
inline float exp_core(float xc) {
  float n = __builtin_rintf(xc * kLog2e);
  float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  float p = 0.0013893831055611372f;
  p = p * r + 0.00836312584578991f;
  p = p * r + 0.041666943579912186f;
  p = p * r + 0.16666577756404877f;
  p = p * r + 0.5f;
  p = 1.0f + r + (r * r) * p;
  int32_t ni = static_cast<int32_t>(n), h = ni >> 1;
  return p * pow2i(h) * pow2i(ni - h);
}

inline float exp(float x) {
  float xc = x < -104.0f ? -104.0f : (x > 88.7228f ? 88.7228f : x);
  float y = exp_core(xc);
  y = x > 88.7228f ? __builtin_inff() : y;
  return x != x ? x : y;
}

// exp(x) for x <= 0 (equal to exp() there, NaN propagating) without its overflow checks: the
// Gaussian factors of erfc and GELU'.
inline float exp_nonpos(float x) { return exp_core(x < -104.0f ? -104.0f : x); }

// Natural log: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), log(1 + f) by polynomial.
inline float log(float x) {
  bool sub = x < 1.17549435e-38f;  // subnormals are scaled into the normal range first
  float xs = sub ? x * 8388608.0f : x;
  uint32_t bits = f32_bits(xs);
  int32_t e = static_cast<int32_t>((bits >> 23) & 0xff) - 127;
  float m = bits_f32((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  bool big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  float ef = static_cast<float>(e) - (sub ? 23.0f : 0.0f);
  float f = m - 1.0f;
  float p = 0.08906170725822449f;
  p = p * f - 0.13972172141075134f;
  p = p * f + 0.14720448851585388f;
  p = p * f - 0.1660931408405304f;
  p = p * f + 0.1998373419046402f;
  p = p * f - 0.2500055730342865f;
  p = p * f + 0.33333417773246765f;
  float f2 = f * f;
  float y = (f - 0.5f * f2 + f2 * f * p) + ef * kLn2Hi + ef * kLn2Lo;
  y = x == __builtin_inff() ? x : y;
  y = x == 0.0f ? -__builtin_inff() : y;
  return (x < 0.0f || x != x) ? __builtin_nanf("") : y;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp(-x)); }

inline float tanh(float x) {
  float a = x < 0 ? -x : x;
  float a2 = a * a;
  float p = -0.006088718306273222f;
  p = p * a2 + 0.020990874618291855f;
  p = p * a2 - 0.05384935066103935f;
  p = p * a2 + 0.13332757353782654f;
  p = p * a2 - 0.333333283662796f;
  float small = a + a2 * a * p;
  float big = 1.0f - 2.0f / (exp(2.0f * (a > 9.0f ? 9.0f : a)) + 1.0f);
  float y = a < 0.625f ? small : big;
  y = a > 9.0f ? 1.0f : y;
  y = x < 0 ? -y : y;
  return x != x ? x : y;
}

// erfc(a) for a >= 0.8 as exp(-a^2)/a * R(1/a), with e = exp(-a^2) supplied by the caller (valid
// for 0.8 <= a <= 10; garbage but finite below 0.8, where callers select another branch).
inline float erfc_tail_e(float a, float e) {
  float ac = a < 0.8f ? 0.8f : (a > 10.0f ? 10.0f : a);
  float u = 1.0f / ac;
  float r = 0.007854335010051727f;
  r = r * u - 0.08412649482488632f;
  r = r * u + 0.38652393221855164f;
  r = r * u - 1.0099221467971802f;
  r = r * u + 1.653965711593628f;
  r = r * u - 1.7232450246810913f;
  r = r * u + 1.0296186208724976f;
  r = r * u - 0.13117283582687378f;
  r = r * u - 0.26489803194999695f;
  r = r * u - 0.0012414854718372226f;
  r = r * u + 0.5642270445823669f;
  return a > 10.0f ? 0.0f : e * u * r;
}

// erfc(a) for a >= 0.8; below 0.8 it returns garbage (callers select).
inline float erfc_tail(float a) {
  float ac = a < 0.8f ? 0.8f : (a > 10.0f ? 10.0f : a);
  return erfc_tail_e(a, exp_nonpos(-ac * ac));
}

// erf(x) = x P(x^2) near 0, 1 - erfc(|x|) beyond 0.8.
inline float erf_small(float x) {
  float t = x * x;
  float p = 9.149706602329388e-05f;
  p = p * t - 0.0008303430513478816f;
  p = p * t + 0.005213459953665733f;
  p = p * t - 0.0268638227134943f;
  p = p * t + 0.11283766478300095f;
  p = p * t - 0.37612637877464294f;
  p = p * t + 1.128379225730896f;
  return x * p;
}

inline float erf(float x) {
  float a = x < 0 ? -x : x;
  float big = 1.0f - erfc_tail(a);
  float y = a < 0.8f ? erf_small(a) : big;
  y = x < 0 ? -y : y;
  return x != x ? x : y;
}

// Q(a) e^(a^2/2) for 0 <= a <= 14, with Q(a) = P(Z > a) = erfc(a / sqrt 2) / 2 the Gaussian upper
// tail (Mills' ratio / sqrt(2 pi)): a rational function of degree 4/5 (float32 error ~3e-7
// relative), so that Q(a) = exp(-a^2/2) * this needs one exp and no branches.
inline float gauss_tail_ratio(float a) {
  float p = 0.004160243086516857f;
  p = p * a + 0.04091430455446243f;
  p = p * a + 0.1840437352657318f;
  p = p * a + 0.43934452533721924f;
  p = p * a + 0.5f;
  float q = 0.010428066365420818f;
  q = q * a + 0.10256320983171463f;
  q = q * a + 0.47161155939102173f;
  q = q * a + 1.2057946920394897f;
  q = q * a + 1.6765741109848022f;
  q = q * a + 1.0f;
  return p / q;
}

// GELU, exact form: x Phi(x) = x/2 (1 + erf(x / sqrt 2)), with Phi(x) = Q(-x) below 0 and 1 - Q(x)
// above (no cancellation in the negative tail). Beyond |x| = 14 the result is x or 0 in float32.
inline float gelu(float x) {
  float a = x < 0 ? -x : x;
  float q = exp_nonpos(-0.5f * a * a) * gauss_tail_ratio(a > 14.0f ? 14.0f : a);
  float y = x * (x < 0 ? q : 1.0f - q);
  return x != x ? x : y;
}

// GELU'(x) = Phi(x) + x phi(x) (exact form); Phi and phi share one exp(-x^2/2).
inline float gelu_grad(float x) {
  float a = x < 0 ? -x : x;
  float e = exp_nonpos(-0.5f * a * a);
  float q = e * gauss_tail_ratio(a > 14.0f ? 14.0f : a);
  float y = (x < 0 ? q : 1.0f - q) + 0.3989422804014327f * x * e;
  return x != x ? x : y;
}

// GELU, tanh form: x/2 (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
inline float gelu_tanh(float x) {
  float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x * sigmoid(2.0f * u);
}

inline float silu(float x) { return x * sigmoid(x); }

}  // namespace vm
