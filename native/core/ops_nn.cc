// Dispatcher for the network kernels: LayerNorm, GELU backward, fused attention and bicubic
// resampling, each next to its backward (see core/ops.h).
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/ops.h"
#include "core/ops_util.h"

namespace raddino::ops {
namespace {

DType stats_dtype(DType d) { return d == DType::F64 ? DType::F64 : DType::F32; }

void check_last_contiguous(const char* op, const Tensor& t, const char* arg) {
  RADDINO_CHECK(t.ndim() == 0 || t.strides().back() == 1 || t.shape().back() == 1, Value, op, ": argument '", arg,
                "' must have a contiguous last dimension (got strides ", shape_str(t.strides()),
                "; call contiguous() first)");
}

void check_vector(const char* op, const Tensor& t, const char* arg, int64_t n, const Tensor& like) {
  check_same_dtype(op, like, "input", t, arg);
  check_same_device(op, like, "input", t, arg);
  RADDINO_CHECK(t.ndim() == 1 && t.shape()[0] == n, Range, op, ": argument '", arg, "' has shape ",
                shape_str(t.shape()), " (expected [", n, "], the size of the normalised dimension)");
}

}  // namespace

LayerNormResult layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, double eps) {
  const char* op = "layer_norm";
  check_supported(Op::LAYER_NORM, x, "input");
  RADDINO_CHECK(x.ndim() >= 1, Range, op, ": argument 'input' is a scalar (expected at least 1 dimension)");
  RADDINO_CHECK(eps >= 0 && std::isfinite(eps), Range, op, ": argument 'eps' is ", eps, " (expected eps >= 0)");
  const int64_t C = x.shape().back();
  if (weight) check_vector(op, *weight, "weight", C, x);
  if (bias) check_vector(op, *bias, "bias", C, x);
  Tensor in = x.strides().back() == 1 || C == 1 ? x : contiguous(x);
  Shape rows(x.shape().begin(), x.shape().end() - 1);
  LayerNormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(rows, stats_dtype(x.dtype()), x.device()),
                    Tensor::empty(rows, stats_dtype(x.dtype()), x.device())};
  if (x.numel() == 0) return r;
  OpCall call{Op::LAYER_NORM, {&in}, {&r.y, &r.mean, &r.rstd}, {}};
  if (weight) call.in.push_back(weight);
  if (bias) call.in.push_back(bias);
  call.p.flag0 = weight != nullptr;
  call.p.flag1 = bias != nullptr;
  call.p.a = eps;
  run_kernel(call, x.dtype());
  return r;
}

LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor* weight, bool has_bias) {
  const char* op = "layer_norm_back";
  check_supported(Op::LAYER_NORM_BACK, x, "input");
  check_same_dtype(op, x, "input", dy, "grad_output");
  RADDINO_CHECK(dy.shape() == x.shape(), Range, op, ": argument 'grad_output' has shape ", shape_str(dy.shape()),
                " (expected ", shape_str(x.shape()), ")");
  const int64_t C = x.shape().back();
  Shape rows(x.shape().begin(), x.shape().end() - 1);
  RADDINO_CHECK(mean.shape() == rows && rstd.shape() == rows && mean.dtype() == stats_dtype(x.dtype()) &&
                    rstd.dtype() == stats_dtype(x.dtype()),
                Range, op, ": arguments 'mean' and 'rstd' must be the ", shape_str(rows), " ",
                dtype_name(stats_dtype(x.dtype())), " statistics returned by layer_norm");
  if (weight) check_vector(op, *weight, "weight", C, x);
  Tensor xc = contiguous(x), dyc = contiguous(dy), mc = contiguous(mean), rc = contiguous(rstd);
  LayerNormGrads g;
  g.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (weight) g.dweight = Tensor::empty({C}, x.dtype(), x.device());
  if (has_bias) g.dbias = Tensor::empty({C}, x.dtype(), x.device());
  OpCall call{Op::LAYER_NORM_BACK, {&dyc, &xc, &mc, &rc}, {&g.dx}, {}};
  if (weight) call.in.push_back(weight);
  call.p.flag0 = weight != nullptr;
  call.p.flag1 = has_bias;
  if (weight) call.out.push_back(&g.dweight);
  if (has_bias) call.out.push_back(&g.dbias);
  run_kernel(call, x.dtype());
  return g;
}

