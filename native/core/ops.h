// The dispatcher: one function per op family. Each validates its arguments (throwing errors that
// name the op, the argument and what was expected), computes the output shape and dtype,
// allocates the output on the inputs' device and runs the backend kernel (core/backend.h).
// Inputs may be any strided view; kernels receive them as they are unless noted.
#pragma once
#include <optional>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace raddino::ops {

// ---- memory ---------------------------------------------------------------------------------
Tensor contiguous(const Tensor& x);                  // x itself when already contiguous
Tensor clone(const Tensor& x);                       // always a new contiguous copy
Tensor reshape(const Tensor& x, const Shape& shape);  // a view when possible, else a copy
Tensor cast(const Tensor& x, DType dtype);            // x itself when the dtype already matches
// dst[...] = src broadcast to dst's shape (dtypes may differ: converts). dst may be a view.
void copy_(const Tensor& dst, const Tensor& src);
// x on `device`: x itself when it is there already, else a new contiguous copy (through the
// backends' host copies).
Tensor to_device(const Tensor& x, Device device);
Tensor full(const Shape& shape, double value, DType dtype, Device device);
Tensor arange(double start, double end, double step, DType dtype, Device device);
Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device);

// ---- element-wise ---------------------------------------------------------------------------
Tensor unary(Op op, const Tensor& x);
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);
// add, sub, mul, div, pow, maximum, minimum; and the comparisons/logical ops (bool output).
// Both operands must have the same dtype and device; shapes broadcast.
Tensor binary(Op op, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- reductions -----------------------------------------------------------------------------
// sum, mean, max, min, var (param = correction), logsumexp, norm (param = p: any p > 0, or inf).
// Empty `axes` reduces over all axes.
Tensor reduce(Op op, const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, double param = 0);
// argmax / argmin along one dim (or over the flattened input when dim is empty); int64 output.
Tensor arg_reduce(Op op, const Tensor& x, std::optional<int64_t> dim, bool keepdim);
Tensor softmax(Op op, const Tensor& x, int64_t dim);  // softmax / log_softmax

// ---- linear algebra -------------------------------------------------------------------------
// Batched matrix product with broadcasting over leading dims; a is [..., M, K] (or [..., K, M]
// when trans_a), b is [..., K, N] (or [..., N, K] when trans_b). 1-D operands follow torch.matmul.
// `bias` ([N], optional) is added to every row inside the GEMM (the Linear layer's epilogue).
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false, const Tensor* bias = nullptr);

// y = bf16(x) Wᵀ + bias with float32 accumulation: x float32 [..., K] (last dim contiguous),
// weight bfloat16 [N, K], bias float32 [N] (optional); y float32 [..., N]. The bf16 inference mode
// of Linear layers (AVX512-BF16 dot products where the CPU has them).
Tensor linear_bf16(const Tensor& x, const Tensor& weight, const Tensor* bias);

// ---- shape and indexing ---------------------------------------------------------------------
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// Out-of-place: returns x with src added at index along dim.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, double alpha);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
Tensor masked_select(const Tensor& x, const Tensor& mask);
Tensor one_hot(const Tensor& index, int64_t num_classes);
// (values, int64 indices) of the k largest (or smallest) along dim, sorted when `sorted`.
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted);

// ---- network kernels (core/ops_nn.cc) -----------------------------------------------------
// LayerNorm over the last dim: y = (x - mean) * rstd * weight + bias, rstd = 1/sqrt(var + eps)
// (biased variance). weight/bias may be null. mean and rstd ([rows]; float64 for float64 x,
// else float32) are kept for the backward.
struct LayerNormResult {
  Tensor y, mean, rstd;
};
LayerNormResult layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, double eps);
struct LayerNormGrads {
  Tensor dx, dweight, dbias;  // dweight/dbias undefined when weight/bias were null
};
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor* weight, bool has_bias);
// The backward of softmax / log_softmax along dim from the forward's output y:
// softmax: dx = y (dy - sum(dy y)); log_softmax: dx = dy - exp(y) sum(dy).
Tensor softmax_backward(Op op, const Tensor& y, const Tensor& dy, int64_t dim);
// dx = dy * GELU'(x), exact (erf) form or tanh form.
Tensor gelu_backward(const Tensor& dy, const Tensor& x, bool tanh_form);

