// Dispatcher for memory, element-wise, reduction and matmul ops (see core/ops.h).
#include "core/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/ops_util.h"

namespace raddino::ops {

// ---- memory ---------------------------------------------------------------------------------

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : clone(x); }

Tensor clone(const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  copy_(out, x);
  return out;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape s = infer_shape(shape, x.numel(), "reshape");
  Shape strides;
  if (view_strides(x, s, &strides)) return Tensor(x.storage(), x.dtype(), s, strides, x.offset());
  return view(clone(x), s);
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  copy_(out, x);
  return out;
}

void copy_(const Tensor& dst, const Tensor& src) {
  RADDINO_CHECK(src.device() == dst.device(), Value, "copy: argument 'src' is on ", device_name(src.device().type),
                " but 'dst' is on ", device_name(dst.device().type), " (expected the same device)");
  Shape shape = broadcast_shapes(dst.shape(), src.shape(), "copy", "dst", "src");
  RADDINO_CHECK(shape == dst.shape(), Range, "copy: argument 'src' ", shape_str(src.shape()),
                " cannot be broadcast to 'dst' ", shape_str(dst.shape()));
  if (dst.numel() == 0) return;
  Tensor s = expand(src, dst.shape());
  OpCall call{src.dtype() == dst.dtype() ? Op::COPY : Op::CAST, {&s}, {const_cast<Tensor*>(&dst)}, {}};
  run_kernel(call, src.dtype());
}

Tensor to_device(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  Tensor src = contiguous(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), device);
  size_t nbytes = static_cast<size_t>(out.numel()) * out.itemsize();
  if (nbytes == 0) return out;
  Device from = src.device();
  if (from.type == DeviceType::CPU) {
    backend(device.type).from_host(out.data_ptr(), src.data_ptr(), nbytes, device.index);
  } else if (device.type == DeviceType::CPU) {
    backend(from.type).to_host(out.data_ptr(), src.data_ptr(), nbytes, from.index);
  } else {
    Tensor host = Tensor::empty(x.shape(), x.dtype(), Device{});
    backend(from.type).to_host(host.data_ptr(), src.data_ptr(), nbytes, from.index);
    backend(device.type).from_host(out.data_ptr(), host.data_ptr(), nbytes, device.index);
  }
  return out;
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  check_shape(shape, "full", "shape");
  Tensor out = Tensor::empty(shape, dtype, device);
  if (out.numel() == 0) return out;
  OpCall call{Op::FILL, {}, {&out}, {}};
  call.p.a = value;
  run_kernel(call, dtype);
  return out;
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  RADDINO_CHECK(std::isfinite(start) && std::isfinite(end), Range,
                "arange: arguments 'start' and 'end' must be finite (got ", start, " and ", end, ")");
  RADDINO_CHECK(step != 0 && std::isfinite(step), Range, "arange: argument 'step' is ", step,
                " (expected a finite, non-zero step)");
  RADDINO_CHECK((end - start) * step >= 0 || start == end, Range, "arange: argument 'step' ", step,
                " goes away from 'end' (start ", start, ", end ", end, ")");
  double count = std::ceil((end - start) / step);
  RADDINO_CHECK(count < 9.0e15, Range, "arange: the range has too many elements (", count, ")");
  Tensor out = Tensor::empty({static_cast<int64_t>(std::max(count, 0.0))}, dtype, device);
  if (out.numel() == 0) return out;
  OpCall call{Op::ARANGE, {}, {&out}, {}};
  call.p.a = start;
  call.p.b = step;
  run_kernel(call, dtype);
  return out;
}

Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device) {
  RADDINO_CHECK(steps >= 0, Range, "linspace: argument 'steps' is ", steps, " (expected steps >= 0)");
  RADDINO_CHECK(std::isfinite(start) && std::isfinite(end), Range,
                "linspace: arguments 'start' and 'end' must be finite (got ", start, " and ", end, ")");
  Tensor out = Tensor::empty({steps}, dtype, device);
  if (steps == 0) return out;
  OpCall call{Op::LINSPACE, {}, {&out}, {}};
  call.p.a = start;
  call.p.b = end;
  run_kernel(call, dtype);
  return out;
}

