// Module entry: data transfer between JS and tensors, introspection (op table, supports,
// memory, CPU info) and the thread count. The op bindings are in napi/ops.cc.
#include <napi.h>

#include <cstring>

#include "core/backend.h"
#include "core/cuda_loader.h"
#include "core/ops.h"
#include "cpu/allocator.h"
#include "cpu/cpu_features.h"
#include "cpu/gemm.h"
#include "cpu/gemm_bf16.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"
#include "napi/convert.h"
#include "napi/ops.h"
#include "napi/tensor_wrap.h"

namespace raddino::napi {
namespace {

using Info = const Napi::CallbackInfo&;

// fromBuffer(typedArray, shape, dtype, copy): a CPU tensor over the array's bytes. Without copy
// the tensor shares the memory (the ArrayBuffer is kept alive by a reference); with copy, or
// when the view is misaligned for the dtype or backed by a SharedArrayBuffer, it copies.
Napi::Value FromBuffer(Info info) {
  return guarded(info, [&] {
    const char* op = "fromTypedArray";
    if (!info[0].IsTypedArray()) {
      throw Napi::TypeError::New(info.Env(), "fromTypedArray: argument 'data' must be a TypedArray");
    }
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    Shape shape = shape_arg(info, 1, op, "shape");
    check_shape(shape, op, "shape");
    DType dtype = dtype_arg(info, 2, op);
    bool copy = bool_arg(info, 3, op, "copy");
    size_t nbytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
    if (ta.ByteLength() != nbytes) {
      throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument 'data' has " +
                                                  std::to_string(ta.ByteLength()) + " bytes (expected " +
                                                  std::to_string(nbytes) + " for shape " + shape_str(shape) + " of " +
                                                  dtype_name(dtype) + ")");
    }
    Napi::ArrayBuffer buf = ta.ArrayBuffer();
    char* data = static_cast<char*>(buf.Data()) + ta.ByteOffset();
    bool aligned = reinterpret_cast<uintptr_t>(data) % dtype_size(dtype) == 0;
    if (copy || !aligned || nbytes == 0) {
      Tensor t = Tensor::empty(shape, dtype, Device{});
      if (nbytes) std::memcpy(t.data_ptr(), data, nbytes);
      return wrap(info.Env(), std::move(t));
    }
    auto* ref = new Napi::Reference<Napi::ArrayBuffer>(Napi::Persistent(buf));
    auto storage = Storage::wrap(data, nbytes, Device{}, [ref] { delete ref; });
    return wrap(info.Env(), Tensor(std::move(storage), dtype, shape, contiguous_strides(shape), 0));
  });
}

// toBuffer(t): an ArrayBuffer with a copy of t's elements in row-major order (t's dtype).
Napi::Value ToBuffer(Info info) {
  return guarded(info, [&] {
    const Tensor& t = tensor_arg(info, 0, "data", "input");
    Tensor c = ops::contiguous(t);
    size_t nbytes = static_cast<size_t>(c.numel()) * c.itemsize();
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(info.Env(), nbytes);
    if (nbytes) backend(c.device().type).to_host(buf.Data(), c.data_ptr(), nbytes, c.device().index);
    return buf;
  });
}

// item(t): the value of a one-element tensor as a number (int64 beyond 2^53 loses precision).
Napi::Value Item(Info info) {
  return guarded(info, [&] {
    const Tensor& t = tensor_arg(info, 0, "item", "input");
    RADDINO_CHECK(t.numel() == 1, Range, "item: the tensor has ", t.numel(), " elements ", shape_str(t.shape()),
                  " (expected exactly one)");
    Tensor d = ops::cast(t, DType::F64);
    double v = 0;
    backend(d.device().type).to_host(&v, d.data_ptr(), sizeof(double), d.device().index);
    return Napi::Number::New(info.Env(), v);
  });
}

Napi::Value OpNames(Info info) {
  Napi::Array a = Napi::Array::New(info.Env(), kNumOps);
  for (int i = 0; i < kNumOps; ++i) a.Set(static_cast<uint32_t>(i), Napi::String::New(info.Env(), op_name(static_cast<Op>(i))));
  return a;
}

// supports(op, dtype, device = 'cpu')
Napi::Value Supports(Info info) {
  return guarded(info, [&] {
    std::string name = string_arg(info, 0, "supports", "op");
    DType d = dtype_arg(info, 1, "supports");
    Op op;
    if (!op_from_name(name.c_str(), &op)) {
      throw Napi::TypeError::New(info.Env(), "supports: argument 'op' is '" + name + "' (expected an op name from opNames())");
    }
    std::string dev = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "cpu";
    DeviceType type = dev.rfind("cuda", 0) == 0 ? DeviceType::CUDA : DeviceType::CPU;
    bool ok = backend_available(type) && backend(type).supports(op, d);
    return Napi::Boolean::New(info.Env(), ok);
  });
}

Napi::Value SetNumThreads(Info info) {
  return guarded(info, [&] {
    int64_t n = int_arg(info, 0, "setNumThreads", "n");
    RADDINO_CHECK(n >= 0 && n <= 256, Range, "setNumThreads: argument 'n' is ", n,
                  " (expected 1..256, or 0 for the default)");
    cpu::set_num_threads(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

Napi::Value GetNumThreads(Info info) { return Napi::Number::New(info.Env(), cpu::num_threads()); }

Napi::Value Memory(Info info) {
  Napi::Env env = info.Env();
  sync_external_memory(env);
  Napi::Object out = Napi::Object::New(env);
  out.Set("tensors", Napi::Number::New(env, static_cast<double>(TensorWrap::live())));
  Napi::Object devices = Napi::Object::New(env);
  for (DeviceType d : {DeviceType::CPU, DeviceType::CUDA}) {
    if (!backend_loaded(d)) continue;  // memory() never loads the CUDA backend
    MemoryStats s = memory_stats(d);
    Napi::Object o = Napi::Object::New(env);
    o.Set("storages", Napi::Number::New(env, static_cast<double>(s.storages)));
    o.Set("bytes", Napi::Number::New(env, static_cast<double>(s.bytes)));
    o.Set("ownedBytes", Napi::Number::New(env, static_cast<double>(s.owned_bytes)));
    if (d == DeviceType::CPU) {
      o.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(cpu::cached_bytes())));
      o.Set("cacheLimit", Napi::Number::New(env, static_cast<double>(cpu::cache_limit())));
    }
    if (const CudaLibrary* lib = d == DeviceType::CUDA ? loaded_cuda_library() : nullptr) {
      cuda_synchronize(0);  // so that the figures include work still queued
      o.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(lib->cached_bytes(0))));
      o.Set("reservedBytes", Napi::Number::New(env, static_cast<double>(lib->reserved_bytes(0))));
    }
    devices.Set(device_name(d), o);
  }
  out.Set("devices", devices);
  return out;
}

// emptyCache(): returns the CPU allocator's free blocks to the system.
Napi::Value EmptyCache(Info info) {
  cpu::empty_cache();
  return info.Env().Undefined();
}

// setMatmulPrecision('float32' | 'bfloat16'): how CPU float32 matmuls compute their products.
Napi::Value SetMatmulPrecision(Info info) {
  return guarded(info, [&] {
    std::string p = string_arg(info, 0, "setMatmulPrecision", "precision");
    RADDINO_CHECK(p == "float32" || p == "bfloat16", Value, "setMatmulPrecision: argument 'precision' is '", p,
                  "' (expected 'float32' or 'bfloat16')");
    cpu::set_matmul_precision(p == "float32" ? cpu::MatmulPrecision::Float32 : cpu::MatmulPrecision::Bfloat16);
    return info.Env().Undefined();
  });
}

Napi::Value GetMatmulPrecision(Info info) {
  return Napi::String::New(info.Env(),
                           cpu::matmul_precision() == cpu::MatmulPrecision::Float32 ? "float32" : "bfloat16");
}

// setCacheLimit(bytes | null): the bound on the bytes of freed blocks the CPU allocator keeps;
// null restores the default (a quarter of the usable memory, at least 2 GiB).
Napi::Value SetCacheLimit(Info info) {
  return guarded(info, [&] {
    if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) {
      cpu::set_cache_limit(-1);
    } else {
      double b = number_arg(info, 0, "setCacheLimit", "bytes");
      RADDINO_CHECK(b >= 0 && b <= 9007199254740991.0 && b == static_cast<double>(static_cast<int64_t>(b)), Range,
                    "setCacheLimit: argument 'bytes' is ", b, " (expected a whole number of bytes >= 0, or null for the default)");
      cpu::set_cache_limit(static_cast<int64_t>(b));
    }
    return info.Env().Undefined();
  });
}

