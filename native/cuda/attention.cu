// ATTENTION and ATTENTION_BACK on CUDA: flash attention (FlashAttention-2's algorithm) for
// bfloat16 and float16 inputs with float32 accumulation, any head dim D <= 128 (tiles padded to
// 64 or 128 columns), any sequence lengths, any strides with the last dim contiguous (the
// contract of core/ops.h). The N x M score matrix is never stored.
//
// Tensor cores through mma.sync.m16n8k16 (row.col, float32 accumulators) with operands loaded
// from shared memory by ldmatrix (.trans where the operand is stored the other way round). Shared
// rows are padded by 8 elements (16 bytes), which keeps ldmatrix free of bank conflicts.
//
// Forward: a CTA owns kBr query rows (each warp 16 * kMT of them, Q fragments kept in registers)
// and walks the keys in tiles of kBc, K and V double-buffered through cp.async. Online softmax
// in base 2 (scores pre-multiplied by scale * log2 e); row sums kept per thread and reduced across
// the quad once at the end. P is rounded to the input dtype for the P V product, as in FA2.
// lse = (m + log2 l) * ln 2 per row, the natural log-sum-exp of the scaled scores.
//
// Backward (recomputation): D_i = rowsum(dO o O) first (one warp per row), then a CTA per kBc = 64
// keys (16 per warp) walks the query blocks of kBr rows (Q, dO, lse, D double-buffered):
//   S^T = K Q^T, P^T = exp2(S^T scale log2e - lse log2e), dP^T = V dO^T, dS^T = P^T (dP^T - D),
//   dV += P^T dO, dK += dS^T Q (in registers, written once at the end, dK times scale),
//   dQ += dS K through dS^T in shared memory and float32 atomics into a scratch buffer that a last
//   pass scales and casts into dq.
#include <algorithm>
#include <cmath>
#include <string>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr int kPad = 8;  // elements of padding per shared row

// ---- PTX wrappers -------------------------------------------------------------------------------
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// 16 bytes global -> shared, asynchronously; zero-filled when !valid (src is then not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// 2^x on the special-function unit, subnormal results flushed to zero (probabilities that small
// do not register against the row sum); plain exp2f adds range fix-ups around every MUFU.EX2.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// Stores one or two adjacent elements (col, col + 1) of a row; `pair` when 4-byte aligned.
template <typename T>
__device__ __forceinline__ void store2(T* row, int col, int D, float a, float b, bool pair) {
  if (pair && col + 1 < D) {
    *reinterpret_cast<uint32_t*>(row + col) = pack2<T>(a, b);
  } else {
    if (col < D) row[col] = from_f<T>(a);
    if (col + 1 < D) row[col + 1] = from_f<T>(b);
  }
}

// Rows [r0, r0 + R) of a row-major [rows, D] matrix (row stride ld) into shared [R][kD + kPad],
// zero beyond `rows` and beyond D. kVec: cp.async in 16-byte chunks (D % 8 == 0, ld % 8 == 0,
// 16-byte aligned base); else plain element loads.
template <typename T, int R, int kD, int kThreads, bool kVec>
__device__ __forceinline__ void load_tile(T* sm, const T* g, int64_t ld, int r0, int rows, int D, int tid) {
  constexpr int kS = kD + kPad;
  if constexpr (kVec) {
    constexpr int kChunks = kD / 8;
#pragma unroll
    for (int i = tid; i < R * kChunks; i += kThreads) {
      const int r = i / kChunks, col = (i % kChunks) * 8, gr = r0 + r;
      const bool ok = gr < rows && col < D;
      cp_async16(sm + r * kS + col, ok ? g + gr * ld + col : g, ok);
    }
  } else {
    for (int i = tid; i < R * kD; i += kThreads) {
      const int r = i / kD, col = i % kD, gr = r0 + r;
      sm[r * kS + col] = (gr < rows && col < D) ? g[gr * ld + col] : from_f<T>(0.0f);
    }
  }
}

