#include "napi/convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/storage.h"
#include "napi/tensor_wrap.h"

namespace raddino::napi {
namespace {

constexpr double kMaxSafeInt = 9007199254740991.0;

std::string type_of(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return v.IsArray() ? "array" : "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
  }
  return "unknown";
}

[[noreturn]] void type_error(const Napi::CallbackInfo& info, const char* op, const char* arg, const char* expected,
                             const Napi::Value& got) {
  std::string msg = std::string(op) + ": argument '" + arg + "' must be " + expected + " (got " + type_of(got) + ")";
  throw Napi::TypeError::New(info.Env(), msg);
}

Napi::Value at(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() ? info[i] : info.Env().Undefined(); }

int64_t to_int(const Napi::CallbackInfo& info, const Napi::Value& v, const char* op, const char* arg) {
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t x = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument '" + arg + "' does not fit in int64");
    return x;
  }
  if (!v.IsNumber()) type_error(info, op, arg, "an integer", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > kMaxSafeInt) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument '" + arg + "' is " +
                                                Napi::Number::New(info.Env(), d).ToString().Utf8Value() +
                                                " (expected a safe integer)");
  }
  return static_cast<int64_t>(d);
}

}  // namespace

void throw_js(Napi::Env env, const raddino::Error& e) {
  Napi::Error err = e.kind() == ErrorKind::Type    ? Napi::TypeError::New(env, e.what())
                    : e.kind() == ErrorKind::Range ? Napi::RangeError::New(env, e.what())
                                                   : Napi::Error::New(env, e.what());
  if (!e.code().empty()) err.Set("code", Napi::String::New(env, e.code()));
  throw err;
}

void check_arity(const Napi::CallbackInfo& info, size_t n, const char* op) {
  if (info.Length() < n) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": expected " + std::to_string(n) + " arguments, got " +
                                               std::to_string(info.Length()));
  }
}

const Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (!v.IsObject()) type_error(info, op, arg, "a Tensor", v);
  void* p = nullptr;
  if (napi_unwrap(info.Env(), v, &p) != napi_ok || p == nullptr) type_error(info, op, arg, "a Tensor", v);
  auto* w = static_cast<TensorWrap*>(p);
  if (w->disposed()) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": argument '" + arg +
                                           "' is a disposed tensor (expected a live tensor; it was freed by "
                                           "dispose() or a tidy() scope)");
  }
  return w->tensor();
}

const Tensor* opt_tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  return &tensor_arg(info, i, op, arg);
}

std::vector<Tensor> tensor_list_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (!v.IsArray()) type_error(info, op, arg, "an array of Tensors", v);
  Napi::Array a = v.As<Napi::Array>();
  std::vector<Tensor> out;
  out.reserve(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    std::string name = std::string(arg) + "[" + std::to_string(k) + "]";
    Napi::Value e = a.Get(k);
    if (!e.IsObject()) type_error(info, op, name.c_str(), "a Tensor", e);
    void* p = nullptr;
    if (napi_unwrap(info.Env(), e, &p) != napi_ok || p == nullptr) type_error(info, op, name.c_str(), "a Tensor", e);
    auto* w = static_cast<TensorWrap*>(p);
    if (w->disposed()) {
      throw Napi::Error::New(info.Env(), std::string(op) + ": argument '" + name + "' is a disposed tensor");
    }
    out.push_back(w->tensor());
  }
  return out;
}

std::vector<int64_t> int_list_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (!v.IsArray()) type_error(info, op, arg, "an array of integers", v);
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    std::string name = std::string(arg) + "[" + std::to_string(k) + "]";
    out[k] = to_int(info, a.Get(k), op, name.c_str());
  }
  return out;
}

Shape shape_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg, bool allow_minus_one) {
  Shape s = int_list_arg(info, i, op, arg);
  if (s.size() > static_cast<size_t>(kMaxDims)) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument '" + arg + "' has " +
                                                std::to_string(s.size()) + " dimensions (expected at most " +
                                                std::to_string(kMaxDims) + ")");
  }
  for (int64_t d : s) {
    if (d < 0 && !(allow_minus_one && d == -1)) {
      throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument '" + arg + "' " + shape_str(s) +
                                                  " has a negative size (expected sizes >= 0" +
                                                  (allow_minus_one ? ", or one -1" : "") + ")");
    }
  }
  return s;
}

