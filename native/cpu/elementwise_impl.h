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
