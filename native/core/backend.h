// A backend implements the op table for one device type: a kernel per op it supports, the
// dtypes each kernel accepts, and the device memory primitives. The dispatcher (core/ops.cc)
// validates arguments, allocates outputs and calls kernels; kernels may assume valid input.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/op_table.h"
#include "core/tensor.h"

namespace raddino {

// Op-specific parameters. Each op documents which fields it reads (core/ops.h).
struct OpParams {
  std::vector<int64_t> axes;  // reduce: normalised, sorted, unique axes
  int64_t dim = 0;            // softmax / cat / index ops / topk
  int64_t k = 0;              // topk k, one_hot classes, randint/randperm counts
  bool keepdim = false;
  bool flag0 = false, flag1 = false;  // matmul: transpose a / b; topk: largest / sorted
  double a = 0, b = 0;                // scalars: clamp bounds, fill value, var correction, norm p, random bounds
  double c = 0, d = 0;                // trunc_normal: truncation bounds; adamw: beta1, beta2
  double e = 0;                       // adamw: eps
  bool has_a = false, has_b = false;  // clamp: which bounds are present
  uint64_t seed = 0, offset = 0;      // random: Philox key and counter offset
};

struct OpCall {
  Op op;
  std::vector<const Tensor*> in;
  std::vector<Tensor*> out;  // allocated by the dispatcher with their final shapes and dtypes
  OpParams p;
};

using Kernel = void (*)(const OpCall&);

struct Backend {
  DeviceType type;
  const char* name;
  Kernel kernels[kNumOps] = {};
  DTypeMask dtypes[kNumOps] = {};
  void* (*alloc)(size_t nbytes, int device_index) = nullptr;
  void (*free)(void* ptr, size_t nbytes, int device_index) = nullptr;
  // Copies between host memory and device memory (identity memcpy on CPU).
  void (*to_host)(void* dst, const void* src, size_t nbytes, int device_index) = nullptr;
  void (*from_host)(void* dst, const void* src, size_t nbytes, int device_index) = nullptr;

  bool supports(Op op, DType d) const {
    int i = static_cast<int>(op);
    return kernels[i] != nullptr && (dtypes[i] & dtype_bit(d)) != 0;
  }
};

// The backend for a device type; throws an Error naming what is missing when it is unavailable.
const Backend& backend(DeviceType type);
// Whether the backend for `type` is built and usable, without throwing (loads the CUDA backend
// on first use, core/cuda_loader.h).
bool backend_available(DeviceType type);
// Whether the backend for `type` is registered already; never loads.
bool backend_loaded(DeviceType type);
// Called once by each backend at load time.
void register_backend(const Backend* be);

// Runs `call` on the backend of its first output's (or input's) device after checking support
// for `dtype`; throws a TypeError naming the op, dtype and device when unsupported.
void run_kernel(OpCall& call, DType dtype);

}  // namespace raddino
