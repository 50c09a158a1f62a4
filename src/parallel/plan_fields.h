// What the plan file's parser and writer (plan.cpp) and its validator (plan_validate.cpp) share:
// the "valid: ..." list of sharding stages their messages print, and the MiB in which bucket_mb
// counts. Private to those two files.
#pragma once

namespace loom::parallel::detail {

inline constexpr double kBytesPerMiB = 1024.0 * 1024.0;
inline constexpr const char* kShardingValid = "0, 1, 2, 3";

}  // namespace loom::parallel::detail
