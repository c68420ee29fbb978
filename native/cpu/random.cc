// Random kernels on the shared Philox stream (core/rng.h): element i of the (contiguous) output
// uses counter offset + i, so results do not depend on the thread count.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/backend.h"
#include "core/rng.h"
#include "cpu/dims.h"
#include "cpu/dtype_visit.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {
namespace {

template <typename T, typename F>
void generate(const OpCall& c, F value_of) {
  using S = typename T::S;
  S* o = c.out[0]->data<S>();
  const uint64_t seed = c.p.seed, offset = c.p.offset;
  parallel_for(c.out[0]->numel(), 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = convert_to<T>(value_of(rng::philox(seed, offset + static_cast<uint64_t>(i)), i));
  });
}

template <typename T>
void random_typed(const OpCall& c) {
  using C = typename T::Cmp;
  const double a = c.p.a, b = c.p.b;
  switch (c.op) {
    case Op::RAND:
      if constexpr (std::is_same_v<C, double>) {
        generate<T>(c, [=](const rng::U32x4& r, int64_t) { return a + (b - a) * rng::uniform_f64(r.v[0], r.v[1]); });
      } else {
        generate<T>(c, [=](const rng::U32x4& r, int64_t) {
          float v = static_cast<float>(a) + static_cast<float>(b - a) * rng::uniform_f32(r.v[0]);
          return v < static_cast<float>(b) || a == b ? v : std::nextafter(static_cast<float>(b), static_cast<float>(a));
        });
      }
      break;
    case Op::RANDN:
      generate<T>(c, [=](const rng::U32x4& r, int64_t) { return a + b * rng::normal(r); });
      break;
    case Op::TRUNC_NORMAL: {
      const double lo = c.p.c, hi = c.p.d;
      const uint64_t seed = c.p.seed, offset = c.p.offset;
      typename T::S* o = c.out[0]->data<typename T::S>();
      parallel_for(c.out[0]->numel(), 1 << 14, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) o[i] = convert_to<T>(rng::trunc_normal(seed, offset + static_cast<uint64_t>(i), a, b, lo, hi));
      });
      break;
    }
    case Op::RANDINT: {
      const int64_t lo = c.p.dim;
      const uint64_t range = static_cast<uint64_t>(c.p.k - c.p.dim);
      generate<T>(c, [=](const rng::U32x4& r, int64_t) {
        return static_cast<int64_t>(static_cast<uint64_t>(lo) + rng::bits64(r) % range);
      });
      break;
    }
    case Op::BERNOULLI: {
      const Tensor& p = *c.in[0];
      const Dims pd = dims_of(p);
      const typename T::S* pb = p.data<typename T::S>();
      generate<T>(c, [&](const rng::U32x4& r, int64_t i) {
        double prob = static_cast<double>(T::load(pb[pd.offset(i)]));
        return rng::uniform_f64(r.v[0], r.v[1]) < prob ? 1.0 : 0.0;
      });
      break;
    }
    case Op::RANDPERM: {
      // Sort 0..n-1 by 64-bit random keys (ties, which are astronomically rare, by position).
      const int64_t n = c.p.k;
      std::vector<std::pair<uint64_t, int64_t>> keys(static_cast<size_t>(n));
      parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) keys[i] = {rng::bits64(rng::philox(c.p.seed, c.p.offset + static_cast<uint64_t>(i))), i};
      });
      std::sort(keys.begin(), keys.end());
      typename T::S* o = c.out[0]->data<typename T::S>();
      for (int64_t i = 0; i < n; ++i) o[i] = convert_to<T>(keys[i].second);
      break;
    }
    default:
      break;
  }
}

}  // namespace

void random_kernel(const OpCall& c) {
  visit_dtype(c.out[0]->dtype(), [&](auto t) { random_typed<decltype(t)>(c); });
}

}  // namespace raddino::cpu
