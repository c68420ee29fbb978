#include "core/tensor.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace raddino {

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  int64_t n = shape_numel(shape);
  auto storage = Storage::allocate(static_cast<size_t>(n) * dtype_size(dtype), device);
  return Tensor(std::move(storage), dtype, shape, contiguous_strides(shape), 0);
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape_) n *= s;
  return n;
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int d = ndim() - 1; d >= 0; --d) {
    if (shape_[d] == 1) continue;
    if (strides_[d] != expected) return false;
    expected *= shape_[d];
  }
  return true;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = s;
    s *= std::max<int64_t>(shape[d], 1);
  }
  return strides;
}

int64_t shape_numel(const Shape& shape, const char* op) {
  int64_t n = 1;
  for (int64_t s : shape) {
    if (s != 0 && n > std::numeric_limits<int64_t>::max() / 16 / s)
      fail(ErrorKind::Range, op, ": shape ", shape_str(shape), " has too many elements");
    n *= s;
  }
  return n;
}

void check_shape(const Shape& shape, const char* op, const char* arg) {
  RADDINO_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), Range, op, ": argument '", arg, "' has ",
                shape.size(), " dimensions (expected at most ", kMaxDims, ")");
  for (int64_t s : shape)
    RADDINO_CHECK(s >= 0, Range, op, ": argument '", arg, "' ", shape_str(shape),
                  " has a negative size (expected sizes >= 0)");
  shape_numel(shape, op);
}

int normalize_axis(int64_t axis, int ndim, const char* op, const char* arg) {
  int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  RADDINO_CHECK(axis >= lo && axis <= hi, Range, op, ": argument '", arg, "' is ", axis,
                " (expected an axis in [", lo, ", ", hi, "] for a tensor with ", ndim, " dimensions)");
  return static_cast<int>(axis < 0 ? axis + std::max(ndim, 1) : axis);
}

bool view_strides(const Tensor& t, const Shape& shape, Shape* out) {
  // Walk the old dims in chunks that are contiguous among themselves; each chunk must map onto a
  // run of new dims with the same element count (the rule PyTorch's view follows).
  const Shape& os = t.shape();
  const Shape& ost = t.strides();
  Shape ns(shape.size());
  if (t.numel() == 0 || os.empty()) {
    *out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(os.size()) - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        ns[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return false;
  *out = ns;
  return true;
}

Shape infer_shape(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      RADDINO_CHECK(infer < 0, Range, op, ": argument 'shape' ", shape_str(shape), " has more than one -1");
      infer = static_cast<int>(i);
    } else {
      RADDINO_CHECK(out[i] >= 0, Range, op, ": argument 'shape' ", shape_str(shape),
                    " has a negative size (expected sizes >= 0, or a single -1)");
      known *= out[i];
    }
  }
  if (infer >= 0) {
    RADDINO_CHECK(known != 0 && numel % known == 0, Range, op, ": argument 'shape' ", shape_str(shape),
                  " cannot hold ", numel, " elements");
    out[infer] = numel / known;
  }
  check_shape(out, op, "shape");
  RADDINO_CHECK(shape_numel(out) == numel, Range, op, ": argument 'shape' ", shape_str(shape), " has ",
                shape_numel(out), " elements (expected ", numel, ", the input's count)");
  return out;
}

Tensor view(const Tensor& t, const Shape& shape) {
  Shape s = infer_shape(shape, t.numel(), "view");
  Shape strides;
  RADDINO_CHECK(view_strides(t, s, &strides), Value, "view: argument 'shape' ", shape_str(shape),
                " is incompatible with the input's strides ", shape_str(t.strides()),
                " (expected a layout-compatible shape; use reshape(), which copies when needed)");
  return Tensor(t.storage(), t.dtype(), s, strides, t.offset());
}

Tensor permute(const Tensor& t, const std::vector<int64_t>& dims) {
  int n = t.ndim();
  RADDINO_CHECK(static_cast<int>(dims.size()) == n, Range, "permute: argument 'dims' has ", dims.size(),
                " entries (expected ", n, ", one per dimension)");
  Shape shape(n), strides(n);
  std::vector<bool> seen(n, false);
  for (int i = 0; i < n; ++i) {
    int d = normalize_axis(dims[i], n, "permute", "dims");
    RADDINO_CHECK(!seen[d], Range, "permute: argument 'dims' repeats dimension ", d,
                  " (expected a permutation of 0..", n - 1, ")");
    seen[d] = true;
    shape[i] = t.shape()[d];
    strides[i] = t.strides()[d];
  }
  return Tensor(t.storage(), t.dtype(), shape, strides, t.offset());
}

