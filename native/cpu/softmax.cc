// SOFTMAX / LOG_SOFTMAX along one dim. Every softmax vector is made a contiguous row (in place
// in the output when the dim is innermost, else through a per-thread buffer) and handed to a row
// kernel: the vectorised float32 one of the CPU's ISA, or a double-precision loop otherwise.
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "cpu/isa.h"
#include "cpu/dtype_visit.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {
namespace {

using RowF32 = void (*)(const float*, float*, int64_t, bool);

template <typename C>
void softmax_row_generic(const C* x, C* y, int64_t n, bool log) {
  C m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - static_cast<double>(m));
  if (log) {
    double shift = static_cast<double>(m) + std::log(sum);
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<C>(static_cast<double>(x[i]) - shift);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<C>(std::exp(static_cast<double>(x[i]) - static_cast<double>(m)) / sum);
  }
}

template <typename T>
void softmax_typed(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  const Tensor& x = *c.in[0];
  const Tensor& out = *c.out[0];
  const bool log = c.op == Op::LOG_SOFTMAX;
  const int d = static_cast<int>(c.p.dim);
  const int64_t n = x.shape()[d], xs = x.strides()[d];
  // Output rows: outer = dims before d, inner = dims after d (output is contiguous).
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= x.shape()[i];
  for (int i = d + 1; i < x.ndim(); ++i) inner *= x.shape()[i];
  // Input element offsets of (o, k) without dim d.
  auto input_base = [&](int64_t o, int64_t k) {
    int64_t off = 0;
    for (int i = x.ndim() - 1; i > d; --i) {
      off += (k % x.shape()[i]) * x.strides()[i];
      k /= x.shape()[i];
    }
    for (int i = d - 1; i >= 0; --i) {
      off += (o % x.shape()[i]) * x.strides()[i];
      o /= x.shape()[i];
    }
    return off;
  };
  static const RowF32 fast = select_isa<RowF32>(generic::softmax_row_f32, avx2::softmax_row_f32, avx512::softmax_row_f32);
  const S* xb = x.data<S>();
  S* ob = out.data<S>();
  parallel_for(outer * inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    std::vector<C> in_row(static_cast<size_t>(n)), out_row(static_cast<size_t>(n));
    for (int64_t r = b; r < e; ++r) {
      int64_t o = r / inner, k = r % inner;
      const S* src = xb + input_base(o, k);
      S* dst = ob + o * n * inner + k;
      if constexpr (std::is_same_v<S, float>) {
        if (xs == 1 && inner == 1) {
          fast(src, dst, n, log);
          continue;
        }
      }
      for (int64_t i = 0; i < n; ++i) in_row[i] = T::load(src[i * xs]);
      if constexpr (std::is_same_v<C, float>) fast(in_row.data(), out_row.data(), n, log);
      else softmax_row_generic(in_row.data(), out_row.data(), n, log);
      for (int64_t i = 0; i < n; ++i) dst[i * inner] = T::store(out_row[i]);
    }
  });
}

// Backward over contiguous y, dy, dx viewed as (outer, n, inner): per (outer, inner) vector,
// dx = y (dy - <dy, y>) (softmax) or dx = dy - exp(y) sum(dy) (log_softmax); sums in double.
template <typename T>
void softmax_backward_typed(const OpCall& c) {
  using S = typename T::S;
  const Tensor& y = *c.in[0];
  const bool log = c.op == Op::LOG_SOFTMAX_BACK;
  const int d = static_cast<int>(c.p.dim);
  const int64_t n = y.shape()[d];
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= y.shape()[i];
  for (int i = d + 1; i < y.ndim(); ++i) inner *= y.shape()[i];
  const S* yb = y.data<S>();
  const S* gb = c.in[1]->data<S>();
  S* ob = c.out[0]->data<S>();
  parallel_for(outer * inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t base = (r / inner) * n * inner + r % inner;
      double s = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t at = base + i * inner;
        s += log ? static_cast<double>(T::load(gb[at])) : static_cast<double>(T::load(gb[at])) * T::load(yb[at]);
      }
      const auto sc = static_cast<typename T::Cmp>(s);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t at = base + i * inner;
        const auto yv = T::load(yb[at]), gv = T::load(gb[at]);
        ob[at] = T::store(log ? gv - std::exp(yv) * sc : yv * (gv - sc));
      }
    }
  });
}

}  // namespace

void softmax_backward_kernel(const OpCall& c) {
  switch (c.in[0]->dtype()) {
    case DType::F32: softmax_backward_typed<Ty<float>>(c); break;
    case DType::F64: softmax_backward_typed<Ty<double>>(c); break;
    case DType::BF16: softmax_backward_typed<BF16T>(c); break;
    case DType::F16: softmax_backward_typed<F16T>(c); break;
    default: break;
  }
}

void softmax_kernel(const OpCall& c) {
  switch (c.in[0]->dtype()) {
    case DType::F32: softmax_typed<Ty<float>>(c); break;
    case DType::F64: softmax_typed<Ty<double>>(c); break;
    case DType::BF16: softmax_typed<BF16T>(c); break;
    case DType::F16: softmax_typed<F16T>(c); break;
    default: break;
  }
}

}  // namespace raddino::cpu
