// Dispatcher for concatenation and the indexing ops (see core/ops.h).
#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/ops.h"
#include "core/ops_util.h"

namespace raddino::ops {
namespace {

constexpr DTypeMask kIndexDTypes = dtype_bit(DType::I64) | dtype_bit(DType::I32);

std::string dim_desc(int d, int64_t size) {
  return "dimension " + std::to_string(d) + " of size " + std::to_string(size);
}

}  // namespace

Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  RADDINO_CHECK(!xs.empty(), Range, "cat: argument 'tensors' is empty (expected at least one tensor)");
  const Tensor& x0 = xs[0];
  int n = x0.ndim();
  RADDINO_CHECK(n > 0, Range, "cat: argument 'tensors[0]' is a scalar (expected at least 1 dimension)");
  int d = normalize_axis(dim, n, "cat");
  check_supported(Op::CAT, x0, "tensors[0]");
  Shape shape = x0.shape();
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    std::string arg = "tensors[" + std::to_string(i) + "]";
    check_same_dtype("cat", x0, "tensors[0]", xs[i], arg.c_str());
    check_same_device("cat", x0, "tensors[0]", xs[i], arg.c_str());
    RADDINO_CHECK(xs[i].ndim() == n, Range, "cat: argument '", arg, "' has ", xs[i].ndim(),
                  " dimensions (expected ", n, ", like tensors[0])");
    for (int j = 0; j < n; ++j) {
      RADDINO_CHECK(j == d || xs[i].shape()[j] == shape[j], Range, "cat: argument '", arg, "' has shape ",
                    shape_str(xs[i].shape()), " (expected ", shape_str(shape), " except in dimension ", d, ")");
    }
    total += xs[i].shape()[d];
  }
  shape[d] = total;
  Tensor out = Tensor::empty(shape, x0.dtype(), x0.device());
  if (out.numel() == 0) return out;
  // Each input is copied into its slice of the output: cat is copy_ into narrowed views.
  int64_t at = 0;
  for (const Tensor& x : xs) {
    int64_t len = x.shape()[d];
    if (len > 0) copy_(narrow(out, d, at, len), x);
    at += len;
  }
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_supported(Op::INDEX_SELECT, x, "input");
  check_dtype("index_select", index, "index", kIndexDTypes);
  check_same_device("index_select", x, "input", index, "index");
  RADDINO_CHECK(index.ndim() <= 1, Range, "index_select: argument 'index' has shape ", shape_str(index.shape()),
                " (expected a 1-D tensor)");
  Tensor in = x.ndim() == 0 ? reshape(x, {1}) : x;
  int d = normalize_axis(dim, x.ndim(), "index_select");
  check_index_values("index_select", index, "index", 0, in.shape()[d], dim_desc(d, in.shape()[d]));
  Shape shape = in.shape();
  shape[d] = index.numel();
  Tensor out = Tensor::empty(x.ndim() == 0 ? Shape{} : shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  Tensor idx = reshape(index, {index.numel()});
  Tensor o = x.ndim() == 0 ? reshape(out, {1}) : out;
  OpCall call{Op::INDEX_SELECT, {&in, &idx}, {&o}, {}};
  call.p.dim = d;
  run_kernel(call, x.dtype());
  return out;
}

