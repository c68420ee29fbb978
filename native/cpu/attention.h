// Fused scaled-dot-product attention (ATTENTION / ATTENTION_BACK): the float32 paths compiled per
// ISA from cpu/attention_impl.h (attention_avx512.cc, attention_avx2.cc), chosen at run time by
// cpu/attention.cc, which also holds the portable path used for float64 and CPUs without AVX2.
#pragma once
#include "core/backend.h"

namespace raddino::cpu {

namespace attention_avx512 {
// Each returns false when it cannot handle the call (the caller then uses the portable path).
bool forward_f32(const OpCall& c);
bool backward_f32(const OpCall& c);
}  // namespace attention_avx512

namespace attention_avx2 {
bool forward_f32(const OpCall& c);
bool backward_f32(const OpCall& c);
}  // namespace attention_avx2

}  // namespace raddino::cpu
