// Element-wise kernels: unary ops, binary ops with broadcasting (the dispatcher expands the
// operands to the output's shape, so a broadcast dim has stride 0), where, and the GELU backward.
// Every op computes in float32 and rounds once to the output dtype, like the CPU backend.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

constexpr float kSqrt1_2 = 0.7071067811865476f;
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// The op is a run-time value: one kernel per dtype instead of one per op and dtype; the branch
// is uniform across the grid and costs nothing next to the memory traffic.
struct UnaryFn {
  Op op;
  float lo, hi;  // clamp bounds (+-inf when absent)
  __device__ float operator()(float x) const {
    switch (op) {
      case Op::NEG: return -x;
      case Op::ABS: return fabsf(x);
      case Op::SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);  // 0 and NaN pass through
      case Op::SQUARE: return x * x;
      case Op::RECIPROCAL: return 1.0f / x;
      case Op::EXP: return expf(x);
      case Op::EXPM1: return expm1f(x);
      case Op::LOG: return logf(x);
      case Op::LOG1P: return log1pf(x);
      case Op::SQRT: return sqrtf(x);
      case Op::RSQRT: return 1.0f / sqrtf(x);
      case Op::SIN: return sinf(x);
      case Op::COS: return cosf(x);
      case Op::TANH: return tanhf(x);
      case Op::ERF: return erff(x);
      case Op::SIGMOID: return sigmoid(x);
      case Op::RELU: return x > 0.0f ? x : (x != x ? x : 0.0f);
      case Op::GELU: return 0.5f * x * (1.0f + erff(x * kSqrt1_2));
      case Op::GELU_TANH: return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
      case Op::SILU: return x * sigmoid(x);
      case Op::FLOOR: return floorf(x);
      case Op::CEIL: return ceilf(x);
      case Op::ROUND: return rintf(x);  // half to even, like torch.round
      case Op::LOGICAL_NOT: return x == 0.0f ? 1.0f : 0.0f;
      case Op::CLAMP: return x != x ? x : (x < lo ? lo : (x > hi ? hi : x));
      default: return __int_as_float(0x7fc00000);  // not registered for this kernel
    }
  }
};

__device__ __forceinline__ float nan_max(float a, float b) { return (a > b || a != a) ? a : b; }
__device__ __forceinline__ float nan_min(float a, float b) { return (a < b || a != a) ? a : b; }

struct BinaryFn {
  Op op;
  __device__ float operator()(float a, float b) const {
    switch (op) {
      case Op::ADD: return a + b;
      case Op::SUB: return a - b;
      case Op::MUL: return a * b;
      case Op::DIV: return a / b;
      case Op::POW: return powf(a, b);
      case Op::MAXIMUM: return nan_max(a, b);
      case Op::MINIMUM: return nan_min(a, b);
      case Op::EQ: return a == b;
      case Op::NE: return a != b;
      case Op::LT: return a < b;
      case Op::LE: return a <= b;
      case Op::GT: return a > b;
      case Op::GE: return a >= b;
      case Op::LOGICAL_AND: return (a != 0.0f) && (b != 0.0f);
      case Op::LOGICAL_OR: return (a != 0.0f) || (b != 0.0f);
      default: return __int_as_float(0x7fc00000);
    }
  }
};

// dx = dy * GELU'(x): Phi(x) + x phi(x) (erf form) or the derivative of the tanh form.
struct GeluBackFn {
  bool tanh_form;
  __device__ float operator()(float dy, float x) const {
    if (!tanh_form) {
      float cdf = 0.5f * (1.0f + erff(x * kSqrt1_2));
      float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
      return dy * (cdf + x * pdf);
    }
    float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    float s = sigmoid(2.0f * u);
    float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
    return dy * (s + 2.0f * x * s * (1.0f - s) * du);
  }
};

template <typename TO, typename TI, typename F>
__global__ void map1(Iter<2> it, TO* __restrict__ out, const TI* __restrict__ a, int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (it.contiguous) {
      out[i] = from_f<TO>(f(to_f(a[i])));
    } else {
      int64_t off[2];
      it.offsets(i, off);
      out[off[0]] = from_f<TO>(f(to_f(a[off[1]])));
    }
  }
}

