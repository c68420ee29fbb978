// LayerNorm over the last dim (C), forward and backward, fused: one warp per row computes the
// statistics and writes the row; the backward writes dx per row and reduces dweight / dbias over
// rows in column tiles (partials over row chunks, then one pass over the partials).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

// x: rows at offsets given by `rows` (its last dim contiguous); y contiguous (rows, C).
template <typename T>
__global__ void layer_norm_fwd(Iter<1> rows, int64_t nrows, int64_t C, const T* __restrict__ x,
                               const T* __restrict__ w, int64_t w_step, const T* __restrict__ b, int64_t b_step,
                               T* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd, double eps) {
  int64_t row = blockIdx.x * int64_t(blockDim.y) + threadIdx.y;
  if (row >= nrows) return;
  int64_t off[1];
  rows.offsets(row, off);
  const T* xr = x + off[0];
  // Statistics in float64, like the CPU reference: the backward's dweight is a sum that cancels
  // and amplifies any error in mean and rstd.
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < C; i += 32) sum += to_f(xr[i]);
  const double mu_d = warp_sum(sum) / static_cast<double>(C);
  double sq = 0.0;
  for (int64_t i = threadIdx.x; i < C; i += 32) {
    double d = to_f(xr[i]) - mu_d;
    sq += d * d;
  }
  const double rs_d = 1.0 / sqrt(warp_sum(sq) / static_cast<double>(C) + static_cast<double>(eps));
  const float mu = static_cast<float>(mu_d), rs = static_cast<float>(rs_d);
  T* yr = y + row * C;
  for (int64_t i = threadIdx.x; i < C; i += 32) {
    float v = (to_f(xr[i]) - mu) * rs;
    if (w) v *= to_f(w[i * w_step]);
    if (b) v += to_f(b[i * b_step]);
    yr[i] = from_f<T>(v);
  }
  if (threadIdx.x == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy w. All contiguous (rows, C).
template <typename T>
__global__ void layer_norm_bwd_dx(int64_t nrows, int64_t C, const T* __restrict__ dy, const T* __restrict__ x,
                                  const float* __restrict__ mean, const float* __restrict__ rstd,
                                  const T* __restrict__ w, int64_t w_step, T* __restrict__ dx) {
  int64_t row = blockIdx.x * int64_t(blockDim.y) + threadIdx.y;
  if (row >= nrows) return;
  const T* dyr = dy + row * C;
  const T* xr = x + row * C;
  float mu = mean[row], rs = rstd[row];
  float sg = 0.0f, sgx = 0.0f;
  for (int64_t i = threadIdx.x; i < C; i += 32) {
    float g = to_f(dyr[i]) * (w ? to_f(w[i * w_step]) : 1.0f);
    float xh = (to_f(xr[i]) - mu) * rs;
    sg += g;
    sgx += g * xh;
  }
  sg = warp_sum(sg) / static_cast<float>(C);
  sgx = warp_sum(sgx) / static_cast<float>(C);
  T* dxr = dx + row * C;
  for (int64_t i = threadIdx.x; i < C; i += 32) {
    float g = to_f(dyr[i]) * (w ? to_f(w[i * w_step]) : 1.0f);
    float xh = (to_f(xr[i]) - mu) * rs;
    dxr[i] = from_f<T>(rs * (g - sg - xh * sgx));
  }
}

// Partial column sums of dy * xhat and dy over a chunk of rows: block (32, 8), grid (C / 32, P).
template <typename T>
__global__ void layer_norm_bwd_partial(int64_t nrows, int64_t C, int64_t chunk, const T* __restrict__ dy,
                                       const T* __restrict__ x, const float* __restrict__ mean,
                                       const float* __restrict__ rstd, double* __restrict__ pw, double* __restrict__ pb) {
  // float64 sums: dweight is a sum of many terms that largely cancel.
  __shared__ double sw[8][33], sb[8][33];
  int64_t col = blockIdx.x * 32 + threadIdx.x;
  int64_t r0 = blockIdx.y * chunk, r1 = min(nrows, r0 + chunk);
  double aw = 0.0, ab = 0.0;
  if (col < C) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) {
      double g = to_f(dy[r * C + col]);
      aw += g * ((static_cast<double>(to_f(x[r * C + col])) - mean[r]) * rstd[r]);
      ab += g;
    }
  }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && col < C) {
    for (int k = 1; k < 8; ++k) {
      aw += sw[k][threadIdx.x];
      ab += sb[k][threadIdx.x];
    }
    pw[blockIdx.y * C + col] = aw;
    pb[blockIdx.y * C + col] = ab;
  }
}