Tensor softmax_backward(Op op, const Tensor& y, const Tensor& dy, int64_t dim) {
  const char* name = op_name(op);
  RADDINO_CHECK(op == Op::SOFTMAX_BACK || op == Op::LOG_SOFTMAX_BACK, Value, name, ": not a softmax backward");
  check_supported(op, y, "output");
  check_same_dtype(name, y, "output", dy, "grad_output");
  check_same_device(name, y, "output", dy, "grad_output");
  RADDINO_CHECK(dy.shape() == y.shape(), Range, name, ": argument 'grad_output' has shape ", shape_str(dy.shape()),
                " (expected ", shape_str(y.shape()), ")");
  int d = normalize_axis(dim, y.ndim(), name, "dim");
  Tensor out = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (out.numel() == 0) return out;
  Tensor yc = contiguous(y.ndim() == 0 ? reshape(y, {1}) : y), gc = contiguous(dy.ndim() == 0 ? reshape(dy, {1}) : dy);
  Tensor o = y.ndim() == 0 ? reshape(out, {1}) : out;
  OpCall call{op, {&yc, &gc}, {&o}, {}};
  call.p.dim = d;
  run_kernel(call, y.dtype());
  return out;
}

Tensor gelu_backward(const Tensor& dy, const Tensor& x, bool tanh_form) {
  Op op = tanh_form ? Op::GELU_TANH_BACK : Op::GELU_BACK;
  check_supported(op, x, "input");
  check_same_dtype(op_name(op), x, "input", dy, "grad_output");
  check_same_device(op_name(op), x, "input", dy, "grad_output");
  RADDINO_CHECK(dy.shape() == x.shape(), Range, op_name(op), ": argument 'grad_output' has shape ",
                shape_str(dy.shape()), " (expected ", shape_str(x.shape()), ")");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  OpCall call{op, {&dy, &x}, {&out}, {}};
  run_kernel(call, x.dtype());
  return out;
}

namespace {

void check_attention_args(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  check_same_dtype(op, q, "query", k, "key");
  check_same_dtype(op, q, "query", v, "value");
  check_same_device(op, q, "query", k, "key");
  check_same_device(op, q, "query", v, "value");
  RADDINO_CHECK(q.ndim() == 4 && k.ndim() == 4 && v.ndim() == 4, Range, op,
                ": arguments 'query', 'key', 'value' must be 4-D [B, H, N, D] (got ", shape_str(q.shape()), ", ",
                shape_str(k.shape()), ", ", shape_str(v.shape()), ")");
  const Shape& qs = q.shape();
  const Shape& ks = k.shape();
  RADDINO_CHECK(ks[0] == qs[0] && ks[1] == qs[1] && ks[3] == qs[3], Range, op, ": argument 'key' has shape ",
                shape_str(ks), " (expected [", qs[0], ", ", qs[1], ", M, ", qs[3], "] to match 'query' ",
                shape_str(qs), ")");
  RADDINO_CHECK(v.shape() == ks, Range, op, ": argument 'value' has shape ", shape_str(v.shape()), " (expected ",
                shape_str(ks), ", like 'key')");
  RADDINO_CHECK(qs[3] >= 1 && qs[3] <= 256, Range, op, ": head dimension ", qs[3], " is not supported (expected 1..256)");
  check_last_contiguous(op, q, "query");
  check_last_contiguous(op, k, "key");
  check_last_contiguous(op, v, "value");
}

}  // namespace

AttentionResult attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  const char* op = "attention";
  check_supported(Op::ATTENTION, q, "query");
  check_attention_args(op, q, k, v);
  RADDINO_CHECK(std::isfinite(scale), Range, op, ": argument 'scale' is ", scale, " (expected a finite number)");
  const Shape& s = q.shape();
  RADDINO_CHECK(k.shape()[2] > 0 || s[2] == 0, Range, op, ": 'key' has no positions (M = 0) to attend to");
  // Output buffer [B, N, H, D], handed to the kernel as its [B, H, N, D] view.
  Tensor buf = Tensor::empty({s[0], s[2], s[1], s[3]}, q.dtype(), q.device());
  AttentionResult r{transpose(buf, 1, 2), Tensor::empty({s[0], s[1], s[2]}, stats_dtype(q.dtype()), q.device())};
  if (q.numel() == 0) return r;
  OpCall call{Op::ATTENTION, {&q, &k, &v}, {&r.out, &r.lse}, {}};
  call.p.a = scale;
  run_kernel(call, q.dtype());
  return r;
}

