// BICUBIC / BICUBIC_BACK: bicubic resampling of [N, C, H, W] with the semantics of PyTorch's
// F.interpolate(mode='bicubic', align_corners=False), with and without antialias.
//
// Both directions are separable: the per-axis taps (source indices and weights of every output
// row / column) are computed once per call, then each (n, c) plane is resampled along W into a
// [H, OW] buffer and that buffer along H into the output. Planes are independent, so the work is
// split over planes and the result does not depend on the thread count.
//
// Reference: PyTorch 1.13 (aten/src/ATen/native/UpSample.h, cpu/UpSampleKernel.cpp,
// UpSampleBicubic2d.cpp). The float32 forward reproduces the float32 results of Debian's
// torch 1.13.1 build (AVX2 kernels) bit for bit; every rounding below that looks arbitrary is
// one that build performs:
//
// * Without antialias (upsample_bicubic2d, HelperInterpCubic::compute_indices_weights): Keys'
//   cubic with A = -0.75 on 4 taps at floor(src) - 1 .. floor(src) + 2, indices clamped to the
//   edges (the edge pixel is repeated), src = step * (i + 0.5) - 0.5. `step` is rounded to the
//   tensor's dtype (area_pixel_compute_scale<scalar_t>); src is exact (it behaves as a double),
//   the fraction t is rounded to float32 and the weights are evaluated in float32 with the
//   multiply-adds the build fuses: cubic_convolution1(x) = fma(A + 2, x, -(A + 3)) * x * x + 1,
//   cubic_convolution2(x) = fma(fma(A, x, -5A), x, 8A) * x - 4A (final products rounded). Each
//   output is x0 w0 + x1 w1 + x2 w2 + x3 w3 evaluated as fma(x3, w3, fma(x2, w2, fma(x0, w0,
//   x1 w1))), first along W (rounded to the dtype) and then along H.
// * With antialias (_upsample_bicubic2d_aa, HelperInterpBase::_compute_weights_aa with
//   HelperInterpCubic::aa_filter): Keys' cubic with a = -0.5, support = 2 * max(step, 1),
//   center = step * (i + 0.5), taps j in [xmin, xmin + xsize) with
//   xmin = max(trunc(center - support + 0.5), 0), xmax = min(trunc(center + support + 0.5), in),
//   weight filter((j - center + 0.5) / max(step, 1)), normalised to sum 1. Nothing is clamped:
//   taps outside the input are dropped. The mixed float/double arithmetic of that code is kept
//   (center, 1/step and the filter argument are rounded to float32; the |x| < 1 branch of the
//   filter is evaluated in double, the 1 <= |x| < 2 branch in float32 with two fused
//   multiply-adds). Each output sums its taps in order; the build computes the products of taps
//   1 .. 4m (m = floor((xsize - 1) / 4), a vectorised block) rounded and fuses the rest.
//   The pass along W comes first, then the pass along H.
// * float64 uses the same formulas in double precision.
//
// The backward is the exact adjoint of this forward (the same taps and weights), accumulated in
// double per plane. PyTorch's own backward differs in the last bits (its non-antialiased
// backward recomputes the weights without the double source index and fused multiply-adds,
// and scatters 2-D products in float32), and when input and output sizes are equal it copies
// the gradient even if the step is not 1, which is not the adjoint of its forward.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "cpu/cpu_features.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"

#if defined(__GNUC__) || defined(__clang__)
#define RADDINO_BICUBIC_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define RADDINO_BICUBIC_INLINE __forceinline
#else
#define RADDINO_BICUBIC_INLINE inline
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RADDINO_BICUBIC_X86_FMA 1  // build AVX2 (+ FMA) clones of the plane loops
#endif