// ---- forward ------------------------------------------------------------------------------------
template <typename T>
struct FwdParams {
  const T *q, *k, *v;
  T* o;
  float* lse;                    // [BH, N] contiguous
  int64_t qs[3], ks[3], vs[3], os[3];  // strides of b, h, row
  int H, N, M, D;
  int bh0;                       // first head of this launch (grids of more than 65535 heads)
  float scale_log2;              // |scale| * log2(e)
  bool negate_q;                 // scale < 0: Q's fragments take the sign, the max stays a max
  bool o_pair;                   // out rows 4-byte aligned with even D: paired stores
};

template <int kD, int kWarps, int kMT, int kBc>
struct FwdCfg {
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kBr = kWarps * 16 * kMT;
  static constexpr int kS = kD + kPad;
  static constexpr size_t smem(size_t elt) { return elt * (size_t(kBr) + 4 * size_t(kBc)) * kS; }
};

template <typename T, int kD, int kWarps, int kMT, int kBc, bool kVec>
__global__ void __launch_bounds__(kWarps * 32) attn_fwd(const FwdParams<T> p) {
  using Cfg = FwdCfg<kD, kWarps, kMT, kBc>;
  constexpr int kThreads = Cfg::kThreads, kBr = Cfg::kBr, kS = Cfg::kS;
  constexpr int kNT = kBc / 8, kDT = kD / 8, kKT = kD / 16;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sK = sQ + kBr * kS;       // [2][kBc][kS]
  T* sV = sK + 2 * kBc * kS;   // [2][kBc][kS]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int bh = p.bh0 + blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int q0 = blockIdx.x * kBr;
  const T* qg = p.q + b * p.qs[0] + h * p.qs[1];
  const T* kg = p.k + b * p.ks[0] + h * p.ks[1];
  const T* vg = p.v + b * p.vs[0] + h * p.vs[1];
  const int nT = (p.M + kBc - 1) / kBc;

  load_tile<T, kBr, kD, kThreads, kVec>(sQ, qg + int64_t(q0) * p.qs[2], p.qs[2], 0, p.N - q0, p.D, tid);
  load_tile<T, kBc, kD, kThreads, kVec>(sK, kg, p.ks[2], 0, p.M, p.D, tid);
  load_tile<T, kBc, kD, kThreads, kVec>(sV, vg, p.vs[2], 0, p.M, p.D, tid);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();

  // Q fragments (A operand), rows warp*16*kMT + mt*16.
  uint32_t qf[kMT][kKT][4];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int kk = 0; kk < kKT; ++kk)
      ldsm_x4(qf[mt][kk], sQ + (warp * 16 * kMT + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kS + kk * 16 + (lane >> 4) * 8);
  if (p.negate_q) {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int kk = 0; kk < kKT; ++kk)
#pragma unroll
        for (int e = 0; e < 4; ++e) qf[mt][kk][e] ^= 0x80008000u;  // both halves' sign bits
  }

  float acc[kMT][kDT][4];
  float m[kMT][2], l[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int i = 0; i < kDT; ++i) acc[mt][i][0] = acc[mt][i][1] = acc[mt][i][2] = acc[mt][i][3] = 0.0f;
    m[mt][0] = m[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = 0.0f;
  }

  for (int j = 0; j < nT; ++j) {
    if (j > 0) {
      cp_async_wait_all();
      __syncthreads();
    }
    if (j + 1 < nT) {  // prefetch the next K, V tile into the other buffer (its readers passed the barrier)
      const int nb = (j + 1) & 1;
      load_tile<T, kBc, kD, kThreads, kVec>(sK + nb * kBc * kS, kg, p.ks[2], (j + 1) * kBc, p.M, p.D, tid);
      load_tile<T, kBc, kD, kThreads, kVec>(sV + nb * kBc * kS, vg, p.vs[2], (j + 1) * kBc, p.M, p.D, tid);
      cp_async_commit();
    }
    const T* cK = sK + (j & 1) * kBc * kS;
    const T* cV = sV + (j & 1) * kBc * kS;

    // S = Q K^T for this warp's rows and the tile's kBc keys.
    float s[kMT][kNT][4];
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int i = 0; i < kNT; ++i) s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kKT; ++kk) {
#pragma unroll
      for (int np = 0; np < kNT / 2; ++np) {
        uint32_t bf[4];
        ldsm_x4(bf, cK + (np * 16 + (lane & 7) + (lane >> 4) * 8) * kS + kk * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          mma16816<T>(s[mt][2 * np], qf[mt][kk], bf[0], bf[1]);
          mma16816<T>(s[mt][2 * np + 1], qf[mt][kk], bf[2], bf[3]);
        }
      }
    }

    // Online softmax (base 2). The scale factor c = |scale| log2 e is positive (Q carries the
    // sign), so the row max is taken on the raw scores and each exponent is one FFMA:
    // p = 2^(s c - m) with m the running max of s c. Keys past M get p = 0.
    const bool edge = (j + 1) * kBc > p.M;
    const float c = p.scale_log2;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        if (edge) {
#pragma unroll
          for (int i = 0; i < kNT; ++i)
#pragma unroll
            for (int e = 0; e < 2; ++e)
              if (j * kBc + i * 8 + 2 * t + e >= p.M) s[mt][i][2 * hr + e] = -INFINITY;
        }
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < kNT; ++i) mx = fmaxf(mx, fmaxf(s[mt][i][2 * hr], s[mt][i][2 * hr + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        // Every tile holds at least one key < M, so mx is finite (for finite inputs).
        const float mn = fmaxf(m[mt][hr], mx * c);
        const float alpha = fast_exp2(m[mt][hr] - mn);  // 0 on the first tile (m = -inf)
        m[mt][hr] = mn;
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < kNT; ++i) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float x = s[mt][i][2 * hr + e];
            // c == 0 would make -inf * c a NaN: masked keys are zeroed explicitly
            const float pv = (edge && x == -INFINITY) ? 0.0f : fast_exp2(fmaf(x, c, -mn));
            s[mt][i][2 * hr + e] = pv;
            sum += pv;
          }
        }
        l[mt][hr] = l[mt][hr] * alpha + sum;
