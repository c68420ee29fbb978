// Errors of the core. Every check that can fail on user input throws raddino::Error with a
// message that names the op, the argument and what was expected; the N-API layer turns the kind
// into TypeError / RangeError / Error. Nothing in the core aborts on bad input.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace raddino {

enum class ErrorKind { Type, Range, Value };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}
  // `code` becomes the JS error's `code` property (e.g. "ERR_RADDINO_CUDA_OOM").
  Error(ErrorKind kind, std::string code, const std::string& msg)
      : std::runtime_error(msg), kind_(kind), code_(std::move(code)) {}
  ErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }

 private:
  ErrorKind kind_;
  std::string code_;
};

// "[2, 3, 4]"
std::string shape_str(const std::vector<int64_t>& shape);

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  throw Error(kind, os.str());
}

// Like fail(), with an error code for the JS side.
template <typename... Args>
[[noreturn]] void fail_code(ErrorKind kind, const char* code, const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  throw Error(kind, code, os.str());
}

}  // namespace raddino

// RADDINO_CHECK(cond, kind, "op: argument 'x' ...", ...) throws when cond is false.
#define RADDINO_CHECK(cond, kind, ...)                      \
  do {                                                      \
    if (!(cond)) ::raddino::fail(::raddino::ErrorKind::kind, __VA_ARGS__); \
  } while (0)
