// Driver of the bfloat16-weight GEMM (gemm_bf16.h): argument handling, thread partitioning,
// cache blocking and packing, plus the portable fallback and the pre-packed weights.
//
// Same scheme as the float32 driver (gemm.cc), whose pieces it shares (gemm_driver.h): each
// thread owns a rectangle of C (aligned to the micro-tile) and runs
//     for ic in rows, step mc:
//       for pc in K, step kc:
//         pack bf16(A(ic.., pc..)) -> Ap      (mc x kc, rounded to bfloat16 as it is packed)
//         for jc in columns, step nc:
//           pack B(pc.., jc..) -> Bp          (kc x nc; skipped for pre-packed weights)
//           macro-kernel over the mr x nr tiles of the block
// with its own thread_local packing buffers. Panels hold bfloat16 pairs of consecutive k (the
// vdpbf16ps operand layout, see gemm_bf16_kernels.h); K blocks are balanced and even-sized (but
// the last), and depend only on K, so every element of C is accumulated in the same order
// whatever the thread count or grid: results are bitwise identical for any number of threads,
// and the pre-packed variant gives the same bits as the plain one.
// The first K block overwrites C (beta == 0) or adds to it (beta == 1) and adds the bias.
//
// Without AVX512-BF16 (or with RADDINO_ISA capping it) the portable path rounds A to bfloat16,
// widens both operands to float32 and calls sgemm: the same products, summed in float32.
#include "gemm_bf16.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <vector>

#include "../core/dtype.h"
#include "cpu_features.h"
#include "gemm.h"
#include "gemm_bf16_kernels.h"
#include "gemm_driver.h"
#include "threadpool.h"