#pragma unroll
        for (int i = 0; i < kDT; ++i) {
          acc[mt][i][2 * hr] *= alpha;
          acc[mt][i][2 * hr + 1] *= alpha;
        }
      }
    }

    // O += P V: P's accumulator layout is the A operand's layout (two n-tiles per k-step).
#pragma unroll
    for (int kk = 0; kk < kNT / 2; ++kk) {
      uint32_t pa[kMT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        pa[mt][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        pa[mt][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        pa[mt][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        pa[mt][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < kDT / 2; ++dp) {
        uint32_t bf[4];
        ldsm_x4_t(bf, cV + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kS + dp * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          mma16816<T>(acc[mt][2 * dp], pa[mt], bf[0], bf[1]);
          mma16816<T>(acc[mt][2 * dp + 1], pa[mt], bf[2], bf[3]);
        }
      }
    }
  }

  // Epilogue: O / l, lse.
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float sum = l[mt][hr];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const int row = q0 + warp * 16 * kMT + mt * 16 + g + 8 * hr;
      if (row >= p.N) continue;
      const float inv = 1.0f / sum;
      T* orow = p.o + b * p.os[0] + h * p.os[1] + row * p.os[2];
#pragma unroll
      for (int i = 0; i < kDT; ++i)
        store2<T>(orow, i * 8 + 2 * t, p.D, acc[mt][i][2 * hr] * inv, acc[mt][i][2 * hr + 1] * inv, p.o_pair);
      if (t == 0) p.lse[int64_t(bh) * p.N + row] = (m[mt][hr] + log2f(sum)) * kLn2;
    }
  }
}

// ---- backward -----------------------------------------------------------------------------------
template <typename T>
struct BwdParams {
  const T *q, *k, *v, *o, *dout;
  const float* lse;  // [BH, N]
  float* delta;      // [BH, N]: rowsum(dO o O)
  float* dq_acc;     // [BH, N, D] float32, zeroed
  T *dq, *dk, *dv;   // contiguous
  int64_t qs[3], ks[3], vs[3], os[3], dos[3];
  int H, N, M, D;
  int bh0;
  float scale, scale_log2;
  bool pair;         // even D: paired stores/atomics into the contiguous outputs
};

