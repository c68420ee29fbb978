// Internal interface between the GEMM driver (gemm.cc) and its per-ISA kernels
// (gemm_avx512.cc, gemm_avx2.cc, gemm_generic.cc). Not part of the public API.
//
// Packed panel layouts (shared by every kernel set; mr/nr are the set's micro-tile sizes):
//   packed A (m x k block): ceil(m/mr) micro-panels stored back to back, each k*mr elements.
//     Panel p holds A(p*mr + i, kk) at [kk*mr + i]: for every kk, mr consecutive row values.
//     Rows past m are zero.
//   packed B (k x n block): ceil(n/nr) micro-panels stored back to back, each k*nr elements.
//     Panel q holds B(kk, q*nr + j) at [kk*nr + j]: for every kk, nr consecutive column values.
//     Columns past n are zero.
// The micro-kernel walks one A panel and one B panel in lockstep over kk and accumulates an
// mr x nr tile of C in registers (broadcast A, vector-load B, FMA).
#pragma once
#include <cstdint>

namespace raddino::cpu::gemm_detail {

// Packs A(0..m, 0..k) (element (i, kk) at a[i*rsa + kk*csa]) into micro-panels, see above.
template <typename T>
using PackAFn = void (*)(int64_t m, int64_t k, const T* a, int64_t rsa, int64_t csa, T* dst);
// Packs B(0..k, 0..n) (element (kk, j) at b[kk*rsb + j*csb]) into micro-panels, see above.
template <typename T>
using PackBFn = void (*)(int64_t k, int64_t n, const T* b, int64_t rsb, int64_t csb, T* dst);

// One macro-kernel call: C(m x n) = [C +] Ap(m x kc) * Bp(kc x n) [+ bias], where Ap and Bp are
// packed blocks. accumulate: add to the existing C (else C is overwritten); bias: when non-null,
// bias[j] is added to column j.
template <typename T>
struct MacroArgs {
  int64_t m, n, kc;
  const T* ap;
  const T* bp;
  T* c;
  int64_t ldc;
  bool accumulate;
  const T* bias;
  // 0: ap is a packed block. 1 / 2: ap is A itself, row-major / column-major with leading
  // dimension lda (only for kernel sets with reads_a_in_place).
  int a_direct = 0;
  int64_t lda = 0;
};
template <typename T>
using MacroFn = void (*)(const MacroArgs<T>& args);

template <typename T>
struct KernelSet {
  const char* name;
  int mr, nr;          // micro-tile
  int64_t kc, mc, nc;  // cache blocking: K block, A block rows, B block columns
  // Fast packers for the unit-stride layouts (csa == 1 or rsa == 1; csb == 1 or rsb == 1).
  // nullptr means "use the generic packer" for every layout.
  PackAFn<T> pack_a;
  PackBFn<T> pack_b;
  MacroFn<T> macro;
  // The macro-kernel also reads unit-stride A in place (MacroArgs::a_direct), skipping pack_a.
  bool reads_a_in_place = false;
};

// Generic packers: any strides, any mr/nr (gemm_generic.cc).
namespace generic {
template <typename T>
void pack_a_any(int mr, int64_t m, int64_t k, const T* a, int64_t rsa, int64_t csa, T* dst);
template <typename T>
void pack_b_any(int nr, int64_t k, int64_t n, const T* b, int64_t rsb, int64_t csb, T* dst);
const KernelSet<float>& sgemm_kernels();
const KernelSet<double>& dgemm_kernels();
}  // namespace generic

#if defined(__x86_64__)
namespace avx2 {
const KernelSet<float>& sgemm_kernels();
const KernelSet<double>& dgemm_kernels();
}  // namespace avx2
namespace avx512 {
const KernelSet<float>& sgemm_kernels();
const KernelSet<double>& dgemm_kernels();
}  // namespace avx512
#endif

}  // namespace raddino::cpu::gemm_detail