// ---- element-wise ---------------------------------------------------------------------------

namespace {

bool unary_keeps_dtype(Op op) { return op != Op::LOGICAL_NOT; }

Tensor run_unary(Op op, const Tensor& x, OpParams p) {
  check_supported(op, x, "input");
  Tensor out = Tensor::empty(x.shape(), unary_keeps_dtype(op) ? x.dtype() : DType::BOOL, x.device());
  if (out.numel() == 0) return out;
  OpCall call{op, {&x}, {&out}, std::move(p)};
  run_kernel(call, x.dtype());
  return out;
}

bool is_compare(Op op) {
  switch (op) {
    case Op::EQ: case Op::NE: case Op::LT: case Op::LE: case Op::GT: case Op::GE:
    case Op::LOGICAL_AND: case Op::LOGICAL_OR:
      return true;
    default:
      return false;
  }
}

}  // namespace

Tensor unary(Op op, const Tensor& x) {
  RADDINO_CHECK(op != Op::CLAMP, Value, "clamp: use ops::clamp");
  return run_unary(op, x, {});
}

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  RADDINO_CHECK(lo || hi, Value, "clamp: at least one of 'min' and 'max' must be given");
  RADDINO_CHECK(!lo || !std::isnan(*lo), Range, "clamp: argument 'min' is NaN (expected a number)");
  RADDINO_CHECK(!hi || !std::isnan(*hi), Range, "clamp: argument 'max' is NaN (expected a number)");
  OpParams p;
  p.has_a = lo.has_value();
  p.has_b = hi.has_value();
  p.a = lo.value_or(0);
  p.b = hi.value_or(0);
  return run_unary(Op::CLAMP, x, std::move(p));
}

Tensor binary(Op op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_same_device(name, a, "input", b, "other");
  check_same_dtype(name, a, "input", b, "other");
  check_supported(op, a, "input");
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name, "input", "other");
  Tensor out = Tensor::empty(shape, is_compare(op) ? DType::BOOL : a.dtype(), a.device());
  if (out.numel() == 0) return out;
  Tensor ea = expand(a, shape), eb = expand(b, shape);
  OpCall call{op, {&ea, &eb}, {&out}, {}};
  run_kernel(call, a.dtype());
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  RADDINO_CHECK(cond.dtype() == DType::BOOL, Type, "where: argument 'condition' has dtype ", dtype_name(cond.dtype()),
                " (expected bool)");
  check_same_device("where", cond, "condition", a, "input");
  check_same_device("where", a, "input", b, "other");
  check_same_dtype("where", a, "input", b, "other");
  check_supported(Op::WHERE, a, "input");
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where", "condition", "input"), b.shape(),
                                 "where", "condition/input", "other");
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  Tensor ec = expand(cond, shape), ea = expand(a, shape), eb = expand(b, shape);
  OpCall call{Op::WHERE, {&ec, &ea, &eb}, {&out}, {}};
  run_kernel(call, a.dtype());
  return out;
}

// ---- reductions -----------------------------------------------------------------------------

namespace {

DType reduce_out_dtype(Op op, DType in) {
  if (op == Op::SUM && (is_integral(in) || in == DType::BOOL)) return DType::I64;
  return in;
}

}  // namespace

