// The CUDA runtime of the backend: the entry point the addon calls (core/cuda_abi.h), one stream
// per device, the caching allocator, host <-> device copies through pinned staging buffers, and
// the kernel table with the dtypes each op accepts (what supports(op, dtype, 'cuda') answers).
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cuda_abi.h"
#include "cuda/common.cuh"
#include "cuda/kernels.h"

#ifndef RADDINO_CUDA_ARCHS
#define RADDINO_CUDA_ARCHS "unknown"
#endif

namespace raddino::cuda {
namespace {

// Runs fn, turning the library's errors into a status: nothing unwinds out of the library.
template <typename F>
int status_of(CudaStatus* st, F&& fn) {
  auto fill = [&](int kind, const char* code, const char* msg) {
    st->failed = 1;
    st->kind = kind;
    std::snprintf(st->code, sizeof st->code, "%s", code);
    std::snprintf(st->message, sizeof st->message, "%s", msg);
  };
  try {
    fn();
    st->failed = 0;
  } catch (const Failure& f) {
    fill(static_cast<int>(f.kind), f.code.c_str(), f.what());
  } catch (const std::bad_alloc&) {
    fill(static_cast<int>(ErrorKind::Range), "", "cuda: out of host memory");
  } catch (const std::exception& e) {
    fill(static_cast<int>(ErrorKind::Value), "ERR_RADDINO_CUDA", e.what());
  } catch (...) {
    fill(static_cast<int>(ErrorKind::Value), "ERR_RADDINO_CUDA", "cuda: unknown error");
  }
  return st->failed;
}

template <Kernel K>
int guarded_kernel(const OpCall& c, CudaStatus* st) {
  return status_of(st, [&] { K(c); });
}

// Staging: host copies go through two pinned buffers so that the memcpy of one chunk overlaps
// the DMA of the other.
constexpr size_t kStageBytes = size_t(4) << 20;

struct DeviceState {
  std::mutex mu;  // allocator lists and staging buffers
  bool ready = false;
  cudaStream_t stream = nullptr;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  int64_t cached = 0, reserved = 0;
  void* stage[2] = {nullptr, nullptr};
  cudaEvent_t stage_done[2] = {nullptr, nullptr};
};

int g_device_count = 0;
DeviceState* g_devices = nullptr;
std::mutex g_setup_mu;

DeviceState& state(int device) {
  if (device < 0 || device >= g_device_count) {
    raise(ErrorKind::Range, "ERR_RADDINO_CUDA_NO_DEVICE",
          "cuda: device cuda:" + std::to_string(device) + " does not exist (" + std::to_string(g_device_count) +
              " device(s) visible)");
  }
  DeviceState& s = g_devices[device];
  thread_local int current = -1;
  if (current != device) {
    RADDINO_CUDA_CHECK(cudaSetDevice(device));
    current = device;
  }
  if (!s.ready) {
    std::lock_guard<std::mutex> lock(g_setup_mu);
    if (!s.ready) {
      RADDINO_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
      s.ready = true;
    }
  }
  return s;
}

// Small blocks in 512-byte steps, large ones in 2 MiB steps, so that freed blocks fit later
// requests of similar size.
size_t round_size(size_t n) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kSmallLimit = size_t(1) << 20;
  if (n <= kSmallLimit) return n == 0 ? kSmall : (n + kSmall - 1) / kSmall * kSmall;
  return (n + kLarge - 1) / kLarge * kLarge;
}

// Returns every cached block of `s` to the driver. Caller holds s.mu.
void release_cached(DeviceState& s) {
  for (auto& [size, blocks] : s.free_blocks) {
    for (void* p : blocks) {
      cudaFree(p);
      s.reserved -= static_cast<int64_t>(size);
    }
  }
  s.free_blocks.clear();
  s.cached = 0;
}

void ensure_staging(DeviceState& s) {
  if (s.stage[0]) return;
  for (int i = 0; i < 2; ++i) {
    RADDINO_CUDA_CHECK(cudaHostAlloc(&s.stage[i], kStageBytes, cudaHostAllocDefault));
    RADDINO_CUDA_CHECK(cudaEventCreateWithFlags(&s.stage_done[i], cudaEventDisableTiming));
  }
}


// Host -> device: each chunk is copied into a staging buffer and queued; the call returns once
// the host memory has been read (the device copy may still be in flight, in stream order).
void from_host(void* dst, const void* src, size_t nbytes, int device) {
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.mu);
  ensure_staging(s);
  for (size_t off = 0, i = 0; off < nbytes; off += kStageBytes, ++i) {
    size_t len = nbytes - off < kStageBytes ? nbytes - off : kStageBytes;
    int b = static_cast<int>(i & 1);
    RADDINO_CUDA_CHECK(cudaEventSynchronize(s.stage_done[b]));  // the buffer's last DMA is done
    std::memcpy(s.stage[b], static_cast<const char*>(src) + off, len);
    RADDINO_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + off, s.stage[b], len, cudaMemcpyHostToDevice, s.stream));
    RADDINO_CUDA_CHECK(cudaEventRecord(s.stage_done[b], s.stream));
  }
}