namespace raddino::cpu {

namespace gemm_bf16_detail {

void pack_a_any(int mr, int64_t m, int64_t k, const float* a, int64_t rsa, int64_t csa, uint32_t* dst) {
  const int64_t kp = (k + 1) / 2;
  for (int64_t i0 = 0; i0 < m; i0 += mr, dst += kp * mr) {
    const int mp = static_cast<int>(std::min<int64_t>(mr, m - i0));
    for (int64_t q = 0; q < kp; ++q) {
      uint32_t* d = dst + q * mr;
      for (int i = 0; i < mp; ++i) {
        const float* src = a + (i0 + i) * rsa + 2 * q * csa;
        const uint32_t lo = f32_to_bf16(src[0]);
        const uint32_t hi = 2 * q + 1 < k ? f32_to_bf16(src[csa]) : 0u;
        d[i] = lo | hi << 16;
      }
      for (int i = mp; i < mr; ++i) d[i] = 0;
    }
  }
}

namespace {
// The any-stride B packer over bfloat16 patterns (uint16_t, taken as they are) or float32 (rounded).
inline uint32_t bf16_bits(uint16_t v) { return v; }
inline uint32_t bf16_bits(float v) { return f32_to_bf16(v); }

template <typename T>
void pack_b_any_t(int nr, int64_t k, int64_t n, const T* b, int64_t rsb, int64_t csb, uint32_t* dst) {
  const int64_t kp = (k + 1) / 2;
  for (int64_t j0 = 0; j0 < n; j0 += nr, dst += kp * nr) {
    const int np = static_cast<int>(std::min<int64_t>(nr, n - j0));
    for (int64_t q = 0; q < kp; ++q) {
      uint32_t* d = dst + q * nr;
      const T* src = b + 2 * q * rsb + j0 * csb;
      const bool odd = 2 * q + 1 < k;
      for (int j = 0; j < np; ++j) d[j] = bf16_bits(src[j * csb]) | (odd ? bf16_bits(src[j * csb + rsb]) << 16 : 0u);
      for (int j = np; j < nr; ++j) d[j] = 0;
    }
  }
}
}  // namespace

void pack_b_any(int nr, int64_t k, int64_t n, const uint16_t* b, int64_t rsb, int64_t csb, uint32_t* dst) {
  pack_b_any_t(nr, k, n, b, rsb, csb, dst);
}

void pack_b_any_f32(int nr, int64_t k, int64_t n, const float* b, int64_t rsb, int64_t csb, uint32_t* dst) {
  pack_b_any_t(nr, k, n, b, rsb, csb, dst);
}

}  // namespace gemm_bf16_detail

namespace {

using gemm_bf16_detail::KernelSet;
using gemm_bf16_detail::MacroArgs;
using gemm_driver::balanced_block;
using gemm_driver::ceil_div;
using gemm_driver::for_each_block;
using gemm_driver::GridCost;
using gemm_driver::RectBlocks;
using gemm_driver::ScratchBuffer;

// The AVX512-BF16 kernel set, or nullptr when the portable path is used.
const KernelSet* native_set() {
  static const KernelSet* set = []() -> const KernelSet* {
#if defined(__x86_64__)
    const CpuFeatures& f = cpu_features();
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512bf16) {
      return &gemm_bf16_detail::avx512bf16::kernels();
    }
#endif
    return nullptr;
  }();
  return set;
}

// The K block size: balanced, even (so that k pairs never straddle blocks), a function of K only.
int64_t k_block(const KernelSet& ks, int64_t K) { return balanced_block(K, ks.kc, 2); }

// Per-thread packing buffers of this driver (A and B blocks).
thread_local ScratchBuffer t_packed_a;
thread_local ScratchBuffer t_packed_b;

struct Problem {
  int64_t M, N, K;
  const float* a;
  int64_t rsa, csa;
  const uint16_t* b;  // unpacked bfloat16 B, or nullptr when bf or prepacked is set
  int64_t rsb, csb;
  const float* bf;    // unpacked float32 B (rounded as it is packed), or nullptr
  const uint32_t* prepacked;  // the whole B in panel layout, K block after K block
  float* c;
  int64_t ldc;
  bool accumulate;  // beta == 1
  const float* bias;
};

void pack_a(const KernelSet& ks, int64_t m, int64_t k, const float* a, int64_t rsa, int64_t csa, uint32_t* dst) {
  if (csa == 1 || rsa == 1) ks.pack_a(m, k, a, rsa, csa, dst);
  else gemm_bf16_detail::pack_a_any(ks.mr, m, k, a, rsa, csa, dst);
}

void pack_b(const KernelSet& ks, int64_t k, int64_t n, const uint16_t* b, int64_t rsb, int64_t csb,
            uint32_t* dst) {
  if (rsb == 1 || csb == 1) ks.pack_b(k, n, b, rsb, csb, dst);
  else gemm_bf16_detail::pack_b_any(ks.nr, k, n, b, rsb, csb, dst);
}

void pack_b(const KernelSet& ks, int64_t k, int64_t n, const float* b, int64_t rsb, int64_t csb, uint32_t* dst) {
  if (rsb == 1 || csb == 1) ks.pack_b_f32(k, n, b, rsb, csb, dst);
  else gemm_bf16_detail::pack_b_any_f32(ks.nr, k, n, b, rsb, csb, dst);
}

// Computes rows [m0, m1) x columns [n0, n1) of C on the calling thread.
void gemm_rect(const KernelSet& ks, const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t kc = k_block(ks, p.K);
  const int64_t kpc = kc / 2;  // pairs in a full K block
  const int64_t n_panels = ceil_div(p.N, ks.nr);
  const RectBlocks blocks = gemm_driver::rect_blocks(ks, m1 - m0, n1 - n0);
  uint32_t* ap = t_packed_a.get<uint32_t>(blocks.a_rows * kpc);
  uint32_t* bp = p.prepacked != nullptr ? nullptr : t_packed_b.get<uint32_t>(blocks.b_cols * kpc);
  for_each_block(
      m0, m1, n0, n1, p.K, blocks.mc, kc, blocks.nc,
      [&](int64_t ic, int64_t mb, int64_t pc, int64_t kb) {
        pack_a(ks, mb, kb, p.a + ic * p.rsa + pc * p.csa, p.rsa, p.csa, ap);
      },
      [&](int64_t ic, int64_t mb, int64_t pc, int64_t kb, int64_t jc, int64_t nb) {
        const int64_t kp = (kb + 1) / 2;
        const uint32_t* block;
        if (p.prepacked != nullptr) {
          // K block pc / kc of the packed weight, from panel jc / nr on.
          block = p.prepacked + (pc / kc) * n_panels * ks.nr * kpc + jc * kp;
        } else {
          if (p.bf != nullptr) pack_b(ks, kb, nb, p.bf + pc * p.rsb + jc * p.csb, p.rsb, p.csb, bp);
          else pack_b(ks, kb, nb, p.b + pc * p.rsb + jc * p.csb, p.rsb, p.csb, bp);
          block = bp;
        }
        const bool first = pc == 0;
        MacroArgs args{mb, nb, kp, ap, block, p.c + ic * p.ldc + jc, p.ldc, !first || p.accumulate,
                       first && p.bias != nullptr ? p.bias + jc : nullptr};
        ks.macro(args);
      });
}

// The thread-grid cost model (see GridCost), in cycles: padded vdpbf16ps (16 lanes x 2 products
// each, about one per cycle) plus packing one element of A (round + transpose) and of B
// (transpose), measured on Zen 4; nothing for B when it is pre-packed. Below 2^21 multiply-adds
// per thread, waking another thread costs more than it saves.
GridCost grid_cost(bool prepacked) { return GridCost{2 << 20, 1.0 / 32.0, 0.7, prepacked ? 0.0 : 0.4}; }

// The native path on a prepared problem (M, N, K > 0, beta 0 or 1).
void run_native(const KernelSet& ks, const Problem& p) {
  gemm_driver::run_grid(ks, grid_cost(p.prepacked != nullptr), p.M, p.N, p.K,
                        [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) { gemm_rect(ks, p, m0, m1, n0, n1); });
}

// bf16(A) as a row-major float32 M x K matrix (the portable path).
std::vector<float> rounded_a(int64_t M, int64_t K, const float* a, int64_t rsa, int64_t csa) {
  std::vector<float> out(static_cast<size_t>(M * K));
  for (int64_t i = 0; i < M; ++i) {
    float* o = out.data() + i * K;
    const float* src = a + i * rsa;
    if (csa == 1) {
      for (int64_t k = 0; k < K; ++k) o[k] = bf16_to_f32(f32_to_bf16(src[k]));
    } else {
      for (int64_t k = 0; k < K; ++k) o[k] = bf16_to_f32(f32_to_bf16(src[k * csa]));
    }
  }
  return out;
}

// The portable path of both GEMMs: bf16(A) and B's values (b_at(offset): element (k, j) is at
// offset k*rsb + j*csb, already bfloat16-valued) widened to float32, then sgemm. B keeps its
// orientation, so W^T stays on sgemm's fast path.
template <typename BAt>
void portable(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, int64_t rsb, int64_t csb,
              float* c, int64_t ldc, float beta, const float* bias, BAt b_at) {
  const std::vector<float> ar = rounded_a(M, K, a, rsa, csa);
  std::vector<float> bw(static_cast<size_t>(K * N));
  const bool wt = rsb == 1 && csb != 1;
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t j = 0; j < N; ++j) bw[wt ? j * K + k : k * N + j] = b_at(k * rsb + j * csb);
  }
  sgemm(M, N, K, ar.data(), K, 1, bw.data(), wt ? 1 : N, wt ? K : 1, c, ldc, beta, bias);
}

}  // namespace