// toDevice(x, device): x on the device (x's own storage when it is there already).
Napi::Value ToDevice(Info info) {
  return guarded(info, [&] {
    const Tensor& x = tensor_arg(info, 0, "to", "input");
    return wrap(info.Env(), ops::to_device(x, device_arg(info, 1, "to")));
  });
}

// setCudaLibraryPaths(paths): where to look for libraddino_cuda.so, in order.
Napi::Value SetCudaLibraryPaths(Info info) {
  return guarded(info, [&] {
    if (!info[0].IsArray()) throw Napi::TypeError::New(info.Env(), "setCudaLibraryPaths: argument 'paths' must be an array of strings");
    Napi::Array a = info[0].As<Napi::Array>();
    std::vector<std::string> paths;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value v = a.Get(i);
      if (!v.IsString()) throw Napi::TypeError::New(info.Env(), "setCudaLibraryPaths: argument 'paths' must be an array of strings");
      paths.push_back(v.As<Napi::String>().Utf8Value());
    }
    set_cuda_library_paths(std::move(paths));
    return info.Env().Undefined();
  });
}

// cudaInfo(): { available, code?, error?, devices, driverVersion, runtimeVersion, cublasVersion,
// archs, tf32 }. Loads the backend when it is not loaded yet; never throws for a missing backend.
Napi::Value CudaInfo(Info info) {
  return guarded(info, [&] {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    const CudaLibrary* lib = try_cuda_library();
    o.Set("available", Napi::Boolean::New(env, lib != nullptr));
    if (!lib) {
      o.Set("code", Napi::String::New(env, cuda_load_error().code));
      o.Set("error", Napi::String::New(env, cuda_load_error().message));
      return o;
    }
    Napi::Array devs = Napi::Array::New(env, lib->device_count);
    for (int i = 0; i < lib->device_count; ++i) {
      CudaDeviceInfo d{};
      lib->device_info(i, &d);
      Napi::Object dv = Napi::Object::New(env);
      dv.Set("name", Napi::String::New(env, d.name));
      dv.Set("computeCapability", Napi::String::New(env, std::to_string(d.major) + "." + std::to_string(d.minor)));
      dv.Set("multiprocessors", Napi::Number::New(env, d.multiprocessors));
      dv.Set("totalMemory", Napi::Number::New(env, static_cast<double>(d.total_memory)));
      devs.Set(static_cast<uint32_t>(i), dv);
    }
    o.Set("devices", devs);
    o.Set("driverVersion", Napi::Number::New(env, lib->driver_version));
    o.Set("runtimeVersion", Napi::Number::New(env, lib->runtime_version));
    o.Set("cublasVersion", Napi::Number::New(env, lib->cublas_version));
    o.Set("archs", Napi::String::New(env, lib->build_archs));
    o.Set("tf32", Napi::Boolean::New(env, lib->tf32()));
    return o;
  });
}

