// Softmax and log-softmax along one dim, and their backward next to them. One warp per row of
// L elements (the row is read three times; it stays in L1/L2 between the passes).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

__device__ __forceinline__ float warp_max(float v) {
  for (int d = 16; d > 0; d >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

// Rows: every index of the other dims; `rows` gives (out offset, in offset) of element 0 of a row.
template <typename T>
__global__ void softmax_rows(Iter<2> rows, int64_t nrows, int64_t len, int64_t out_step, int64_t in_step,
                             T* __restrict__ out, const T* __restrict__ x, bool log_form) {
  int64_t row = blockIdx.x * int64_t(blockDim.y) + threadIdx.y;
  if (row >= nrows) return;
  int64_t off[2];
  rows.offsets(row, off);
  const T* xr = x + off[1];
  T* yr = out + off[0];
  float m = -INFINITY;
  bool nan = false;
  for (int64_t i = threadIdx.x; i < len; i += 32) {
    float v = to_f(xr[i * in_step]);
    nan |= v != v;
    m = fmaxf(m, v);
  }
  m = warp_max(m);
  nan = __any_sync(0xffffffffu, nan);
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < len; i += 32) sum += expf(to_f(xr[i * in_step]) - m);
  sum = warp_sum(sum);
  // A row of -inf gives NaN, like PyTorch; a NaN anywhere in the row gives a row of NaN.
  float lse = m + logf(sum), inv = 1.0f / sum;
  for (int64_t i = threadIdx.x; i < len; i += 32) {
    float v = to_f(xr[i * in_step]);
    float y = log_form ? v - lse : expf(v - m) * inv;
    yr[i * out_step] = from_f<T>(nan ? __int_as_float(0x7fc00000) : y);
  }
}

// softmax: dx = y (dy - sum(dy y)); log_softmax: dx = dy - exp(y) sum(dy). All contiguous; a row
// is `len` elements `inner` apart.
template <typename T>
__global__ void softmax_back_rows(int64_t nrows, int64_t len, int64_t inner, T* __restrict__ dx,
                                  const T* __restrict__ y, const T* __restrict__ dy, bool log_form) {
  int64_t row = blockIdx.x * int64_t(blockDim.y) + threadIdx.y;
  if (row >= nrows) return;
  int64_t base = (row / inner) * len * inner + row % inner;
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < len; i += 32) {
    int64_t k = base + i * inner;
    acc += log_form ? to_f(dy[k]) : to_f(dy[k]) * to_f(y[k]);
  }
  acc = warp_sum(acc);
  for (int64_t i = threadIdx.x; i < len; i += 32) {
    int64_t k = base + i * inner;
    float yv = to_f(y[k]), g = to_f(dy[k]);
    dx[k] = from_f<T>(log_form ? g - expf(yv) * acc : yv * (g - acc));
  }
}

}  // namespace

void softmax_kernel(const OpCall& c) {
  const Tensor& x = *c.in[0];
  const Tensor& out = *c.out[0];
  cudaStream_t s = stream_for(call_device(c));
  const int d = static_cast<int>(c.p.dim);
  Shape rshape, ostr, istr;
  for (int i = 0; i < x.ndim(); ++i) {
    if (i == d) continue;
    rshape.push_back(x.shape()[i]);
    ostr.push_back(out.strides()[i]);
    istr.push_back(x.strides()[i]);
  }
  const Shape* strides[2] = {&ostr, &istr};
  Iter<2> rows = make_iter<2>(rshape, strides);
  int64_t nrows = 1;
  for (int64_t v : rshape) nrows *= v;
  int64_t len = x.shape()[d];
  dim3 block(32, 4), grid(static_cast<unsigned>((nrows + 3) / 4));
  visit_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_rows<T><<<grid, block, 0, s>>>(rows, nrows, len, out.strides()[d], x.strides()[d], out.data<T>(), x.data<T>(),
                                           c.op == Op::LOG_SOFTMAX);
  });
  RADDINO_CUDA_LAUNCHED("softmax");
}

void softmax_backward_kernel(const OpCall& c) {
  const Tensor& y = *c.in[0];
  const Tensor& dy = *c.in[1];
  const Tensor& dx = *c.out[0];
  cudaStream_t s = stream_for(call_device(c));
  const int d = static_cast<int>(c.p.dim);
  int64_t len = y.shape()[d], inner = 1;
  for (int i = d + 1; i < y.ndim(); ++i) inner *= y.shape()[i];
  int64_t nrows = numel_of(y) / (len > 0 ? len : 1);
  dim3 block(32, 4), grid(static_cast<unsigned>((nrows + 3) / 4));
  visit_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_back_rows<T><<<grid, block, 0, s>>>(nrows, len, inner, dx.data<T>(), y.data<T>(), dy.data<T>(),
                                                c.op == Op::LOG_SOFTMAX_BACK);
  });
  RADDINO_CUDA_LAUNCHED("softmax");
}

}  // namespace raddino::cuda
