// Errors: the two classes Loom distinguishes (docs/errors.md).
// UserError is bad input (a flag, a config, a file, a shape) and carries one line that names the
// thing, the value and what would be valid. InternalError is a broken invariant, raised by
// LOOM_CHECK with the file, line, condition and values.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace loom {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input from a user: the message is shown as is, on one line.
class UserError : public Error {
 public:
  using Error::Error;
};

// A broken invariant inside Loom: a bug, not the user's fault.
class InternalError : public Error {
 public:
  using Error::Error;
};

template <typename... Args>
[[noreturn]] void throw_user_error(fmt::format_string<Args...> format, Args&&... args) {
  throw UserError(fmt::format(format, std::forward<Args>(args)...));
}

[[noreturn]] void throw_check_failure(const char* file, int line, const char* condition,
                                      const std::string& detail);

}  // namespace loom

// LOOM_CHECK(cond, "format", args...): an invariant; failure throws InternalError with location.
#define LOOM_CHECK(cond, ...)                                                              \
  do {                                                                                     \
    if (!(cond)) ::loom::throw_check_failure(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)

// LOOM_CHECK_EQ(a, b): both values are printed on failure.
#define LOOM_CHECK_EQ(a, b)                                                                 \
  do {                                                                                      \
    const auto& loom_check_a = (a);                                                         \
    const auto& loom_check_b = (b);                                                         \
    if (!(loom_check_a == loom_check_b))                                                    \
      ::loom::throw_check_failure(__FILE__, __LINE__, #a " == " #b,                         \
                                  fmt::format("{} vs {}", loom_check_a, loom_check_b));     \
  } while (0)
