// Loads the CUDA backend library on demand, the first time a CUDA device is asked for, and
// registers its backend. The library is a separate build artifact (npm run build:cuda); the
// boundary is described in core/cuda_abi.h.
#pragma once
#include <string>
#include <vector>

#include "core/cuda_abi.h"

namespace raddino {

// Candidate paths of libraddino_cuda.so, tried in order (set by the JS layer at load time).
void set_cuda_library_paths(std::vector<std::string> paths);

// The loaded library, loading it on first use; throws an Error with a code when it cannot:
// ERR_RADDINO_CUDA_NOT_BUILT (no library at any candidate path), ERR_RADDINO_CUDA_DRIVER (no
// libcuda.so.1, or a driver older than the library's CUDA), ERR_RADDINO_CUDA_LIBRARY (the library
// or one of its dependencies, e.g. libcublasLt.so.13, cannot be loaded), ERR_RADDINO_CUDA_ABI
// (built from another version of the sources), ERR_RADDINO_CUDA_NO_DEVICE (no usable GPU).
const CudaLibrary& cuda_library();
// The library when it is loaded or loads now; null (and no throw) otherwise.
const CudaLibrary* try_cuda_library();
// The library if it was already loaded; never loads.
const CudaLibrary* loaded_cuda_library();
// Why the last load failed (code and message); empty when it has not failed.
const CudaInitError& cuda_load_error();
// The backend the core registers for CUDA: trampolines over the library's table that throw.
const Backend& cuda_backend();
// The library's runtime calls, throwing its errors (the library must be loaded).
void cuda_synchronize(int device);
void cuda_empty_cache();

}  // namespace raddino
