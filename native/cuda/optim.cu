// AdamW, one fused in-place pass over a float32 parameter and its two moments (PyTorch's
// formulation, as in cpu/optim.cc):
//   param *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//   param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace raddino::cuda {
namespace {

__global__ void adamw_f32(float* __restrict__ p, float* __restrict__ m, float* __restrict__ v,
                          const float* __restrict__ g, int64_t n, float decay, float b1, float b2, float step_size,
                          float inv_sqrt_bc2, float eps) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float gi = g[i];
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}

// target = m target + w source, w = 1 - m computed in double (as cpu/optim.cc does).
template <typename T>
__global__ void ema_kernel_t(T* __restrict__ t, const T* __restrict__ src, int64_t n, T m, T w) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    t[i] = m * t[i] + w * src[i];
  }
}

}  // namespace

// EMA (the teacher update): in: source (contiguous); out: target (contiguous, updated in place).
void ema_kernel(const OpCall& c) {
  const Tensor& src = *c.in[0];
  cudaStream_t s = stream_for(call_device(c));
  int64_t n = numel_of(src);
  if (c.out[0]->dtype() == DType::F64) {
    ema_kernel_t<double><<<blocks_for(n, 256), 256, 0, s>>>(c.out[0]->data<double>(), src.data<double>(), n, c.p.a, 1.0 - c.p.a);
  } else {
    ema_kernel_t<float><<<blocks_for(n, 256), 256, 0, s>>>(c.out[0]->data<float>(), src.data<float>(), n,
                                                           static_cast<float>(c.p.a), static_cast<float>(1.0 - c.p.a));
  }
  RADDINO_CUDA_LAUNCHED("ema");
}

// in: grad (contiguous); out: param, exp_avg, exp_avg_sq (contiguous, updated in place).
void adamw_kernel(const OpCall& c) {
  const Tensor& g = *c.in[0];
  cudaStream_t s = stream_for(call_device(c));
  int64_t n = numel_of(g);
  const double lr = c.p.a, wd = c.p.b, b1 = c.p.c, b2 = c.p.d, eps = c.p.e;
  const double t = static_cast<double>(c.p.k);
  const double bc1 = 1.0 - std::pow(b1, t), bc2 = 1.0 - std::pow(b2, t);
  adamw_f32<<<blocks_for(n, 256), 256, 0, s>>>(c.out[0]->data<float>(), c.out[1]->data<float>(), c.out[2]->data<float>(),
                                               g.data<float>(), n, static_cast<float>(1.0 - lr * wd),
                                               static_cast<float>(b1), static_cast<float>(b2),
                                               static_cast<float>(lr / bc1), static_cast<float>(1.0 / std::sqrt(bc2)),
                                               static_cast<float>(eps));
  RADDINO_CUDA_LAUNCHED("adamw");
}

}  // namespace raddino::cuda