int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  return to_int(info, at(info, i), op, arg);
}

std::optional<int64_t> opt_int_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return to_int(info, v, op, arg);
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
  if (v.IsBigInt()) {
    bool lossless = false;
    return static_cast<double>(v.As<Napi::BigInt>().Int64Value(&lossless));
  }
  if (!v.IsNumber()) type_error(info, op, arg, "a number", v);
  return v.As<Napi::Number>().DoubleValue();
}

std::optional<double> opt_number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return number_arg(info, i, op, arg);
}

bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (v.IsUndefined()) return false;
  if (!v.IsBoolean()) type_error(info, op, arg, "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (!v.IsString()) type_error(info, op, arg, "a string", v);
  return v.As<Napi::String>().Utf8Value();
}

DType dtype_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (!v.IsString()) type_error(info, op, arg, "a dtype name such as 'float32'", v);
  std::string s = v.As<Napi::String>().Utf8Value();
  DType d;
  if (!dtype_from_name(s, &d)) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument '" + arg + "' is '" + s +
                                               "' (expected one of float32, float64, bfloat16, float16, int32, "
                                               "int64, uint8, bool)");
  }
  return d;
}

Device device_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (v.IsUndefined()) return Device{};
  if (!v.IsString()) type_error(info, op, arg, "a device name ('cpu' or 'cuda')", v);
  std::string s = v.As<Napi::String>().Utf8Value();
  Device d;
  std::string base = s.substr(0, s.find(':'));
  if (base == "cpu") d.type = DeviceType::CPU;
  else if (base == "cuda") d.type = DeviceType::CUDA;
  else {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument '" + arg + "' is '" + s +
                                               "' (expected 'cpu' or 'cuda')");
  }
  if (s.find(':') != std::string::npos) {
    std::string idx = s.substr(s.find(':') + 1);
    if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos || idx.size() > 3) {
      throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument '" + arg + "' is '" + s +
                                                 "' (expected 'cpu', 'cuda' or 'cuda:<index>')");
    }
    d.index = std::stoi(idx);
  }
  backend(d.type);  // throws a clear error when that backend is not built
  return d;
}

Op op_arg(const Napi::CallbackInfo& info, size_t i, const char* caller, std::initializer_list<const char*> kinds) {
  std::string s = string_arg(info, i, caller, "op");
  Op op;
  bool ok = op_from_name(s.c_str(), &op);
  bool kind_ok = false;
  std::string expected;
  for (const char* k : kinds) {
    kind_ok = kind_ok || (ok && std::strcmp(op_kind(op), k) == 0);
    expected += expected.empty() ? k : std::string(" or ") + k;
  }
  if (!kind_ok) {
    throw Napi::TypeError::New(info.Env(), std::string(caller) + ": argument 'op' is '" + s + "' (expected a " +
                                               expected + " op)");
  }
  return op;
}

uint64_t u64_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  Napi::Value v = at(info, i);
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument '" + arg + "' does not fit in uint64");
    return x;
  }
  int64_t x = to_int(info, v, op, arg);
  if (x < 0) throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument '" + arg + "' is negative (expected >= 0)");
  return static_cast<uint64_t>(x);
}

void sync_external_memory(Napi::Env env) {
  // V8 answers every reported increase beyond its soft limit with GC work, so reporting each
  // tensor's allocation and release made a loop that creates and disposes 64 MiB tensors run
  // garbage collections constantly (and 20-60% slower). What V8 needs to know is lasting growth
  // (tensors left to the finalizers), so the report moves only in steps of at least 128 MiB or
  // half of what is reported.
  constexpr int64_t kMinStep = int64_t(128) << 20;
  AddonData* data = env.GetInstanceData<AddonData>();
  int64_t now = memory_stats(DeviceType::CPU).owned_bytes;
  int64_t step = std::max(kMinStep, data->reported_bytes / 2);
  int64_t delta = now - data->reported_bytes;
  if (delta > step || -delta > step) {
    Napi::MemoryManagement::AdjustExternalMemory(env, delta);
    data->reported_bytes = now;
  }
}

Napi::Value wrap(Napi::Env env, Tensor t) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Object obj = data->tensor_ctor.New({});
  TensorWrap::Unwrap(obj)->reset(std::move(t));
  sync_external_memory(env);
  return obj;
}

}  // namespace raddino::napi
