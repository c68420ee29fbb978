// NativeTensor: the JS object that owns one core Tensor (a view plus a storage reference).
// dispose() releases the reference at once; the finalizer is only a safety net.
#pragma once
#include <napi.h>

#include <atomic>

#include "core/tensor.h"

namespace raddino::napi {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  // Set right after construction by wrap(); a wrap without a tensor is disposed.
  void reset(Tensor t);
  const Tensor& tensor() const { return tensor_; }
  bool disposed() const { return !tensor_.defined(); }

  // Live (not disposed, not collected) NativeTensor objects in the process.
  static int64_t live();

 private:
  Napi::Value shape(const Napi::CallbackInfo& info);
  Napi::Value strides(const Napi::CallbackInfo& info);
  Napi::Value dtype(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value offset(const Napi::CallbackInfo& info);
  Napi::Value is_contiguous(const Napi::CallbackInfo& info);
  Napi::Value is_disposed(const Napi::CallbackInfo& info);
  Napi::Value nbytes(const Napi::CallbackInfo& info);
  Napi::Value storage_id(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  void check_alive(const Napi::CallbackInfo& info, const char* what) const;

  Tensor tensor_;
  static std::atomic<int64_t> live_;
};

}  // namespace raddino::napi