// Device -> host: waits for the work queued before it; chunk i+1's DMA overlaps chunk i's memcpy.
void to_host(void* dst, const void* src, size_t nbytes, int device) {
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.mu);
  ensure_staging(s);
  size_t chunks = (nbytes + kStageBytes - 1) / kStageBytes;
  auto issue = [&](size_t i) {
    size_t off = i * kStageBytes, len = nbytes - off < kStageBytes ? nbytes - off : kStageBytes;
    int b = static_cast<int>(i & 1);
    RADDINO_CUDA_CHECK(cudaMemcpyAsync(s.stage[b], static_cast<const char*>(src) + off, len, cudaMemcpyDeviceToHost, s.stream));
    RADDINO_CUDA_CHECK(cudaEventRecord(s.stage_done[b], s.stream));
  };
  if (chunks > 0) issue(0);
  if (chunks > 1) issue(1);
  for (size_t i = 0; i < chunks; ++i) {
    size_t off = i * kStageBytes, len = nbytes - off < kStageBytes ? nbytes - off : kStageBytes;
    int b = static_cast<int>(i & 1);
    RADDINO_CUDA_CHECK(cudaEventSynchronize(s.stage_done[b]));
    std::memcpy(static_cast<char*>(dst) + off, s.stage[b], len);
    if (i + 2 < chunks) issue(i + 2);
  }
}

int synchronize(int device, CudaStatus* st) {
  return status_of(st, [&] { RADDINO_CUDA_CHECK(cudaStreamSynchronize(state(device).stream)); });
}

int empty_cache(CudaStatus* st) {
  return status_of(st, [&] {
    for (int d = 0; d < g_device_count; ++d) {
      DeviceState& s = state(d);
      RADDINO_CUDA_CHECK(cudaStreamSynchronize(s.stream));
      std::lock_guard<std::mutex> lock(s.mu);
      release_cached(s);
    }
  });
}

int64_t cached_bytes(int device) {
  if (device < 0 || device >= g_device_count) return 0;
  DeviceState& s = g_devices[device];
  std::lock_guard<std::mutex> lock(s.mu);
  return s.cached;
}

int64_t reserved_bytes(int device) {
  if (device < 0 || device >= g_device_count) return 0;
  DeviceState& s = g_devices[device];
  std::lock_guard<std::mutex> lock(s.mu);
  return s.reserved;
}

int table_alloc(size_t nbytes, int device, void** out, CudaStatus* st) {
  return status_of(st, [&] { *out = device_alloc(nbytes, device); });
}
void table_free(void* p, size_t nbytes, int device) {
  CudaStatus st{};
  status_of(&st, [&] { device_free(p, nbytes, device); });  // only a bad_alloc of the free list
}
int table_to_host(void* dst, const void* src, size_t nbytes, int device, CudaStatus* st) {
  return status_of(st, [&] { to_host(dst, src, nbytes, device); });
}
int table_from_host(void* dst, const void* src, size_t nbytes, int device, CudaStatus* st) {
  return status_of(st, [&] { from_host(dst, src, nbytes, device); });
}

void device_info(int device, CudaDeviceInfo* out) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  std::snprintf(out->name, sizeof out->name, "%s", p.name);
  out->major = p.major;
  out->minor = p.minor;
  out->multiprocessors = p.multiProcessorCount;
  out->total_memory = p.totalGlobalMem;
}

