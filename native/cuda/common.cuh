// Shared pieces of the CUDA backend: error reporting through the addon (core/cuda_abi.h), the
// per-device runtime (stream, caching allocator), element types and strided layouts.
//
// Kernels receive the core's OpCall and read tensors only through inline members (shape,
// strides, data_ptr); they never create or destroy a core Tensor (see core/cuda_abi.h).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/backend.h"
#include "core/error.h"

namespace raddino::cuda {

// ---- errors ---------------------------------------------------------------------------------
// The library's own exception: thrown and caught inside the library only; the entry points of
// its table turn it into a CudaStatus (core/cuda_abi.h).
struct Failure : std::runtime_error {
  Failure(ErrorKind k, const char* c, const std::string& m) : std::runtime_error(m), kind(k), code(c ? c : "") {}
  ErrorKind kind;
  std::string code;
};
// Throws a Failure.
[[noreturn]] void raise(ErrorKind kind, const char* code, const std::string& message);
// A CUDA runtime error: ERR_RADDINO_CUDA_OOM for allocation failures, else ERR_RADDINO_CUDA.
[[noreturn]] void raise_cuda(cudaError_t e, const char* what);

#define RADDINO_CUDA_CHECK(expr)                                             \
  do {                                                                       \
    cudaError_t e_ = (expr);                                                 \
    if (e_ != cudaSuccess) ::raddino::cuda::raise_cuda(e_, #expr);           \
  } while (0)
// After every launch: a bad configuration surfaces here, not at the next synchronisation.
#define RADDINO_CUDA_LAUNCHED(name) RADDINO_CUDA_CHECK(cudaPeekAtLastError())

// ---- runtime (cuda/runtime.cu) -----------------------------------------------------------------
// Makes `device` current on this thread and returns its stream (created on first use).
cudaStream_t stream_for(int device);
// Caching allocator: blocks are returned to per-size free lists and reused in stream order.
void* device_alloc(size_t nbytes, int device);
void device_free(void* p, size_t nbytes, int device);

// A scratch buffer from the caching allocator, freed when it goes out of scope.
class Scratch {
 public:
  Scratch(size_t nbytes, int device) : n_(nbytes), dev_(device), p_(nbytes ? device_alloc(nbytes, device) : nullptr) {}
  ~Scratch() {
    if (p_) device_free(p_, n_, dev_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  size_t n_;
  int dev_;
  void* p_;
};

// The device every tensor of the call lives on (the dispatcher checked they agree).
inline int call_device(const OpCall& c) { return (!c.out.empty() ? c.out[0] : c.in[0])->device().index; }

inline int64_t numel_of(const Tensor& t) {
  int64_t n = 1;
  for (int64_t s : t.shape()) n *= s;
  return n;
}

inline unsigned blocks_for(int64_t n, int threads, int64_t cap = 65535LL * 16) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > cap ? cap : b));
}

// ---- element types ----------------------------------------------------------------------------
// Loads and stores through float (the compute type of every floating kernel except float64).
__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(uint8_t x) { return static_cast<float>(x); }

template <typename T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) { return x; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <>
__device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ uint8_t from_f<uint8_t>(float x) { return static_cast<uint8_t>(x != 0.0f); }

// Calls f.template operator()<T>() for the floating dtypes computed through float.
template <typename F>
void visit_float(DType d, F&& f) {
  switch (d) {
    case DType::F32: f(float{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    case DType::F16: f(__half{}); return;
    case DType::BOOL: f(uint8_t{}); return;
    default:
      raise(ErrorKind::Type, "", std::string("cuda: dtype ") + dtype_name(d) + " reached a float kernel");
  }
}

// ---- strided layouts --------------------------------------------------------------------------
// Up to NT operands of one shape (the output first), with adjacent dims merged where every
// operand allows it; offsets are in elements.
template <int NT>
struct Iter {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t stride[NT][kMaxDims];
  bool contiguous;  // every operand row-major contiguous: offset == linear index

  __device__ __forceinline__ void offsets(int64_t i, int64_t (&off)[NT]) const {
#pragma unroll
    for (int k = 0; k < NT; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t idx = i % shape[d];
      i /= shape[d];
#pragma unroll
      for (int k = 0; k < NT; ++k) off[k] += idx * stride[k][d];
    }
  }
};

// Builds the iteration over `shape` for operands with the given strides (each of shape's rank).
template <int NT>
Iter<NT> make_iter(const Shape& shape, const Shape* const (&strides)[NT]) {
  Iter<NT> it{};
  int n = 0;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (shape[d] == 1) continue;  // size-1 dims never move an offset
    bool merge = n > 0;
    for (int k = 0; k < NT && merge; ++k) merge = it.stride[k][n - 1] == (*strides[k])[d] * shape[d];
    if (merge) {
      it.shape[n - 1] *= shape[d];
      for (int k = 0; k < NT; ++k) it.stride[k][n - 1] = (*strides[k])[d];
    } else {
      it.shape[n] = shape[d];
      for (int k = 0; k < NT; ++k) it.stride[k][n] = (*strides[k])[d];
      ++n;
    }
  }
  it.ndim = n;
  it.contiguous = n == 0 || [&] {
    for (int k = 0; k < NT; ++k)
      if (it.stride[k][n - 1] != 1 || n > 1) return false;
    return true;
  }();
  return it;
}

}  // namespace raddino::cuda
