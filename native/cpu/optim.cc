// ADAMW: the fused in-place AdamW step (core/ops.h), one pass over param, grad, m and v.
#include <cmath>
#include <cstdint>

#include "core/backend.h"
#include "cpu/kernels.h"
#include "cpu/loop.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {
namespace {

template <typename T>
void adamw_typed(const OpCall& c) {
  const int64_t n = c.out[0]->numel();
  const T* g = c.in[0]->data<T>();
  T* p = c.out[0]->data<T>();
  T* m = c.out[1]->data<T>();
  T* v = c.out[2]->data<T>();
  const double lr = c.p.a, wd = c.p.b, b1 = c.p.c, b2 = c.p.d, eps = c.p.e;
  const double t = static_cast<double>(c.p.k);
  const T decay = static_cast<T>(1.0 - lr * wd);
  const T step_size = static_cast<T>(lr / (1.0 - std::pow(b1, t)));
  const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(1.0 - std::pow(b2, t)));
  const T tb1 = static_cast<T>(b1), tb2 = static_cast<T>(b2), te = static_cast<T>(eps);
  const T one_b1 = static_cast<T>(1.0 - b1), one_b2 = static_cast<T>(1.0 - b2);
  parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T gi = g[i];
      T mi = tb1 * m[i] + one_b1 * gi;
      T vi = tb2 * v[i] + one_b2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + te);
    }
  });
}

template <typename T>
void ema_typed(const OpCall& c) {
  const int64_t n = c.out[0]->numel();
  const T* s = c.in[0]->data<T>();
  T* t = c.out[0]->data<T>();
  const T m = static_cast<T>(c.p.a), w = static_cast<T>(1.0 - c.p.a);
  parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    T* __restrict__ tp = t;
    const T* __restrict__ sp = s;
    for (int64_t i = lo; i < hi; ++i) tp[i] = m * tp[i] + w * sp[i];
  });
}

}  // namespace

void ema_kernel(const OpCall& c) {
  if (c.out[0]->dtype() == DType::F64) ema_typed<double>(c);
  else ema_typed<float>(c);
}

void adamw_kernel(const OpCall& c) {
  if (c.out[0]->dtype() == DType::F64) adamw_typed<double>(c);
  else adamw_typed<float>(c);
}

}  // namespace raddino::cpu
