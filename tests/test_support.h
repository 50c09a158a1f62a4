// Helpers shared by the test files: per-process temporary paths and running the loom executable.
#pragma once

#include <functional>
#include <string>

namespace loom::testing_support {

// A path in the test temporary directory that no other test process uses: ctest runs every test
// case as its own process, many at once, so fixed names would race. Removed when the process exits.
std::string unique_temp_path(const std::string& name);

struct LoomRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `loom <arguments>` from this build, with `environment` (e.g. "VAR=1") before it.
LoomRun run_loom(const std::string& arguments, const std::string& environment = "");

// The message of the UserError `action` throws, "no error" when it throws none.
std::string user_error_of(const std::function<void()>& action);

// The whole content of a text file ("" when it cannot be read).
std::string read_text_file(const std::string& path);

}  // namespace loom::testing_support