Tensor transpose(const Tensor& t, int64_t d0, int64_t d1) {
  int n = t.ndim();
  if (n == 0) return t;
  int a = normalize_axis(d0, n, "transpose", "dim0"), b = normalize_axis(d1, n, "transpose", "dim1");
  Shape shape = t.shape(), strides = t.strides();
  std::swap(shape[a], shape[b]);
  std::swap(strides[a], strides[b]);
  return Tensor(t.storage(), t.dtype(), shape, strides, t.offset());
}

Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step) {
  int d = normalize_axis(dim, t.ndim(), "slice");
  RADDINO_CHECK(t.ndim() > 0, Range, "slice: the input is a scalar (expected at least 1 dimension)");
  RADDINO_CHECK(step > 0, Range, "slice: argument 'step' is ", step, " (expected a positive step)");
  int64_t size = t.shape()[d];
  auto clampi = [&](int64_t i) {
    if (i < 0) i += size;
    return std::min(std::max<int64_t>(i, 0), size);
  };
  int64_t s = clampi(start), e = clampi(end);
  int64_t len = e > s ? (e - s + step - 1) / step : 0;
  Shape shape = t.shape(), strides = t.strides();
  shape[d] = len;
  strides[d] *= step;
  return Tensor(t.storage(), t.dtype(), shape, strides, t.offset() + s * t.strides()[d]);
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  RADDINO_CHECK(t.ndim() > 0, Range, "narrow: the input is a scalar (expected at least 1 dimension)");
  int d = normalize_axis(dim, t.ndim(), "narrow");
  int64_t size = t.shape()[d];
  if (start < 0) start += size;
  RADDINO_CHECK(start >= 0 && start <= size, Range, "narrow: argument 'start' is out of range for dimension ", d,
                " of size ", size, " (expected -", size, " <= start <= ", size, ")");
  RADDINO_CHECK(length >= 0 && start + length <= size, Range, "narrow: argument 'length' is ", length,
                " (expected 0 <= length <= ", size - start, ")");
  Shape shape = t.shape();
  shape[d] = length;
  return Tensor(t.storage(), t.dtype(), shape, t.strides(), t.offset() + start * t.strides()[d]);
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  RADDINO_CHECK(t.ndim() > 0, Range, "select: the input is a scalar (expected at least 1 dimension)");
  int d = normalize_axis(dim, t.ndim(), "select");
  int64_t size = t.shape()[d];
  RADDINO_CHECK(index >= -size && index < size, Range, "select: argument 'index' is ", index,
                " (expected an index in [", -size, ", ", size - 1, "] for dimension ", d, ")");
  if (index < 0) index += size;
  Shape shape = t.shape(), strides = t.strides();
  int64_t off = t.offset() + index * strides[d];
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return Tensor(t.storage(), t.dtype(), shape, strides, off);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  RADDINO_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), Range, "expand: argument 'shape' has ",
                shape.size(), " dimensions (expected at most ", kMaxDims, ")");
  int n = static_cast<int>(shape.size()), m = t.ndim();
  RADDINO_CHECK(n >= m, Range, "expand: argument 'shape' ", shape_str(shape), " has fewer dimensions than the input ",
                shape_str(t.shape()));
  Shape out(n), strides(n);
  for (int i = n - 1; i >= 0; --i) {
    int j = i - (n - m);
    int64_t want = shape[i];
    if (j >= 0) {
      int64_t have = t.shape()[j];
      if (want == -1) want = have;
      RADDINO_CHECK(want >= 0, Range, "expand: argument 'shape' ", shape_str(shape), " has a negative size");
      RADDINO_CHECK(have == want || have == 1, Range, "expand: argument 'shape' ", shape_str(shape),
                    " is incompatible with the input ", shape_str(t.shape()), " at dimension ", i,
                    " (expected ", have, " or any size where the input has 1)");
      out[i] = want;
      strides[i] = have == want ? t.strides()[j] : 0;
    } else {
      RADDINO_CHECK(want >= 0, Range, "expand: argument 'shape' ", shape_str(shape),
                    " has a negative or -1 size in a new leading dimension");
      out[i] = want;
      strides[i] = 0;
    }
  }
  check_shape(out, "expand", "shape");
  return Tensor(t.storage(), t.dtype(), out, strides, t.offset());
}

Tensor squeeze(const Tensor& t, const std::vector<int64_t>& dims) {
  int n = t.ndim();
  std::vector<bool> drop(n, false);
  if (dims.empty()) {
    for (int d = 0; d < n; ++d) drop[d] = t.shape()[d] == 1;
  } else {
    for (int64_t dim : dims) {
      int d = normalize_axis(dim, n, "squeeze");
      drop[d] = t.shape()[d] == 1;  // like PyTorch: a non-1 dim is left alone
    }
  }
  Shape shape, strides;
  for (int d = 0; d < n; ++d) {
    if (drop[d]) continue;
    shape.push_back(t.shape()[d]);
    strides.push_back(t.strides()[d]);
  }
  return Tensor(t.storage(), t.dtype(), shape, strides, t.offset());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  int n = t.ndim();
  RADDINO_CHECK(n < kMaxDims, Range, "unsqueeze: the input already has ", n, " dimensions (the maximum)");
  RADDINO_CHECK(dim >= -(n + 1) && dim <= n, Range, "unsqueeze: argument 'dim' is ", dim,
                " (expected an axis in [", -(n + 1), ", ", n, "])");
  int d = static_cast<int>(dim < 0 ? dim + n + 1 : dim);
  Shape shape = t.shape(), strides = t.strides();
  int64_t stride = d < n ? shape[d] * strides[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return Tensor(t.storage(), t.dtype(), shape, strides, t.offset());
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op, const char* arg_a, const char* arg_b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    RADDINO_CHECK(x == y || x == 1 || y == 1, Range, op, ": arguments '", arg_a, "' ", shape_str(a), " and '",
                  arg_b, "' ", shape_str(b), " cannot be broadcast (dimension ", i, ": ", x, " vs ", y,
                  "; expected equal sizes or 1)");
    out[i] = x == 1 ? y : x;
  }
  return out;
}

}  // namespace raddino
