// Dims: a list of (size, stride) pairs iterated in row-major order, with coalescing. Strides are
// in whatever unit the caller uses (bytes or elements).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace raddino::cpu {

struct Dims {
  int n = 0;
  int64_t size[kMaxDims];
  int64_t stride[kMaxDims];
  int64_t count() const {
    int64_t c = 1;
    for (int i = 0; i < n; ++i) c *= size[i];
    return c;
  }
  // Merges adjacent dims that are contiguous in memory relative to each other.
  void coalesce() {
    int m = 0;
    for (int i = 0; i < n; ++i) {
      if (size[i] == 1) continue;
      if (m > 0 && stride[m - 1] == stride[i] * size[i]) {
        size[m - 1] *= size[i];
        stride[m - 1] = stride[i];
      } else {
        size[m] = size[i];
        stride[m] = stride[i];
        ++m;
      }
    }
    n = m;
  }
  // Byte offset of flat index i.
  int64_t offset(int64_t i) const {
    int64_t off = 0;
    for (int d = n - 1; d >= 0; --d) {
      off += (i % size[d]) * stride[d];
      i /= size[d];
    }
    return off;
  }
  // Calls fn(ptr, inner_stride, run_length) over every run of the innermost dim.
  template <typename F>
  void for_runs(const char* base, F&& fn) const {
    if (n == 0) {
      fn(base, int64_t(0), int64_t(1));
      return;
    }
    int64_t idx[kMaxDims] = {};
    int last = n - 1;
    const char* p = base;
    for (;;) {
      fn(p, stride[last], size[last]);
      int d = last - 1;
      for (; d >= 0; --d) {
        p += stride[d];
        if (++idx[d] < size[d]) break;
        p -= size[d] * stride[d];
        idx[d] = 0;
      }
      if (d < 0) return;
    }
  }
};

// The dims of t except `skip` (-1: none), with strides in elements.
inline Dims dims_of(const Tensor& t, int skip = -1) {
  Dims d;
  for (int i = 0; i < t.ndim(); ++i) {
    if (i == skip) continue;
    d.size[d.n] = t.shape()[i];
    d.stride[d.n] = t.strides()[i];
    ++d.n;
  }
  return d;
}

}  // namespace raddino::cpu