template <typename T>
__global__ void layer_norm_bwd_finish(int64_t C, int P, const double* __restrict__ pw, const double* __restrict__ pb,
                                      T* __restrict__ dw, T* __restrict__ db) {
  int64_t col = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (col >= C) return;
  double aw = 0, ab = 0;
  for (int p = 0; p < P; ++p) {
    aw += pw[p * C + col];
    ab += pb[p * C + col];
  }
  if (dw) dw[col] = from_f<T>(static_cast<float>(aw));
  if (db) db[col] = from_f<T>(static_cast<float>(ab));
}

}  // namespace

// in: x, [weight], [bias]; out: y, mean, rstd. flag0 / flag1: weight / bias present.
void layer_norm_kernel(const OpCall& c) {
  const Tensor& x = *c.in[0];
  const Tensor* w = c.p.flag0 ? c.in[1] : nullptr;
  const Tensor* b = c.p.flag1 ? c.in[c.p.flag0 ? 2 : 1] : nullptr;
  const Tensor& y = *c.out[0];
  cudaStream_t s = stream_for(call_device(c));
  const int64_t C = x.shape().back();
  Shape rshape(x.shape().begin(), x.shape().end() - 1), rstr(x.strides().begin(), x.strides().end() - 1);
  const Shape* strides[1] = {&rstr};
  Iter<1> rows = make_iter<1>(rshape, strides);
  int64_t nrows = 1;
  for (int64_t v : rshape) nrows *= v;
  dim3 block(32, 4), grid(static_cast<unsigned>((nrows + 3) / 4));
  visit_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    layer_norm_fwd<T><<<grid, block, 0, s>>>(rows, nrows, C, x.data<T>(), w ? w->data<T>() : nullptr,
                                             w ? w->strides()[0] : 0, b ? b->data<T>() : nullptr,
                                             b ? b->strides()[0] : 0, y.data<T>(), c.out[1]->data<float>(),
                                             c.out[2]->data<float>(), c.p.a);
  });
  RADDINO_CUDA_LAUNCHED("layer_norm");
}

// in: dy, x, mean, rstd, [weight]; out: dx, [dweight], [dbias].
void layer_norm_backward_kernel(const OpCall& c) {
  const Tensor& dy = *c.in[0];
  const Tensor& x = *c.in[1];
  const float* mean = c.in[2]->data<float>();
  const float* rstd = c.in[3]->data<float>();
  const Tensor* w = c.p.flag0 ? c.in[4] : nullptr;
  const Tensor& dx = *c.out[0];
  const Tensor* dw = c.p.flag0 ? c.out[1] : nullptr;
  const Tensor* db = c.p.flag1 ? c.out[c.p.flag0 ? 2 : 1] : nullptr;
  int dev = call_device(c);
  cudaStream_t s = stream_for(dev);
  const int64_t C = x.shape().back();
  const int64_t nrows = C > 0 ? numel_of(x) / C : 0;
  if (nrows == 0 || C == 0) return;
  // Row chunks for the column sums: enough blocks to fill the GPU, chunks of >= 64 rows.
  int64_t col_tiles = (C + 31) / 32;
  int P = 1;
  while (P < 256 && col_tiles * P < 1024 && nrows / (P * 2) >= 64) P *= 2;
  int64_t chunk = (nrows + P - 1) / P;
  Scratch partial((dw || db) ? sizeof(double) * 2 * static_cast<size_t>(P * C) : 0, dev);
  visit_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    dim3 block(32, 4), grid(static_cast<unsigned>((nrows + 3) / 4));
    layer_norm_bwd_dx<T><<<grid, block, 0, s>>>(nrows, C, dy.data<T>(), x.data<T>(), mean, rstd,
                                                w ? w->data<T>() : nullptr, w ? w->strides()[0] : 0, dx.data<T>());
    RADDINO_CUDA_LAUNCHED("layer_norm_back");
    if (!dw && !db) return;
    double* pw = partial.as<double>();
    double* pb = pw + static_cast<size_t>(P) * C;
    layer_norm_bwd_partial<T><<<dim3(static_cast<unsigned>(col_tiles), P), dim3(32, 8), 0, s>>>(
        nrows, C, chunk, dy.data<T>(), x.data<T>(), mean, rstd, pw, pb);
    RADDINO_CUDA_LAUNCHED("layer_norm_back");
    layer_norm_bwd_finish<T><<<blocks_for(C, 128), 128, 0, s>>>(C, P, pw, pb, dw ? dw->data<T>() : nullptr,
                                                               db ? db->data<T>() : nullptr);
    RADDINO_CUDA_LAUNCHED("layer_norm_back");
  });
}

}  // namespace raddino::cuda