// delta[bh, i] = sum_d dO[bh, i, d] O[bh, i, d]; one warp per row.
template <typename T>
__global__ void attn_bwd_delta(const BwdParams<T> p, int64_t rows) {
  const int64_t r = blockIdx.x * int64_t(blockDim.y) + threadIdx.y;
  if (r >= rows) return;
  const int64_t bh = r / p.N, i = r % p.N, b = bh / p.H, h = bh % p.H;
  const T* orow = p.o + b * p.os[0] + h * p.os[1] + i * p.os[2];
  const T* drow = p.dout + b * p.dos[0] + h * p.dos[1] + i * p.dos[2];
  float acc = 0.0f;
  for (int d = threadIdx.x; d < p.D; d += 32) acc += to_f(orow[d]) * to_f(drow[d]);
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (threadIdx.x == 0) p.delta[r] = acc;
}

// dq = dq_acc * scale, cast.
template <typename T>
__global__ void attn_bwd_dq(const float* __restrict__ acc, T* __restrict__ dq, int64_t n, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dq[i] = from_f<T>(acc[i] * scale);
}

template <int kD, int kBr>
struct BwdCfg {
  static constexpr int kWarps = 4, kThreads = 128, kBc = 64;
  static constexpr int kS = kD + kPad, kSS = kBr + kPad;
  static constexpr size_t smem(size_t elt) {
    return elt * (4 * size_t(kBr) * kS + 2 * size_t(kBc) * kS + size_t(kBc) * kSS) + 4 * sizeof(float) * kBr;
  }
};

