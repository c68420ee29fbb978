// Internal interface between the bfloat16-weight GEMM driver (gemm_bf16.cc) and its AVX512-BF16
// kernels (gemm_bf16_avx512.cc). Not part of the public API.
//
// Packed panels hold 32-bit words, each a pair of bfloat16 values for consecutive k: the low half
// is the even k, the high half the odd k (the operand layout of vdpbf16ps, which multiplies such
// pairs and adds both products to one float32 lane). With kp = ceil(k / 2) pairs per block:
//   packed A (m x k block): ceil(m/mr) micro-panels back to back, each kp*mr words.
//     Panel p holds the pair (A(p*mr + i, 2q), A(p*mr + i, 2q + 1)) at word [q*mr + i].
//   packed B (k x n block): ceil(n/nr) micro-panels back to back, each kp*nr words.
//     Panel p holds the pair (B(2q, p*nr + j), B(2q + 1, p*nr + j)) at word [q*nr + j].
//   Rows of A past m, columns of B past n, and the k past an odd k are zero.
// K blocks other than the last have an even size, so pairs never straddle two blocks.
#pragma once
#include <cstdint>

namespace raddino::cpu::gemm_bf16_detail {

// Packs A(0..m, 0..k) (float32, element (i, kk) at a[i*rsa + kk*csa]) rounded to bfloat16.
using PackAFn = void (*)(int64_t m, int64_t k, const float* a, int64_t rsa, int64_t csa, uint32_t* dst);
// Packs B(0..k, 0..n) (bfloat16, element (kk, j) at b[kk*rsb + j*csb]).
using PackBFn = void (*)(int64_t k, int64_t n, const uint16_t* b, int64_t rsb, int64_t csb, uint32_t* dst);
// Packs B(0..k, 0..n) given in float32 (element (kk, j) at b[kk*rsb + j*csb]) rounded to bfloat16.
using PackBF32Fn = void (*)(int64_t k, int64_t n, const float* b, int64_t rsb, int64_t csb, uint32_t* dst);

// One macro-kernel call: C(m x n) = [C +] Ap(m x 2kp) * Bp(2kp x n) [+ bias], Ap and Bp packed
// blocks of kp pairs. accumulate: add to the existing C (else C is overwritten); bias: when
// non-null, bias[j] is added to column j.
struct MacroArgs {
  int64_t m, n, kp;
  const uint32_t* ap;
  const uint32_t* bp;
  float* c;
  int64_t ldc;
  bool accumulate;
  const float* bias;
};
using MacroFn = void (*)(const MacroArgs& args);

struct KernelSet {
  const char* name;
  int mr, nr;          // micro-tile
  int64_t kc, mc, nc;  // cache blocking: K block (even), A block rows, B block columns
  // Packers for the unit-stride layouts: pack_a for csa == 1 or rsa == 1, pack_b for rsb == 1 or
  // csb == 1. Other layouts use the generic packers below.
  PackAFn pack_a;
  PackBFn pack_b;
  PackBF32Fn pack_b_f32;  // same layouts as pack_b, float32 source rounded as it is packed
  MacroFn macro;
};

// Any-stride packers for any mr / nr (gemm_bf16.cc).
void pack_a_any(int mr, int64_t m, int64_t k, const float* a, int64_t rsa, int64_t csa, uint32_t* dst);
void pack_b_any(int nr, int64_t k, int64_t n, const uint16_t* b, int64_t rsb, int64_t csb, uint32_t* dst);
void pack_b_any_f32(int nr, int64_t k, int64_t n, const float* b, int64_t rsb, int64_t csb, uint32_t* dst);

#if defined(__x86_64__)
namespace avx512bf16 {
const KernelSet& kernels();
}  // namespace avx512bf16
#endif

}  // namespace raddino::cpu::gemm_bf16_detail
