// The float32 element-wise kernels, compiled once per ISA: each including translation unit sets
// `#pragma GCC target(...)` (after all its #includes) and defines RADDINO_ISA, the namespace
// that keeps the copies apart. Functors are branch-free so the loops vectorise.
//
// Included after: <cmath>, <cstdint>, <cstring>, core/backend.h, cpu/loop.h, cpu/stream.h.

namespace raddino::cpu::RADDINO_ISA {

#include "cpu/elementwise_loops.h"
#include "cpu/vmath.h"

inline float nan_max(float a, float b) { return (a > b || a != a) ? a : b; }
inline float nan_min(float a, float b) { return (a < b || a != a) ? a : b; }

// Returns false when the op has no float32 fast path here.
bool unary_f32(const OpCall& c) {
  using F = float;
  switch (c.op) {
    case Op::NEG: map1<F, F>(c, [](F x) { return -x; }); return true;
    case Op::ABS: map1<F, F>(c, [](F x) { return __builtin_fabsf(x); }); return true;
    case Op::SQUARE: map1<F, F>(c, [](F x) { return x * x; }); return true;
    case Op::RECIPROCAL: map1<F, F>(c, [](F x) { return 1.0f / x; }); return true;
    case Op::SQRT: map1<F, F>(c, [](F x) { return __builtin_sqrtf(x); }); return true;
    case Op::RSQRT: map1<F, F>(c, [](F x) { return 1.0f / __builtin_sqrtf(x); }); return true;
    case Op::EXP: map1<F, F>(c, [](F x) { return vm::exp(x); }); return true;
    case Op::LOG: map1<F, F>(c, [](F x) { return vm::log(x); }); return true;
    case Op::TANH: map1<F, F>(c, [](F x) { return vm::tanh(x); }); return true;
    case Op::ERF: map1<F, F>(c, [](F x) { return vm::erf(x); }); return true;
    case Op::SIGMOID: map1<F, F>(c, [](F x) { return vm::sigmoid(x); }); return true;
    case Op::GELU: map1<F, F>(c, [](F x) { return vm::gelu(x); }); return true;
    case Op::GELU_TANH: map1<F, F>(c, [](F x) { return vm::gelu_tanh(x); }); return true;
    case Op::SILU: map1<F, F>(c, [](F x) { return vm::silu(x); }); return true;
    case Op::RELU: map1<F, F>(c, [](F x) { return x > 0.0f ? x : (x != x ? x : 0.0f); }); return true;
    case Op::CLAMP: {
      const F lo = c.p.has_a ? static_cast<F>(c.p.a) : -__builtin_inff();
      const F hi = c.p.has_b ? static_cast<F>(c.p.b) : __builtin_inff();
      map1<F, F>(c, [lo, hi](F x) { return x != x ? x : (x < lo ? lo : (x > hi ? hi : x)); });
      return true;
    }
    default:
      return false;
  }
}

bool binary_f32(const OpCall& c) {
  using F = float;
  switch (c.op) {
    case Op::ADD: map2<F, F, F>(c, [](F a, F b) { return a + b; }); return true;
    case Op::SUB: map2<F, F, F>(c, [](F a, F b) { return a - b; }); return true;
    case Op::MUL: map2<F, F, F>(c, [](F a, F b) { return a * b; }); return true;
    case Op::DIV: map2<F, F, F>(c, [](F a, F b) { return a / b; }); return true;
    case Op::MAXIMUM: map2<F, F, F>(c, [](F a, F b) { return nan_max(a, b); }); return true;
    case Op::MINIMUM: map2<F, F, F>(c, [](F a, F b) { return nan_min(a, b); }); return true;
    default:
      return false;
  }
}

// dx = dy * GELU'(x): Phi(x) + x phi(x) (erf form) or the derivative of x sigmoid(2u) (tanh form).
bool gelu_backward_f32(const OpCall& c) {
  using F = float;
  if (c.op == Op::GELU_BACK) {
    map2<F, F, F>(c, [](F dy, F x) { return dy * vm::gelu_grad(x); });
    return true;
  }
  if (c.op == Op::GELU_TANH_BACK) {
    map2<F, F, F>(c, [](F dy, F x) {
      F u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      F s = vm::sigmoid(2.0f * u);  // (1 + tanh u) / 2
      F du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x * x);
      return dy * (s + 2.0f * x * s * (1.0f - s) * du);
    });
    return true;
  }
  return false;
}