template <typename T, int kD, int kBr, bool kVec>
__global__ void __launch_bounds__(128) attn_bwd(const BwdParams<T> p) {
  using Cfg = BwdCfg<kD, kBr>;
  constexpr int kThreads = Cfg::kThreads, kBc = Cfg::kBc, kS = Cfg::kS, kSS = Cfg::kSS;
  constexpr int kNT = kBr / 8, kDT = kD / 8, kKT = kD / 16;
  constexpr bool kKeepKV = kD <= 64;  // K, V fragments in registers (else re-read from shared memory)
  // dQ tile kBr x kD among the 4 warps: m-tile (warp % kQM), 64 columns from (warp / kQM) * 64.
  constexpr int kQM = kBr / 16;
  static_assert(kD / (Cfg::kWarps / kQM) == 64, "dQ split: each warp takes 16 rows x 64 columns");

  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* sQ = reinterpret_cast<T*>(smem_raw);  // [2][kBr][kS]
  T* sdO = sQ + 2 * kBr * kS;              // [2][kBr][kS]
  T* sK = sdO + 2 * kBr * kS;              // [kBc][kS]
  T* sV = sK + kBc * kS;                   // [kBc][kS]
  T* sdS = sV + kBc * kS;                  // [kBc][kSS]: dS^T
  float* sL = reinterpret_cast<float*>(sdS + kBc * kSS);  // [2][kBr]: lse * log2e (inf past N)
  float* sDl = sL + 2 * kBr;                               // [2][kBr]: delta (0 past N)

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int bh = p.bh0 + blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int k0 = blockIdx.x * kBc;
  const T* qg = p.q + b * p.qs[0] + h * p.qs[1];
  const T* kg = p.k + b * p.ks[0] + h * p.ks[1];
  const T* vg = p.v + b * p.vs[0] + h * p.vs[1];
  const T* dg = p.dout + b * p.dos[0] + h * p.dos[1];
  const float* lg = p.lse + int64_t(bh) * p.N;
  const float* dlg = p.delta + int64_t(bh) * p.N;
  const int nT = (p.N + kBr - 1) / kBr;

  auto load_q_block = [&](int i, int buf) {
    load_tile<T, kBr, kD, kThreads, kVec>(sQ + buf * kBr * kS, qg, p.qs[2], i * kBr, p.N, p.D, tid);
    load_tile<T, kBr, kD, kThreads, kVec>(sdO + buf * kBr * kS, dg, p.dos[2], i * kBr, p.N, p.D, tid);
    for (int r = tid; r < kBr; r += kThreads) {
      const int gr = i * kBr + r;
      sL[buf * kBr + r] = gr < p.N ? lg[gr] * kLog2e : INFINITY;
      sDl[buf * kBr + r] = gr < p.N ? dlg[gr] : 0.0f;
    }
  };

  load_tile<T, kBc, kD, kThreads, kVec>(sK, kg + int64_t(k0) * p.ks[2], p.ks[2], 0, p.M - k0, p.D, tid);
  load_tile<T, kBc, kD, kThreads, kVec>(sV, vg + int64_t(k0) * p.vs[2], p.vs[2], 0, p.M - k0, p.D, tid);
  load_q_block(0, 0);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();

  // This warp's 16 keys as A operands (rows warp*16 of sK / sV).
  const int arow = (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kS + (lane >> 4) * 8;
  uint32_t kf[kKeepKV ? kKT : 1][4], vf[kKeepKV ? kKT : 1][4];
  if constexpr (kKeepKV) {
#pragma unroll
    for (int kk = 0; kk < kKT; ++kk) {
      ldsm_x4(kf[kk], sK + arow + kk * 16);
      ldsm_x4(vf[kk], sV + arow + kk * 16);
    }
  }

  float dk[kDT][4], dv[kDT][4];
#pragma unroll
  for (int i = 0; i < kDT; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[i][e] = dv[i][e] = 0.0f;
  const bool key_edge = k0 + kBc > p.M;

  for (int it = 0; it < nT; ++it) {
    const int buf = it & 1;
    if (it > 0) {
      cp_async_wait_all();
      __syncthreads();
    }
    if (it + 1 < nT) {
      load_q_block(it + 1, buf ^ 1);
      cp_async_commit();
    }
    const T* cQ = sQ + buf * kBr * kS;
    const T* cdO = sdO + buf * kBr * kS;
    const float* cL = sL + buf * kBr;
    const float* cD = sDl + buf * kBr;

    // S^T = K Q^T and dP^T = V dO^T for this warp's 16 keys and the block's kBr queries.
    float st[kNT][4], dpt[kNT][4];
#pragma unroll
    for (int i = 0; i < kNT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[i][e] = dpt[i][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kKT; ++kk) {
      uint32_t ka[4], va[4];
      if constexpr (kKeepKV) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          ka[e] = kf[kk][e];
          va[e] = vf[kk][e];
        }
      } else {
        ldsm_x4(ka, sK + arow + kk * 16);
        ldsm_x4(va, sV + arow + kk * 16);
      }
#pragma unroll
      for (int np = 0; np < kNT / 2; ++np) {
        const int off = (np * 16 + (lane & 7) + (lane >> 4) * 8) * kS + kk * 16 + ((lane >> 3) & 1) * 8;
        uint32_t bq[4], bd[4];
        ldsm_x4(bq, cQ + off);
        ldsm_x4(bd, cdO + off);
        mma16816<T>(st[2 * np], ka, bq[0], bq[1]);
        mma16816<T>(st[2 * np + 1], ka, bq[2], bq[3]);
        mma16816<T>(dpt[2 * np], va, bd[0], bd[1]);
        mma16816<T>(dpt[2 * np + 1], va, bd[2], bd[3]);
      }
    }

    // P^T and dS^T (unscaled: dS = P (dP - delta); the scale is applied to dK and dQ at the end).
#pragma unroll
    for (int i = 0; i < kNT; ++i) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = i * 8 + 2 * t + (e & 1);
        const int key = k0 + warp * 16 + g + 8 * (e >> 1);
        float pv = fast_exp2(fmaf(st[i][e], p.scale_log2, -cL[col]));
        if (key_edge && key >= p.M) pv = 0.0f;
        st[i][e] = pv;
        dpt[i][e] = pv * (dpt[i][e] - cD[col]);
      }
    }

    // dV += P^T dO and dK += dS^T Q (B operands: dO and Q stored [query][d], loaded transposed).
#pragma unroll
    for (int kk = 0; kk < kNT / 2; ++kk) {
      uint32_t pa[4], da[4];
      pa[0] = pack2<T>(st[2 * kk][0], st[2 * kk][1]);
      pa[1] = pack2<T>(st[2 * kk][2], st[2 * kk][3]);
      pa[2] = pack2<T>(st[2 * kk + 1][0], st[2 * kk + 1][1]);
      pa[3] = pack2<T>(st[2 * kk + 1][2], st[2 * kk + 1][3]);
      da[0] = pack2<T>(dpt[2 * kk][0], dpt[2 * kk][1]);
      da[1] = pack2<T>(dpt[2 * kk][2], dpt[2 * kk][3]);
      da[2] = pack2<T>(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]);
      da[3] = pack2<T>(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3]);
      // dS^T to shared memory for the dQ product (rows = keys, columns = queries).
      T* srow = sdS + (warp * 16 + g) * kSS + kk * 16 + 2 * t;
      *reinterpret_cast<uint32_t*>(srow) = da[0];
      *reinterpret_cast<uint32_t*>(srow + 8 * kSS) = da[1];
      *reinterpret_cast<uint32_t*>(srow + 8) = da[2];
      *reinterpret_cast<uint32_t*>(srow + 8 * kSS + 8) = da[3];
