// Strided iteration over N operands of the same shape (the output first). Size-1 dimensions are
// dropped and adjacent dimensions that are contiguous for every operand are merged, so most
// calls become a single run of the innermost dimension; kernels then see (pointers, inner byte
// strides, count) and specialise the unit-stride and zero-stride (broadcast) cases.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/tensor.h"
#include "cpu/threadpool.h"

namespace raddino::cpu {

// Elements per parallel chunk for cheap element-wise kernels.
constexpr int64_t kElementwiseGrain = 1 << 15;

template <int N>
struct StridedLoop {
  int ndim = 0;
  int64_t numel = 1;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];  // bytes
  char* base[N];

  explicit StridedLoop(const Tensor* const (&ts)[N]) {
    const Shape& s = ts[0]->shape();
    for (int i = 0; i < N; ++i) base[i] = static_cast<char*>(ts[i]->data_ptr());
    for (int d = 0; d < static_cast<int>(s.size()); ++d) {
      if (s[d] == 1) continue;
      // Merge with the previous kept dimension when every operand is contiguous across the two.
      bool merge = ndim > 0;
      for (int i = 0; i < N && merge; ++i)
        merge = strides[i][ndim - 1] == ts[i]->strides()[d] * static_cast<int64_t>(ts[i]->itemsize()) * s[d];
      if (merge) {
        shape[ndim - 1] *= s[d];
        for (int i = 0; i < N; ++i) strides[i][ndim - 1] = ts[i]->strides()[d] * static_cast<int64_t>(ts[i]->itemsize());
      } else {
        shape[ndim] = s[d];
        for (int i = 0; i < N; ++i) strides[i][ndim] = ts[i]->strides()[d] * static_cast<int64_t>(ts[i]->itemsize());
        ++ndim;
      }
    }
    numel = ts[0]->numel();
    if (ndim == 0) {  // a single element
      shape[0] = 1;
      for (int i = 0; i < N; ++i) strides[i][0] = 0;
      ndim = 1;
    }
  }

  // Calls fn(char* const* ptrs, const int64_t* inner_strides, n) for the runs of the innermost dimension covering the flat
  // index range [begin, end).
  template <typename F>
  void run(int64_t begin, int64_t end, F&& fn) const {
    if (begin >= end) return;
    int64_t idx[kMaxDims];
    char* p[N];
    int64_t rem = begin;
    for (int i = 0; i < N; ++i) p[i] = base[i];
    for (int d = ndim - 1; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
      for (int i = 0; i < N; ++i) p[i] += idx[d] * strides[i][d];
    }
    int last = ndim - 1;
    int64_t inner[N];
    for (int i = 0; i < N; ++i) inner[i] = strides[i][last];
    int64_t pos = begin;
    while (pos < end) {
      int64_t n = std::min(shape[last] - idx[last], end - pos);
      fn(static_cast<char* const*>(p), static_cast<const int64_t*>(inner), n);
      pos += n;
      if (pos >= end) break;
      // The run ended its row: rewind to the row start and carry into the outer dimensions.
      for (int i = 0; i < N; ++i) p[i] -= idx[last] * strides[i][last];
      idx[last] = 0;
      for (int d = last - 1; d >= 0; --d) {
        for (int i = 0; i < N; ++i) p[i] += strides[i][d];
        if (++idx[d] < shape[d]) break;
        for (int i = 0; i < N; ++i) p[i] -= shape[d] * strides[i][d];
        idx[d] = 0;
      }
    }
  }

  // Runs fn over all elements, split across the pool in chunks of at least `grain` elements.
  template <typename F>
  void parallel(F&& fn, int64_t grain = kElementwiseGrain) const {
    parallel_for(numel, grain, [&](int64_t b, int64_t e) { run(b, e, fn); });
  }
};

}  // namespace raddino::cpu
