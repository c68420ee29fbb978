// Element-wise kernels for every dtype. float32 goes to the ISA-specific fast paths
// (elementwise_impl.h, chosen from cpu_features()); the other dtypes use the same loops compiled
// for the baseline ISA. bfloat16/float16 compute in float32.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/backend.h"
#include "core/error.h"
#include "cpu/isa.h"
#include "cpu/dtype_visit.h"
#include "cpu/kernels.h"
#include "cpu/loop.h"
#include "cpu/stream.h"

#define RADDINO_ISA generic
#include "cpu/elementwise_impl.h"

namespace raddino::cpu {
namespace {

using generic::map1;
using generic::map2;
using generic::map3;

// Round half to even, like torch.round.
template <typename C>
C round_even(C x) {
  return std::nearbyint(x);
}

template <typename C>
C sign_of(C x) {
  if constexpr (std::is_floating_point_v<C>) {
    if (x != x) return x;
  }
  return static_cast<C>((x > C(0)) - (x < C(0)));
}

template <typename T>
void unary_typed(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  auto m = [&](auto fn) { map1<S, S>(c, [fn](S v) { return T::store(fn(T::load(v))); }); };
  switch (c.op) {
    case Op::NEG: m([](C x) { return static_cast<C>(-x); }); break;
    case Op::ABS: m([](C x) { return x < C(0) ? static_cast<C>(-x) : x; }); break;
    case Op::SIGN: m([](C x) { return sign_of(x); }); break;
    case Op::SQUARE: m([](C x) { return static_cast<C>(x * x); }); break;
    case Op::RELU: m([](C x) { return x > C(0) ? x : (x != x ? x : C(0)); }); break;
    case Op::RECIPROCAL: m([](C x) { return C(1) / x; }); break;
    case Op::EXP: m([](C x) { return std::exp(x); }); break;
    case Op::EXPM1: m([](C x) { return std::expm1(x); }); break;
    case Op::LOG: m([](C x) { return std::log(x); }); break;
    case Op::LOG1P: m([](C x) { return std::log1p(x); }); break;
    case Op::SQRT: m([](C x) { return std::sqrt(x); }); break;
    case Op::RSQRT: m([](C x) { return C(1) / std::sqrt(x); }); break;
    case Op::SIN: m([](C x) { return std::sin(x); }); break;
    case Op::COS: m([](C x) { return std::cos(x); }); break;
    case Op::TANH: m([](C x) { return std::tanh(x); }); break;
    case Op::ERF: m([](C x) { return std::erf(x); }); break;
    case Op::SIGMOID: m([](C x) { return C(1) / (C(1) + std::exp(-x)); }); break;
    case Op::GELU: m([](C x) { return C(0.5) * x * std::erfc(-x * C(0.70710678118654752440)); }); break;
    case Op::GELU_TANH:
      m([](C x) {
        C u = C(0.79788456080286535588) * (x + C(0.044715) * x * x * x);
        return x / (C(1) + std::exp(C(-2) * u));
      });
      break;
    case Op::SILU: m([](C x) { return x / (C(1) + std::exp(-x)); }); break;
    case Op::FLOOR: m([](C x) { return std::floor(x); }); break;
    case Op::CEIL: m([](C x) { return std::ceil(x); }); break;
    case Op::ROUND: m([](C x) { return round_even(x); }); break;
    case Op::CLAMP: {
      const bool has_lo = c.p.has_a, has_hi = c.p.has_b;
      const C lo = static_cast<C>(c.p.a), hi = static_cast<C>(c.p.b);
      m([=](C x) {
        if (x != x) return x;
        if (has_lo && x < lo) x = lo;
        if (has_hi && x > hi) x = hi;
        return x;
      });
      break;
    }
    default:
      fail(ErrorKind::Value, op_name(c.op), ": no CPU kernel for this dtype");
  }
}

template <typename T>
void binary_typed(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  auto m = [&](auto fn) { map2<S, S, S>(c, [fn](S a, S b) { return T::store(fn(T::load(a), T::load(b))); }); };
  auto cmp = [&](auto fn) {
    map2<uint8_t, S, S>(c, [fn](S a, S b) { return static_cast<uint8_t>(fn(T::load(a), T::load(b))); });
  };
  switch (c.op) {
    case Op::ADD: m([](C a, C b) { return static_cast<C>(a + b); }); break;
    case Op::SUB: m([](C a, C b) { return static_cast<C>(a - b); }); break;
    case Op::MUL: m([](C a, C b) { return static_cast<C>(a * b); }); break;
    case Op::DIV: m([](C a, C b) { return static_cast<C>(a / b); }); break;
    case Op::POW: m([](C a, C b) { return static_cast<C>(std::pow(a, b)); }); break;
    case Op::MAXIMUM: m([](C a, C b) { return (a > b || a != a) ? a : b; }); break;
    case Op::MINIMUM: m([](C a, C b) { return (a < b || a != a) ? a : b; }); break;
    case Op::EQ: cmp([](C a, C b) { return a == b; }); break;
    case Op::NE: cmp([](C a, C b) { return a != b; }); break;
    case Op::LT: cmp([](C a, C b) { return a < b; }); break;
    case Op::LE: cmp([](C a, C b) { return a <= b; }); break;
    case Op::GT: cmp([](C a, C b) { return a > b; }); break;
    case Op::GE: cmp([](C a, C b) { return a >= b; }); break;
    case Op::LOGICAL_AND: cmp([](C a, C b) { return a != C(0) && b != C(0); }); break;
    case Op::LOGICAL_OR: cmp([](C a, C b) { return a != C(0) || b != C(0); }); break;
    default:
      fail(ErrorKind::Value, op_name(c.op), ": no CPU kernel for this dtype");
  }
}

using FastPath = bool (*)(const OpCall&);

template <typename T>
void gelu_backward_typed(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  const bool tanh_form = c.op == Op::GELU_TANH_BACK;
  map2<S, S, S>(c, [tanh_form](S dys, S xs) {
    C dy = T::load(dys), x = T::load(xs);
    if (tanh_form) {
      C u = C(0.79788456080286535588) * (x + C(0.044715) * x * x * x);
      C t = std::tanh(u);
      C du = C(0.79788456080286535588) * (C(1) + C(3 * 0.044715) * x * x);
      return T::store(dy * (C(0.5) * (C(1) + t) + C(0.5) * x * (C(1) - t * t) * du));
    }
    C cdf = C(0.5) * std::erfc(-x * C(0.70710678118654752440));
    C pdf = C(0.39894228040143267794) * std::exp(C(-0.5) * x * x);
    return T::store(dy * (cdf + x * pdf));
  });
}

}  // namespace

void unary_kernel(const OpCall& c) {
  DType d = c.in[0]->dtype();
  if (c.op == Op::LOGICAL_NOT) {
    visit_dtype(d, [&](auto t) {
      using T = decltype(t);
      using S = typename T::S;
      using C = typename T::Cmp;
      map1<uint8_t, S>(c, [](S v) { return static_cast<uint8_t>(T::load(v) == C(0)); });
    });
    return;
  }
  if (d == DType::F32) {
    static const FastPath fast = select_isa(generic::unary_f32, avx2::unary_f32, avx512::unary_f32);
    if (fast(c)) return;
  }
  visit_dtype(d, [&](auto t) { unary_typed<decltype(t)>(c); });
}

void binary_kernel(const OpCall& c) {
  DType d = c.in[0]->dtype();
  if (d == DType::F32) {
    static const FastPath fast = select_isa(generic::binary_f32, avx2::binary_f32, avx512::binary_f32);
    if (fast(c)) return;
  }
  visit_dtype(d, [&](auto t) { binary_typed<decltype(t)>(c); });
}

void gelu_backward_kernel(const OpCall& c) {
  switch (c.in[1]->dtype()) {
    case DType::F32: {
      static const FastPath fast = select_isa(generic::gelu_backward_f32, avx2::gelu_backward_f32, avx512::gelu_backward_f32);
      fast(c);
      break;
    }
    case DType::F64: gelu_backward_typed<Ty<double>>(c); break;
    case DType::BF16: gelu_backward_typed<BF16T>(c); break;
    case DType::F16: gelu_backward_typed<F16T>(c); break;
    default: break;
  }
}

void where_kernel(const OpCall& c) {
  switch (dtype_size(c.out[0]->dtype())) {
    case 1: map3<uint8_t, uint8_t, uint8_t, uint8_t>(c, [](uint8_t k, uint8_t a, uint8_t b) { return k ? a : b; }); break;
    case 2: map3<uint16_t, uint8_t, uint16_t, uint16_t>(c, [](uint8_t k, uint16_t a, uint16_t b) { return k ? a : b; }); break;
    case 4: map3<uint32_t, uint8_t, uint32_t, uint32_t>(c, [](uint8_t k, uint32_t a, uint32_t b) { return k ? a : b; }); break;
    case 8: map3<uint64_t, uint8_t, uint64_t, uint64_t>(c, [](uint8_t k, uint64_t a, uint64_t b) { return k ? a : b; }); break;
  }
}

}  // namespace raddino::cpu