template <typename TO, typename TI, typename F>
__global__ void map2(Iter<3> it, TO* __restrict__ out, const TI* __restrict__ a, const TI* __restrict__ b, int64_t n,
                     F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (it.contiguous) {
      out[i] = from_f<TO>(f(to_f(a[i]), to_f(b[i])));
    } else {
      int64_t off[3];
      it.offsets(i, off);
      out[off[0]] = from_f<TO>(f(to_f(a[off[1]]), to_f(b[off[2]])));
    }
  }
}

template <typename T>
__global__ void where_map(Iter<4> it, T* __restrict__ out, const uint8_t* __restrict__ cond, const T* __restrict__ a,
                          const T* __restrict__ b, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[4];
    if (it.contiguous) {
      off[0] = off[1] = off[2] = off[3] = i;
    } else {
      it.offsets(i, off);
    }
    out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
  }
}

template <typename F>
void launch_map1(const OpCall& c, F f) {
  const Tensor& x = *c.in[0];
  const Tensor& out = *c.out[0];
  cudaStream_t s = stream_for(call_device(c));
  int64_t n = numel_of(out);
  const Shape* strides[2] = {&out.strides(), &x.strides()};
  Iter<2> it = make_iter<2>(out.shape(), strides);
  visit_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (out.dtype() == DType::BOOL) {
      map1<uint8_t, T><<<blocks_for(n, 256), 256, 0, s>>>(it, out.data<uint8_t>(), x.data<T>(), n, f);
    } else {
      map1<T, T><<<blocks_for(n, 256), 256, 0, s>>>(it, out.data<T>(), x.data<T>(), n, f);
    }
  });
  RADDINO_CUDA_LAUNCHED("element-wise");
}

template <typename F>
void launch_map2(const OpCall& c, const Tensor& a, const Tensor& b, F f) {
  const Tensor& out = *c.out[0];
  cudaStream_t s = stream_for(call_device(c));
  int64_t n = numel_of(out);
  const Shape* strides[3] = {&out.strides(), &a.strides(), &b.strides()};
  Iter<3> it = make_iter<3>(out.shape(), strides);
  visit_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (out.dtype() == DType::BOOL && a.dtype() != DType::BOOL) {
      map2<uint8_t, T><<<blocks_for(n, 256), 256, 0, s>>>(it, out.data<uint8_t>(), a.data<T>(), b.data<T>(), n, f);
    } else {
      map2<T, T><<<blocks_for(n, 256), 256, 0, s>>>(it, out.data<T>(), a.data<T>(), b.data<T>(), n, f);
    }
  });
  RADDINO_CUDA_LAUNCHED("element-wise");
}

}  // namespace

void unary_kernel(const OpCall& c) {
  UnaryFn f{c.op, c.p.has_a ? static_cast<float>(c.p.a) : -INFINITY, c.p.has_b ? static_cast<float>(c.p.b) : INFINITY};
  launch_map1(c, f);
}

void binary_kernel(const OpCall& c) { launch_map2(c, *c.in[0], *c.in[1], BinaryFn{c.op}); }

void gelu_backward_kernel(const OpCall& c) {
  // in: dy, x
  launch_map2(c, *c.in[0], *c.in[1], GeluBackFn{c.op == Op::GELU_TANH_BACK});
}

void where_kernel(const OpCall& c) {
  const Tensor& cond = *c.in[0];
  const Tensor& a = *c.in[1];
  const Tensor& b = *c.in[2];
  const Tensor& out = *c.out[0];
  cudaStream_t s = stream_for(call_device(c));
  int64_t n = numel_of(out);
  const Shape* strides[4] = {&out.strides(), &cond.strides(), &a.strides(), &b.strides()};
  Iter<4> it = make_iter<4>(out.shape(), strides);
  visit_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    where_map<T><<<blocks_for(n, 256), 256, 0, s>>>(it, out.data<T>(), cond.data<uint8_t>(), a.data<T>(), b.data<T>(), n);
  });
  RADDINO_CUDA_LAUNCHED("where");
}

}  // namespace raddino::cuda
