// Formatting of invariant failures.
#include "core/error.h"

namespace loom {

void throw_check_failure(const char* file, int line, const char* condition,
                         const std::string& detail) {
  throw InternalError(fmt::format("internal error at {}:{}: check failed: {}{}{}", file, line,
                                  condition, detail.empty() ? "" : ": ", detail));
}

}  // namespace loom