constexpr DTypeMask bit(DType d) { return dtype_bit(d); }

CudaBackendTable make_table() {
  CudaBackendTable be{};
  be.alloc = table_alloc;
  be.free = table_free;
  be.to_host = table_to_host;
  be.from_host = table_from_host;
  auto set = [&](Op op, CudaKernel k, DTypeMask m) {
    be.kernels[static_cast<int>(op)] = k;
    be.dtypes[static_cast<int>(op)] = m;
  };
  constexpr DTypeMask kF = bit(DType::F32) | bit(DType::BF16) | bit(DType::F16);  // computed in float32
  constexpr DTypeMask kFB = kF | bit(DType::BOOL);
  set(Op::COPY, guarded_kernel<copy_kernel>, kAllMask);
  set(Op::CAST, guarded_kernel<copy_kernel>, kAllMask);
  set(Op::FILL, guarded_kernel<fill_kernel>, kAllMask);
  set(Op::ARANGE, guarded_kernel<fill_kernel>, kF | bit(DType::F64) | kIntMask);
  set(Op::LINSPACE, guarded_kernel<fill_kernel>, kF | bit(DType::F64) | kIntMask);
  for (Op op : {Op::NEG, Op::ABS, Op::SIGN, Op::SQUARE, Op::RECIPROCAL, Op::EXP, Op::EXPM1, Op::LOG, Op::LOG1P, Op::SQRT,
                Op::RSQRT, Op::SIN, Op::COS, Op::TANH, Op::ERF, Op::SIGMOID, Op::RELU, Op::GELU, Op::GELU_TANH, Op::SILU,
                Op::FLOOR, Op::CEIL, Op::ROUND, Op::CLAMP})
    set(op, guarded_kernel<unary_kernel>, kF);
  set(Op::LOGICAL_NOT, guarded_kernel<unary_kernel>, kFB);
  for (Op op : {Op::ADD, Op::SUB, Op::MUL, Op::DIV, Op::POW, Op::MAXIMUM, Op::MINIMUM}) set(op, guarded_kernel<binary_kernel>, kF);
  for (Op op : {Op::EQ, Op::NE, Op::LT, Op::LE, Op::GT, Op::GE}) set(op, guarded_kernel<binary_kernel>, kF);
  for (Op op : {Op::LOGICAL_AND, Op::LOGICAL_OR}) set(op, guarded_kernel<binary_kernel>, kFB);
  set(Op::WHERE, guarded_kernel<where_kernel>, kFB);
  for (Op op : {Op::SUM, Op::MEAN, Op::MAX, Op::MIN, Op::VAR, Op::LOGSUMEXP, Op::NORM}) set(op, guarded_kernel<reduce_kernel>, kF);
  for (Op op : {Op::SOFTMAX, Op::LOG_SOFTMAX}) set(op, guarded_kernel<softmax_kernel>, kF);
  for (Op op : {Op::SOFTMAX_BACK, Op::LOG_SOFTMAX_BACK}) set(op, guarded_kernel<softmax_backward_kernel>, kF);
  set(Op::LAYER_NORM, guarded_kernel<layer_norm_kernel>, kF);
  set(Op::LAYER_NORM_BACK, guarded_kernel<layer_norm_backward_kernel>, kF);
  set(Op::GELU_BACK, guarded_kernel<gelu_backward_kernel>, kF);
  set(Op::GELU_TANH_BACK, guarded_kernel<gelu_backward_kernel>, kF);
  set(Op::MATMUL, guarded_kernel<matmul_kernel>, kF);
  set(Op::ADAMW, guarded_kernel<adamw_kernel>, bit(DType::F32));
  set(Op::EMA, guarded_kernel<ema_kernel>, bit(DType::F32) | bit(DType::F64));
  constexpr DTypeMask kHalf = bit(DType::BF16) | bit(DType::F16);  // tensor-core inputs, float32 accumulation
  set(Op::ATTENTION, guarded_kernel<attention_kernel>, kHalf);
  set(Op::ATTENTION_BACK, guarded_kernel<attention_backward_kernel>, kHalf);
  for (Op op : {Op::ARGMAX, Op::ARGMIN}) set(op, guarded_kernel<argreduce_kernel>, kF | bit(DType::F64) | kIntMask | bit(DType::BOOL));
  // Indexing; cat is copy_ into narrowed views of the output (like the CPU, whose CAT entry is its
  // copy kernel too).
  set(Op::CAT, guarded_kernel<copy_kernel>, kAllMask);
  for (Op op : {Op::INDEX_SELECT, Op::GATHER, Op::MASKED_FILL}) set(op, guarded_kernel<index_kernel>, kAllMask);
  for (Op op : {Op::SCATTER_ADD, Op::INDEX_ADD}) set(op, guarded_kernel<index_kernel>, kF | bit(DType::F64) | bit(DType::I32) | bit(DType::I64));
  // Random ops: the CPU's numbers for a (seed, offset). randn and trunc_normal leave out float64,
  // where CUDA's and glibc's double log/cos/erf could differ in the last bit (cuda/random.cu).
  constexpr DTypeMask kF64 = bit(DType::F64), kI = bit(DType::I32) | bit(DType::I64);
  set(Op::RAND, guarded_kernel<random_kernel>, kF | kF64);
  set(Op::RANDN, guarded_kernel<random_kernel>, kF);
  set(Op::TRUNC_NORMAL, guarded_kernel<random_kernel>, kF);
  set(Op::BERNOULLI, guarded_kernel<random_kernel>, kF | kF64);
  set(Op::RANDINT, guarded_kernel<random_kernel>, kF | kF64 | kI);
  set(Op::RANDPERM, guarded_kernel<random_kernel>, kF | kF64 | kI);
  return be;
}

