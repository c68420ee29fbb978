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
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
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

}  // namespace raddino

// RADDINO_CHECK(cond, kind, "op: argument 'x' ...", ...) throws when cond is false.
#define RADDINO_CHECK(cond, kind, ...)                      \
  do {                                                      \
    if (!(cond)) ::raddino::fail(::raddino::ErrorKind::kind, __VA_ARGS__); \
  } while (0)
