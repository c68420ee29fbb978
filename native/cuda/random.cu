// The random ops on CUDA, on the same counter-based Philox stream as the CPU (core/rng.h, whose
// transforms are compiled for both): element i of the contiguous output draws from counter
// offset + i under key seed, so a (seed, offset) gives the CPU's numbers. The integer transforms
// (rand, randint, bernoulli's comparison, randperm's sort keys) are bit-exact by construction;
// randn and trunc_normal go through double log/cos/erf, whose CUDA and glibc versions may differ in
// the last bit of a double, which the rounding to float32/bf16/f16 absorbs (float64 outputs of
// those two are therefore not registered on CUDA).
#include <cub/device/device_radix_sort.cuh>

#include <cmath>
#include <string>

#include "core/rng.h"
#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

// Output element types: float types through float (like the CPU's convert_to: double -> float ->
// the storage type), double, and integers (int64 values; floating values saturate, NaN -> 0).
template <typename S>
struct Out {
  __device__ static S of(double v) { return from_f<S>(static_cast<float>(v)); }
  __device__ static S of_int(int64_t v) { return from_f<S>(static_cast<float>(v)); }
};
template <>
struct Out<double> {
  __device__ static double of(double v) { return v; }
  __device__ static double of_int(int64_t v) { return static_cast<double>(v); }
};
template <>
struct Out<int64_t> {
  __device__ static int64_t of_int(int64_t v) { return v; }
};
template <>
struct Out<int32_t> {
  __device__ static int32_t of_int(int64_t v) { return static_cast<int32_t>(v); }
};

template <typename S>
__global__ void rand_kernel(S* out, int64_t n, uint64_t seed, uint64_t offset, double a, double b) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const rng::U32x4 r = rng::philox(seed, offset + static_cast<uint64_t>(i));
    if constexpr (std::is_same_v<S, double>) {
      out[i] = a + (b - a) * rng::uniform_f64(r.v[0], r.v[1]);
    } else {
      const float fb = static_cast<float>(b);
      float v = static_cast<float>(a) + static_cast<float>(b - a) * rng::uniform_f32(r.v[0]);
      if (!(v < fb || a == b)) v = nextafterf(fb, static_cast<float>(a));
      out[i] = Out<S>::of(v);
    }
  }
}

template <typename S>
__global__ void randn_kernel(S* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = Out<S>::of(mean + std * rng::normal(rng::philox(seed, offset + static_cast<uint64_t>(i))));
}

template <typename S>
__global__ void trunc_normal_kernel(S* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std, double lo,
                                    double hi) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = Out<S>::of(rng::trunc_normal(seed, offset + static_cast<uint64_t>(i), mean, std, lo, hi));
}

template <typename S>
__global__ void randint_kernel(S* out, int64_t n, uint64_t seed, uint64_t offset, int64_t lo, uint64_t range) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const rng::U32x4 r = rng::philox(seed, offset + static_cast<uint64_t>(i));
    out[i] = Out<S>::of_int(static_cast<int64_t>(static_cast<uint64_t>(lo) + rng::bits64(r) % range));
  }
}

// prob has any strides (offsets from `it`), the output is contiguous and of prob's dtype.
template <typename S>
__global__ void bernoulli_kernel(S* out, const S* prob, Iter<2> it, int64_t n, uint64_t seed, uint64_t offset) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    it.offsets(i, off);
    double p;
    if constexpr (std::is_same_v<S, double>) p = prob[off[1]];
    else p = static_cast<double>(to_f(prob[off[1]]));
    const rng::U32x4 r = rng::philox(seed, offset + static_cast<uint64_t>(i));
    out[i] = Out<S>::of(rng::uniform_f64(r.v[0], r.v[1]) < p ? 1.0 : 0.0);
  }
}

__global__ void randperm_keys(uint64_t* keys, int64_t* idx, int64_t n, uint64_t seed, uint64_t offset) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    keys[i] = rng::bits64(rng::philox(seed, offset + static_cast<uint64_t>(i)));
    idx[i] = i;
  }
}

template <typename S>
__global__ void randperm_store(S* out, const int64_t* idx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = Out<S>::of_int(idx[i]);
}

