// Reductions over any set of axes: SUM, MEAN, MAX, MIN, VAR (Welford), LOGSUMEXP (online
// max-rescaled sum) and NORM (any p > 0, or inf). Accumulators are float64 whatever the input
// dtype (the kernels are memory-bound: the wider accumulator costs nothing and keeps long sums
// within the float32 tolerance).
//
// The kept dims (O outputs) and the reduced dims (R elements each) are iterated separately.
// When the reduced elements of one output are adjacent in memory, a warp reduces each output
// (lanes read consecutive elements); otherwise a thread reduces each output (consecutive threads
// read consecutive outputs). Either way the R range can be split over grid.y, with the partial
// accumulators merged by a second kernel, so that few outputs still fill the GPU.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

struct Dims {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t stride[kMaxDims];
  __device__ __forceinline__ int64_t offset(int64_t i) const {
    if (ndim == 1) return i * stride[0];
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      off += (i % shape[d]) * stride[d];
      i /= shape[d];
    }
    return off;
  }
};

// Merges adjacent dims that are laid out as one.
Dims collapse(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
  Dims d{};
  int n = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (n > 0 && d.stride[n - 1] == stride[i] * shape[i]) {
      d.shape[n - 1] *= shape[i];
      d.stride[n - 1] = stride[i];
    } else {
      d.shape[n] = shape[i];
      d.stride[n] = stride[i];
      ++n;
    }
  }
  if (n == 0) {
    d.shape[0] = 1;
    d.stride[0] = 0;
    n = 1;
  }
  d.ndim = n;
  return d;
}

struct Acc {
  double a, b, c;  // sum / extreme / (max, scaled sum) / (count, mean, M2)
};

struct Reducer {
  Op op;
  double p;  // norm order
  __device__ Acc init() const {
    switch (op) {
      case Op::MAX: return {-INFINITY, 0, 0};
      case Op::MIN: return {INFINITY, 0, 0};
      case Op::LOGSUMEXP: return {-INFINITY, 0, 0};
      default: return {0, 0, 0};
    }
  }
  __device__ void update(Acc& s, double x) const {
    switch (op) {
      case Op::SUM: case Op::MEAN: s.a += x; return;
      case Op::MAX: s.a = (s.a != s.a) ? s.a : ((x > s.a || x != x) ? x : s.a); return;
      case Op::MIN: s.a = (s.a != s.a) ? s.a : ((x < s.a || x != x) ? x : s.a); return;
      case Op::NORM: {
        double ax = fabs(x);
        if (isinf(p)) s.a = (s.a != s.a) ? s.a : ((ax > s.a || ax != ax) ? ax : s.a);
        else s.a += p == 1.0 ? ax : (p == 2.0 ? ax * ax : pow(ax, p));
        return;
      }
      case Op::LOGSUMEXP: merge(s, {x, 1.0, 0}); return;
      case Op::VAR: {
        s.a += 1.0;
        double d = x - s.b;
        s.b += d / s.a;
        s.c += d * (x - s.b);
        return;
      }
      default: return;
    }
  }
  __device__ void merge(Acc& s, const Acc& o) const {
    switch (op) {
      case Op::SUM: case Op::MEAN: s.a += o.a; return;
      case Op::MAX: case Op::MIN: case Op::NORM:
        if (op == Op::NORM && !isinf(p)) {
          s.a += o.a;
        } else {
          update_extreme(s, o.a);
        }
        return;
      case Op::LOGSUMEXP: {
        if (o.b == 0) return;  // empty
        if (s.b == 0) {
          s = o;
          return;
        }
        if (o.a != o.a || s.a != s.a) {
          s.a = NAN;
          return;
        }
        double m = fmax(s.a, o.a);
        if (isinf(m)) {  // +inf dominates; -inf only when both are -inf
          s.b = s.b + o.b;
          s.a = m;
          return;
        }
        s.b = s.b * exp(s.a - m) + o.b * exp(o.a - m);
        s.a = m;
        return;
      }
      case Op::VAR: {
        if (o.a == 0) return;
        double n = s.a + o.a, d = o.b - s.b;
        s.b += d * o.a / n;
        s.c += o.c + d * d * s.a * o.a / n;
        s.a = n;
        return;
      }
      default: return;
    }
  }
  __device__ void update_extreme(Acc& s, double x) const {
    if (op == Op::MIN) s.a = (s.a != s.a) ? s.a : ((x < s.a || x != x) ? x : s.a);
    else s.a = (s.a != s.a) ? s.a : ((x > s.a || x != x) ? x : s.a);
  }
  __device__ double finish(const Acc& s, int64_t r, double correction) const {
    switch (op) {
      case Op::MEAN: return s.a / static_cast<double>(r);
      case Op::NORM:
        if (isinf(p) || p == 1.0) return s.a;
        return p == 2.0 ? sqrt(s.a) : pow(s.a, 1.0 / p);
      case Op::LOGSUMEXP: return s.b == 0 ? -INFINITY : s.a + log(s.b);
      case Op::VAR: return s.c / (static_cast<double>(r) - correction);
      default: return s.a;
    }
  }
};

__device__ __forceinline__ Acc shfl_down(const Acc& s, int delta) {
  return {__shfl_down_sync(0xffffffffu, s.a, delta), __shfl_down_sync(0xffffffffu, s.b, delta),
          __shfl_down_sync(0xffffffffu, s.c, delta)};
}

