// COPY / CAST (strided, any dtype pair) and the fills (FILL, ARANGE, LINSPACE).
#include <cstdint>
#include <algorithm>
#include <cstring>

#include "core/backend.h"
#include "cpu/dtype_visit.h"
#include "cpu/kernels.h"
#include "cpu/loop.h"
#include "cpu/stream.h"

namespace raddino::cpu {
namespace {

template <typename T>
void copy_same(const OpCall& c) {
  StridedLoop<2> loop({c.out[0], c.in[0]});
  const bool stream = streams_copy(*c.out[0]);
  loop.parallel([stream](char* const* p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
      if (stream) stream_copy(p[0], p[1], static_cast<size_t>(n) * sizeof(T));
      else std::memcpy(p[0], p[1], static_cast<size_t>(n) * sizeof(T));
    } else {
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const T*>(p[1] + i * s[1]);
    }
  });
}

template <typename To, typename From>
void cast_typed(const OpCall& c) {
  using SO = typename To::S;
  using SI = typename From::S;
  StridedLoop<2> loop({c.out[0], c.in[0]});
  const bool stream = streams_compute(*c.out[0]);
  loop.parallel([stream](char* const* p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(SO) && s[1] == sizeof(SI)) {  // contiguous: a loop the compiler vectorises
      const SI* __restrict in = reinterpret_cast<const SI*>(p[1]);
      auto body = [in](SO* __restrict o, int64_t i0, int64_t len) {
        for (int64_t i = 0; i < len; ++i) o[i] = convert_to<To>(From::load(in[i0 + i]));
      };
      if (stream) stream_blocks(reinterpret_cast<SO*>(p[0]), n, body);
      else body(reinterpret_cast<SO*>(p[0]), 0, n);
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      SI v = *reinterpret_cast<const SI*>(p[1] + i * s[1]);
      *reinterpret_cast<SO*>(p[0] + i * s[0]) = convert_to<To>(From::load(v));
    }
  });
}

// out[i] = value_of(i) over a contiguous output, in parallel.
template <typename T, typename F>
void generate(const Tensor& out, F value_of) {
  using S = typename T::S;
  S* o = out.data<S>();
  parallel_for(out.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = convert_to<T>(value_of(i));
  });
}

}  // namespace

void copy_kernel(const OpCall& c) {
  if (c.op == Op::COPY) {
    switch (c.out[0]->itemsize()) {
      case 1: copy_same<uint8_t>(c); break;
      case 2: copy_same<uint16_t>(c); break;
      case 4: copy_same<uint32_t>(c); break;
      case 8: copy_same<uint64_t>(c); break;
    }
    return;
  }
  visit_dtype(c.out[0]->dtype(), [&](auto to) {
    visit_dtype(c.in[0]->dtype(), [&](auto from) { cast_typed<decltype(to), decltype(from)>(c); });
  });
}

void fill_kernel(const OpCall& c) {
  const Tensor& out = *c.out[0];
  const double a = c.p.a, b = c.p.b;
  visit_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    switch (c.op) {
      case Op::FILL: {
        using S = typename T::S;
        const S v = convert_to<T>(a);
        S* o = out.data<S>();
        parallel_for(out.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) { std::fill(o + lo, o + hi, v); });
        break;
      }
      case Op::ARANGE:  // a = start, b = step
        generate<T>(out, [a, b](int64_t i) { return a + static_cast<double>(i) * b; });
        break;
      case Op::LINSPACE: {  // a = start, b = end; symmetric formula, exact at both ends
        const int64_t n = out.numel();
        const double step = n > 1 ? (b - a) / static_cast<double>(n - 1) : 0.0;
        generate<T>(out, [=](int64_t i) {
          return i < (n + 1) / 2 ? a + step * static_cast<double>(i) : b - step * static_cast<double>(n - 1 - i);
        });
        break;
      }
      default:
        break;
    }
  });
}

}  // namespace raddino::cpu
