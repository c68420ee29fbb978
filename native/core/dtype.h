// Element types of the core, their sizes and names, and the bfloat16/float16 conversions
// (round to nearest even, NaN preserved as a quiet NaN, overflow to infinity).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace raddino {

// X(enum, name, C type, size in bytes)
#define RADDINO_DTYPES(X)             \
  X(F32, "float32", float, 4)         \
  X(F64, "float64", double, 8)        \
  X(BF16, "bfloat16", uint16_t, 2)    \
  X(F16, "float16", uint16_t, 2)      \
  X(I32, "int32", int32_t, 4)         \
  X(I64, "int64", int64_t, 8)         \
  X(U8, "uint8", uint8_t, 1)          \
  X(BOOL, "bool", uint8_t, 1)

enum class DType : uint8_t {
#define X(e, n, t, s) e,
  RADDINO_DTYPES(X)
#undef X
};
constexpr int kNumDTypes = 8;

size_t dtype_size(DType d);
const char* dtype_name(DType d);
// Parses a dtype name ("float32", ...); returns false when unknown.
bool dtype_from_name(const std::string& name, DType* out);
inline bool is_floating(DType d) {
  return d == DType::F32 || d == DType::F64 || d == DType::BF16 || d == DType::F16;
}
inline bool is_integral(DType d) { return d == DType::I32 || d == DType::I64 || d == DType::U8; }
// A bitmask of dtypes, used by backends to declare what an op supports.
using DTypeMask = uint32_t;
constexpr DTypeMask dtype_bit(DType d) { return 1u << static_cast<unsigned>(d); }
constexpr DTypeMask kFloatMask = dtype_bit(DType::F32) | dtype_bit(DType::F64);
constexpr DTypeMask kHalfMask = dtype_bit(DType::BF16) | dtype_bit(DType::F16);
constexpr DTypeMask kIntMask = dtype_bit(DType::I32) | dtype_bit(DType::I64) | dtype_bit(DType::U8);
constexpr DTypeMask kNumericMask = kFloatMask | kIntMask;
constexpr DTypeMask kAllMask = (1u << kNumDTypes) - 1;

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16_to_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }
// Branch-free so that conversion loops vectorise.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;  // round to nearest even
  uint32_t quiet_nan = (u >> 16) | 0x40u;
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

inline float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp == 0) {
    // zero or subnormal: mant * 2^-24
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}
inline uint16_t f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u | static_cast<uint16_t>((a >> 13) & 0x3ffu);  // NaN
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: infinity
  if (a < 0x38800000u) {
    // result is subnormal or zero: value = a * 2^24 rounded to an integer count of 2^-24
    if (a < 0x33000000u) return sign;  // below half the smallest subnormal (ties to 0)
    uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // so that m >> shift counts units of 2^-24 (m has 23 fraction bits)
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return sign | static_cast<uint16_t>(q);
  }
  // normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to even
  a -= 0x38000000u;
  a += 0xfffu + ((a >> 13) & 1u);
  return sign | static_cast<uint16_t>(a >> 13);
}

}  // namespace raddino
