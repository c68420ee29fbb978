// N-API bindings of the op dispatcher (core/ops.h) and the view functions (core/tensor.h).
// Each binding only reads its arguments, calls the core and wraps the result.
#include <napi.h>

#include "core/ops.h"
#include "napi/convert.h"
#include "napi/ops.h"

namespace raddino::napi {
namespace {

using Info = const Napi::CallbackInfo&;

// --- views -----------------------------------------------------------------------------------
Napi::Value Reshape(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "reshape", "input");
    return wrap(info.Env(), ops::reshape(x, shape_arg(info, 1, "reshape", "shape", true)));
  });
}
Napi::Value View(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "view", "input");
    return wrap(info.Env(), view(x, shape_arg(info, 1, "view", "shape", true)));
  });
}
Napi::Value Permute(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "permute", "input");
    return wrap(info.Env(), permute(x, int_list_arg(info, 1, "permute", "dims")));
  });
}
Napi::Value Transpose(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "transpose", "input");
    return wrap(info.Env(), transpose(x, int_arg(info, 1, "transpose", "dim0"), int_arg(info, 2, "transpose", "dim1")));
  });
}
Napi::Value Slice(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "slice", "input");
    return wrap(info.Env(), slice(x, int_arg(info, 1, "slice", "dim"), int_arg(info, 2, "slice", "start"),
                                  int_arg(info, 3, "slice", "end"), int_arg(info, 4, "slice", "step")));
  });
}
Napi::Value Narrow(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "narrow", "input");
    return wrap(info.Env(), narrow(x, int_arg(info, 1, "narrow", "dim"), int_arg(info, 2, "narrow", "start"),
                                   int_arg(info, 3, "narrow", "length")));
  });
}
Napi::Value Select(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "select", "input");
    return wrap(info.Env(), select(x, int_arg(info, 1, "select", "dim"), int_arg(info, 2, "select", "index")));
  });
}
Napi::Value Expand(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "expand", "input");
    return wrap(info.Env(), expand(x, shape_arg(info, 1, "expand", "shape", true)));
  });
}
Napi::Value Squeeze(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "squeeze", "input");
    return wrap(info.Env(), squeeze(x, int_list_arg(info, 1, "squeeze", "dims")));
  });
}
Napi::Value Unsqueeze(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "unsqueeze", "input");
    return wrap(info.Env(), unsqueeze(x, int_arg(info, 1, "unsqueeze", "dim")));
  });
}
Napi::Value Contiguous(Info info) {
  return guarded(info, [&] { return wrap(info.Env(), ops::contiguous(tensor_arg(info, 0, "contiguous", "input"))); });
}
Napi::Value Clone(Info info) {
  return guarded(info, [&] { return wrap(info.Env(), ops::clone(tensor_arg(info, 0, "clone", "input"))); });
}
Napi::Value Cast(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "cast", "input");
    return wrap(info.Env(), ops::cast(x, dtype_arg(info, 1, "cast")));
  });
}
Napi::Value CopyInto(Info info) {
  return guarded(info, [&] {
    const Tensor& dst = tensor_arg(info, 0, "copy", "dst");
    ops::copy_(dst, tensor_arg(info, 1, "copy", "src"));
    return info.Env().Undefined();
  });
}

// --- creation --------------------------------------------------------------------------------
Napi::Value Full(Info info) {
  return guarded(info, [&] {
    return wrap(info.Env(), ops::full(shape_arg(info, 0, "full", "shape"), number_arg(info, 1, "full", "value"),
                                      dtype_arg(info, 2, "full"), device_arg(info, 3, "full")));
  });
}
Napi::Value Empty(Info info) {
  return guarded(info, [&] {
    Shape s = shape_arg(info, 0, "empty", "shape");
    check_shape(s, "empty", "shape");
    return wrap(info.Env(), Tensor::empty(s, dtype_arg(info, 1, "empty"), device_arg(info, 2, "empty")));
  });
}
Napi::Value Arange(Info info) {
  return guarded(info, [&] {
    return wrap(info.Env(), ops::arange(number_arg(info, 0, "arange", "start"), number_arg(info, 1, "arange", "end"),
                                        number_arg(info, 2, "arange", "step"), dtype_arg(info, 3, "arange"),
                                        device_arg(info, 4, "arange")));
  });
}
Napi::Value Linspace(Info info) {
  return guarded(info, [&] {
    return wrap(info.Env(),
                ops::linspace(number_arg(info, 0, "linspace", "start"), number_arg(info, 1, "linspace", "end"),
                              int_arg(info, 2, "linspace", "steps"), dtype_arg(info, 3, "linspace"),
                              device_arg(info, 4, "linspace")));
  });
}