// The pre-packed weight: on the native path, the whole B = W^T in panel layout, K block after
// K block (each block ceil(N / nr) panels of kc/2 pairs, the last block possibly fewer pairs);
// on the portable path, W widened to float32 [N x K].
struct PackedBf16::Impl {
  const KernelSet* ks = nullptr;
  uint32_t* words = nullptr;  // native, 64-byte aligned
  std::vector<float> wide;    // portable
  ~Impl() { std::free(words); }
};

PackedBf16::PackedBf16() = default;
PackedBf16::~PackedBf16() = default;

bool sgemm_bf16w_native() { return native_set() != nullptr; }

void sgemm_bf16w(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const uint16_t* b,
                 int64_t rsb, int64_t csb, float* c, int64_t ldc, float beta, const float* bias) {
  if (!gemm_driver::prepare(M, N, K, c, ldc, beta, bias)) return;
  if (const KernelSet* ks = native_set()) {
    run_native(*ks, Problem{M, N, K, a, rsa, csa, b, rsb, csb, nullptr, nullptr, c, ldc, beta == 1.0f, bias});
    return;
  }
  portable(M, N, K, a, rsa, csa, rsb, csb, c, ldc, beta, bias, [&](int64_t i) { return bf16_to_f32(b[i]); });
}

void sgemm_bf16(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b,
                int64_t rsb, int64_t csb, float* c, int64_t ldc, float beta, const float* bias) {
  if (!gemm_driver::prepare(M, N, K, c, ldc, beta, bias)) return;
  if (const KernelSet* ks = native_set()) {
    run_native(*ks, Problem{M, N, K, a, rsa, csa, nullptr, rsb, csb, b, nullptr, c, ldc, beta == 1.0f, bias});
    return;
  }
  portable(M, N, K, a, rsa, csa, rsb, csb, c, ldc, beta, bias, [&](int64_t i) { return bf16_to_f32(f32_to_bf16(b[i])); });
}

