// LAYER_NORM / LAYER_NORM_BACK over the last dim. float32 rows go to the vectorised row kernels
// of the CPU's ISA (elementwise_impl.h); float64 and the half types use the template below.
// The weight/bias gradients are summed per fixed block of rows and the blocks are then added in
// order, so they do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "cpu/dims.h"
#include "cpu/dtype_visit.h"
#include "cpu/isa.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {
namespace {

using RowF32 = void (*)(const float*, float*, int64_t, const float*, const float*, float, float*, float*);
using BackRowF32 = void (*)(const float*, const float*, float, float, const float*, float*, float*, float*, int64_t);

// Rows per gradient block: depends on the row count only (determinism), at most ~256 blocks.
int64_t rows_per_block(int64_t rows) { return std::max<int64_t>(32, (rows + 255) / 256); }

// Reference-precision row kernels: C is the compute type (double for float64, float otherwise).
template <typename C>
void layer_norm_row(const C* x, C* y, int64_t n, const C* w, const C* b, C eps, C* mean_out, C* rstd_out) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(n) + static_cast<double>(eps));
  for (int64_t i = 0; i < n; ++i) {
    double v = (x[i] - mean) * rstd;
    if (w) v *= w[i];
    if (b) v += b[i];
    y[i] = static_cast<C>(v);
  }
  *mean_out = static_cast<C>(mean);
  *rstd_out = static_cast<C>(rstd);
}

template <typename C>
void layer_norm_back_row(const C* dy, const C* x, C mean, C rstd, const C* w, C* dx, C* dw, C* db, int64_t n) {
  double sg = 0, sgx = 0;
  for (int64_t i = 0; i < n; ++i) {
    double g = w ? static_cast<double>(dy[i]) * w[i] : dy[i];
    sg += g;
    sgx += g * (x[i] - mean) * rstd;
  }
  const double mg = sg / static_cast<double>(n), mgx = sgx / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    double xh = (x[i] - mean) * static_cast<double>(rstd);
    double g = w ? static_cast<double>(dy[i]) * w[i] : dy[i];
    dx[i] = static_cast<C>(rstd * (g - mg - xh * mgx));
    if (dw) dw[i] += static_cast<C>(dy[i] * xh);
    if (db) db[i] += dy[i];
  }
}

// Loads n elements of storage type T into a compute-type buffer (identity for float/double).
template <typename T>
void load_row(const typename T::S* src, typename T::Cmp* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = T::load(src[i]);
}
template <typename T>
void store_row(const typename T::Cmp* src, typename T::S* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = T::store(src[i]);
}

template <typename T>
void forward_typed(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  const Tensor& x = *c.in[0];
  const int64_t n = x.shape().back(), rows = x.numel() / n;
  const bool has_w = c.p.flag0, has_b = c.p.flag1;
  const Tensor* wt = has_w ? c.in[1] : nullptr;
  const Tensor* bt = has_b ? c.in[has_w ? 2 : 1] : nullptr;
  Dims rd;  // row offsets of x (its last dim is contiguous)
  for (int d = 0; d + 1 < x.ndim(); ++d) {
    rd.size[rd.n] = x.shape()[d];
    rd.stride[rd.n] = x.strides()[d];
    ++rd.n;
  }
  std::vector<C> w(has_w ? n : 0), b(has_b ? n : 0);
  if (has_w) for (int64_t i = 0; i < n; ++i) w[i] = T::load(wt->data<S>()[i * wt->strides()[0]]);
  if (has_b) for (int64_t i = 0; i < n; ++i) b[i] = T::load(bt->data<S>()[i * bt->strides()[0]]);
  const S* xb = x.data<S>();
  S* y = c.out[0]->data<S>();
  using Stat = std::conditional_t<std::is_same_v<C, double>, double, float>;
  Stat* mean = c.out[1]->data<Stat>();
  Stat* rstd = c.out[2]->data<Stat>();
  const C eps = static_cast<C>(c.p.a);
  static const RowF32 fast = select_isa<RowF32>(generic::layer_norm_row_f32, avx2::layer_norm_row_f32, avx512::layer_norm_row_f32);
  parallel_for(rows, std::max<int64_t>(1, 8192 / n), [&](int64_t lo, int64_t hi) {
    std::vector<C> xin(static_cast<size_t>(n)), yout(static_cast<size_t>(n));
    for (int64_t r = lo; r < hi; ++r) {
      const S* xr = xb + rd.offset(r);
      if constexpr (std::is_same_v<S, float>) {
        fast(xr, y + r * n, n, has_w ? w.data() : nullptr, has_b ? b.data() : nullptr, eps, &mean[r], &rstd[r]);
      } else {
        load_row<T>(xr, xin.data(), n);
        C m, s;
        layer_norm_row<C>(xin.data(), yout.data(), n, has_w ? w.data() : nullptr, has_b ? b.data() : nullptr, eps, &m, &s);
        store_row<T>(yout.data(), y + r * n, n);
        mean[r] = static_cast<Stat>(m);
        rstd[r] = static_cast<Stat>(s);
      }
    }
  });
}

