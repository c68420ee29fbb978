#include "core/backend.h"

#include <cstring>

#include "core/cuda_loader.h"
#include "core/error.h"

namespace raddino {
namespace {
const Backend* g_backends[kNumDeviceTypes] = {};
}

const char* op_name(Op op) {
  static const char* names[] = {
#define X(e, n, k) n,
      RADDINO_OPS(X)
#undef X
  };
  static_assert(sizeof(names) / sizeof(names[0]) == kNumOps, "op table and name list disagree");
  int i = static_cast<int>(op);
  return i >= 0 && i < kNumOps ? names[i] : "?";
}

const char* op_kind(Op op) {
  static const char* kinds[] = {
#define X(e, n, k) #k,
      RADDINO_OPS(X)
#undef X
  };
  int i = static_cast<int>(op);
  return i >= 0 && i < kNumOps ? kinds[i] : "?";
}

bool op_from_name(const char* name, Op* out) {
  for (int i = 0; i < kNumOps; ++i) {
    if (std::strcmp(op_name(static_cast<Op>(i)), name) == 0) {
      *out = static_cast<Op>(i);
      return true;
    }
  }
  return false;
}

void register_backend(const Backend* be) { g_backends[static_cast<int>(be->type)] = be; }

bool backend_available(DeviceType type) {
  if (g_backends[static_cast<int>(type)] != nullptr) return true;
  return type == DeviceType::CUDA && try_cuda_library() != nullptr;
}

bool backend_loaded(DeviceType type) { return g_backends[static_cast<int>(type)] != nullptr; }

const Backend& backend(DeviceType type) {
  const Backend* be = g_backends[static_cast<int>(type)];
  if (!be && type == DeviceType::CUDA) return cuda_backend();  // loads or throws with a code
  RADDINO_CHECK(be != nullptr, Value, "device '", device_name(type),
                "': the backend is not built into this installation (build it with npm run build:cuda)");
  return *be;
}

void run_kernel(OpCall& call, DType dtype) {
  const Tensor* ref = !call.out.empty() ? call.out[0] : call.in[0];
  const Backend& be = backend(ref->device().type);
  RADDINO_CHECK(be.supports(call.op, dtype), Type, op_name(call.op), ": dtype ", dtype_name(dtype),
                " is not supported on ", be.name);
  be.kernels[static_cast<int>(call.op)](call);
}

}  // namespace raddino