std::shared_ptr<PackedBf16> pack_bf16_weight(int64_t N, int64_t K, const uint16_t* w) {
  auto packed = std::make_shared<PackedBf16>();
  packed->n = std::max<int64_t>(N, 0);
  packed->k = std::max<int64_t>(K, 0);
  packed->impl = std::make_unique<PackedBf16::Impl>();
  PackedBf16::Impl& impl = *packed->impl;
  if (N <= 0 || K <= 0) return packed;
  const KernelSet* ks = native_set();
  impl.ks = ks;
  if (ks == nullptr) {
    impl.wide.resize(static_cast<size_t>(N * K));
    parallel_for(N, 64, [&](int64_t j0, int64_t j1) {
      for (int64_t i = j0 * K; i < j1 * K; ++i) impl.wide[i] = bf16_to_f32(w[i]);
    });
    return packed;
  }
  const int64_t kc = k_block(*ks, K), n_panels = ceil_div(N, ks->nr);
  const int64_t block_words = n_panels * ks->nr * (kc / 2);
  const int64_t blocks = ceil_div(K, kc);
  const size_t bytes = sizeof(uint32_t) * static_cast<size_t>(block_words * blocks);
  impl.words = static_cast<uint32_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
  if (impl.words == nullptr) throw std::bad_alloc();
  // Panels are independent: pack groups of them in parallel, every K block.
  parallel_for(n_panels, 8, [&](int64_t p0, int64_t p1) {
    const int64_t j0 = p0 * ks->nr, j1 = std::min(N, p1 * ks->nr);
    for (int64_t bi = 0; bi < blocks; ++bi) {
      const int64_t pc = bi * kc, kb = std::min(kc, K - pc);
      ks->pack_b(kb, j1 - j0, w + j0 * K + pc, 1, K, impl.words + bi * block_words + j0 * ((kb + 1) / 2));
    }
  });
  return packed;
}

void sgemm_bf16w_packed(int64_t M, const float* a, int64_t rsa, const PackedBf16& w, float* c, int64_t ldc,
                        float beta, const float* bias) {
  const int64_t N = w.n, K = w.k;
  if (!gemm_driver::prepare(M, N, K, c, ldc, beta, bias)) return;
  const PackedBf16::Impl& impl = *w.impl;
  if (impl.ks != nullptr) {
    run_native(*impl.ks, Problem{M, N, K, a, rsa, 1, nullptr, 0, 0, nullptr, impl.words, c, ldc, beta == 1.0f, bias});
    return;
  }
  const std::vector<float> ar = rounded_a(M, K, a, rsa, 1);
  sgemm(M, N, K, ar.data(), K, 1, impl.wide.data(), 1, K, c, ldc, beta, bias);
}

}  // namespace raddino::cpu