#pragma unroll
      for (int dp = 0; dp < kDT / 2; ++dp) {
        const int off = (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kS + dp * 16 + (lane >> 4) * 8;
        uint32_t bd[4], bq[4];
        ldsm_x4_t(bd, cdO + off);
        ldsm_x4_t(bq, cQ + off);
        mma16816<T>(dv[2 * dp], pa, bd[0], bd[1]);
        mma16816<T>(dv[2 * dp + 1], pa, bd[2], bd[3]);
        mma16816<T>(dk[2 * dp], da, bq[0], bq[1]);
        mma16816<T>(dk[2 * dp + 1], da, bq[2], bq[3]);
      }
    }
    __syncthreads();  // dS^T complete

    // dQ[16 rows x 64 cols] += dS K, summed over the CTA's 64 keys, then added to dq_acc.
    {
      const int mq = warp % kQM, c0 = (warp / kQM) * 64;
      float dq[8][4];
#pragma unroll
      for (int i = 0; i < 8; ++i) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < kBc / 16; ++kk) {
        uint32_t a[4];
        ldsm_x4_t(a, sdS + (kk * 16 + (lane & 7) + (lane >> 4) * 8) * kSS + mq * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int dp = 0; dp < 4; ++dp) {
          uint32_t bk[4];
          ldsm_x4_t(bk, sK + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kS + c0 + dp * 16 + (lane >> 4) * 8);
          mma16816<T>(dq[2 * dp], a, bk[0], bk[1]);
          mma16816<T>(dq[2 * dp + 1], a, bk[2], bk[3]);
        }
      }
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int row = it * kBr + mq * 16 + g + 8 * hr;
        if (row >= p.N) continue;
        float* arow_g = p.dq_acc + (int64_t(bh) * p.N + row) * p.D;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const int col = c0 + i * 8 + 2 * t;
          const float x = dq[i][2 * hr], y = dq[i][2 * hr + 1];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
          if (p.pair && col + 1 < p.D) {
            atomicAdd(reinterpret_cast<float2*>(arow_g + col), make_float2(x, y));
            continue;
          }
#endif
          if (col < p.D) atomicAdd(arow_g + col, x);
          if (col + 1 < p.D) atomicAdd(arow_g + col + 1, y);
        }
      }
    }
  }

  // dK (times scale) and dV for this CTA's keys.
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    const int key = k0 + warp * 16 + g + 8 * hr;
    if (key >= p.M) continue;
    T* dkr = p.dk + (int64_t(bh) * p.M + key) * p.D;
    T* dvr = p.dv + (int64_t(bh) * p.M + key) * p.D;
#pragma unroll
    for (int i = 0; i < kDT; ++i) {
      store2<T>(dkr, i * 8 + 2 * t, p.D, dk[i][2 * hr] * p.scale, dk[i][2 * hr + 1] * p.scale, p.pair);
      store2<T>(dvr, i * 8 + 2 * t, p.D, dv[i][2 * hr], dv[i][2 * hr + 1], p.pair);
    }
  }
}

// ---- host side ----------------------------------------------------------------------------------
void fill_strides(int64_t (&dst)[3], const Tensor& t) {
  for (int i = 0; i < 3; ++i) dst[i] = t.strides()[i];
}

bool vec_ok(const Tensor& t, int D) {
  const auto addr = reinterpret_cast<uintptr_t>(t.data_ptr());
  return D % 8 == 0 && addr % 16 == 0 && t.strides()[0] % 8 == 0 && t.strides()[1] % 8 == 0 && t.strides()[2] % 8 == 0;
}

int padded_dim(const char* op, int64_t D) {
  if (D <= 64) return 64;
  if (D <= 128) return 128;
  raise(ErrorKind::Range, "", std::string(op) + ": argument 'query' has head dimension " + std::to_string(D) +
                                  " (the CUDA kernel supports 1..128; move the tensors to the CPU for larger heads)");
}

