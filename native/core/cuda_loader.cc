#include "core/cuda_loader.h"

#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

#include "core/error.h"

#if !defined(_WIN32)
#include <dlfcn.h>
#include <sys/stat.h>
#endif

namespace raddino {
namespace {

std::mutex g_mutex;
std::vector<std::string> g_paths;
const CudaLibrary* g_lib = nullptr;
CudaInitError g_error{};

const char* const* op_name_table() {
  static const char* names[kNumOps];
  for (int i = 0; i < kNumOps; ++i) names[i] = op_name(static_cast<Op>(i));
  return names;
}

const char* const* dtype_name_table() {
  static const char* names[kNumDTypes];
  for (int i = 0; i < kNumDTypes; ++i) names[i] = dtype_name(static_cast<DType>(i));
  return names;
}

[[noreturn]] void throw_status(const CudaStatus& st) {
  throw Error(static_cast<ErrorKind>(st.kind), st.code, st.message[0] ? st.message : "cuda: unknown error");
}

// The trampolines: the library reports, the addon throws (core/cuda_abi.h).
template <int I>
void kernel_trampoline(const OpCall& call) {
  CudaStatus st{};
  if (g_lib->table->kernels[I](call, &st)) throw_status(st);
}

template <size_t... I>
void set_kernels(Backend& be, const CudaBackendTable& t, std::index_sequence<I...>) {
  ((be.kernels[I] = t.kernels[I] ? &kernel_trampoline<static_cast<int>(I)> : nullptr), ...);
}

void* alloc_trampoline(size_t nbytes, int device) {
  CudaStatus st{};
  void* p = nullptr;
  if (g_lib->table->alloc(nbytes, device, &p, &st)) throw_status(st);
  return p;
}
void free_trampoline(void* p, size_t nbytes, int device) { g_lib->table->free(p, nbytes, device); }
void to_host_trampoline(void* dst, const void* src, size_t nbytes, int device) {
  CudaStatus st{};
  if (g_lib->table->to_host(dst, src, nbytes, device, &st)) throw_status(st);
}
void from_host_trampoline(void* dst, const void* src, size_t nbytes, int device) {
  CudaStatus st{};
  if (g_lib->table->from_host(dst, src, nbytes, device, &st)) throw_status(st);
}

Backend g_backend{};

void build_backend(const CudaLibrary& lib) {
  g_backend.type = DeviceType::CUDA;
  g_backend.name = "cuda";
  set_kernels(g_backend, *lib.table, std::make_index_sequence<kNumOps>{});
  for (int i = 0; i < kNumOps; ++i) g_backend.dtypes[i] = lib.table->dtypes[i];
  g_backend.alloc = alloc_trampoline;
  g_backend.free = free_trampoline;
  g_backend.to_host = to_host_trampoline;
  g_backend.from_host = from_host_trampoline;
}

void set_error(const char* code, const std::string& msg) {
  std::snprintf(g_error.code, sizeof g_error.code, "%s", code);
  std::snprintf(g_error.message, sizeof g_error.message, "%s", msg.c_str());
}

bool file_exists(const std::string& p) {
#if defined(_WIN32)
  (void)p;
  return false;
#else
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
#endif
}

// Tries to load; on failure fills g_error and returns null. Caller holds g_mutex.
const CudaLibrary* load_locked() {
#if defined(_WIN32)
  set_error("ERR_RADDINO_CUDA_NOT_BUILT", "device 'cuda': the CUDA backend is not available on Windows in this version");
  return nullptr;
#else
  std::string path;
  for (const std::string& p : g_paths) {
    if (!p.empty() && file_exists(p)) {
      path = p;
      break;
    }
  }
  if (path.empty()) {
    std::string tried;
    for (const std::string& p : g_paths) tried += (tried.empty() ? "" : ", ") + p;
    set_error("ERR_RADDINO_CUDA_NOT_BUILT",
              "device 'cuda': the CUDA backend is not built (no libraddino_cuda.so at " +
                  (tried.empty() ? std::string("any known path") : tried) +
                  "; build it with npm run build:cuda where nvcc and cuBLAS are installed)");
    return nullptr;
  }
  // The driver first, so that a machine without one gets the plain answer rather than whatever
  // the runtime says when it finds no driver.
  if (!dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    const char* why = dlerror();
    set_error("ERR_RADDINO_CUDA_DRIVER", std::string("device 'cuda': the NVIDIA driver library libcuda.so.1 was not found (") +
                                             (why ? why : "dlopen failed") +
                                             "); install the NVIDIA driver or run on a machine with a GPU");
    return nullptr;
  }
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* why = dlerror();
    set_error("ERR_RADDINO_CUDA_LIBRARY", "device 'cuda': " + path + " could not be loaded: " +
                                              (why ? why : "dlopen failed") +
                                              " (a library it needs, such as cuBLAS of the CUDA version it was built "
                                              "with, is missing from the loader path)");
    return nullptr;
  }
  auto init = reinterpret_cast<CudaInitFn>(dlsym(h, RADDINO_CUDA_INIT_SYMBOL));
  if (!init) {
    set_error("ERR_RADDINO_CUDA_ABI", "device 'cuda': " + path + " has no entry point " RADDINO_CUDA_INIT_SYMBOL
                                      " (not a raddino CUDA backend)");
    return nullptr;
  }
  CudaHost host{};
  host.abi_version = kCudaAbiVersion;
  host.sizeof_tensor = sizeof(Tensor);
  host.sizeof_opcall = sizeof(OpCall);
  host.sizeof_opparams = sizeof(OpParams);
  host.sizeof_backend = sizeof(Backend);
  host.num_ops = kNumOps;
  host.num_dtypes = kNumDTypes;
  host.op_names = op_name_table();
  host.dtype_names = dtype_name_table();
  CudaInitError err{};
  const CudaLibrary* lib = init(&host, &err);
  if (!lib) {
    g_error = err;
    return nullptr;
  }
  // Never dlclose: the backend's tables and kernels live in the library for the process's life.
  return lib;
#endif
}

}  // namespace

void set_cuda_library_paths(std::vector<std::string> paths) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_paths = std::move(paths);
}

const CudaLibrary* try_cuda_library() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_lib) {
    const CudaLibrary* lib = load_locked();
    if (lib) {
      g_error = CudaInitError{};
      g_lib = lib;
      build_backend(*lib);
      register_backend(&g_backend);
    }
  }
  return g_lib;
}

const CudaLibrary& cuda_library() {
  const CudaLibrary* lib = try_cuda_library();
  if (!lib) {
    std::lock_guard<std::mutex> lock(g_mutex);
    throw Error(ErrorKind::Value, g_error.code, g_error.message);
  }
  return *lib;
}

const CudaLibrary* loaded_cuda_library() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_lib;
}

const CudaInitError& cuda_load_error() { return g_error; }

const Backend& cuda_backend() {
  cuda_library();
  return g_backend;
}

void cuda_synchronize(int device) {
  CudaStatus st{};
  if (cuda_library().synchronize(device, &st)) throw_status(st);
}

void cuda_empty_cache() {
  const CudaLibrary* lib = loaded_cuda_library();
  CudaStatus st{};
  if (lib && lib->empty_cache(&st)) throw_status(st);
}

}  // namespace raddino