// LayerNorm of one contiguous row of C floats; writes y and returns mean / rstd.
void layer_norm_row_f32(const float* x, float* y, int64_t C, const float* w, const float* b, float eps, float* mean_out,
                        float* rstd_out) {
  constexpr int L = 16;
  float lane[L] = {};
  int64_t i = 0;
  for (; i + L <= C; i += L)
    for (int j = 0; j < L; ++j) lane[j] += x[i + j];
  float sum = 0;
  for (int j = 0; j < L; ++j) sum += lane[j];
  for (; i < C; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(C);
  for (int j = 0; j < L; ++j) lane[j] = 0;
  for (i = 0; i + L <= C; i += L)
    for (int j = 0; j < L; ++j) {
      float d = x[i + j] - mean;
      lane[j] += d * d;
    }
  float sq = 0;
  for (int j = 0; j < L; ++j) sq += lane[j];
  for (; i < C; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / __builtin_sqrtf(sq / static_cast<float>(C) + eps);
  if (w && b) {
    for (int64_t k = 0; k < C; ++k) y[k] = (x[k] - mean) * rstd * w[k] + b[k];
  } else if (w) {
    for (int64_t k = 0; k < C; ++k) y[k] = (x[k] - mean) * rstd * w[k];
  } else if (b) {
    for (int64_t k = 0; k < C; ++k) y[k] = (x[k] - mean) * rstd + b[k];
  } else {
    for (int64_t k = 0; k < C; ++k) y[k] = (x[k] - mean) * rstd;
  }
  *mean_out = mean;
  *rstd_out = rstd;
}

// LayerNorm backward for one row: dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy w; adds
// dy xhat into dw and dy into db when given.
void layer_norm_back_row_f32(const float* dy, const float* x, float mean, float rstd, const float* w, float* dx,
                             float* dw, float* db, int64_t C) {
  constexpr int L = 16;
  float la[L] = {}, lb[L] = {};
  int64_t i = 0;
  for (; i + L <= C; i += L)
    for (int j = 0; j < L; ++j) {
      float g = w ? dy[i + j] * w[i + j] : dy[i + j];
      float xh = (x[i + j] - mean) * rstd;
      la[j] += g;
      lb[j] += g * xh;
    }
  float sg = 0, sgx = 0;
  for (int j = 0; j < L; ++j) {
    sg += la[j];
    sgx += lb[j];
  }
  for (; i < C; ++i) {
    float g = w ? dy[i] * w[i] : dy[i];
    sg += g;
    sgx += g * (x[i] - mean) * rstd;
  }
  const float mg = sg / static_cast<float>(C), mgx = sgx / static_cast<float>(C);
  for (int64_t k = 0; k < C; ++k) {
    float xh = (x[k] - mean) * rstd;
    float g = w ? dy[k] * w[k] : dy[k];
    dx[k] = rstd * (g - mg - xh * mgx);
  }
  if (dw)
    for (int64_t k = 0; k < C; ++k) dw[k] += dy[k] * (x[k] - mean) * rstd;
  if (db)
    for (int64_t k = 0; k < C; ++k) db[k] += dy[k];
}

// y = softmax(x) (or log_softmax) over a contiguous row of n > 0 floats; y may alias x.
void softmax_row_f32(const float* x, float* y, int64_t n, bool log) {
  constexpr int L = 16;  // independent lanes, so the reductions vectorise without reassociation
  float lane[L];
  for (int j = 0; j < L; ++j) lane[j] = -__builtin_inff();
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; ++j) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
  float m = -__builtin_inff();
  for (int j = 0; j < L; ++j) m = lane[j] > m ? lane[j] : m;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int j = 0; j < L; ++j) lane[j] = 0.0f;
  i = 0;
  if (log) {
    for (; i + L <= n; i += L)
      for (int j = 0; j < L; ++j) lane[j] += vm::exp(x[i + j] - m);
  } else {
    for (; i + L <= n; i += L)
      for (int j = 0; j < L; ++j) {
        float e = vm::exp(x[i + j] - m);
        y[i + j] = e;
        lane[j] += e;
      }
  }
  float sum = 0.0f;
  for (int j = 0; j < L; ++j) sum += lane[j];
  for (; i < n; ++i) {
    float e = vm::exp(x[i] - m);
    if (!log) y[i] = e;
    sum += e;
  }
  if (log) {
    const float shift = m + vm::log(sum);
    for (int64_t k = 0; k < n; ++k) y[k] = x[k] - shift;
  } else {
    const float inv = 1.0f / sum;
    for (int64_t k = 0; k < n; ++k) y[k] *= inv;
  }
}

}  // namespace raddino::cpu::RADDINO_ISA
