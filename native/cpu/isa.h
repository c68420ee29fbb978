// Run-time choice among the per-ISA builds of a kernel (see elementwise_impl.h).
#pragma once
#include "cpu/cpu_features.h"

namespace raddino::cpu {

// The AVX-512 build when the CPU (and RADDINO_ISA) allows it, else AVX2 + FMA, else portable.
template <typename F>
F select_isa(F generic, F avx2, F avx512) {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) return avx512;
  if (f.avx2 && f.fma) return avx2;
  return generic;
}

}  // namespace raddino::cpu
