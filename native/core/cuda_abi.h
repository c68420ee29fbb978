// The boundary between the addon and the CUDA backend library (libraddino_cuda.so), which is
// built separately (npm run build:cuda) and loaded on demand by core/cuda_loader.cc.
//
// How it stays safe:
// - Node loads addons RTLD_LOCAL, so the library cannot resolve any symbol of the addon. It is
//   linked with -z defs: every symbol it uses is its own or comes from its own dependencies
//   (cudart, cuBLAS, libstdc++), so a link succeeds only if nothing reaches back into the core.
//   It reads core types (Tensor, OpCall) only through their inline members and never creates,
//   copies or destroys a Tensor or Storage (that would need the core's allocator and registry).
// - One C entry point, raddino_cuda_init, exported with default visibility; everything else is
//   hidden. The caller passes its ABI version and the sizes of the structs both sides share and
//   its op and dtype name tables; the library refuses (with an error, not a crash) when any of
//   them differ from what it was compiled with, e.g. a library built from another checkout.
// - No C++ exception crosses the boundary (one that unwound from the addon through the library's
//   frames crashed Node on the H100 machine). Every function of the library's table returns a
//   status; the library catches its own errors inside itself, and the addon's trampolines
//   (core/cuda_loader.cc) turn a failed status into a raddino::Error with its code.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/backend.h"

namespace raddino {

// Bump whenever Tensor, OpCall, OpParams, Backend, CudaHost or CudaLibrary change layout or meaning.
constexpr uint32_t kCudaAbiVersion = 2;

struct CudaHost {
  uint32_t abi_version;
  uint32_t sizeof_tensor, sizeof_opcall, sizeof_opparams, sizeof_backend;
  int32_t num_ops, num_dtypes;
  const char* const* op_names;     // num_ops names in table order
  const char* const* dtype_names;  // num_dtypes names in enum order
};

// A call's outcome: failed != 0 with kind (an ErrorKind value), code (may be empty) and message.
struct CudaStatus {
  int failed;
  int kind;
  char code[64];
  char message[1024];
};

// The backend as the library exports it: the addon wraps each entry in a trampoline that throws.
using CudaKernel = int (*)(const OpCall& call, CudaStatus* st);
struct CudaBackendTable {
  CudaKernel kernels[kNumOps];
  DTypeMask dtypes[kNumOps];
  int (*alloc)(size_t nbytes, int device, void** out, CudaStatus* st);
  void (*free)(void* ptr, size_t nbytes, int device);  // cannot fail
  int (*to_host)(void* dst, const void* src, size_t nbytes, int device, CudaStatus* st);
  int (*from_host)(void* dst, const void* src, size_t nbytes, int device, CudaStatus* st);
};

struct CudaDeviceInfo {
  char name[256];
  int major, minor;           // compute capability
  int multiprocessors;
  uint64_t total_memory;      // bytes
};

// What a successful init hands back; valid for the life of the process (the library is never
// unloaded).
struct CudaLibrary {
  const CudaBackendTable* table;
  int device_count;
  int driver_version, runtime_version, cublas_version;  // e.g. 13000 for CUDA 13.0
  const char* build_archs;                              // "80;90" ...
  void (*device_info)(int device, CudaDeviceInfo* out);
  int (*synchronize)(int device, CudaStatus* st);      // waits for the device's stream
  int (*empty_cache)(CudaStatus* st);                   // returns cached blocks to the driver
  int64_t (*cached_bytes)(int device);                  // free blocks kept by the allocator (0 on error)
  int64_t (*reserved_bytes)(int device);                // all bytes taken from the driver (0 on error)
  void (*set_tf32)(bool on);                            // float32 GEMMs on tensor cores (tf32)
  bool (*tf32)();
};

// Failure: code ("ERR_RADDINO_CUDA_NO_DEVICE", ...) and message, NUL-terminated.
struct CudaInitError {
  char code[64];
  char message[1024];
};

// The library's one exported symbol. Returns the library on success, else null with *err filled.
using CudaInitFn = const CudaLibrary* (*)(const CudaHost* host, CudaInitError* err);
#define RADDINO_CUDA_INIT_SYMBOL "raddino_cuda_init"

}  // namespace raddino
