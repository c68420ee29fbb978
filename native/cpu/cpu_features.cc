#include "cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace raddino::cpu {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0: which register states the OS saves on context switch.
unsigned long long read_xcr0() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

CpuFeatures detect_hardware() {
  CpuFeatures f;
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = ecx & bit_OSXSAVE;
  const bool avx = ecx & bit_AVX;
  const bool fma = ecx & bit_FMA;
  const bool f16c = ecx & bit_F16C;
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!ymm_state) return f;
  f.fma = fma;
  f.f16c = f16c;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  f.avx2 = ebx & bit_AVX2;
  if (zmm_state) {
    f.avx512f = ebx & bit_AVX512F;
    f.avx512dq = ebx & bit_AVX512DQ;
    f.avx512bw = ebx & bit_AVX512BW;
    f.avx512vl = ebx & bit_AVX512VL;
    unsigned eax1, ebx1, ecx1, edx1;
    if (__get_cpuid_count(7, 1, &eax1, &ebx1, &ecx1, &edx1)) f.avx512bf16 = eax1 & (1u << 5);
    if (!f.avx512f) f.avx512dq = f.avx512bw = f.avx512vl = f.avx512bf16 = false;
  }
  return f;
}
#else
CpuFeatures detect_hardware() { return CpuFeatures{}; }
#endif

CpuFeatures apply_env_cap(CpuFeatures f) {
  const char* isa = std::getenv("RADDINO_ISA");
  if (isa == nullptr) return f;
  if (std::strcmp(isa, "generic") == 0) return CpuFeatures{};
  if (std::strcmp(isa, "avx2") == 0) {
    f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512bf16 = false;
  }
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = apply_env_cap(detect_hardware());
  return features;
}

}  // namespace raddino::cpu
