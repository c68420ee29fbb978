// map1/map2/map3: element-wise loops over StridedLoop with the unit-stride and broadcast
// (zero-stride) cases specialised so the compiler vectorises them. Outputs larger than the
// caches are computed in cache-resident blocks and streamed out (cpu/stream.h). Included inside
// an ISA namespace (see elementwise_impl.h); includes nothing itself.

#if defined(__GNUC__)
#define RADDINO_NOINLINE __attribute__((noinline))
#else
#define RADDINO_NOINLINE
#endif

template <typename T>
inline T& at(char* p, int64_t stride, int64_t i) {
  return *reinterpret_cast<T*>(p + i * stride);
}

// out = f(a)
template <typename O, typename A, typename F>
void map1(const OpCall& c, F f) {
  StridedLoop<2> loop({c.out[0], c.in[0]});
  const bool stream = streams_compute(*c.out[0]);
  loop.parallel([&](char* const* p, const int64_t* s, int64_t n) {
    O* __restrict o = reinterpret_cast<O*>(p[0]);
    const A* __restrict a = reinterpret_cast<const A*>(p[1]);
    if (s[0] == sizeof(O) && s[1] == sizeof(A)) {
      // One body for both paths, kept out of line: inlined into this lambda, GCC 12 if-converts
      // the selects of the heavier functors (gelu, tanh, erf) no more and leaves them scalar.
      auto body = [&](O* __restrict t, int64_t i0, int64_t len) RADDINO_NOINLINE {
        for (int64_t i = 0; i < len; ++i) t[i] = f(a[i0 + i]);
      };
      if (stream) stream_blocks(o, n, body);
      else body(o, 0, n);
    } else {
      for (int64_t i = 0; i < n; ++i) at<O>(p[0], s[0], i) = f(at<const A>(p[1], s[1], i));
    }
  });
}

// out = f(a, b)
template <typename O, typename A, typename B, typename F>
void map2(const OpCall& c, F f) {
  StridedLoop<3> loop({c.out[0], c.in[0], c.in[1]});
  const bool stream = streams_compute(*c.out[0]);
  loop.parallel([&](char* const* p, const int64_t* s, int64_t n) {
    O* __restrict o = reinterpret_cast<O*>(p[0]);
    const A* __restrict a = reinterpret_cast<const A*>(p[1]);
    const B* __restrict b = reinterpret_cast<const B*>(p[2]);
    bool uo = s[0] == sizeof(O), ua = s[1] == sizeof(A), ub = s[2] == sizeof(B);
    // body(t, i0, len) writes t[i] for elements i0 + i; run it in place or through stream blocks
    // (out of line, as in map1).
    auto contiguous = [&](auto body) {
      if (stream) stream_blocks(o, n, body);
      else body(o, 0, n);
    };
    if (uo && ua && ub) {
      contiguous([&](O* __restrict t, int64_t i0, int64_t len) RADDINO_NOINLINE {
        for (int64_t i = 0; i < len; ++i) t[i] = f(a[i0 + i], b[i0 + i]);
      });
    } else if (uo && ua && s[2] == 0) {
      const B bv = b[0];
      contiguous([&](O* __restrict t, int64_t i0, int64_t len) RADDINO_NOINLINE {
        for (int64_t i = 0; i < len; ++i) t[i] = f(a[i0 + i], bv);
      });
    } else if (uo && s[1] == 0 && ub) {
      const A av = a[0];
      contiguous([&](O* __restrict t, int64_t i0, int64_t len) RADDINO_NOINLINE {
        for (int64_t i = 0; i < len; ++i) t[i] = f(av, b[i0 + i]);
      });
    } else {
      for (int64_t i = 0; i < n; ++i) at<O>(p[0], s[0], i) = f(at<const A>(p[1], s[1], i), at<const B>(p[2], s[2], i));
    }
  });
}

// out = f(a, b, c)
template <typename O, typename A, typename B, typename C, typename F>
void map3(const OpCall& call, F f) {
  StridedLoop<4> loop({call.out[0], call.in[0], call.in[1], call.in[2]});
  loop.parallel([&](char* const* p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(O) && s[1] == sizeof(A) && s[2] == sizeof(B) && s[3] == sizeof(C)) {
      O* __restrict o = reinterpret_cast<O*>(p[0]);
      const A* __restrict a = reinterpret_cast<const A*>(p[1]);
      const B* __restrict b = reinterpret_cast<const B*>(p[2]);
      const C* __restrict cc = reinterpret_cast<const C*>(p[3]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i], cc[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        at<O>(p[0], s[0], i) = f(at<const A>(p[1], s[1], i), at<const B>(p[2], s[2], i), at<const C>(p[3], s[3], i));
    }
  });
}