const CudaBackendTable g_table = make_table();
CudaLibrary g_library{};

void init_error(CudaInitError* err, const char* code, const std::string& msg) {
  std::snprintf(err->code, sizeof err->code, "%s", code);
  std::snprintf(err->message, sizeof err->message, "%s", msg.c_str());
}

std::string version_str(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

// The op names this library was compiled with (core/op_table.h; op_name() itself lives in the
// addon's backend.cc, which this library may not link).
const char* const kOpNames[] = {
#define X(e, n, k) n,
    RADDINO_OPS(X)
#undef X
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == kNumOps, "op table and name list disagree");

// Checks that the addon and this library agree on every shared layout and table.
bool check_abi(const CudaHost* host, CudaInitError* err) {
  auto fail = [&](const std::string& what) {
    init_error(err, "ERR_RADDINO_CUDA_ABI",
               "device 'cuda': the CUDA backend library was built from other sources than this addon (" + what +
                   "); rebuild it with npm run build:cuda");
    return false;
  };
  if (host->abi_version != kCudaAbiVersion)
    return fail("ABI version " + std::to_string(kCudaAbiVersion) + " vs the addon's " + std::to_string(host->abi_version));
  if (host->sizeof_tensor != sizeof(Tensor) || host->sizeof_opcall != sizeof(OpCall) ||
      host->sizeof_opparams != sizeof(OpParams) || host->sizeof_backend != sizeof(Backend))
    return fail("struct sizes differ");
  if (host->num_ops != kNumOps) return fail(std::to_string(kNumOps) + " ops vs the addon's " + std::to_string(host->num_ops));
  for (int i = 0; i < kNumOps; ++i)
    if (std::strcmp(host->op_names[i], kOpNames[i]) != 0)
      return fail(std::string("op ") + std::to_string(i) + " is '" + kOpNames[i] + "' here and '" +
                  host->op_names[i] + "' in the addon");
  if (host->num_dtypes != kNumDTypes) return fail("dtype tables differ");
  for (int i = 0; i < kNumDTypes; ++i)
    if (std::strcmp(host->dtype_names[i], dtype_name(static_cast<DType>(i))) != 0) return fail("dtype tables differ");
  return true;
}

const CudaLibrary* init(const CudaHost* host, CudaInitError* err) {
  if (!check_abi(host, err)) return nullptr;
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaErrorInsufficientDriver || (e == cudaSuccess && driver < runtime && count == 0)) {
    init_error(err, "ERR_RADDINO_CUDA_DRIVER",
               "device 'cuda': the NVIDIA driver supports CUDA " + version_str(driver) +
                   " but the CUDA backend was built with CUDA " + version_str(runtime) +
                   " (update the driver or rebuild with an older toolkit)");
    return nullptr;
  }
  if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
    init_error(err, "ERR_RADDINO_CUDA_NO_DEVICE",
               "device 'cuda': no CUDA device is visible (driver " + version_str(driver) +
                   "; check nvidia-smi and CUDA_VISIBLE_DEVICES)");
    return nullptr;
  }
  if (e != cudaSuccess) {
    init_error(err, "ERR_RADDINO_CUDA_DRIVER",
               std::string("device 'cuda': the CUDA runtime could not start: ") + cudaGetErrorName(e) + ": " +
                   cudaGetErrorString(e));
    return nullptr;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, d) == cudaSuccess && p.major < 8) {
      init_error(err, "ERR_RADDINO_CUDA_NO_DEVICE",
                 std::string("device 'cuda': ") + p.name + " has compute capability " + std::to_string(p.major) + "." +
                     std::to_string(p.minor) + "; the CUDA backend needs 8.0 or newer (built for " +
                     RADDINO_CUDA_ARCHS + ")");
      return nullptr;
    }
  }
  g_device_count = count;
  g_devices = new DeviceState[count];  // lives for the process, like the library
  g_library.table = &g_table;
  g_library.device_count = count;
  g_library.driver_version = driver;
  g_library.runtime_version = runtime;
  g_library.cublas_version = cublas_version();
  g_library.build_archs = RADDINO_CUDA_ARCHS;
  g_library.device_info = device_info;
  g_library.synchronize = synchronize;
  g_library.empty_cache = empty_cache;
  g_library.cached_bytes = cached_bytes;
  g_library.reserved_bytes = reserved_bytes;
  g_library.set_tf32 = set_tf32;
  g_library.tf32 = tf32_enabled;
  return &g_library;
}

}  // namespace