namespace {

// Checks the backward's arguments and returns (out, grad_out, lse) in the layouts the kernels read.
struct AttentionBackArgs {
  Tensor o, d, l;
};
AttentionBackArgs attention_back_args(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                                      const Tensor& out, const Tensor& lse, const Tensor& dout) {
  check_supported(Op::ATTENTION_BACK, q, "query");
  check_attention_args(op, q, k, v);
  RADDINO_CHECK(out.shape() == q.shape() && dout.shape() == q.shape(), Range, op,
                ": arguments 'out' and 'grad_out' must have the query's shape ", shape_str(q.shape()));
  check_same_dtype(op, q, "query", out, "out");
  check_same_dtype(op, q, "query", dout, "grad_out");
  Shape ls{q.shape()[0], q.shape()[1], q.shape()[2]};
  RADDINO_CHECK(lse.shape() == ls && lse.dtype() == stats_dtype(q.dtype()), Range, op,
                ": argument 'lse' must be the ", shape_str(ls), " log-sum-exp returned by attention");
  return {out.strides().back() == 1 ? out : contiguous(out), dout.strides().back() == 1 ? dout : contiguous(dout),
          contiguous(lse)};
}

void run_attention_back(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionBackArgs& a, double scale,
                        AttentionGrads& g) {
  if (q.numel() == 0 && k.numel() == 0) return;
  OpCall call{Op::ATTENTION_BACK, {&q, &k, &v, &a.o, &a.l, &a.d}, {&g.dq, &g.dk, &g.dv}, {}};
  call.p.a = scale;
  run_kernel(call, q.dtype());
}

}  // namespace

AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, const Tensor& dout, double scale) {
  const AttentionBackArgs a = attention_back_args("attention_back", q, k, v, out, lse, dout);
  AttentionGrads g{Tensor::empty(q.shape(), q.dtype(), q.device()), Tensor::empty(k.shape(), k.dtype(), k.device()),
                   Tensor::empty(v.shape(), v.dtype(), v.device())};
  run_attention_back(q, k, v, a, scale, g);
  return g;
}

Tensor attention_backward_qkv(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                              const Tensor& lse, const Tensor& dout, double scale) {
  const char* op = "attention_back";
  const AttentionBackArgs a = attention_back_args(op, q, k, v, out, lse, dout);
  RADDINO_CHECK(k.shape() == q.shape() && v.shape() == q.shape(), Range, op,
                ": a fused qkv gradient needs query, key and value of one shape (got ", shape_str(q.shape()), ", ",
                shape_str(k.shape()), ", ", shape_str(v.shape()), ")");
  const int64_t B = q.shape()[0], H = q.shape()[1], N = q.shape()[2], D = q.shape()[3];
  Tensor dqkv = Tensor::empty({B, N, 3, H, D}, q.dtype(), q.device());
  const Tensor parts = permute(dqkv, {2, 0, 3, 1, 4});  // [3, B, H, N, D]
  AttentionGrads g{select(parts, 0, 0), select(parts, 0, 1), select(parts, 0, 2)};
  if (q.device().type == DeviceType::CPU) {
    run_attention_back(q, k, v, a, scale, g);  // the CPU kernels write through the views' strides
  } else {
    AttentionGrads c{Tensor::empty(q.shape(), q.dtype(), q.device()), Tensor::empty(k.shape(), k.dtype(), k.device()),
                     Tensor::empty(v.shape(), v.dtype(), v.device())};
    run_attention_back(q, k, v, a, scale, c);
    copy_(g.dq, c.dq);
    copy_(g.dk, c.dk);
    copy_(g.dv, c.dv);
  }
  return view(dqkv, {B, N, 3 * H * D});
}

namespace {

void check_bicubic(const char* op, const Tensor& x, int64_t oh, int64_t ow, double step_h, double step_w) {
  RADDINO_CHECK(x.ndim() == 4, Range, op, ": argument 'input' has shape ", shape_str(x.shape()),
                " (expected 4-D [N, C, H, W])");
  RADDINO_CHECK(oh > 0 && ow > 0, Range, op, ": output size [", oh, ", ", ow, "] must be positive");
  RADDINO_CHECK(step_h > 0 && step_w > 0 && std::isfinite(step_h) && std::isfinite(step_w), Range, op,
                ": source steps (", step_h, ", ", step_w, ") must be positive and finite");
}

}  // namespace

