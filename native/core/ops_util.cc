#include "core/ops_util.h"

#include <vector>

#include "core/ops.h"

namespace raddino::ops {

std::string dtype_list(DTypeMask mask) {
  std::string s;
  for (int i = 0; i < kNumDTypes; ++i) {
    if (!(mask & (1u << i))) continue;
    if (!s.empty()) s += ", ";
    s += dtype_name(static_cast<DType>(i));
  }
  return s.empty() ? "none" : s;
}

void check_supported(Op op, DType dtype, Device device, const char* arg) {
  const Backend& be = backend(device.type);
  if (be.supports(op, dtype)) return;
  int i = static_cast<int>(op);
  fail(ErrorKind::Type, op_name(op), ": argument '", arg, "' has dtype ", dtype_name(dtype), " (expected ",
       be.kernels[i] ? dtype_list(be.dtypes[i]) : std::string("an op this backend implements"), " on ", be.name,
       ")");
}

void check_supported(Op op, const Tensor& t, const char* arg) { check_supported(op, t.dtype(), t.device(), arg); }

void check_same_dtype(const char* op, const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b) {
  RADDINO_CHECK(a.dtype() == b.dtype(), Type, op, ": argument '", arg_b, "' has dtype ", dtype_name(b.dtype()),
                " but '", arg_a, "' has ", dtype_name(a.dtype()), " (expected the same dtype; cast one of them)");
}

void check_same_device(const char* op, const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b) {
  RADDINO_CHECK(a.device() == b.device(), Value, op, ": argument '", arg_b, "' is on ",
                device_name(b.device().type), " but '", arg_a, "' is on ", device_name(a.device().type),
                " (expected the same device)");
}

void check_dtype(const char* op, const Tensor& t, const char* arg, DTypeMask allowed) {
  RADDINO_CHECK(allowed & dtype_bit(t.dtype()), Type, op, ": argument '", arg, "' has dtype ",
                dtype_name(t.dtype()), " (expected ", dtype_list(allowed), ")");
}

std::vector<double> host_values(const Tensor& t) {
  Tensor c = contiguous(cast(t, DType::F64));
  std::vector<double> v(static_cast<size_t>(c.numel()));
  if (!v.empty()) backend(c.device().type).to_host(v.data(), c.data_ptr(), v.size() * 8, c.device().index);
  return v;
}

void check_index_values(const char* op, const Tensor& index, const char* arg, int64_t lo, int64_t hi,
                        const std::string& what) {
  if (index.numel() == 0) return;
  Tensor c = contiguous(cast(index, DType::I64));
  std::vector<int64_t> v(static_cast<size_t>(c.numel()));
  backend(c.device().type).to_host(v.data(), c.data_ptr(), v.size() * 8, c.device().index);
  for (int64_t x : v) {
    RADDINO_CHECK(x >= lo && x < hi, Range, op, ": argument '", arg, "' holds ", x, ", out of range for ", what,
                  " (expected ", lo, " <= index < ", hi, ")");
  }
}

}  // namespace raddino::ops