namespace raddino::cpu {
namespace {

// ---- per-axis taps ---------------------------------------------------------------------------

// Taps of one axis: output o reads count[o] source indices index[o * k + j] with weights
// weight[o * k + j] (j < count[o] <= k; the remaining slots are unused).
template <typename T>
struct Taps {
  int64_t k = 0;
  std::vector<int32_t> count;
  std::vector<int64_t> index;
  std::vector<T> weight;
};

// Source index as an int64, truncating toward zero like static_cast<int64_t>; saturates instead
// of overflowing for absurd steps.
int64_t trunc_index(double v) {
  if (!(v > -4.0e18)) return v != v ? 0 : -(int64_t(1) << 62);
  if (v > 4.0e18) return int64_t(1) << 62;
  return static_cast<int64_t>(v);
}

// Keys' cubic convolution with A = -0.75 (UpSample.h cubic_convolution1/2) with the fused
// multiply-adds of the reference build; the last product of each is rounded before its add.
template <typename T>
T cubic_inner(T x) {  // |x| <= 1: ((A + 2) x - (A + 3)) x x + 1
  const T s = std::fma(T(1.25), x, T(-2.25));
  const T m = s * x;
  const T p = m * x;
  return p + T(1);
}
template <typename T>
T cubic_outer(T x) {  // 1 <= |x| <= 2: ((A x - 5A) x + 8A) x - 4A
  const T s = std::fma(T(-0.75), x, T(3.75));
  const T u = std::fma(s, x, T(-6));
  const T p = u * x;
  return p + T(3);
}

template <typename T>
Taps<T> cubic_taps(int64_t in, int64_t out, double step) {
  Taps<T> tp;
  tp.k = 4;
  tp.count.assign(static_cast<size_t>(out), 4);
  tp.index.resize(static_cast<size_t>(out * 4));
  tp.weight.resize(static_cast<size_t>(out * 4));
  const T s = static_cast<T>(step);
  for (int64_t i = 0; i < out; ++i) {
    // src = s * (i + 0.5) - 0.5 without rounding (exact in double for float32 s), then floorf.
    const double r = static_cast<double>(s) * (static_cast<double>(i) + 0.5) - 0.5;
    const int64_t idx = trunc_index(std::floor(static_cast<double>(static_cast<float>(r))));
    const T t = static_cast<T>(r - static_cast<double>(idx));
    const T t2 = static_cast<T>(1.0 - static_cast<double>(t));
    const T w[4] = {cubic_outer<T>(static_cast<T>(static_cast<double>(t) + 1.0)), cubic_inner<T>(t),
                    cubic_inner<T>(t2), cubic_outer<T>(static_cast<T>(static_cast<double>(t2) + 1.0))};
    for (int j = 0; j < 4; ++j) {
      tp.index[static_cast<size_t>(i * 4 + j)] = std::min(std::max(idx - 1 + j, int64_t(0)), in - 1);
      tp.weight[static_cast<size_t>(i * 4 + j)] = w[j];
    }
  }
  return tp;
}

// Keys' cubic with a = -0.5 (HelperInterpCubic::aa_filter): the first branch is evaluated in
// double, the second in T with fused multiply-adds.
template <typename T>
T aa_filter(T x) {
  if (x < T(0)) x = -x;
  if (x < T(1)) {
    const double xd = static_cast<double>(x);
    return static_cast<T>((1.5 * xd - 2.5) * xd * xd + 1.0);
  }
  if (x < T(2)) {
    const T u = x - T(5);
    const T v = std::fma(u, x, T(8));
    const T w = std::fma(v, x, T(-4));
    return w * T(-0.5);
  }
  return T(0);
}

template <typename T>
Taps<T> aa_taps(int64_t in, int64_t out, double step) {
  const T scale = static_cast<T>(step);
  const T support = scale >= T(1) ? static_cast<T>(2.0 * static_cast<double>(scale)) : T(2);
  const T invscale = scale >= T(1) ? static_cast<T>(1.0 / static_cast<double>(scale)) : T(1);
  // PyTorch sizes the weight rows ceil(support) * 2 + 1; no row can use more than `in` taps.
  const double kd = std::ceil(static_cast<double>(support)) * 2.0 + 1.0;
  Taps<T> tp;
  tp.k = kd < static_cast<double>(in) ? static_cast<int64_t>(kd) : in;
  tp.count.resize(static_cast<size_t>(out));
  tp.index.assign(static_cast<size_t>(out * tp.k), 0);
  tp.weight.assign(static_cast<size_t>(out * tp.k), T(0));
  for (int64_t i = 0; i < out; ++i) {
    const T center = static_cast<T>(static_cast<double>(scale) * (static_cast<double>(i) + 0.5));
    const int64_t xmin = std::max(trunc_index(static_cast<double>(center - support) + 0.5), int64_t(0));
    const int64_t xmax = std::min(trunc_index(static_cast<double>(center + support) + 0.5), in);
    const int64_t n = std::min(std::max(xmax - xmin, int64_t(0)), tp.k);
    int64_t* idx = tp.index.data() + i * tp.k;
    T* w = tp.weight.data() + i * tp.k;
    T total = T(0);
    for (int64_t j = 0; j < n; ++j) {
      const T d = static_cast<T>(j + xmin) - center;
      w[j] = aa_filter<T>(static_cast<T>((static_cast<double>(d) + 0.5) * static_cast<double>(invscale)));
      idx[j] = xmin + j;
      total += w[j];
    }
    if (total != T(0)) {
      for (int64_t j = 0; j < n; ++j) w[j] /= total;
    }
    tp.count[static_cast<size_t>(i)] = static_cast<int32_t>(n);
  }
  return tp;
}

template <typename T>
Taps<T> make_taps(int64_t in, int64_t out, double step, bool antialias) {
  return antialias ? aa_taps<T>(in, out, step) : cubic_taps<T>(in, out, step);
}

// ---- plane access ----------------------------------------------------------------------------

// A strided [N, C, H, W] operand read plane by plane. Planes whose rows are not contiguous
// (typically a channels-last view such as DINOv2's [1, M*M, D] grid permuted to [1, D, M, M])
// are first copied, block() planes at a time, into a contiguous buffer: with channels innermost
// that reads 256 contiguous bytes per pixel instead of one element per cache line (and page).
template <typename T>
struct Planes {
  const T* base;
  int64_t C, H, W;
  int64_t sn, sc, sh, sw;  // strides (elements)
  bool gather;             // rows are not contiguous: copy the planes first

