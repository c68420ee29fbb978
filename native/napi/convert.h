// Argument conversion for the N-API surface. Every helper names the op and the argument in its
// error, and states what was expected. These are the only functions that read JS values.
#pragma once
#include <napi.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "core/tensor.h"

namespace raddino::napi {

// Per-environment state (the addon is context-aware: one instance per worker thread).
struct AddonData {
  Napi::FunctionReference tensor_ctor;
  int64_t reported_bytes = 0;  // external memory last reported to V8 by this environment
};

// Throws the JS error matching a core error's kind.
[[noreturn]] void throw_js(Napi::Env env, const raddino::Error& e);
// Runs fn and turns C++ exceptions (core errors, bad_alloc, anything else) into JS errors.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const raddino::Error& e) {
    throw_js(info.Env(), e);
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(info.Env(), "out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

// Argument readers: `op` and `arg` name the caller for error messages.
void check_arity(const Napi::CallbackInfo& info, size_t n, const char* op);
const Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
// A tensor, or nullptr for undefined / null.
const Tensor* opt_tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
std::vector<Tensor> tensor_list_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
Shape shape_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg, bool allow_minus_one = false);
std::vector<int64_t> int_list_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
std::optional<int64_t> opt_int_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
double number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
std::optional<double> opt_number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
DType dtype_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg = "dtype");
Device device_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg = "device");
// An op name that must belong to one of `kinds` (RADDINO_OPS kinds such as "unary").
Op op_arg(const Napi::CallbackInfo& info, size_t i, const char* caller, std::initializer_list<const char*> kinds);
// A uint64 from a non-negative safe integer or a BigInt.
uint64_t u64_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);

// Wraps a core tensor in a new JS NativeTensor and reports memory growth to V8.
Napi::Value wrap(Napi::Env env, Tensor t);
// Reports lasting changes in owned native bytes to V8 (AdjustExternalMemory), in coarse steps.
void sync_external_memory(Napi::Env env);

}  // namespace raddino::napi
