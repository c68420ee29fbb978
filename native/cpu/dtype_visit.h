// Dtype tags for CPU kernels: S is the storage type, C the type arithmetic is done in (float for
// bfloat16/float16). visit_dtype calls f with the tag of a runtime dtype.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/dtype.h"

namespace raddino::cpu {

template <typename T, typename C = T>
struct Ty {
  using S = T;
  using Cmp = C;
  static C load(T v) { return static_cast<C>(v); }
  static T store(C v) { return static_cast<T>(v); }
};
struct BF16T {
  using S = uint16_t;
  using Cmp = float;
  static float load(uint16_t v) { return bf16_to_f32(v); }
  static uint16_t store(float v) { return f32_to_bf16(v); }
};
struct F16T {
  using S = uint16_t;
  using Cmp = float;
  static float load(uint16_t v) { return f16_to_f32(v); }
  static uint16_t store(float v) { return f32_to_f16(v); }
};
struct BoolT {
  using S = uint8_t;
  using Cmp = uint8_t;
  static uint8_t load(uint8_t v) { return v != 0; }
  static uint8_t store(uint8_t v) { return v != 0; }
};

template <typename F>
void visit_dtype(DType d, F&& f) {
  switch (d) {
    case DType::F32: f(Ty<float>{}); break;
    case DType::F64: f(Ty<double>{}); break;
    case DType::BF16: f(BF16T{}); break;
    case DType::F16: f(F16T{}); break;
    case DType::I32: f(Ty<int32_t>{}); break;
    case DType::I64: f(Ty<int64_t>{}); break;
    case DType::U8: f(Ty<uint8_t>{}); break;
    case DType::BOOL: f(BoolT{}); break;
  }
}

// Converts a value of any arithmetic type to the storage value of tag T. Floating values going
// to an integer type are truncated toward zero and saturate at the type's range (NaN gives 0);
// anything going to bool is `value != 0`.
template <typename T, typename V>
typename T::S convert_to(V v) {
  using S = typename T::S;
  using C = typename T::Cmp;
  if constexpr (std::is_same_v<T, BoolT>) {
    return static_cast<uint8_t>(v != V(0));
  } else if constexpr (std::is_floating_point_v<V> && std::is_integral_v<C>) {
    if (v != v) return S(0);
    if (v <= static_cast<V>(std::numeric_limits<C>::lowest())) return T::store(std::numeric_limits<C>::lowest());
    if (v >= static_cast<V>(std::numeric_limits<C>::max())) return T::store(std::numeric_limits<C>::max());
    return T::store(static_cast<C>(v));
  } else {
    return T::store(static_cast<C>(v));
  }
}

}  // namespace raddino::cpu
