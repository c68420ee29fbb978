// TOPK along one dim: each vector is copied into (value, index) pairs and partially sorted.
// NaN counts as larger than every number (as in PyTorch); ties keep the lower index first, and
// the result is always sorted (a valid answer for sorted = false too).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "cpu/dims.h"
#include "cpu/dtype_visit.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {
namespace {

template <typename C>
bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>) return v != v;
  return false;
}

template <typename T>
void topk_typed(const OpCall& c) {
  using S = typename T::S;
  using C = typename T::Cmp;
  const Tensor& x = *c.in[0];
  const int d = static_cast<int>(c.p.dim);
  const int64_t k = c.p.k, n = x.shape()[d], sd = x.strides()[d];
  const bool largest = c.p.flag0;
  const Dims rest = dims_of(x, d);
  // Output (contiguous) index of (rest index r, position j): outer/inner split around d.
  int64_t inner = 1;
  for (int i = d + 1; i < x.ndim(); ++i) inner *= x.shape()[i];
  const S* xb = x.data<S>();
  S* vo = c.out[0]->data<S>();
  int64_t* io = c.out[1]->data<int64_t>();
  auto before = [largest](const std::pair<C, int64_t>& a, const std::pair<C, int64_t>& b) {
    bool an = is_nan(a.first), bn = is_nan(b.first);
    if (an || bn) {
      if (an && bn) return a.second < b.second;
      return largest ? an : bn;  // NaN first when largest, last when smallest
    }
    if (a.first != b.first) return largest ? a.first > b.first : a.first < b.first;
    return a.second < b.second;
  };
  parallel_for(rest.count(), std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    std::vector<std::pair<C, int64_t>> v(static_cast<size_t>(n));
    for (int64_t r = b; r < e; ++r) {
      const S* p = xb + rest.offset(r);
      for (int64_t i = 0; i < n; ++i) v[i] = {T::load(p[i * sd]), i};
      std::partial_sort(v.begin(), v.begin() + k, v.end(), before);
      int64_t o = r / inner, in = r % inner;
      for (int64_t j = 0; j < k; ++j) {
        int64_t at = (o * k + j) * inner + in;
        vo[at] = T::store(v[j].first);
        io[at] = v[j].second;
      }
    }
  });
}

}  // namespace

void topk_kernel(const OpCall& c) {
  visit_dtype(c.in[0]->dtype(), [&](auto t) { topk_typed<decltype(t)>(c); });
}

}  // namespace raddino::cpu