  // Planes per copied block: 256 bytes of channels, with the buffer capped at 1 MiB.
  int64_t block() const {
    const int64_t plane_bytes = std::max<int64_t>(1, H * W) * static_cast<int64_t>(sizeof(T));
    return std::max<int64_t>(1, std::min<int64_t>(256 / static_cast<int64_t>(sizeof(T)), (int64_t(1) << 20) / plane_bytes));
  }

  Planes(const Tensor& t)
      : base(t.data<T>()), C(t.shape()[1]), H(t.shape()[2]), W(t.shape()[3]), sn(t.strides()[0]),
        sc(t.strides()[1]), sh(t.strides()[2]), sw(t.strides()[3]), gather(t.shape()[3] > 1 && t.strides()[3] != 1) {}

  const T* plane(int64_t p) const { return base + (p / C) * sn + (p % C) * sc; }
  int64_t row_stride() const { return gather ? W : sh; }
  int64_t col_stride() const { return gather ? 1 : sw; }

  // Copies planes [p0, p1) into dst [p1 - p0, H, W] and returns dst; nullptr (nothing copied)
  // when the planes are read in place.
  const T* load(int64_t p0, int64_t p1, T* dst) const {
    if (!gather) return nullptr;
    const int64_t n = p1 - p0, hw = H * W;
    // Consecutive planes of one batch entry are sc apart: when that is the smaller stride, walk
    // (h, w) outside and the planes inside.
    bool planes_inner = (sc < 0 ? -sc : sc) < (sw < 0 ? -sw : sw);
    for (int64_t p = p0; p < p1 && planes_inner; ++p) planes_inner = (p % C) != 0 || p == p0;
    if (planes_inner) {
      const T* b0 = plane(p0);
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          const T* src = b0 + h * sh + w * sw;
          T* d = dst + h * W + w;
          for (int64_t i = 0; i < n; ++i) d[i * hw] = src[i * sc];
        }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const T* b = plane(p0 + i);
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) dst[i * hw + h * W + w] = b[h * sh + w * sw];
      }
    }
    return dst;
  }
};

// ---- forward ---------------------------------------------------------------------------------

template <typename T>
struct Forward {
  Planes<T> x;
  T* y;
  int64_t OH, OW;
  const Taps<T>* th;
  const Taps<T>* tw;
  const int64_t* tw_offset;  // tw->index scaled by the column stride the passes read with
};

