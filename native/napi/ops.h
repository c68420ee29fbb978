#pragma once
#include <napi.h>

namespace raddino::napi {
// Adds the op bindings (napi/ops.cc) to the module's exports.
void register_ops(Napi::Env env, Napi::Object exports);
}  // namespace raddino::napi