void raise(ErrorKind kind, const char* code, const std::string& message) { throw Failure(kind, code, message); }

void raise_cuda(cudaError_t e, const char* what) {
  cudaGetLastError();  // clear a non-sticky error so that later calls can go on
  bool oom = e == cudaErrorMemoryAllocation;
  raise(oom ? ErrorKind::Range : ErrorKind::Value, oom ? "ERR_RADDINO_CUDA_OOM" : "ERR_RADDINO_CUDA",
        std::string("cuda: ") + what + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

cudaStream_t stream_for(int device) { return state(device).stream; }

void* device_alloc(size_t nbytes, int device) {
  DeviceState& s = state(device);
  size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.free_blocks.find(size);
  if (it != s.free_blocks.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    s.cached -= static_cast<int64_t>(size);
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, size);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    // Blocks of other sizes may be queued for reuse: finish the queued work, return them, retry.
    cudaStreamSynchronize(s.stream);
    release_cached(s);
    e = cudaMalloc(&p, size);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    raise(ErrorKind::Range, e == cudaErrorMemoryAllocation ? "ERR_RADDINO_CUDA_OOM" : "ERR_RADDINO_CUDA",
          "cuda: out of memory allocating " + std::to_string(nbytes) + " bytes on cuda:" + std::to_string(device) + " (" +
              std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) + " MiB; " +
              std::to_string(s.reserved >> 20) + " MiB held by this process): " + cudaGetErrorString(e));
  }
  s.reserved += static_cast<int64_t>(size);
  return p;
}

// Stream order makes reuse safe: a block freed here is handed out again only to work queued on
// the same stream after the work that used it.
void device_free(void* p, size_t nbytes, int device) {
  if (!p) return;
  DeviceState& s = g_devices[device];
  size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(s.mu);
  s.free_blocks[size].push_back(p);
  s.cached += static_cast<int64_t>(size);
}

}  // namespace raddino::cuda

extern "C" __attribute__((visibility("default"))) const raddino::CudaLibrary* raddino_cuda_init(
    const raddino::CudaHost* host, raddino::CudaInitError* err) {
  try {
    return raddino::cuda::init(host, err);
  } catch (const std::exception& e) {
    raddino::cuda::init_error(err, "ERR_RADDINO_CUDA", std::string("device 'cuda': initialisation failed: ") + e.what());
  } catch (...) {
    raddino::cuda::init_error(err, "ERR_RADDINO_CUDA", "device 'cuda': initialisation failed");
  }
  return nullptr;
}