// One output of a pass: the taps of `src` (element offsets `off`) with weights `w`, summed in
// the reference build's order (see the header comment). `prod` is scratch for >= n values: the
// products that must stay rounded go through memory so that no compiler fuses them into the sum.
template <typename T, bool AA>
RADDINO_BICUBIC_INLINE T combine(const T* src, const int64_t* off, const T* w, int n, T* prod) {
  if constexpr (!AA) {
    const T p = src[off[1]] * w[1];
    T acc = std::fma(src[off[0]], w[0], p);
    acc = std::fma(src[off[2]], w[2], acc);
    return std::fma(src[off[3]], w[3], acc);
  } else {
    if (n <= 0) return T(0);
    T acc = src[off[0]] * w[0];
    const int m = ((n - 1) / 4) * 4;
    int j = 1;
    for (; j <= m; ++j) {
      prod[j] = src[off[j]] * w[j];
      acc = acc + prod[j];
    }
    for (; j < n; ++j) acc = std::fma(src[off[j]], w[j], acc);
    return acc;
  }
}

// Resamples one plane (rows `sh` apart) along W into tmp [H, OW], then along H into yp.
template <typename T, bool AA>
RADDINO_BICUBIC_INLINE void forward_plane(const Forward<T>& f, const T* xp, int64_t sh, T* yp, T* tmp, T* prod) {
  const int64_t OW = f.OW, kw = f.tw->k, kh = f.th->k;
  const int32_t* cw = f.tw->count.data();
  const T* ww = f.tw->weight.data();
  for (int64_t h = 0; h < f.x.H; ++h) {
    const T* row = xp + h * sh;
    T* t = tmp + h * OW;
    for (int64_t o = 0; o < OW; ++o) t[o] = combine<T, AA>(row, f.tw_offset + o * kw, ww + o * kw, AA ? cw[o] : 4, prod);
  }
  for (int64_t oh = 0; oh < f.OH; ++oh) {
    const int64_t* ih = f.th->index.data() + oh * kh;
    const T* wh = f.th->weight.data() + oh * kh;
    T* out = yp + oh * OW;
    if constexpr (!AA) {
      const T *r0 = tmp + ih[0] * OW, *r1 = tmp + ih[1] * OW, *r2 = tmp + ih[2] * OW, *r3 = tmp + ih[3] * OW;
      const T w0 = wh[0], w1 = wh[1], w2 = wh[2], w3 = wh[3];
      for (int64_t o = 0; o < OW; ++o) {
        const T q = r1[o] * w1;
        T acc = std::fma(r0[o], w0, q);
        acc = std::fma(r2[o], w2, acc);
        out[o] = std::fma(r3[o], w3, acc);
      }
    } else {
      const int n = f.th->count[static_cast<size_t>(oh)];
      if (n <= 0) {
        std::fill(out, out + OW, T(0));
        continue;
      }
      const int m = ((n - 1) / 4) * 4;
      {
        const T* r = tmp + ih[0] * OW;
        const T w = wh[0];
        for (int64_t o = 0; o < OW; ++o) out[o] = r[o] * w;
      }
      int j = 1;
      for (; j <= m; ++j) {
        const T* r = tmp + ih[j] * OW;
        const T w = wh[j];
        // rounded products (through memory, as in combine)
        for (int64_t o = 0; o < OW; ++o) prod[o] = r[o] * w;
        for (int64_t o = 0; o < OW; ++o) out[o] = out[o] + prod[o];
      }
      for (; j < n; ++j) {
        const T* r = tmp + ih[j] * OW;
        const T w = wh[j];
        for (int64_t o = 0; o < OW; ++o) out[o] = std::fma(r[o], w, out[o]);
      }
    }
  }
}

template <typename T, bool AA>
RADDINO_BICUBIC_INLINE void forward_planes_impl(const Forward<T>& f, int64_t begin, int64_t end) {
  const Planes<T>& x = f.x;
  const int64_t B = x.block();
  std::vector<T> tmp(static_cast<size_t>(x.H * f.OW)), prod(static_cast<size_t>(std::max(f.OW, f.tw->k)));
  std::vector<T> block(x.gather ? static_cast<size_t>(B * x.H * x.W) : 0);
  for (int64_t p0 = begin; p0 < end; p0 += B) {
    const int64_t p1 = std::min(p0 + B, end);
    const T* loaded = x.load(p0, p1, block.data());
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = loaded ? loaded + (p - p0) * x.H * x.W : x.plane(p);
      forward_plane<T, AA>(f, xp, x.row_stride(), f.y + p * f.OH * f.OW, tmp.data(), prod.data());
    }
  }
}

template <typename T, bool AA>
void forward_planes(const Forward<T>& f, int64_t begin, int64_t end) {
  forward_planes_impl<T, AA>(f, begin, end);
}