Tensor reduce(Op op, const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, double param) {
  const char* name = op_name(op);
  check_supported(op, x, "input");
  int n = x.ndim();
  std::vector<bool> red(std::max(n, 1), false);
  if (axes.empty()) {
    std::fill(red.begin(), red.end(), true);
  } else {
    for (int64_t a : axes) {
      int d = normalize_axis(a, n, name, "dim");
      RADDINO_CHECK(!red[d], Range, name, ": argument 'dim' repeats axis ", d);
      red[d] = true;
    }
  }
  OpParams p;
  p.keepdim = keepdim;
  p.a = param;
  Shape out_shape;
  int64_t reduced = 1;
  for (int d = 0; d < n; ++d) {
    if (red[d]) {
      p.axes.push_back(d);
      reduced *= x.shape()[d];
      if (keepdim) out_shape.push_back(1);
    } else {
      out_shape.push_back(x.shape()[d]);
    }
  }
  if (op == Op::MAX || op == Op::MIN) {
    RADDINO_CHECK(reduced > 0, Range, name, ": cannot reduce over an empty dimension of the input ",
                  shape_str(x.shape()), " (expected a non-zero size along the reduced axes)");
  }
  if (op == Op::NORM) {
    RADDINO_CHECK(param > 0 && !std::isnan(param), Range, name, ": argument 'p' is ", param,
                  " (expected p > 0 or Infinity)");
  }
  if (op == Op::VAR) {
    RADDINO_CHECK(param >= 0 && std::isfinite(param), Range, name, ": argument 'correction' is ", param,
                  " (expected a finite value >= 0)");
  }
  Tensor out = Tensor::empty(out_shape, reduce_out_dtype(op, x.dtype()), x.device());
  if (out.numel() == 0) return out;
  OpCall call{op, {&x}, {&out}, std::move(p)};
  run_kernel(call, x.dtype());
  return out;
}

Tensor arg_reduce(Op op, const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  const char* name = op_name(op);
  check_supported(op, x, "input");
  Tensor in = x;
  int d;
  if (!dim) {
    in = reshape(x, {x.numel()});
    d = 0;
  } else {
    d = normalize_axis(*dim, x.ndim(), name, "dim");
    if (x.ndim() == 0) in = reshape(x, {1});
  }
  RADDINO_CHECK(in.shape()[d] > 0, Range, name, ": cannot reduce over an empty dimension of the input ",
                shape_str(x.shape()));
  Shape out_shape;
  if (dim) {
    for (int i = 0; i < x.ndim(); ++i) {
      if (i != d) out_shape.push_back(x.shape()[i]);
      else if (keepdim) out_shape.push_back(1);
    }
  } else if (keepdim) {
    out_shape.assign(x.ndim(), 1);
  }
  Tensor out = Tensor::empty(out_shape, DType::I64, x.device());
  if (out.numel() == 0) return out;
  OpCall call{op, {&in}, {&out}, {}};
  call.p.dim = d;
  run_kernel(call, x.dtype());
  return out;
}

Tensor softmax(Op op, const Tensor& x, int64_t dim) {
  const char* name = op_name(op);
  check_supported(op, x, "input");
  int d = normalize_axis(dim, x.ndim(), name, "dim");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  Tensor in = x.ndim() == 0 ? reshape(x, {1}) : x;
  Tensor o = x.ndim() == 0 ? reshape(out, {1}) : out;
  OpCall call{op, {&in}, {&o}, {}};
  call.p.dim = d;
  run_kernel(call, x.dtype());
  return out;
}

// ---- matmul ---------------------------------------------------------------------------------

