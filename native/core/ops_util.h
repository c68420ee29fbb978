// Argument checks shared by the dispatcher files (core/ops*.cc).
#pragma once
#include <string>

#include "core/backend.h"
#include "core/error.h"

namespace raddino::ops {

// TypeError naming op, argument and the dtypes the device's backend supports for the op.
void check_supported(Op op, const Tensor& t, const char* arg);
void check_supported(Op op, DType dtype, Device device, const char* arg);
void check_same_dtype(const char* op, const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b);
void check_same_device(const char* op, const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b);
void check_dtype(const char* op, const Tensor& t, const char* arg, DTypeMask allowed);
// Reads every element of an integer tensor and checks lo <= v < hi (RangeError naming the first
// offending value). `what` says what the index addresses ("dimension 1 of size 5").
void check_index_values(const char* op, const Tensor& index, const char* arg, int64_t lo, int64_t hi,
                        const std::string& what);
// A host copy of a small tensor's values as doubles (contiguous order).
std::vector<double> host_values(const Tensor& t);
// Human-readable list of dtypes in a mask: "float32, float64".
std::string dtype_list(DTypeMask mask);

}  // namespace raddino::ops