template <typename Kern>
void set_smem(Kern kern, size_t bytes) {
  if (bytes > 48 * 1024) RADDINO_CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

// Launches over heads in chunks of at most 65535 (grid.y).
template <typename F>
void for_head_chunks(int64_t BH, F&& launch) {
  for (int64_t bh0 = 0; bh0 < BH; bh0 += 65535) launch(static_cast<int>(bh0), static_cast<unsigned>(std::min<int64_t>(65535, BH - bh0)));
}

template <typename T, int kD, int kWarps, int kMT, int kBc>
void launch_fwd(FwdParams<T> p, int64_t BH, bool vec, cudaStream_t s) {
  using Cfg = FwdCfg<kD, kWarps, kMT, kBc>;
  const size_t bytes = Cfg::smem(sizeof(T));
  auto kern = vec ? attn_fwd<T, kD, kWarps, kMT, kBc, true> : attn_fwd<T, kD, kWarps, kMT, kBc, false>;
  set_smem(kern, bytes);
  const unsigned rows = static_cast<unsigned>((p.N + Cfg::kBr - 1) / Cfg::kBr);
  for_head_chunks(BH, [&](int bh0, unsigned nh) {
    p.bh0 = bh0;
    kern<<<dim3(rows, nh), Cfg::kThreads, bytes, s>>>(p);
    RADDINO_CUDA_LAUNCHED("attention");
  });
}

template <typename T, int kD, int kBr>
void launch_bwd(BwdParams<T> p, int64_t BH, bool vec, cudaStream_t s) {
  using Cfg = BwdCfg<kD, kBr>;
  const size_t bytes = Cfg::smem(sizeof(T));
  auto kern = vec ? attn_bwd<T, kD, kBr, true> : attn_bwd<T, kD, kBr, false>;
  set_smem(kern, bytes);
  const unsigned cols = static_cast<unsigned>((p.M + Cfg::kBc - 1) / Cfg::kBc);
  for_head_chunks(BH, [&](int bh0, unsigned nh) {
    p.bh0 = bh0;
    kern<<<dim3(cols, nh), Cfg::kThreads, bytes, s>>>(p);
    RADDINO_CUDA_LAUNCHED("attention_back");
  });
}

template <typename F>
void visit_half(const char* op, DType d, F&& f) {
  switch (d) {
    case DType::BF16: f(__nv_bfloat16{}); return;
    case DType::F16: f(__half{}); return;
    default:
      raise(ErrorKind::Type, "", std::string(op) + ": dtype " + dtype_name(d) + " is not supported on cuda (expected bfloat16 or float16)");
  }
}

void check_sizes(const char* op, int64_t B, int64_t H, int64_t N, int64_t M) {
  if (N > INT32_MAX / 2 || M > INT32_MAX / 2 || H > INT32_MAX || B * H > INT32_MAX)
    raise(ErrorKind::Range, "", std::string(op) + ": sizes B*H = " + std::to_string(B * H) + ", N = " + std::to_string(N) +
                                    ", M = " + std::to_string(M) + " exceed the CUDA kernel's 32-bit indices");
}

}  // namespace

// in: q, k, v; out: out ([B, H, N, D] view of a [B, N, H, D] buffer), lse [B, H, N] float32.
void attention_kernel(const OpCall& c) {
  const Tensor& q = *c.in[0];
  const Tensor& k = *c.in[1];
  const Tensor& v = *c.in[2];
  const Tensor& out = *c.out[0];
  const Shape& qs = q.shape();
  const int64_t B = qs[0], H = qs[1], N = qs[2], D = qs[3], M = k.shape()[2];
  check_sizes("attention", B, H, N, M);
  const int kD = padded_dim("attention", D);
  cudaStream_t s = stream_for(call_device(c));
  visit_half("attention", q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    FwdParams<T> p{};
    p.q = q.data<T>();
    p.k = k.data<T>();
    p.v = v.data<T>();
    p.o = out.data<T>();
    p.lse = c.out[1]->data<float>();
    fill_strides(p.qs, q);
    fill_strides(p.ks, k);
    fill_strides(p.vs, v);
    fill_strides(p.os, out);
    p.H = static_cast<int>(H);
    p.N = static_cast<int>(N);
    p.M = static_cast<int>(M);
    p.D = static_cast<int>(D);
    p.scale_log2 = static_cast<float>(std::fabs(c.p.a) * 1.4426950408889634);
    p.negate_q = c.p.a < 0;
    p.o_pair = D % 2 == 0 && reinterpret_cast<uintptr_t>(out.data_ptr()) % 4 == 0 && out.strides()[0] % 2 == 0 &&
               out.strides()[1] % 2 == 0 && out.strides()[2] % 2 == 0;
    const bool vec = vec_ok(q, int(D)) && vec_ok(k, int(D)) && vec_ok(v, int(D));
    if (kD == 64)
      launch_fwd<T, 64, 4, 2, 64>(p, B * H, vec, s);
    else
      launch_fwd<T, 128, 8, 1, 64>(p, B * H, vec, s);
  });
}