// Scaled dot-product attention, softmax(q k^T * scale) v, fused (the N x M score matrix is never
// stored). q [B, H, N, D], k [B, H, M, D], v [B, H, M, D]: any strides with the last dim
// contiguous. out is [B, H, N, D] as a view of a contiguous [B, N, H, D] buffer (so
// out.transpose(1, 2).reshape(B, N, H * D) is free); lse [B, H, N] is the row log-sum-exp of
// the scaled scores (float64 for float64 inputs, else float32), kept for the backward.
struct AttentionResult {
  Tensor out, lse;
};
AttentionResult attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale);
struct AttentionGrads {
  Tensor dq, dk, dv;  // contiguous, shaped like q, k, v
};
AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, const Tensor& dout, double scale);
// The gradient of a fused qkv projection [B, N, 3 H D] whose q, k, v ([B, H, N, D] each) are the
// views qkv.view(B, N, 3, H, D).permute(2, 0, 3, 1, 4)[0..2] (as attentionQkv reads them): dq,
// dk and dv are written straight into one contiguous [B, N, 3 H D] tensor (the CPU kernels write
// through its strides; other backends copy their contiguous results into it).
Tensor attention_backward_qkv(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                              const Tensor& lse, const Tensor& dout, double scale);

// Bicubic resampling of x [N, C, H, W] to [N, C, OH, OW] with PyTorch's semantics
// (align_corners = false): `step_h`/`step_w` are source pixels per output pixel (1/scale_factor
// when a scale factor is given, else H/OH). Without antialias: Keys cubic a = -0.75, 4 taps,
// clamped indices. With antialias: cubic a = -0.5 over a support widened by the step when
// downsampling, weights renormalised, no clamping.
Tensor bicubic(const Tensor& x, int64_t oh, int64_t ow, double step_h, double step_w, bool antialias);
// The adjoint of bicubic: dx [N, C, H, W] from dy [N, C, OH, OW] with the same parameters.
Tensor bicubic_backward(const Tensor& dy, int64_t h, int64_t w, double step_h, double step_w, bool antialias);

// AdamW (Loshchilov & Hutter), one fused in-place step on float32 (or float64) tensors of one
// shape: param *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)   (PyTorch's formulation).
struct AdamWHyper {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;  // t >= 1, after incrementing
};
void adamw_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq, const AdamWHyper& h);

// Exponential moving average in place, one pass: target = momentum * target + (1 - momentum) * source
// (the DINOv2 teacher update). target contiguous; source of the same shape, dtype and device.
void ema_(const Tensor& target, const Tensor& source, double momentum);

// ---- random (Philox4x32-10, counter-based: element i of a call uses counter offset + i) -------
struct RandomState {
  uint64_t seed = 0;
  uint64_t offset = 0;  // counter offset of this call; the caller advances it by random_span()
};
// How far a call that draws n values advances the counter.
uint64_t random_span(Op op, int64_t n);
Tensor rand(const Shape& shape, double lo, double hi, DType dtype, Device device, RandomState rs);
Tensor randn(const Shape& shape, double mean, double std, DType dtype, Device device, RandomState rs);
Tensor trunc_normal(const Shape& shape, double mean, double std, double a, double b, DType dtype, Device device,
                    RandomState rs);
Tensor randint(const Shape& shape, int64_t lo, int64_t hi, DType dtype, Device device, RandomState rs);
Tensor randperm(int64_t n, DType dtype, Device device, RandomState rs);
// Each element is 1 with probability p[i] (p float32/float64 in [0, 1]), output in p's dtype.
Tensor bernoulli(const Tensor& p, RandomState rs);

}  // namespace raddino::ops
