// COPY and CAST between any strided views and any dtype pair (the output's layout is arbitrary
// too: copy_ writes into views), and FILL / ARANGE / LINSPACE.
#include <cmath>
#include <limits>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

// Conversion with the CPU backend's rules (cpu/dtype_visit.h): to bool is (v != 0); floating to
// integer saturates and maps NaN to 0; bfloat16/float16 round to nearest even through float.
template <typename V>
__device__ __forceinline__ double as_double(V v) {
  if constexpr (std::is_same_v<V, __nv_bfloat16> || std::is_same_v<V, __half>) return static_cast<double>(to_f(v));
  else return static_cast<double>(v);
}

template <typename To, typename From>
__device__ __forceinline__ To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, __nv_bfloat16> || std::is_same_v<To, __half>) {
    if constexpr (std::is_same_v<From, double>) return from_f<To>(static_cast<float>(v));
    else if constexpr (std::is_same_v<From, __nv_bfloat16> || std::is_same_v<From, __half>) return from_f<To>(to_f(v));
    else return from_f<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, float> || std::is_same_v<To, double>) {
    if constexpr (std::is_same_v<From, __nv_bfloat16> || std::is_same_v<From, __half>) return static_cast<To>(to_f(v));
    else return static_cast<To>(v);
  } else if constexpr (std::is_floating_point_v<From> || std::is_same_v<From, __nv_bfloat16> ||
                       std::is_same_v<From, __half>) {
    // floating to integer: NaN -> 0, saturating
    double d = as_double(v);
    if (d != d) return To(0);
    if (d <= static_cast<double>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
    if (d >= static_cast<double>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    return static_cast<To>(d);
  } else {
    return static_cast<To>(v);  // integer to integer: C++ conversion, like the CPU backend
  }
}

struct BoolTag {};  // bool is stored as uint8 but converts as (v != 0)

template <typename T>
struct Storage {
  using type = T;
};
template <>
struct Storage<BoolTag> {
  using type = uint8_t;
};

template <typename To, typename From>
__device__ __forceinline__ typename Storage<To>::type convert_tagged(typename Storage<From>::type v) {
  if constexpr (std::is_same_v<To, BoolTag>) {
    return static_cast<uint8_t>(as_double(v) != 0.0);
  } else if constexpr (std::is_same_v<From, BoolTag>) {
    return convert<To, uint8_t>(v);
  } else {
    return convert<To, From>(v);
  }
}

template <typename To, typename From>
__global__ void copy_strided(Iter<2> it, typename Storage<To>::type* __restrict__ out,
                             const typename Storage<From>::type* __restrict__ in, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (it.contiguous) {
      out[i] = convert_tagged<To, From>(in[i]);
    } else {
      int64_t off[2];
      it.offsets(i, off);
      out[off[0]] = convert_tagged<To, From>(in[off[1]]);
    }
  }
}

template <typename F>
void visit_all(DType d, F&& f) {
  switch (d) {
    case DType::F32: f(float{}); return;
    case DType::F64: f(double{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    case DType::F16: f(__half{}); return;
    case DType::I32: f(int32_t{}); return;
    case DType::I64: f(int64_t{}); return;
    case DType::U8: f(uint8_t{}); return;
    case DType::BOOL: f(BoolTag{}); return;
  }
}

// A same-dtype copy between contiguous tensors is one cudaMemcpyAsync.
void copy_contiguous_bytes(void* dst, const void* src, size_t nbytes, cudaStream_t s) {
  RADDINO_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, s));
}

template <typename T>
__global__ void fill_linear(typename Storage<T>::type* __restrict__ out, int64_t n, double a, double b, int mode,
                            int64_t steps) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    double v;
    if (mode == 0) {
      v = a;
    } else if (mode == 1) {
      v = a + static_cast<double>(i) * b;
    } else {
      // linspace, symmetric from both ends like the CPU backend
      double step = steps > 1 ? (b - a) / static_cast<double>(steps - 1) : 0.0;
      v = i < (steps + 1) / 2 ? a + step * static_cast<double>(i) : b - step * static_cast<double>(steps - 1 - i);
    }
    out[i] = convert_tagged<T, double>(v);
  }
}

}  // namespace

void copy_kernel(const OpCall& c) {
  const Tensor& in = *c.in[0];
  const Tensor& out = *c.out[0];
  int dev = call_device(c);
  cudaStream_t s = stream_for(dev);
  int64_t n = numel_of(out);
  const Shape* strides[2] = {&out.strides(), &in.strides()};
  Iter<2> it = make_iter<2>(out.shape(), strides);
  if (in.dtype() == out.dtype() && it.contiguous) {
    copy_contiguous_bytes(out.data_ptr(), in.data_ptr(), static_cast<size_t>(n) * out.itemsize(), s);
    return;
  }
  visit_all(out.dtype(), [&](auto to) {
    using To = decltype(to);
    visit_all(in.dtype(), [&](auto from) {
      using From = decltype(from);
      copy_strided<To, From><<<blocks_for(n, 256), 256, 0, s>>>(
          it, static_cast<typename Storage<To>::type*>(out.data_ptr()),
          static_cast<const typename Storage<From>::type*>(in.data_ptr()), n);
    });
  });
  RADDINO_CUDA_LAUNCHED("copy");
}

void fill_kernel(const OpCall& c) {
  const Tensor& out = *c.out[0];
  int dev = call_device(c);
  cudaStream_t s = stream_for(dev);
  int64_t n = numel_of(out);
  int mode = c.op == Op::FILL ? 0 : c.op == Op::ARANGE ? 1 : 2;
  visit_all(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    fill_linear<T><<<blocks_for(n, 256), 256, 0, s>>>(static_cast<typename Storage<T>::type*>(out.data_ptr()), n, c.p.a,
                                                       c.p.b, mode, n);
  });
  RADDINO_CUDA_LAUNCHED("fill");
}

}  // namespace raddino::cuda