namespace {

// gather/scatter_add share their index rules: same ndim, index no larger than the data tensor.
void check_gather_like(const char* op, const Tensor& x, int d, const Tensor& index, const Tensor* src) {
  RADDINO_CHECK(index.ndim() == x.ndim(), Range, op, ": argument 'index' has ", index.ndim(),
                " dimensions (expected ", x.ndim(), ", like 'input')");
  for (int j = 0; j < x.ndim(); ++j) {
    RADDINO_CHECK(j == d || index.shape()[j] <= x.shape()[j], Range, op, ": argument 'index' ",
                  shape_str(index.shape()), " is larger than 'input' ", shape_str(x.shape()), " in dimension ", j,
                  " (expected index.size(d) <= input.size(d) for d != dim)");
    if (src) {
      RADDINO_CHECK(index.shape()[j] <= src->shape()[j], Range, op, ": argument 'index' ",
                    shape_str(index.shape()), " is larger than 'src' ", shape_str(src->shape()), " in dimension ",
                    j, " (expected index.size(d) <= src.size(d))");
    }
  }
  check_index_values(op, index, "index", 0, x.ndim() ? x.shape()[d] : 1, dim_desc(d, x.ndim() ? x.shape()[d] : 1));
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_supported(Op::GATHER, x, "input");
  check_dtype("gather", index, "index", kIndexDTypes);
  check_same_device("gather", x, "input", index, "index");
  int d = normalize_axis(dim, x.ndim(), "gather");
  check_gather_like("gather", x, d, index, nullptr);
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  Tensor in = x.ndim() == 0 ? reshape(x, {1}) : x, idx = x.ndim() == 0 ? reshape(index, {1}) : index;
  Tensor o = x.ndim() == 0 ? reshape(out, {1}) : out;
  OpCall call{Op::GATHER, {&in, &idx}, {&o}, {}};
  call.p.dim = d;
  run_kernel(call, x.dtype());
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_supported(Op::SCATTER_ADD, x, "input");
  check_dtype("scatter_add", index, "index", kIndexDTypes);
  check_same_dtype("scatter_add", x, "input", src, "src");
  check_same_device("scatter_add", x, "input", index, "index");
  check_same_device("scatter_add", x, "input", src, "src");
  int d = normalize_axis(dim, x.ndim(), "scatter_add");
  RADDINO_CHECK(src.ndim() == x.ndim(), Range, "scatter_add: argument 'src' has ", src.ndim(),
                " dimensions (expected ", x.ndim(), ", like 'input')");
  check_gather_like("scatter_add", x, d, index, &src);
  Tensor out = clone(x);
  if (index.numel() == 0 || out.numel() == 0) return out;
  Tensor o = x.ndim() == 0 ? reshape(out, {1}) : out;
  Tensor idx = x.ndim() == 0 ? reshape(index, {1}) : index, s = x.ndim() == 0 ? reshape(src, {1}) : src;
  OpCall call{Op::SCATTER_ADD, {&idx, &s}, {&o}, {}};
  call.p.dim = d;
  run_kernel(call, x.dtype());
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, double alpha) {
  check_supported(Op::INDEX_ADD, x, "input");
  check_dtype("index_add", index, "index", kIndexDTypes);
  check_same_dtype("index_add", x, "input", src, "source");
  check_same_device("index_add", x, "input", index, "index");
  check_same_device("index_add", x, "input", src, "source");
  RADDINO_CHECK(index.ndim() <= 1, Range, "index_add: argument 'index' has shape ", shape_str(index.shape()),
                " (expected a 1-D tensor)");
  int d = normalize_axis(dim, x.ndim(), "index_add");
  Tensor in = x.ndim() == 0 ? reshape(x, {1}) : x;
  Shape want = in.shape();
  want[d] = index.numel();
  Tensor s = src.ndim() == 0 && x.ndim() == 0 ? reshape(src, {1}) : src;
  RADDINO_CHECK(s.shape() == want, Range, "index_add: argument 'source' has shape ", shape_str(src.shape()),
                " (expected ", shape_str(want), ": the input's shape with dimension ", d, " = len(index))");
  check_index_values("index_add", index, "index", 0, in.shape()[d], dim_desc(d, in.shape()[d]));
  Tensor out = clone(x);
  if (index.numel() == 0 || out.numel() == 0) return out;
  Tensor o = x.ndim() == 0 ? reshape(out, {1}) : out;
  Tensor idx = reshape(index, {index.numel()});
  OpCall call{Op::INDEX_ADD, {&idx, &s}, {&o}, {}};
  call.p.dim = d;
  call.p.a = alpha;
  run_kernel(call, x.dtype());
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_supported(Op::MASKED_FILL, x, "input");
  check_dtype("masked_fill", mask, "mask", dtype_bit(DType::BOOL));
  check_same_device("masked_fill", x, "input", mask, "mask");
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill", "input", "mask");
  RADDINO_CHECK(shape == x.shape(), Range, "masked_fill: argument 'mask' ", shape_str(mask.shape()),
                " cannot be broadcast to the input's shape ", shape_str(x.shape()));
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  Tensor m = expand(mask, x.shape());
  OpCall call{Op::MASKED_FILL, {&x, &m}, {&out}, {}};
  call.p.a = value;
  run_kernel(call, x.dtype());
  return out;
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  check_supported(Op::MASKED_SELECT, x, "input");
  check_dtype("masked_select", mask, "mask", dtype_bit(DType::BOOL));
  check_same_device("masked_select", x, "input", mask, "mask");
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_select", "input", "mask");
  Tensor ex = expand(x, shape), em = expand(mask, shape);
  int64_t count = shape_numel(shape) == 0 ? 0 : static_cast<int64_t>(host_values(reduce(Op::SUM, em, {}, false))[0]);
  Tensor out = Tensor::empty({count}, x.dtype(), x.device());
  if (count == 0) return out;
  OpCall call{Op::MASKED_SELECT, {&ex, &em}, {&out}, {}};
  run_kernel(call, x.dtype());
  return out;
}

Tensor one_hot(const Tensor& index, int64_t num_classes) {
  check_dtype("one_hot", index, "input", kIndexDTypes);
  check_supported(Op::ONE_HOT, index, "input");
  RADDINO_CHECK(num_classes >= -1, Range, "one_hot: argument 'num_classes' is ", num_classes,
                " (expected a count >= 0, or -1 to infer it)");
  if (num_classes == -1) {
    RADDINO_CHECK(index.numel() > 0, Range,
                  "one_hot: cannot infer 'num_classes' from an empty input (pass num_classes explicitly)");
    num_classes = static_cast<int64_t>(host_values(reduce(Op::MAX, index, {}, false))[0]) + 1;
  }
  check_index_values("one_hot", index, "input", 0, num_classes, "num_classes " + std::to_string(num_classes));
  Shape shape = index.shape();
  shape.push_back(num_classes);
  check_shape(shape, "one_hot", "output");
  Tensor out = Tensor::empty(shape, DType::I64, index.device());
  if (out.numel() == 0) return out;
  OpCall call{Op::ONE_HOT, {&index}, {&out}, {}};
  call.p.k = num_classes;
  run_kernel(call, index.dtype());
  return out;
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  check_supported(Op::TOPK, x, "input");
  int d = normalize_axis(dim, x.ndim(), "topk");
  Tensor in = x.ndim() == 0 ? reshape(x, {1}) : x;
  int64_t size = in.shape()[d];
  RADDINO_CHECK(k >= 0 && k <= size, Range, "topk: argument 'k' is ", k, " (expected 0 <= k <= ", size,
                ", the size of dimension ", d, ")");
  Shape shape = in.shape();
  shape[d] = k;
  Tensor values = Tensor::empty(shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(shape, DType::I64, x.device());
  if (values.numel() > 0) {
    OpCall call{Op::TOPK, {&in}, {&values, &indices}, {}};
    call.p.dim = d;
    call.p.k = k;
    call.p.flag0 = largest;
    call.p.flag1 = sorted;
    run_kernel(call, x.dtype());
  }
  if (x.ndim() == 0) return {reshape(values, {}), reshape(indices, {})};
  return {values, indices};
}

}  // namespace raddino::ops
