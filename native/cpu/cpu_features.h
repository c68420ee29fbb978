// Run-time detection of the x86 SIMD extensions the CPU kernels can use.
//
// cpu_features() is computed once (thread-safe) from cpuid/xgetbv, so a feature is reported only
// when both the CPU and the OS (saved register state) support it. On non-x86 builds every flag
// is false and the portable kernels are used.
//
// The environment variable RADDINO_ISA caps what is reported, so tests can exercise every code
// path on one machine:
//   RADDINO_ISA=generic  -> everything false
//   RADDINO_ISA=avx2     -> at most avx2, fma, f16c (all AVX-512 flags false)
//   RADDINO_ISA=avx512   -> no cap (same as unset)
// Any other value is ignored.
#pragma once

namespace raddino::cpu {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512bf16 = false;
};

const CpuFeatures& cpu_features();

}  // namespace raddino::cpu