template <typename T>
void backward_typed(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  using Stat = std::conditional_t<std::is_same_v<C, double>, double, float>;
  const Tensor& x = *c.in[1];
  const int64_t n = x.shape().back(), rows = x.numel() / n;
  const bool has_w = c.p.flag0, has_b = c.p.flag1;
  const S* dy = c.in[0]->data<S>();
  const S* xb = x.data<S>();
  const Stat* mean = c.in[2]->data<Stat>();
  const Stat* rstd = c.in[3]->data<Stat>();
  std::vector<C> w(has_w ? n : 0);
  if (has_w) {
    const Tensor* wt = c.in[4];
    for (int64_t i = 0; i < n; ++i) w[i] = T::load(wt->data<S>()[i * wt->strides()[0]]);
  }
  S* dx = c.out[0]->data<S>();
  const int64_t rpb = rows_per_block(rows), blocks = (rows + rpb - 1) / rpb;
  // Per-block partial sums of dw and db (compute type), reduced in block order afterwards.
  std::vector<C> pdw(has_w ? blocks * n : 0), pdb(has_b ? blocks * n : 0);
  static const BackRowF32 fast = select_isa<BackRowF32>(generic::layer_norm_back_row_f32, avx2::layer_norm_back_row_f32,
                                                        avx512::layer_norm_back_row_f32);
  parallel_for(blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<C> dyr(static_cast<size_t>(n)), xr(static_cast<size_t>(n)), dxr(static_cast<size_t>(n));
    for (int64_t blk = lo; blk < hi; ++blk) {
      C* bw = has_w ? pdw.data() + blk * n : nullptr;
      C* bb = has_b ? pdb.data() + blk * n : nullptr;
      if (bw) std::fill(bw, bw + n, C(0));
      if (bb) std::fill(bb, bb + n, C(0));
      for (int64_t r = blk * rpb; r < std::min(rows, (blk + 1) * rpb); ++r) {
        if constexpr (std::is_same_v<S, float>) {
          fast(dy + r * n, xb + r * n, mean[r], rstd[r], has_w ? w.data() : nullptr, dx + r * n, bw, bb, n);
        } else {
          load_row<T>(dy + r * n, dyr.data(), n);
          load_row<T>(xb + r * n, xr.data(), n);
          layer_norm_back_row<C>(dyr.data(), xr.data(), static_cast<C>(mean[r]), static_cast<C>(rstd[r]),
                                 has_w ? w.data() : nullptr, dxr.data(), bw, bb, n);
          store_row<T>(dxr.data(), dx + r * n, n);
        }
      }
    }
  });
  auto reduce_blocks = [&](const std::vector<C>& parts, Tensor* out) {
    S* o = out->data<S>();
    for (int64_t i = 0; i < n; ++i) {
      double acc = 0;
      for (int64_t blk = 0; blk < blocks; ++blk) acc += parts[blk * n + i];
      o[i] = T::store(static_cast<C>(acc));
    }
  };
  int k = 1;
  if (has_w) reduce_blocks(pdw, c.out[k++]);
  if (has_b) reduce_blocks(pdb, c.out[k++]);
}

template <template <typename> class F>
void by_float_dtype(DType d, const OpCall& c) {
  switch (d) {
    case DType::F32: F<Ty<float>>::run(c); break;
    case DType::F64: F<Ty<double>>::run(c); break;
    case DType::BF16: F<BF16T>::run(c); break;
    case DType::F16: F<F16T>::run(c); break;
    default: break;
  }
}
template <typename T>
struct Forward {
  static void run(const OpCall& c) { forward_typed<T>(c); }
};
template <typename T>
struct Backward {
  static void run(const OpCall& c) { backward_typed<T>(c); }
};

}  // namespace

void layer_norm_kernel(const OpCall& c) { by_float_dtype<Forward>(c.in[0]->dtype(), c); }
void layer_norm_backward_kernel(const OpCall& c) { by_float_dtype<Backward>(c.in[1]->dtype(), c); }

}  // namespace raddino::cpu