struct Plan {
  Dims outer, inner;
  int64_t nout, r, chunk;  // outputs, reduced elements per output, elements per split
  int splits;
};

// A warp per (output, split): blockDim = (32, 4).
template <typename T>
__global__ void reduce_warp(Plan pl, Reducer red, const T* __restrict__ x, T* __restrict__ out, Acc* __restrict__ partial,
                            double correction) {
  int64_t o = blockIdx.x * int64_t(blockDim.y) + threadIdx.y;
  if (o >= pl.nout) return;
  int64_t base = pl.outer.offset(o);
  int64_t r0 = blockIdx.y * pl.chunk, r1 = min(pl.r, r0 + pl.chunk);
  Acc s = red.init();
  for (int64_t i = r0 + threadIdx.x; i < r1; i += 32) red.update(s, to_f(x[base + pl.inner.offset(i)]));
  for (int d = 16; d > 0; d >>= 1) red.merge(s, shfl_down(s, d));
  if (threadIdx.x != 0) return;
  if (pl.splits == 1) out[o] = from_f<T>(static_cast<float>(red.finish(s, pl.r, correction)));
  else partial[blockIdx.y * pl.nout + o] = s;
}

// A thread per (output, split).
template <typename T>
__global__ void reduce_thread(Plan pl, Reducer red, const T* __restrict__ x, T* __restrict__ out,
                              Acc* __restrict__ partial, double correction) {
  int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (o >= pl.nout) return;
  int64_t base = pl.outer.offset(o);
  int64_t r0 = blockIdx.y * pl.chunk, r1 = min(pl.r, r0 + pl.chunk);
  Acc s = red.init();
  for (int64_t i = r0; i < r1; ++i) red.update(s, to_f(x[base + pl.inner.offset(i)]));
  if (pl.splits == 1) out[o] = from_f<T>(static_cast<float>(red.finish(s, pl.r, correction)));
  else partial[blockIdx.y * pl.nout + o] = s;
}

template <typename T>
__global__ void reduce_merge(Plan pl, Reducer red, const Acc* __restrict__ partial, T* __restrict__ out,
                             double correction) {
  int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (o >= pl.nout) return;
  Acc s = partial[o];
  for (int k = 1; k < pl.splits; ++k) red.merge(s, partial[k * pl.nout + o]);
  out[o] = from_f<T>(static_cast<float>(red.finish(s, pl.r, correction)));
}

}  // namespace

void reduce_kernel(const OpCall& c) {
  const Tensor& x = *c.in[0];
  const Tensor& out = *c.out[0];
  int dev = call_device(c);
  cudaStream_t s = stream_for(dev);
  std::vector<int64_t> oshape, ostride, ishape, istride;
  std::vector<bool> red(x.ndim(), false);
  for (int64_t a : c.p.axes) red[a] = true;
  for (int d = 0; d < x.ndim(); ++d) {
    (red[d] ? ishape : oshape).push_back(x.shape()[d]);
    (red[d] ? istride : ostride).push_back(x.strides()[d]);
  }
  Plan pl{};
  pl.outer = collapse(oshape, ostride);
  pl.inner = collapse(ishape, istride);
  pl.nout = numel_of(out);
  pl.r = 1;
  for (int64_t v : ishape) pl.r *= v;
  Reducer r{c.op, c.p.a};
  double correction = c.op == Op::VAR ? c.p.a : 0.0;
  const bool warp = pl.inner.ndim == 1 && (pl.inner.stride[0] == 1 || pl.inner.stride[0] == 0) && pl.r >= 32;
  // Split R until there is enough parallel work: ~64k warps' or threads' worth of elements.
  constexpr int64_t kTarget = int64_t(1) << 16;
  int64_t min_chunk = warp ? 2048 : 256;
  int64_t units = warp ? pl.nout * 32 : pl.nout;
  int splits = 1;
  while (splits < 1024 && units * splits < kTarget * 4 && pl.r / (splits * 2) >= min_chunk) splits *= 2;
  pl.splits = splits;
  pl.chunk = (pl.r + splits - 1) / splits;
  Scratch partial(splits > 1 ? sizeof(Acc) * static_cast<size_t>(splits * pl.nout) : 0, dev);
  visit_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (warp) {
      dim3 block(32, 4), grid(static_cast<unsigned>((pl.nout + 3) / 4), static_cast<unsigned>(splits));
      reduce_warp<T><<<grid, block, 0, s>>>(pl, r, x.data<T>(), out.data<T>(), partial.as<Acc>(), correction);
    } else {
      dim3 block(128), grid(static_cast<unsigned>((pl.nout + 127) / 128), static_cast<unsigned>(splits));
      reduce_thread<T><<<grid, block, 0, s>>>(pl, r, x.data<T>(), out.data<T>(), partial.as<Acc>(), correction);
    }
    RADDINO_CUDA_LAUNCHED("reduce");
    if (splits > 1) {
      reduce_merge<T><<<blocks_for(pl.nout, 128), 128, 0, s>>>(pl, r, partial.as<Acc>(), out.data<T>(), correction);
      RADDINO_CUDA_LAUNCHED("reduce");
    }
  });
}

}  // namespace raddino::cuda