// in: q, k, v, out, lse, dout; out: dq, dk, dv (contiguous).
void attention_backward_kernel(const OpCall& c) {
  const Tensor& q = *c.in[0];
  const Tensor& k = *c.in[1];
  const Tensor& v = *c.in[2];
  const Tensor& o = *c.in[3];
  const Tensor& lse = *c.in[4];
  const Tensor& dout = *c.in[5];
  const Shape& qs = q.shape();
  const int64_t B = qs[0], H = qs[1], N = qs[2], D = qs[3], M = k.shape()[2];
  check_sizes("attention_back", B, H, N, M);
  const int kD = padded_dim("attention_back", D);
  const int dev = call_device(c);
  cudaStream_t s = stream_for(dev);
  const int64_t BH = B * H;
  visit_half("attention_back", q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* dq = c.out[0]->data<T>();
    T* dk = c.out[1]->data<T>();
    T* dv = c.out[2]->data<T>();
    if (N == 0 || M == 0) {  // no scores: every gradient is zero
      for (const Tensor* t : c.out)
        if (numel_of(*t) > 0) RADDINO_CUDA_CHECK(cudaMemsetAsync(t->data_ptr(), 0, numel_of(*t) * sizeof(T), s));
      return;
    }
    Scratch delta(sizeof(float) * BH * N, dev), acc(sizeof(float) * BH * N * D, dev);
    RADDINO_CUDA_CHECK(cudaMemsetAsync(acc.as<float>(), 0, sizeof(float) * BH * N * D, s));
    BwdParams<T> p{};
    p.q = q.data<T>();
    p.k = k.data<T>();
    p.v = v.data<T>();
    p.o = o.data<T>();
    p.dout = dout.data<T>();
    p.lse = lse.data<float>();
    p.delta = delta.as<float>();
    p.dq_acc = acc.as<float>();
    p.dq = dq;
    p.dk = dk;
    p.dv = dv;
    fill_strides(p.qs, q);
    fill_strides(p.ks, k);
    fill_strides(p.vs, v);
    fill_strides(p.os, o);
    fill_strides(p.dos, dout);
    p.H = static_cast<int>(H);
    p.N = static_cast<int>(N);
    p.M = static_cast<int>(M);
    p.D = static_cast<int>(D);
    p.scale = static_cast<float>(c.p.a);
    p.scale_log2 = static_cast<float>(c.p.a * 1.4426950408889634);
    p.pair = D % 2 == 0;
    const int64_t rows = BH * N;
    attn_bwd_delta<T><<<static_cast<unsigned>((rows + 7) / 8), dim3(32, 8), 0, s>>>(p, rows);
    RADDINO_CUDA_LAUNCHED("attention_back");
    const bool vec = vec_ok(q, int(D)) && vec_ok(k, int(D)) && vec_ok(v, int(D)) && vec_ok(dout, int(D));
    if (kD == 64)
      launch_bwd<T, 64, 64>(p, BH, vec, s);
    else
      launch_bwd<T, 128, 32>(p, BH, vec, s);
    const int64_t n = BH * N * D;
    attn_bwd_dq<T><<<blocks_for(n, 256), 256, 0, s>>>(acc.as<float>(), dq, n, p.scale);
    RADDINO_CUDA_LAUNCHED("attention_back");
  });
}

}  // namespace raddino::cuda