// cudaSynchronize(): waits until the device's queued work is done (throws its errors).
Napi::Value CudaSynchronize(Info info) {
  return guarded(info, [&] {
    cuda_synchronize(0);
    return info.Env().Undefined();
  });
}

// cudaEmptyCache(): returns the CUDA allocator's free blocks to the driver (no-op when not loaded).
Napi::Value CudaEmptyCache(Info info) {
  return guarded(info, [&] {
    cuda_empty_cache();
    return info.Env().Undefined();
  });
}

// setCudaTf32(on): float32 matmuls on CUDA use tf32 tensor cores (off by default).
Napi::Value SetCudaTf32(Info info) {
  return guarded(info, [&] {
    bool on = bool_arg(info, 0, "setCudaTf32", "on");
    cuda_library().set_tf32(on);
    return info.Env().Undefined();
  });
}

Napi::Value CpuInfo(Info info) {
  Napi::Env env = info.Env();
  const cpu::CpuFeatures& f = cpu::cpu_features();
  Napi::Object o = Napi::Object::New(env);
  o.Set("hardwareThreads", Napi::Number::New(env, cpu::hardware_threads()));
  o.Set("sgemmKernel", Napi::String::New(env, cpu::sgemm_kernel_name()));
  o.Set("bf16Native", Napi::Boolean::New(env, cpu::sgemm_bf16w_native()));
  Napi::Object feats = Napi::Object::New(env);
  feats.Set("avx2", f.avx2);
  feats.Set("fma", f.fma);
  feats.Set("f16c", f.f16c);
  feats.Set("avx512f", f.avx512f);
  feats.Set("avx512bw", f.avx512bw);
  feats.Set("avx512vl", f.avx512vl);
  feats.Set("avx512dq", f.avx512dq);
  feats.Set("avx512bf16", f.avx512bf16);
  o.Set("features", feats);
  return o;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  cpu::register_cpu_backend();
  auto* data = new AddonData();
  data->tensor_ctor = Napi::Persistent(TensorWrap::define(env));
  env.SetInstanceData(data);
  exports.Set("NativeTensor", data->tensor_ctor.Value());
  exports.Set("fromBuffer", Napi::Function::New(env, FromBuffer, "fromBuffer"));
  exports.Set("toBuffer", Napi::Function::New(env, ToBuffer, "toBuffer"));
  exports.Set("item", Napi::Function::New(env, Item, "item"));
  exports.Set("opNames", Napi::Function::New(env, OpNames, "opNames"));
  exports.Set("supports", Napi::Function::New(env, Supports, "supports"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("memory", Napi::Function::New(env, Memory, "memory"));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache, "emptyCache"));
  exports.Set("setCacheLimit", Napi::Function::New(env, SetCacheLimit, "setCacheLimit"));
  exports.Set("setMatmulPrecision", Napi::Function::New(env, SetMatmulPrecision, "setMatmulPrecision"));
  exports.Set("getMatmulPrecision", Napi::Function::New(env, GetMatmulPrecision, "getMatmulPrecision"));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo, "cpuInfo"));
  exports.Set("toDevice", Napi::Function::New(env, ToDevice, "toDevice"));
  exports.Set("setCudaLibraryPaths", Napi::Function::New(env, SetCudaLibraryPaths, "setCudaLibraryPaths"));
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo, "cudaInfo"));
  exports.Set("cudaSynchronize", Napi::Function::New(env, CudaSynchronize, "cudaSynchronize"));
  exports.Set("cudaEmptyCache", Napi::Function::New(env, CudaEmptyCache, "cudaEmptyCache"));
  exports.Set("setCudaTf32", Napi::Function::New(env, SetCudaTf32, "setCudaTf32"));
  register_ops(env, exports);
  return exports;
}

}  // namespace raddino::napi

static Napi::Object InitRaddino(Napi::Env env, Napi::Object exports) { return raddino::napi::Init(env, exports); }
NODE_API_MODULE(raddino, InitRaddino)
