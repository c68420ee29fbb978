// ATTENTION and ATTENTION_BACK: fused scaled-dot-product attention (see core/ops.h for the
// contract). float32 goes to the per-ISA kernels (cpu/attention_impl.h, compiled in
// attention_avx512.cc and attention_avx2.cc, chosen from cpu_features()); float64 (gradient
// checks), bfloat16/float16 (computed in float32) and CPUs without AVX2 use the portable loops
// below. Neither path stores the N x M score matrix.
//
// Portable forward: one query row at a time (rows spread over threads), online softmax over
// blocks of kBlock keys: the row's running max m, sum l and output accumulator are rescaled by
// e^(m_old - m_new) when a block raises the max.
// Portable backward: one head per task (heads spread over threads, each head sequential, so
// results do not depend on the thread count): P recomputed from lse, D_i = rowsum(dout * out),
// dS = P (dP - D_i), and dq, dk, dv accumulated row by row.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/backend.h"
#include "cpu/attention.h"
#include "cpu/cpu_features.h"
#include "cpu/dtype_visit.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {
namespace {

using FastFn = bool (*)(const OpCall&);

struct FastPaths {
  FastFn forward = nullptr, backward = nullptr;
};

const FastPaths& fast_paths() {
  static const FastPaths paths = [] {
    FastPaths p;
#if defined(__x86_64__)
    const CpuFeatures& f = cpu_features();
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) {
      p.forward = attention_avx512::forward_f32;
      p.backward = attention_avx512::backward_f32;
    } else if (f.avx2 && f.fma) {
      p.forward = attention_avx2::forward_f32;
      p.backward = attention_avx2::backward_f32;
    }
#endif
    return p;
  }();
  return paths;
}

constexpr int64_t kBlock = 64;  // keys per online-softmax block of the portable forward

// Statistics (lse) type: double for float64, float otherwise.
template <typename T>
using StatT = std::conditional_t<std::is_same_v<typename T::S, double>, double, float>;

template <typename T>
void forward_portable(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  using St = StatT<T>;
  const Tensor& q = *c.in[0];
  const Tensor& k = *c.in[1];
  const Tensor& v = *c.in[2];
  const Tensor& out = *c.out[0];
  St* lse = c.out[1]->data<St>();
  const Shape& qs = q.shape();
  const int64_t H = qs[1], N = qs[2], D = qs[3], M = k.shape()[2];
  const int64_t rows = qs[0] * H * N;
  if (rows == 0) return;
  const C scale = static_cast<C>(c.p.a);
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, M * D));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<C> acc(static_cast<size_t>(D)), qi(static_cast<size_t>(D)), sc(kBlock);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / N, i = r % N, b = bh / H, h = bh % H;
      const S* qp = q.data<S>() + b * q.strides()[0] + h * q.strides()[1] + i * q.strides()[2];
      const S* kh = k.data<S>() + b * k.strides()[0] + h * k.strides()[1];
      const S* vh = v.data<S>() + b * v.strides()[0] + h * v.strides()[1];
      for (int64_t d = 0; d < D; ++d) qi[d] = T::load(qp[d]);
      std::fill(acc.begin(), acc.end(), C(0));
      C m = -std::numeric_limits<C>::infinity(), l = 0;
      for (int64_t j0 = 0; j0 < M; j0 += kBlock) {
        const int64_t nj = std::min(kBlock, M - j0);
        C bm = -std::numeric_limits<C>::infinity();
        for (int64_t j = 0; j < nj; ++j) {
          const S* kj = kh + (j0 + j) * k.strides()[2];
          C s = 0;
          for (int64_t d = 0; d < D; ++d) s += qi[d] * T::load(kj[d]);
          sc[j] = s * scale;
          bm = std::max(bm, sc[j]);
        }
        const C mn = std::max(m, bm);
        const C alpha = std::exp(m - mn);
        l *= alpha;
        for (int64_t d = 0; d < D; ++d) acc[d] *= alpha;
        for (int64_t j = 0; j < nj; ++j) {
          const C p = std::exp(sc[j] - mn);
          l += p;
          const S* vj = vh + (j0 + j) * v.strides()[2];
          for (int64_t d = 0; d < D; ++d) acc[d] += p * T::load(vj[d]);
        }
        m = mn;
      }
      S* o = out.data<S>() + b * out.strides()[0] + h * out.strides()[1] + i * out.strides()[2];
      for (int64_t d = 0; d < D; ++d) o[d] = T::store(acc[d] / l);
      lse[r] = static_cast<St>(m + std::log(l));
    }
  });
}