Tensor bicubic(const Tensor& x, int64_t oh, int64_t ow, double step_h, double step_w, bool antialias) {
  const char* op = "bicubic";
  check_supported(Op::BICUBIC, x, "input");
  check_bicubic(op, x, oh, ow, step_h, step_w);
  RADDINO_CHECK(x.shape()[2] > 0 && x.shape()[3] > 0, Range, op, ": argument 'input' has an empty spatial size");
  Tensor out = Tensor::empty({x.shape()[0], x.shape()[1], oh, ow}, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  OpCall call{Op::BICUBIC, {&x}, {&out}, {}};
  call.p.a = step_h;
  call.p.b = step_w;
  call.p.flag0 = antialias;
  run_kernel(call, x.dtype());
  return out;
}

Tensor bicubic_backward(const Tensor& dy, int64_t h, int64_t w, double step_h, double step_w, bool antialias) {
  const char* op = "bicubic_back";
  check_supported(Op::BICUBIC_BACK, dy, "grad_output");
  check_bicubic(op, dy, dy.ndim() == 4 ? dy.shape()[2] : 1, dy.ndim() == 4 ? dy.shape()[3] : 1, step_h, step_w);
  RADDINO_CHECK(h > 0 && w > 0, Range, op, ": input size [", h, ", ", w, "] must be positive");
  Tensor dx = Tensor::empty({dy.shape()[0], dy.shape()[1], h, w}, dy.dtype(), dy.device());
  if (dx.numel() == 0) return dx;
  OpCall call{Op::BICUBIC_BACK, {&dy}, {&dx}, {}};
  call.p.a = step_h;
  call.p.b = step_w;
  call.p.flag0 = antialias;
  run_kernel(call, dy.dtype());
  return dx;
}

void adamw_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq, const AdamWHyper& h) {
  const char* op = "adamw";
  check_supported(Op::ADAMW, param, "param");
  const std::pair<const Tensor*, const char*> others[] = {{&grad, "grad"}, {&exp_avg, "exp_avg"}, {&exp_avg_sq, "exp_avg_sq"}};
  for (auto [t, name] : others) {
    check_same_dtype(op, param, "param", *t, name);
    check_same_device(op, param, "param", *t, name);
    RADDINO_CHECK(t->shape() == param.shape(), Range, op, ": argument '", name, "' has shape ", shape_str(t->shape()),
                  " (expected ", shape_str(param.shape()), ", the parameter's)");
  }
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&param, "param"}, {&exp_avg, "exp_avg"}, {&exp_avg_sq, "exp_avg_sq"}}) {
    RADDINO_CHECK(t->is_contiguous(), Value, op, ": argument '", name, "' must be contiguous (it is updated in place)");
  }
  RADDINO_CHECK(h.step >= 1, Range, op, ": argument 'step' is ", h.step, " (expected >= 1)");
  RADDINO_CHECK(h.lr >= 0 && h.eps > 0 && h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1 && h.weight_decay >= 0,
                Range, op, ": hyper-parameters out of range (expected lr >= 0, eps > 0, 0 <= betas < 1, weight_decay >= 0)");
  if (param.numel() == 0) return;
  Tensor g = contiguous(grad);
  OpCall call{Op::ADAMW, {&g}, {const_cast<Tensor*>(&param), const_cast<Tensor*>(&exp_avg), const_cast<Tensor*>(&exp_avg_sq)}, {}};
  call.p.a = h.lr;
  call.p.b = h.weight_decay;
  call.p.c = h.beta1;
  call.p.d = h.beta2;
  call.p.e = h.eps;
  call.p.k = h.step;
  run_kernel(call, param.dtype());
}

void ema_(const Tensor& target, const Tensor& source, double momentum) {
  const char* op = "ema";
  check_supported(Op::EMA, target, "target");
  check_same_dtype(op, target, "target", source, "source");
  check_same_device(op, target, "target", source, "source");
  RADDINO_CHECK(source.shape() == target.shape(), Range, op, ": argument 'source' has shape ", shape_str(source.shape()),
                " (expected ", shape_str(target.shape()), ", the target's)");
  RADDINO_CHECK(target.is_contiguous(), Value, op, ": argument 'target' must be contiguous (it is updated in place)");
  RADDINO_CHECK(momentum >= 0 && momentum <= 1, Range, op, ": argument 'momentum' is ", momentum, " (expected a number in [0, 1])");
  if (target.numel() == 0) return;
  Tensor s = contiguous(source);
  OpCall call{Op::EMA, {&s}, {const_cast<Tensor*>(&target)}, {}};
  call.p.a = momentum;
  run_kernel(call, target.dtype());
}

}  // namespace raddino::ops
