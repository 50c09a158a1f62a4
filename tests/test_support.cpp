#include "test_support.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace loom::testing_support {

namespace {

// Every path handed out, removed (with whatever a test left beside it as `<path>.tmp`) when the
// test process exits.
class TemporaryPaths {
 public:
  void add(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    paths_.push_back(path);
  }
  ~TemporaryPaths() {
    for (const std::string& path : paths_) {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
      std::filesystem::remove_all(path + ".tmp", ignored);
    }
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> paths_;
};

TemporaryPaths& temporary_paths() {
  static TemporaryPaths paths;
  return paths;
}

}  // namespace

std::string unique_temp_path(const std::string& name) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / ("loom_" + std::to_string(::getpid()) + "_" + name)).string();
  temporary_paths().add(path);
  return path;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

LoomRun run_loom(const std::string& arguments, const std::string& environment) {
  const std::string out = unique_temp_path("loom_stdout");
  const std::string err = unique_temp_path("loom_stderr");
  const std::string command =
      environment + " " + std::string(LOOM_BINARY_DIR) + "/bin/loom " + arguments + " >" + out + " 2>" + err;
  const int status = std::system(command.c_str());
  LoomRun result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_text_file(out);
  result.err = read_text_file(err);
  std::remove(out.c_str());
  std::remove(err.c_str());
  return result;
}

std::string user_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& error) {
    return error.what();
  }
  return "no error";
}

}  // namespace loom::testing_support