template <typename T>
void backward_portable(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  using St = StatT<T>;
  const Tensor& q = *c.in[0];
  const Tensor& k = *c.in[1];
  const Tensor& v = *c.in[2];
  const Tensor& o = *c.in[3];
  const St* lse = c.in[4]->data<St>();
  const Tensor& dout = *c.in[5];
  const Shape& qs = q.shape();
  const int64_t H = qs[1], N = qs[2], D = qs[3], M = k.shape()[2], BH = qs[0] * H;
  const C scale = static_cast<C>(c.p.a);
  // Inputs and outputs alike: [B, H, rows, D] with any strides but a unit last one (the outputs
  // may be views into one fused qkv gradient).
  auto row = [](const Tensor& t, int64_t b, int64_t h, int64_t i) {
    return t.data<S>() + b * t.strides()[0] + h * t.strides()[1] + i * t.strides()[2];
  };
  const Tensor &dq = *c.out[0], &dk = *c.out[1], &dv = *c.out[2];
  parallel_for(BH, 1, [&](int64_t h0, int64_t h1) {
    std::vector<C> di(static_cast<size_t>(N)), dqa(static_cast<size_t>(N * D)), dka(static_cast<size_t>(M * D)),
        dva(static_cast<size_t>(M * D)), qi(static_cast<size_t>(D)), doi(static_cast<size_t>(D));
    for (int64_t bh = h0; bh < h1; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      std::fill(dqa.begin(), dqa.end(), C(0));
      std::fill(dka.begin(), dka.end(), C(0));
      std::fill(dva.begin(), dva.end(), C(0));
      for (int64_t i = 0; i < N; ++i) {
        const S* qp = row(q, b, h, i);
        const S* dop = row(dout, b, h, i);
        const S* op = row(o, b, h, i);
        C dsum = 0;
        for (int64_t d = 0; d < D; ++d) {
          qi[d] = T::load(qp[d]);
          doi[d] = T::load(dop[d]);
          dsum += doi[d] * T::load(op[d]);
        }
        const C li = static_cast<C>(lse[bh * N + i]);
        C* dqi = dqa.data() + i * D;
        for (int64_t j = 0; j < M; ++j) {
          const S* kj = row(k, b, h, j);
          const S* vj = row(v, b, h, j);
          C s = 0, dp = 0;
          for (int64_t d = 0; d < D; ++d) {
            s += qi[d] * T::load(kj[d]);
            dp += doi[d] * T::load(vj[d]);
          }
          const C p = std::exp(s * scale - li);
          const C ds = p * (dp - dsum) * scale;
          C* dkj = dka.data() + j * D;
          C* dvj = dva.data() + j * D;
          for (int64_t d = 0; d < D; ++d) {
            dvj[d] += p * doi[d];
            dkj[d] += ds * qi[d];
            dqi[d] += ds * T::load(kj[d]);
          }
        }
      }
      for (int64_t i = 0; i < N; ++i) {
        S* dst = row(dq, b, h, i);
        for (int64_t d = 0; d < D; ++d) dst[d] = T::store(dqa[i * D + d]);
      }
      for (int64_t j = 0; j < M; ++j) {
        S* dkj = row(dk, b, h, j);
        S* dvj = row(dv, b, h, j);
        for (int64_t d = 0; d < D; ++d) {
          dkj[d] = T::store(dka[j * D + d]);
          dvj[d] = T::store(dva[j * D + d]);
        }
      }
    }
  });
}

template <typename F>
void visit_float(DType d, F&& f) {
  switch (d) {
    case DType::F32: f(Ty<float>{}); break;
    case DType::F64: f(Ty<double>{}); break;
    case DType::BF16: f(BF16T{}); break;
    case DType::F16: f(F16T{}); break;
    default: break;
  }
}

}  // namespace

void attention_kernel(const OpCall& c) {
  const DType dt = c.in[0]->dtype();
  if (dt == DType::F32 && fast_paths().forward != nullptr && fast_paths().forward(c)) return;
  visit_float(dt, [&](auto tag) { forward_portable<decltype(tag)>(c); });
}

void attention_backward_kernel(const OpCall& c) {
  const DType dt = c.in[0]->dtype();
  if (dt == DType::F32 && fast_paths().backward != nullptr && fast_paths().backward(c)) return;
  visit_float(dt, [&](auto tag) { backward_portable<decltype(tag)>(c); });
}

}  // namespace raddino::cpu