// --- element-wise ----------------------------------------------------------------------------
Napi::Value Unary(Info info) {
  return guarded(info, [&] {
    Op op = op_arg(info, 0, "unary", {"unary"});
    return wrap(info.Env(), ops::unary(op, tensor_arg(info, 1, op_name(op), "input")));
  });
}
Napi::Value Clamp(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "clamp", "input");
    return wrap(info.Env(), ops::clamp(x, opt_number_arg(info, 1, "clamp", "min"), opt_number_arg(info, 2, "clamp", "max")));
  });
}
Napi::Value Binary(Info info) {
  return guarded(info, [&] {
    Op op = op_arg(info, 0, "binary", {"binary", "compare"});
    const char* n = op_name(op);
    return wrap(info.Env(), ops::binary(op, tensor_arg(info, 1, n, "input"), tensor_arg(info, 2, n, "other")));
  });
}
Napi::Value Where(Info info) {
  return guarded(info, [&] {
    return wrap(info.Env(), ops::where(tensor_arg(info, 0, "where", "condition"), tensor_arg(info, 1, "where", "input"),
                                       tensor_arg(info, 2, "where", "other")));
  });
}

// --- reductions ------------------------------------------------------------------------------
Napi::Value Reduce(Info info) {
  return guarded(info, [&] {
    Op op = op_arg(info, 0, "reduce", {"reduce"});
    const char* n = op_name(op);
    const Tensor& x = tensor_arg(info, 1, n, "input");
    std::vector<int64_t> axes;
    if (!info[2].IsUndefined() && !info[2].IsNull()) axes = int_list_arg(info, 2, n, "dim");
    return wrap(info.Env(), ops::reduce(op, x, axes, bool_arg(info, 3, n, "keepdim"), number_arg(info, 4, n, "param")));
  });
}
Napi::Value ArgReduce(Info info) {
  return guarded(info, [&] {
    Op op = op_arg(info, 0, "argreduce", {"argreduce"});
    const char* n = op_name(op);
    const Tensor& x = tensor_arg(info, 1, n, "input");
    return wrap(info.Env(), ops::arg_reduce(op, x, opt_int_arg(info, 2, n, "dim"), bool_arg(info, 3, n, "keepdim")));
  });
}
Napi::Value Softmax(Info info) {
  return guarded(info, [&] {
    Op op = op_arg(info, 0, "softmax", {"softmax"});
    const char* n = op_name(op);
    return wrap(info.Env(), ops::softmax(op, tensor_arg(info, 1, n, "input"), int_arg(info, 2, n, "dim")));
  });
}