// Calls f with the output's element type: the floating types, and the integers where kInts.
template <bool kInts, typename F>
void visit_out(const char* op, DType d, F&& f) {
  switch (d) {
    case DType::F32: f(float{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    case DType::F16: f(__half{}); return;
    case DType::F64: f(double{}); return;
    default: break;
  }
  if constexpr (kInts) {
    if (d == DType::I64) return f(int64_t{});
    if (d == DType::I32) return f(int32_t{});
  }
  raise(ErrorKind::Type, "", std::string(op) + ": dtype " + dtype_name(d) + " is not supported on cuda");
}

}  // namespace

void random_kernel(const OpCall& c) {
  const Tensor& out = *c.out[0];
  const int64_t n = numel_of(out);
  const int dev = call_device(c);
  cudaStream_t s = stream_for(dev);
  const uint64_t seed = c.p.seed, offset = c.p.offset;
  const unsigned blocks = blocks_for(n, 256, 132 * 16), threads = 256;
  switch (c.op) {
    case Op::RAND:
      visit_out<false>("rand", out.dtype(), [&](auto tag) {
        using S = decltype(tag);
        rand_kernel<S><<<blocks, threads, 0, s>>>(out.data<S>(), n, seed, offset, c.p.a, c.p.b);
      });
      break;
    case Op::RANDN:
      visit_out<false>("randn", out.dtype(), [&](auto tag) {
        using S = decltype(tag);
        randn_kernel<S><<<blocks, threads, 0, s>>>(out.data<S>(), n, seed, offset, c.p.a, c.p.b);
      });
      break;
    case Op::TRUNC_NORMAL:
      visit_out<false>("trunc_normal", out.dtype(), [&](auto tag) {
        using S = decltype(tag);
        trunc_normal_kernel<S><<<blocks, threads, 0, s>>>(out.data<S>(), n, seed, offset, c.p.a, c.p.b, c.p.c, c.p.d);
      });
      break;
    case Op::RANDINT:
      visit_out<true>("randint", out.dtype(), [&](auto tag) {
        using S = decltype(tag);
        randint_kernel<S><<<blocks, threads, 0, s>>>(out.data<S>(), n, seed, offset, c.p.dim,
                                                     static_cast<uint64_t>(c.p.k - c.p.dim));
      });
      break;
    case Op::BERNOULLI: {
      const Tensor& prob = *c.in[0];
      const Shape* strides[2] = {&out.strides(), &prob.strides()};
      Iter<2> it = make_iter<2>(out.shape(), strides);
      visit_out<false>("bernoulli", out.dtype(), [&](auto tag) {
        using S = decltype(tag);
        bernoulli_kernel<S><<<blocks, threads, 0, s>>>(out.data<S>(), prob.data<S>(), it, n, seed, offset);
      });
      break;
    }
    case Op::RANDPERM: {
      if (n > INT32_MAX) raise(ErrorKind::Range, "", "randperm: n = " + std::to_string(n) + " is above the CUDA sort's limit 2^31 - 1");
      Scratch keys(sizeof(uint64_t) * n * 2, dev), idx(sizeof(int64_t) * n * 2, dev);
      uint64_t* k0 = keys.as<uint64_t>();
      int64_t* v0 = idx.as<int64_t>();
      randperm_keys<<<blocks, threads, 0, s>>>(k0, v0, n, seed, offset);
      RADDINO_CUDA_LAUNCHED("randperm");
      // Stable radix sort by key: ties keep index order, like the CPU's sort of (key, index) pairs.
      size_t temp = 0;
      RADDINO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp, k0, k0 + n, v0, v0 + n, static_cast<int>(n), 0, 64, s));
      temp = temp < 16 ? 16 : temp;  // a null buffer would turn the call into a size query
      Scratch tmp(temp, dev);
      RADDINO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(tmp.as<void>(), temp, k0, k0 + n, v0, v0 + n, static_cast<int>(n), 0, 64, s));
      visit_out<true>("randperm", out.dtype(), [&](auto tag) {
        using S = decltype(tag);
        randperm_store<S><<<blocks, threads, 0, s>>>(out.data<S>(), v0 + n, n);
      });
      break;
    }
    default:
      raise(ErrorKind::Value, "", std::string("cuda: random_kernel got op ") + std::to_string(static_cast<int>(c.op)));
  }
  RADDINO_CUDA_LAUNCHED("random");
}

}  // namespace raddino::cuda
