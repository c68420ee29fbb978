// ARGMAX / ARGMIN along one dim (the dispatcher flattens for a full reduction): int64 output, one
// element per position of the other dims in row-major order. Semantics of cpu/reduce.cc: the
// first index of the extreme value wins ties, and the first NaN wins outright (like PyTorch).
// One warp per output: each lane scans its stride-32 subset in ascending order with the same
// rule, then the lanes' (value, index) pairs are combined so that the result is the sequential one.
#include <cmath>
#include <string>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

template <typename S>
struct Cmp {
  using type = S;  // integers, float, double compare as themselves
  __device__ static type load(S v) { return v; }
};
template <>
struct Cmp<__nv_bfloat16> {
  using type = float;
  __device__ static float load(__nv_bfloat16 v) { return __bfloat162float(v); }
};
template <>
struct Cmp<__half> {
  using type = float;
  __device__ static float load(__half v) { return __half2float(v); }
};

template <typename C>
__device__ __forceinline__ bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>) return v != v;
  else return false;
}

// Whether candidate (v, k) replaces the current (best, arg) in the sequential scan's order.
template <typename C>
__device__ __forceinline__ bool better(C v, int64_t k, C best, int64_t arg, bool want_max) {
  const bool vn = is_nan(v), bn = is_nan(best);
  if (bn || vn) return vn && (!bn || k < arg);  // the first NaN wins
  if (v == best) return k < arg;
  return want_max ? v > best : v < best;
}

template <typename C>
__device__ __forceinline__ C shfl(C v, int d) {
  if constexpr (sizeof(C) < 4) return static_cast<C>(__shfl_xor_sync(0xffffffffu, static_cast<int>(v), d));
  else return __shfl_xor_sync(0xffffffffu, v, d);
}

template <typename S>
__global__ void argreduce_rows(Iter<1> rows, int64_t nrows, int64_t size, int64_t stride, const S* __restrict__ x,
                               int64_t* __restrict__ out, bool want_max) {
  using C = typename Cmp<S>::type;
  const int64_t row = blockIdx.x * int64_t(blockDim.y) + threadIdx.y;
  if (row >= nrows) return;
  int64_t off[1];
  rows.offsets(row, off);
  const S* p = x + off[0];
  const int lane = threadIdx.x;
  C best{};
  int64_t arg = -1;  // none yet (a lane past the end keeps -1)
  for (int64_t k = lane; k < size; k += 32) {
    const C v = Cmp<S>::load(p[k * stride]);
    if (arg < 0 || better(v, k, best, arg, want_max)) {
      if (arg < 0 || !is_nan(best)) {
        best = v;
        arg = k;
      }
    }
  }
  for (int d = 16; d > 0; d >>= 1) {
    const C ov = shfl(best, d);
    const int64_t oa = __shfl_xor_sync(0xffffffffu, arg, d);
    if (oa >= 0 && (arg < 0 || better(ov, oa, best, arg, want_max))) {
      best = ov;
      arg = oa;
    }
  }
  if (lane == 0) out[row] = arg;
}

template <typename F>
void visit_cmp(DType d, F&& f) {
  switch (d) {
    case DType::F32: f(float{}); return;
    case DType::F64: f(double{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    case DType::F16: f(__half{}); return;
    case DType::I32: f(int32_t{}); return;
    case DType::I64: f(int64_t{}); return;
    case DType::U8:
    case DType::BOOL: f(uint8_t{}); return;
    default: raise(ErrorKind::Type, "", std::string("argmax/argmin: dtype ") + dtype_name(d) + " is not supported on cuda");
  }
}

}  // namespace

void argreduce_kernel(const OpCall& c) {
  const Tensor& x = *c.in[0];
  const Tensor& out = *c.out[0];
  cudaStream_t s = stream_for(call_device(c));
  const int d = static_cast<int>(c.p.dim);
  Shape rshape, rstr;
  for (int i = 0; i < x.ndim(); ++i) {
    if (i == d) continue;
    rshape.push_back(x.shape()[i]);
    rstr.push_back(x.strides()[i]);
  }
  const Shape* strides[1] = {&rstr};
  Iter<1> rows = make_iter<1>(rshape, strides);
  const int64_t nrows = numel_of(out);
  dim3 block(32, 8), grid(static_cast<unsigned>((nrows + 7) / 8));
  visit_cmp(x.dtype(), [&](auto tag) {
    using S = decltype(tag);
    argreduce_rows<S><<<grid, block, 0, s>>>(rows, nrows, x.shape()[d], x.strides()[d], x.data<S>(), out.data<int64_t>(),
                                             c.op == Op::ARGMAX);
  });
  RADDINO_CUDA_LAUNCHED("argreduce");
}

}  // namespace raddino::cuda