// --- linear algebra and indexing -------------------------------------------------------------
Napi::Value Matmul(Info info) {
  return guarded(info, [&] {
    return wrap(info.Env(), ops::matmul(tensor_arg(info, 0, "matmul", "input"), tensor_arg(info, 1, "matmul", "other"),
                                        bool_arg(info, 2, "matmul", "transA"), bool_arg(info, 3, "matmul", "transB"),
                                        opt_tensor_arg(info, 4, "matmul", "bias")));
  });
}
Napi::Value LinearBf16(Info info) {
  return guarded(info, [&] {
    const char* n = "linear_bf16";
    return wrap(info.Env(), ops::linear_bf16(tensor_arg(info, 0, n, "input"), tensor_arg(info, 1, n, "weight"),
                                             opt_tensor_arg(info, 2, n, "bias")));
  });
}
Napi::Value Cat(Info info) {
  return guarded(info, [&] {
    return wrap(info.Env(), ops::cat(tensor_list_arg(info, 0, "cat", "tensors"), int_arg(info, 1, "cat", "dim")));
  });
}
Napi::Value IndexSelect(Info info) {
  return guarded(info, [&] {
    const char* n = "index_select";
    return wrap(info.Env(), ops::index_select(tensor_arg(info, 0, n, "input"), int_arg(info, 1, n, "dim"),
                                              tensor_arg(info, 2, n, "index")));
  });
}
Napi::Value Gather(Info info) {
  return guarded(info, [&] {
    const char* n = "gather";
    return wrap(info.Env(), ops::gather(tensor_arg(info, 0, n, "input"), int_arg(info, 1, n, "dim"),
                                        tensor_arg(info, 2, n, "index")));
  });
}
Napi::Value ScatterAdd(Info info) {
  return guarded(info, [&] {
    const char* n = "scatter_add";
    return wrap(info.Env(), ops::scatter_add(tensor_arg(info, 0, n, "input"), int_arg(info, 1, n, "dim"),
                                             tensor_arg(info, 2, n, "index"), tensor_arg(info, 3, n, "src")));
  });
}
Napi::Value IndexAdd(Info info) {
  return guarded(info, [&] {
    const char* n = "index_add";
    return wrap(info.Env(), ops::index_add(tensor_arg(info, 0, n, "input"), int_arg(info, 1, n, "dim"),
                                           tensor_arg(info, 2, n, "index"), tensor_arg(info, 3, n, "source"),
                                           number_arg(info, 4, n, "alpha")));
  });
}
Napi::Value MaskedFill(Info info) {
  return guarded(info, [&] {
    const char* n = "masked_fill";
    return wrap(info.Env(), ops::masked_fill(tensor_arg(info, 0, n, "input"), tensor_arg(info, 1, n, "mask"),
                                             number_arg(info, 2, n, "value")));
  });
}
Napi::Value MaskedSelect(Info info) {
  return guarded(info, [&] {
    const char* n = "masked_select";
    return wrap(info.Env(), ops::masked_select(tensor_arg(info, 0, n, "input"), tensor_arg(info, 1, n, "mask")));
  });
}
Napi::Value OneHot(Info info) {
  return guarded(info, [&] {
    return wrap(info.Env(), ops::one_hot(tensor_arg(info, 0, "one_hot", "input"), int_arg(info, 1, "one_hot", "num_classes")));
  });
}
Napi::Value Topk(Info info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* n = "topk";
    auto [values, indices] = ops::topk(tensor_arg(info, 0, n, "input"), int_arg(info, 1, n, "k"), int_arg(info, 2, n, "dim"),
                                       bool_arg(info, 3, n, "largest"), bool_arg(info, 4, n, "sorted"));
    Napi::Array out = Napi::Array::New(info.Env(), 2);
    out.Set(0u, wrap(info.Env(), values));
    out.Set(1u, wrap(info.Env(), indices));
    return out;
  });
}

