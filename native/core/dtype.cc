#include "core/dtype.h"

namespace raddino {

size_t dtype_size(DType d) {
  switch (d) {
#define X(e, n, t, s) \
  case DType::e:      \
    return s;
    RADDINO_DTYPES(X)
#undef X
  }
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
#define X(e, n, t, s) \
  case DType::e:      \
    return n;
    RADDINO_DTYPES(X)
#undef X
  }
  return "?";
}

bool dtype_from_name(const std::string& name, DType* out) {
#define X(e, n, t, s)   \
  if (name == n) {      \
    *out = DType::e;    \
    return true;        \
  }
  RADDINO_DTYPES(X)
#undef X
  return false;
}

}  // namespace raddino