Tensor matmul(const Tensor& a0, const Tensor& b0, bool trans_a, bool trans_b, const Tensor* bias) {
  check_same_device("matmul", a0, "input", b0, "other");
  check_same_dtype("matmul", a0, "input", b0, "other");
  check_supported(Op::MATMUL, a0, "input");
  RADDINO_CHECK(a0.ndim() >= 1, Range, "matmul: argument 'input' is a scalar (expected at least 1 dimension)");
  RADDINO_CHECK(b0.ndim() >= 1, Range, "matmul: argument 'other' is a scalar (expected at least 1 dimension)");
  // torch.matmul's 1-D rules: a vector a is a row [1, K], a vector b a column [K, 1]; the added
  // dimension is removed from the result.
  Tensor a = a0, b = b0;
  bool squeeze_m = false, squeeze_n = false;
  if (a.ndim() == 1) {
    a = unsqueeze(a, 0);
    trans_a = false;
    squeeze_m = true;
  }
  if (b.ndim() == 1) {
    b = unsqueeze(b, 1);
    trans_b = false;
    squeeze_n = true;
  }
  if (trans_a) a = transpose(a, -1, -2);
  if (trans_b) b = transpose(b, -1, -2);
  int64_t M = a.shape()[a.ndim() - 2], K = a.shape()[a.ndim() - 1];
  int64_t K2 = b.shape()[b.ndim() - 2], N = b.shape()[b.ndim() - 1];
  RADDINO_CHECK(K == K2, Range, "matmul: arguments 'input' ", shape_str(a0.shape()), " and 'other' ",
                shape_str(b0.shape()), (trans_a || trans_b ? " (after the requested transposes)" : ""),
                " have inner sizes ", K, " and ", K2, " (expected equal)");
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul", "input (batch dims)", "other (batch dims)");
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  so.insert(so.end(), {M, N});
  check_shape(so, "matmul", "output");
  Tensor bc;
  if (bias) {
    check_same_dtype("matmul", a0, "input", *bias, "bias");
    check_same_device("matmul", a0, "input", *bias, "bias");
    RADDINO_CHECK(bias->ndim() == 1 && bias->shape()[0] == N, Range, "matmul: argument 'bias' has shape ",
                  shape_str(bias->shape()), " (expected [", N, "], one value per output column)");
    bc = contiguous(*bias);
  }
  Tensor ea = expand(a, sa), eb = expand(b, sb);
  Tensor out = Tensor::empty(so, a.dtype(), a.device());
  if (out.numel() > 0) {
    OpCall call{Op::MATMUL, {&ea, &eb}, {&out}, {}};
    if (bias) call.in.push_back(&bc);
    run_kernel(call, a.dtype());
  }
  if (squeeze_m || squeeze_n) {
    Shape fs = batch;
    if (!squeeze_m) fs.push_back(M);
    if (!squeeze_n) fs.push_back(N);
    out = view(out, fs);
  }
  return out;
}

Tensor linear_bf16(const Tensor& x, const Tensor& weight, const Tensor* bias) {
  const char* op = "linear_bf16";
  check_supported(Op::LINEAR_BF16, x, "input");
  check_dtype(op, weight, "weight", dtype_bit(DType::BF16));
  check_same_device(op, x, "input", weight, "weight");
  RADDINO_CHECK(x.ndim() >= 1, Range, op, ": argument 'input' is a scalar (expected [..., K])");
  RADDINO_CHECK(weight.ndim() == 2, Range, op, ": argument 'weight' has shape ", shape_str(weight.shape()),
                " (expected [N, K])");
  const int64_t K = x.shape().back(), N = weight.shape()[0];
  RADDINO_CHECK(weight.shape()[1] == K, Range, op, ": argument 'weight' ", shape_str(weight.shape()),
                " does not match the input's last dimension ", K);
  Tensor bc;
  if (bias) {
    check_dtype(op, *bias, "bias", dtype_bit(DType::F32));
    RADDINO_CHECK(bias->ndim() == 1 && bias->shape()[0] == N, Range, op, ": argument 'bias' has shape ",
                  shape_str(bias->shape()), " (expected [", N, "])");
    bc = contiguous(*bias);
  }
  // A 2-D input keeps its strides (e.g. the transposed gradient of a weight-gradient product);
  // more dims are flattened to rows, which needs a unit last stride. The weight may be any view.
  Tensor xc = x.ndim() == 2 ? x : reshape(x.strides().back() == 1 ? x : contiguous(x), {x.numel() / std::max<int64_t>(K, 1), K});
  const Tensor& wc = weight;
  Shape os = x.shape();
  os.back() = N;
  Tensor out = Tensor::empty(os, DType::F32, x.device());
  if (out.numel() == 0) return out;
  OpCall call{Op::LINEAR_BF16, {&xc, &wc}, {&out}, {}};
  if (bias) call.in.push_back(&bc);
  run_kernel(call, x.dtype());
  return out;
}

}  // namespace raddino::ops