// --- network kernels -------------------------------------------------------------------------
Napi::Array wrap_all(Napi::Env env, std::initializer_list<const Tensor*> ts) {
  Napi::Array out = Napi::Array::New(env, ts.size());
  uint32_t i = 0;
  for (const Tensor* t : ts) out.Set(i++, t && t->defined() ? wrap(env, *t) : env.Null());
  return out;
}
Napi::Value LayerNorm(Info info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* n = "layer_norm";
    auto r = ops::layer_norm(tensor_arg(info, 0, n, "input"), opt_tensor_arg(info, 1, n, "weight"),
                             opt_tensor_arg(info, 2, n, "bias"), number_arg(info, 3, n, "eps"));
    return wrap_all(info.Env(), {&r.y, &r.mean, &r.rstd});
  });
}
Napi::Value LayerNormBackward(Info info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* n = "layer_norm_back";
    auto g = ops::layer_norm_backward(tensor_arg(info, 0, n, "grad_output"), tensor_arg(info, 1, n, "input"),
                                      tensor_arg(info, 2, n, "mean"), tensor_arg(info, 3, n, "rstd"),
                                      opt_tensor_arg(info, 4, n, "weight"), bool_arg(info, 5, n, "hasBias"));
    return wrap_all(info.Env(), {&g.dx, &g.dweight, &g.dbias});
  });
}
Napi::Value SoftmaxBackward(Info info) {
  return guarded(info, [&] {
    const char* n = "softmax_back";
    Op op = bool_arg(info, 3, n, "log") ? Op::LOG_SOFTMAX_BACK : Op::SOFTMAX_BACK;
    return wrap(info.Env(), ops::softmax_backward(op, tensor_arg(info, 0, n, "output"), tensor_arg(info, 1, n, "grad_output"),
                                                  int_arg(info, 2, n, "dim")));
  });
}
Napi::Value GeluBackward(Info info) {
  return guarded(info, [&] {
    const char* n = "gelu_back";
    return wrap(info.Env(), ops::gelu_backward(tensor_arg(info, 0, n, "grad_output"), tensor_arg(info, 1, n, "input"),
                                               bool_arg(info, 2, n, "tanh")));
  });
}
Napi::Value Attention(Info info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* n = "attention";
    auto r = ops::attention(tensor_arg(info, 0, n, "query"), tensor_arg(info, 1, n, "key"), tensor_arg(info, 2, n, "value"),
                            number_arg(info, 3, n, "scale"));
    return wrap_all(info.Env(), {&r.out, &r.lse});
  });
}
Napi::Value AttentionBackward(Info info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* n = "attention_back";
    auto g = ops::attention_backward(tensor_arg(info, 0, n, "query"), tensor_arg(info, 1, n, "key"),
                                     tensor_arg(info, 2, n, "value"), tensor_arg(info, 3, n, "out"),
                                     tensor_arg(info, 4, n, "lse"), tensor_arg(info, 5, n, "grad_out"),
                                     number_arg(info, 6, n, "scale"));
    return wrap_all(info.Env(), {&g.dq, &g.dk, &g.dv});
  });
}
Napi::Value AttentionBackwardQkv(Info info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* n = "attention_back";
    return wrap(info.Env(), ops::attention_backward_qkv(tensor_arg(info, 0, n, "query"), tensor_arg(info, 1, n, "key"),
                                                        tensor_arg(info, 2, n, "value"), tensor_arg(info, 3, n, "out"),
                                                        tensor_arg(info, 4, n, "lse"), tensor_arg(info, 5, n, "grad_out"),
                                                        number_arg(info, 6, n, "scale")));
  });
}
Napi::Value Bicubic(Info info) {
  return guarded(info, [&] {
    const char* n = "bicubic";
    return wrap(info.Env(), ops::bicubic(tensor_arg(info, 0, n, "input"), int_arg(info, 1, n, "outH"),
                                         int_arg(info, 2, n, "outW"), number_arg(info, 3, n, "stepH"),
                                         number_arg(info, 4, n, "stepW"), bool_arg(info, 5, n, "antialias")));
  });
}
Napi::Value BicubicBackward(Info info) {
  return guarded(info, [&] {
    const char* n = "bicubic_back";
    return wrap(info.Env(), ops::bicubic_backward(tensor_arg(info, 0, n, "grad_output"), int_arg(info, 1, n, "inH"),
                                                  int_arg(info, 2, n, "inW"), number_arg(info, 3, n, "stepH"),
                                                  number_arg(info, 4, n, "stepW"), bool_arg(info, 5, n, "antialias")));
  });
}

Napi::Value AdamW(Info info) {
  return guarded(info, [&] {
    const char* n = "adamw";
    ops::AdamWHyper h{number_arg(info, 4, n, "lr"), number_arg(info, 5, n, "beta1"), number_arg(info, 6, n, "beta2"),
                      number_arg(info, 7, n, "eps"), number_arg(info, 8, n, "weightDecay"), int_arg(info, 9, n, "step")};
    ops::adamw_(tensor_arg(info, 0, n, "param"), tensor_arg(info, 1, n, "grad"), tensor_arg(info, 2, n, "exp_avg"),
                tensor_arg(info, 3, n, "exp_avg_sq"), h);
    return info.Env().Undefined();
  });
}

Napi::Value Ema(Info info) {
  return guarded(info, [&] {
    const char* n = "ema";
    ops::ema_(tensor_arg(info, 0, n, "target"), tensor_arg(info, 1, n, "source"), number_arg(info, 2, n, "momentum"));
    return info.Env().Undefined();
  });
}

