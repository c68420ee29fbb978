// Dispatcher for the random ops (see core/ops.h and core/rng.h).
#include <cmath>

#include "core/error.h"
#include "core/ops.h"
#include "core/ops_util.h"

namespace raddino::ops {
namespace {

Tensor run_random(Op op, const Shape& shape, DType dtype, Device device, RandomState rs, OpParams p,
                  const Tensor* input = nullptr) {
  check_supported(op, dtype, device, "dtype");
  Tensor out = Tensor::empty(shape, dtype, device);
  if (out.numel() == 0) return out;
  p.seed = rs.seed;
  p.offset = rs.offset;
  OpCall call{op, {}, {&out}, std::move(p)};
  if (input) call.in.push_back(input);
  run_kernel(call, dtype);
  return out;
}

void check_finite(const char* op, const char* arg, double v) {
  RADDINO_CHECK(std::isfinite(v), Range, op, ": argument '", arg, "' is ", v, " (expected a finite number)");
}

}  // namespace

uint64_t random_span(Op, int64_t n) { return static_cast<uint64_t>(n); }

Tensor rand(const Shape& shape, double lo, double hi, DType dtype, Device device, RandomState rs) {
  check_shape(shape, "rand", "shape");
  check_finite("rand", "low", lo);
  check_finite("rand", "high", hi);
  RADDINO_CHECK(lo <= hi, Range, "rand: argument 'low' ", lo, " is above 'high' ", hi, " (expected low <= high)");
  OpParams p;
  p.a = lo;
  p.b = hi;
  return run_random(Op::RAND, shape, dtype, device, rs, p);
}

Tensor randn(const Shape& shape, double mean, double std, DType dtype, Device device, RandomState rs) {
  check_shape(shape, "randn", "shape");
  check_finite("randn", "mean", mean);
  check_finite("randn", "std", std);
  RADDINO_CHECK(std >= 0, Range, "randn: argument 'std' is ", std, " (expected std >= 0)");
  OpParams p;
  p.a = mean;
  p.b = std;
  return run_random(Op::RANDN, shape, dtype, device, rs, p);
}

Tensor trunc_normal(const Shape& shape, double mean, double std, double a, double b, DType dtype, Device device,
                    RandomState rs) {
  check_shape(shape, "trunc_normal", "shape");
  check_finite("trunc_normal", "mean", mean);
  check_finite("trunc_normal", "std", std);
  RADDINO_CHECK(std > 0, Range, "trunc_normal: argument 'std' is ", std, " (expected std > 0)");
  RADDINO_CHECK(a < b, Range, "trunc_normal: bounds [", a, ", ", b, "] are empty (expected a < b)");
  OpParams p;
  p.a = mean;
  p.b = std;
  p.c = a;
  p.d = b;
  return run_random(Op::TRUNC_NORMAL, shape, dtype, device, rs, p);
}

Tensor randint(const Shape& shape, int64_t lo, int64_t hi, DType dtype, Device device, RandomState rs) {
  check_shape(shape, "randint", "shape");
  RADDINO_CHECK(lo < hi, Range, "randint: range [", lo, ", ", hi, ") is empty (expected low < high)");
  OpParams p;
  p.dim = lo;
  p.k = hi;
  return run_random(Op::RANDINT, shape, dtype, device, rs, p);
}

Tensor randperm(int64_t n, DType dtype, Device device, RandomState rs) {
  RADDINO_CHECK(n >= 0, Range, "randperm: argument 'n' is ", n, " (expected n >= 0)");
  OpParams p;
  p.k = n;
  return run_random(Op::RANDPERM, {n}, dtype, device, rs, p);
}

Tensor bernoulli(const Tensor& prob, RandomState rs) {
  check_supported(Op::BERNOULLI, prob, "p");
  return run_random(Op::BERNOULLI, prob.shape(), prob.dtype(), prob.device(), rs, {}, &prob);
}

}  // namespace raddino::ops
