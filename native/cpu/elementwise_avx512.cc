// float32 element-wise kernels compiled for AVX-512, selected at run time (cpu/elementwise.cc).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/backend.h"
#include "cpu/loop.h"
#include "cpu/stream.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#endif
#define RADDINO_ISA avx512
#include "cpu/elementwise_impl.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