#ifdef RADDINO_BICUBIC_X86_FMA
// The same loops compiled with hardware FMA (std::fma inlines to vfmadd and vectorises).
template <typename T, bool AA>
__attribute__((target("avx2,fma"))) void forward_planes_fma(const Forward<T>& f, int64_t begin, int64_t end) {
  forward_planes_impl<T, AA>(f, begin, end);
}
#endif

template <typename T, bool AA>
void forward_run(const Forward<T>& f, int64_t planes) {
  auto fn = forward_planes<T, AA>;
#ifdef RADDINO_BICUBIC_X86_FMA
  const CpuFeatures& cf = cpu_features();
  if (cf.avx2 && cf.fma) fn = forward_planes_fma<T, AA>;
#endif
  const int64_t work = std::max<int64_t>(1, f.x.H * f.OW * f.tw->k + f.OH * f.OW * f.th->k);
  parallel_for(planes, std::max<int64_t>(1, (int64_t(1) << 16) / work), [&](int64_t b, int64_t e) { fn(f, b, e); });
}

template <typename T>
void bicubic_typed(const OpCall& c) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  const bool aa = c.p.flag0;
  Forward<T> f{Planes<T>(x), y.data<T>(), y.shape()[2], y.shape()[3], nullptr, nullptr, nullptr};
  const Taps<T> th = make_taps<T>(f.x.H, f.OH, c.p.a, aa), tw = make_taps<T>(f.x.W, f.OW, c.p.b, aa);
  std::vector<int64_t> tw_offset(tw.index.size());
  for (size_t i = 0; i < tw.index.size(); ++i) tw_offset[i] = tw.index[i] * f.x.col_stride();
  f.th = &th;
  f.tw = &tw;
  f.tw_offset = tw_offset.data();
  const int64_t planes = x.shape()[0] * f.x.C;
  if (aa)
    forward_run<T, true>(f, planes);
  else
    forward_run<T, false>(f, planes);
}

// ---- backward --------------------------------------------------------------------------------

template <typename T>
struct Backward {
  Planes<T> dy;
  T* dx;
  int64_t H, W;
  const Taps<T>* th;
  // The W taps transposed (gather form): input column i receives from outputs
  // col_out[e] with weights col_w[e] for e in [col_start[i], col_start[i + 1]), in output order.
  std::vector<int64_t> col_start, col_out;
  std::vector<double> col_w;
};

template <typename T>
void transpose_taps(const Taps<T>& t, int64_t in, std::vector<int64_t>& start, std::vector<int64_t>& out,
                    std::vector<double>& w) {
  const int64_t n_out = static_cast<int64_t>(t.count.size());
  start.assign(static_cast<size_t>(in + 1), 0);
  for (int64_t o = 0; o < n_out; ++o)
    for (int j = 0; j < t.count[static_cast<size_t>(o)]; ++j) ++start[static_cast<size_t>(t.index[static_cast<size_t>(o * t.k + j)] + 1)];
  for (int64_t i = 0; i < in; ++i) start[static_cast<size_t>(i + 1)] += start[static_cast<size_t>(i)];
  out.resize(static_cast<size_t>(start[static_cast<size_t>(in)]));
  w.resize(out.size());
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t o = 0; o < n_out; ++o)
    for (int j = 0; j < t.count[static_cast<size_t>(o)]; ++j) {
      const size_t e = static_cast<size_t>(fill[static_cast<size_t>(t.index[static_cast<size_t>(o * t.k + j)])]++);
      out[e] = o;
      w[e] = static_cast<double>(t.weight[static_cast<size_t>(o * t.k + j)]);
    }
}

