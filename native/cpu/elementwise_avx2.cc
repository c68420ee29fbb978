// float32 element-wise kernels compiled for AVX2 + FMA, selected at run time (cpu/elementwise.cc).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/backend.h"
#include "cpu/loop.h"
#include "cpu/stream.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c")
#endif
#define RADDINO_ISA avx2
#include "cpu/elementwise_impl.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