// --- random ----------------------------------------------------------------------------------
// Every random binding takes (..., seed, offset) last; the caller's Generator advances offset.
ops::RandomState random_state(Info info, size_t i, const char* op) {
  return {u64_arg(info, i, op, "seed"), u64_arg(info, i + 1, op, "offset")};
}
Napi::Value Rand(Info info) {
  return guarded(info, [&] {
    const char* n = "rand";
    return wrap(info.Env(), ops::rand(shape_arg(info, 0, n, "shape"), number_arg(info, 1, n, "low"),
                                      number_arg(info, 2, n, "high"), dtype_arg(info, 3, n), device_arg(info, 4, n),
                                      random_state(info, 5, n)));
  });
}
Napi::Value Randn(Info info) {
  return guarded(info, [&] {
    const char* n = "randn";
    return wrap(info.Env(), ops::randn(shape_arg(info, 0, n, "shape"), number_arg(info, 1, n, "mean"),
                                       number_arg(info, 2, n, "std"), dtype_arg(info, 3, n), device_arg(info, 4, n),
                                       random_state(info, 5, n)));
  });
}
Napi::Value TruncNormal(Info info) {
  return guarded(info, [&] {
    const char* n = "trunc_normal";
    return wrap(info.Env(), ops::trunc_normal(shape_arg(info, 0, n, "shape"), number_arg(info, 1, n, "mean"),
                                              number_arg(info, 2, n, "std"), number_arg(info, 3, n, "a"),
                                              number_arg(info, 4, n, "b"), dtype_arg(info, 5, n),
                                              device_arg(info, 6, n), random_state(info, 7, n)));
  });
}
Napi::Value Randint(Info info) {
  return guarded(info, [&] {
    const char* n = "randint";
    return wrap(info.Env(), ops::randint(shape_arg(info, 0, n, "shape"), int_arg(info, 1, n, "low"),
                                         int_arg(info, 2, n, "high"), dtype_arg(info, 3, n), device_arg(info, 4, n),
                                         random_state(info, 5, n)));
  });
}
Napi::Value Randperm(Info info) {
  return guarded(info, [&] {
    const char* n = "randperm";
    return wrap(info.Env(), ops::randperm(int_arg(info, 0, n, "n"), dtype_arg(info, 1, n), device_arg(info, 2, n),
                                          random_state(info, 3, n)));
  });
}
Napi::Value Bernoulli(Info info) {
  return guarded(info, [&] {
    return wrap(info.Env(), ops::bernoulli(tensor_arg(info, 0, "bernoulli", "p"), random_state(info, 1, "bernoulli")));
  });
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  struct Entry {
    const char* name;
    Napi::Value (*fn)(Info);
  };
  static const Entry entries[] = {
      {"reshape", Reshape}, {"view", View}, {"permute", Permute}, {"transpose", Transpose}, {"slice", Slice},
      {"narrow", Narrow}, {"select", Select}, {"expand", Expand}, {"squeeze", Squeeze}, {"unsqueeze", Unsqueeze},
      {"contiguous", Contiguous}, {"clone", Clone}, {"cast", Cast}, {"copyInto", CopyInto}, {"full", Full},
      {"empty", Empty}, {"arange", Arange}, {"linspace", Linspace}, {"unary", Unary}, {"clamp", Clamp},
      {"binary", Binary}, {"where", Where}, {"reduce", Reduce}, {"argReduce", ArgReduce}, {"softmax", Softmax},
      {"matmul", Matmul}, {"linearBf16", LinearBf16}, {"cat", Cat}, {"indexSelect", IndexSelect}, {"gather", Gather}, {"scatterAdd", ScatterAdd},
      {"indexAdd", IndexAdd}, {"maskedFill", MaskedFill}, {"maskedSelect", MaskedSelect}, {"oneHot", OneHot},
      {"topk", Topk}, {"rand", Rand}, {"randn", Randn}, {"truncNormal", TruncNormal}, {"randint", Randint},
      {"randperm", Randperm}, {"bernoulli", Bernoulli}, {"layerNorm", LayerNorm},
      {"layerNormBackward", LayerNormBackward}, {"geluBackward", GeluBackward}, {"softmaxBackward", SoftmaxBackward}, {"attention", Attention},
      {"attentionBackward", AttentionBackward},
      {"attentionBackwardQkv", AttentionBackwardQkv}, {"bicubic", Bicubic}, {"bicubicBackward", BicubicBackward},
      {"adamw", AdamW},
      {"ema", Ema},
  };
  for (const Entry& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
}

}  // namespace raddino::napi