// dx = Whᵀ dy Ww for one plane (dy rows sh apart, columns sw apart): the adjoint of the H pass
// scattered in output-row order into g [H, OW], then the adjoint of the W pass gathered per
// input column, all within the plane (so the result does not depend on threads), in double.
template <typename T>
RADDINO_BICUBIC_INLINE void backward_plane(const Backward<T>& b, const T* dyp, int64_t sh, int64_t sw, T* dxp, double* g) {
  const int64_t OW = b.dy.W, W = b.W, kh = b.th->k;
  std::fill(g, g + b.H * OW, 0.0);
  for (int64_t oh = 0; oh < b.dy.H; ++oh) {
    const T* d = dyp + oh * sh;
    const int n = b.th->count[static_cast<size_t>(oh)];
    const int64_t* ih = b.th->index.data() + oh * kh;
    const T* wh = b.th->weight.data() + oh * kh;
    for (int j = 0; j < n; ++j) {
      double* gr = g + ih[j] * OW;
      const double w = static_cast<double>(wh[j]);
      if (sw == 1) {
        for (int64_t o = 0; o < OW; ++o) gr[o] += w * static_cast<double>(d[o]);
      } else {
        for (int64_t o = 0; o < OW; ++o) gr[o] += w * static_cast<double>(d[o * sw]);
      }
    }
  }
  const int64_t* cs = b.col_start.data();
  const int64_t* co = b.col_out.data();
  const double* cw = b.col_w.data();
  for (int64_t h = 0; h < b.H; ++h) {
    const double* gr = g + h * OW;
    T* out = dxp + h * W;
    for (int64_t i = 0; i < W; ++i) {
      double acc = 0;
      for (int64_t e = cs[i]; e < cs[i + 1]; ++e) acc += cw[e] * gr[co[e]];
      out[i] = static_cast<T>(acc);
    }
  }
}

template <typename T>
RADDINO_BICUBIC_INLINE void backward_planes_impl(const Backward<T>& b, int64_t lo, int64_t hi) {
  const int64_t OH = b.dy.H, OW = b.dy.W, B = b.dy.block();
  std::vector<double> g(static_cast<size_t>(b.H * OW));
  std::vector<T> block(b.dy.gather ? static_cast<size_t>(B * OH * OW) : 0);
  for (int64_t p0 = lo; p0 < hi; p0 += B) {
    const int64_t p1 = std::min(p0 + B, hi);
    const T* loaded = b.dy.load(p0, p1, block.data());
    for (int64_t p = p0; p < p1; ++p) {
      const T* dyp = loaded ? loaded + (p - p0) * OH * OW : b.dy.plane(p);
      backward_plane<T>(b, dyp, b.dy.row_stride(), b.dy.col_stride(), b.dx + p * b.H * b.W, g.data());
    }
  }
}

template <typename T>
void backward_planes(const Backward<T>& b, int64_t lo, int64_t hi) {
  backward_planes_impl<T>(b, lo, hi);
}

#ifdef RADDINO_BICUBIC_X86_FMA
// Wider vectors only: without FMA no compiler can contract the sums, so both builds give the
// same bits.
template <typename T>
__attribute__((target("avx2"))) void backward_planes_avx2(const Backward<T>& b, int64_t lo, int64_t hi) {
  backward_planes_impl<T>(b, lo, hi);
}
#endif

template <typename T>
void bicubic_backward_typed(const OpCall& c) {
  const Tensor& dy = *c.in[0];
  Tensor& dx = *c.out[0];
  const bool aa = c.p.flag0;
  Backward<T> b{Planes<T>(dy), dx.data<T>(), dx.shape()[2], dx.shape()[3], nullptr, {}, {}, {}};
  const Taps<T> th = make_taps<T>(b.H, b.dy.H, c.p.a, aa), tw = make_taps<T>(b.W, b.dy.W, c.p.b, aa);
  b.th = &th;
  transpose_taps(tw, b.W, b.col_start, b.col_out, b.col_w);
  auto fn = backward_planes<T>;
#ifdef RADDINO_BICUBIC_X86_FMA
  if (cpu_features().avx2) fn = backward_planes_avx2<T>;
#endif
  const int64_t planes = dx.shape()[0] * b.dy.C, OH = b.dy.H, OW = b.dy.W;
  const int64_t work = std::max<int64_t>(1, OH * OW * th.k + b.H * (OW * tw.k + b.W));
  parallel_for(planes, std::max<int64_t>(1, (int64_t(1) << 16) / work), [&](int64_t lo, int64_t hi) { fn(b, lo, hi); });
}

}  // namespace

void bicubic_kernel(const OpCall& c) {
  switch (c.in[0]->dtype()) {
    case DType::F32: bicubic_typed<float>(c); break;
    case DType::F64: bicubic_typed<double>(c); break;
    default: break;
  }
}

void bicubic_backward_kernel(const OpCall& c) {
  switch (c.in[0]->dtype()) {
    case DType::F32: bicubic_backward_typed<float>(c); break;
    case DType::F64: bicubic_backward_typed<double>(c); break;
    default: break;
  }
}

}  // namespace raddino::cpu
