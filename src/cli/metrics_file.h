// The --metrics JSONL file: one JSON object per step, then a summary line ("summary": true).
// Lines go to a temporary file beside the target, renamed into place when the run completes, so
// a failed run never leaves a file that looks finished.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace loom::cli {

class MetricsFile {
 public:
  explicit MetricsFile(std::string path);  // empty path: writes nothing
  ~MetricsFile();                          // removes the temporary file if not committed
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;

  void write(const nlohmann::json& line);
  void commit();  // closes and renames into place

 private:
  std::string path_;
  std::string temporary_path_;
  FILE* file_ = nullptr;
};

}  // namespace loom::cli
