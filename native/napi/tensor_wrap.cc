#include "napi/tensor_wrap.h"

#include "napi/convert.h"

namespace raddino::napi {

std::atomic<int64_t> TensorWrap::live_{0};

Napi::Function TensorWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {
                         InstanceAccessor<&TensorWrap::shape>("shape"),
                         InstanceAccessor<&TensorWrap::strides>("strides"),
                         InstanceAccessor<&TensorWrap::dtype>("dtype"),
                         InstanceAccessor<&TensorWrap::device>("device"),
                         InstanceAccessor<&TensorWrap::offset>("offset"),
                         InstanceAccessor<&TensorWrap::is_contiguous>("isContiguous"),
                         InstanceAccessor<&TensorWrap::is_disposed>("isDisposed"),
                         InstanceAccessor<&TensorWrap::nbytes>("storageBytes"),
                         InstanceAccessor<&TensorWrap::storage_id>("storageId"),
                         InstanceMethod<&TensorWrap::dispose>("dispose"),
                     });
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {}

TensorWrap::~TensorWrap() {
  if (tensor_.defined()) live_.fetch_sub(1, std::memory_order_relaxed);
}

void TensorWrap::reset(Tensor t) {
  if (!tensor_.defined() && t.defined()) live_.fetch_add(1, std::memory_order_relaxed);
  tensor_ = std::move(t);
}

int64_t TensorWrap::live() { return live_.load(std::memory_order_relaxed); }

void TensorWrap::check_alive(const Napi::CallbackInfo& info, const char* what) const {
  if (disposed()) {
    throw Napi::Error::New(info.Env(), std::string("Tensor.") + what +
                                           ": the tensor is disposed (expected a live tensor; it was freed by "
                                           "dispose() or a tidy() scope)");
  }
}

namespace {
Napi::Array int_array(Napi::Env env, const Shape& s) {
  Napi::Array a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(s[i])));
  return a;
}
}  // namespace

Napi::Value TensorWrap::shape(const Napi::CallbackInfo& info) {
  check_alive(info, "shape");
  return int_array(info.Env(), tensor_.shape());
}

Napi::Value TensorWrap::strides(const Napi::CallbackInfo& info) {
  check_alive(info, "strides");
  return int_array(info.Env(), tensor_.strides());
}

Napi::Value TensorWrap::dtype(const Napi::CallbackInfo& info) {
  check_alive(info, "dtype");
  return Napi::String::New(info.Env(), dtype_name(tensor_.dtype()));
}

Napi::Value TensorWrap::device(const Napi::CallbackInfo& info) {
  check_alive(info, "device");
  Device d = tensor_.device();
  std::string s = device_name(d.type);
  if (d.type != DeviceType::CPU) s += ":" + std::to_string(d.index);
  return Napi::String::New(info.Env(), s);
}

Napi::Value TensorWrap::offset(const Napi::CallbackInfo& info) {
  check_alive(info, "offset");
  return Napi::Number::New(info.Env(), static_cast<double>(tensor_.offset()));
}

Napi::Value TensorWrap::is_contiguous(const Napi::CallbackInfo& info) {
  check_alive(info, "isContiguous");
  return Napi::Boolean::New(info.Env(), tensor_.is_contiguous());
}

Napi::Value TensorWrap::is_disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed()); }

Napi::Value TensorWrap::nbytes(const Napi::CallbackInfo& info) {
  check_alive(info, "storageBytes");
  return Napi::Number::New(info.Env(), static_cast<double>(tensor_.storage()->nbytes()));
}

Napi::Value TensorWrap::storage_id(const Napi::CallbackInfo& info) {
  check_alive(info, "storageId");
  // The storage address identifies shared storage between views (for tests and debugging).
  return Napi::Number::New(info.Env(), static_cast<double>(reinterpret_cast<uintptr_t>(tensor_.storage().get()) & ((1ull << 52) - 1)));
}

Napi::Value TensorWrap::dispose(const Napi::CallbackInfo& info) {
  if (tensor_.defined()) {
    tensor_ = Tensor();
    live_.fetch_sub(1, std::memory_order_relaxed);
    sync_external_memory(info.Env());
  }
  return info.Env().Undefined();
}

}  // namespace raddino::napi
