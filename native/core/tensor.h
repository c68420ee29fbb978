// Tensor: a strided view (shape, strides in elements, offset) of a refcounted Storage.
// View functions here never copy; functions that compute live in core/ops.h.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/storage.h"

namespace raddino {

constexpr int kMaxDims = 16;
using Shape = std::vector<int64_t>;

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, DType dtype, Shape shape, Shape strides, int64_t offset)
      : storage_(std::move(storage)), dtype_(dtype), shape_(std::move(shape)), strides_(std::move(strides)),
        offset_(offset) {}

  // A new contiguous tensor on `device` with uninitialised contents.
  static Tensor empty(const Shape& shape, DType dtype, Device device);

  bool defined() const { return static_cast<bool>(storage_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_->device(); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int d) const { return shape_[d]; }
  int64_t numel() const;
  size_t itemsize() const { return dtype_size(dtype_); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool is_contiguous() const;

  void* data_ptr() const { return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(itemsize()); }
  template <typename T>
  T* data() const {
    return static_cast<T*>(data_ptr());
  }

 private:
  std::shared_ptr<Storage> storage_;
  DType dtype_ = DType::F32;
  Shape shape_, strides_;
  int64_t offset_ = 0;
};

// Contiguous (row-major) strides of a shape.
Shape contiguous_strides(const Shape& shape);
// Product of sizes; throws RangeError (naming `op`) on overflow.
int64_t shape_numel(const Shape& shape, const char* op = "shape");
// Checks a user-supplied shape: sizes >= 0, at most kMaxDims dims, numel fits. `op` and `arg` name
// the caller in the error.
void check_shape(const Shape& shape, const char* op, const char* arg);
// Normalises a possibly negative axis against ndim; RangeError names op and arg when out of range.
int normalize_axis(int64_t axis, int ndim, const char* op, const char* arg = "dim");

// ---- views (share storage; never copy) -------------------------------------------------------
// Strides for viewing `t` with `shape` without a copy, or false when impossible.
bool view_strides(const Tensor& t, const Shape& shape, Shape* strides);
// Resolves one -1 in `shape` against numel; checks the product.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op);
Tensor view(const Tensor& t, const Shape& shape);  // error when the layout does not allow it
Tensor permute(const Tensor& t, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& t, int64_t d0, int64_t d1);
// Elements start, start+step, ... < end along dim (end clamped to the size, like Python slices).
Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step);
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& t, int64_t dim, int64_t index);
Tensor expand(const Tensor& t, const Shape& shape);  // -1 keeps a size; new leading dims allowed
Tensor squeeze(const Tensor& t, const std::vector<int64_t>& dims);  // empty dims: all size-1 dims
Tensor unsqueeze(const Tensor& t, int64_t dim);

// Broadcast shape of a and b (NumPy rules); RangeError naming op and both arguments when invalid.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op, const char* arg_a, const char* arg_b);

}  // namespace raddino
