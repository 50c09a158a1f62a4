// JSONL metrics written through a temporary file.
#include "cli/metrics_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace loom::cli {

MetricsFile::MetricsFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  temporary_path_ = path_ + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temporary_path_.c_str(), "w");
  if (file_ == nullptr) {
    throw_user_error("--metrics: cannot write '{}': {}", path_, std::strerror(errno));
  }
}

MetricsFile::~MetricsFile() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temporary_path_.c_str());
  }
}

void MetricsFile::write(const nlohmann::json& line) {
  if (file_ == nullptr) return;
  const std::string text = line.dump() + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size())
    throw_user_error("--metrics: writing '{}' failed: {}", temporary_path_, std::strerror(errno));
}

void MetricsFile::commit() {
  if (file_ == nullptr) return;
  const bool ok = std::fflush(file_) == 0;
  std::fclose(file_);
  file_ = nullptr;
  if (!ok) throw_user_error("--metrics: writing '{}' failed", temporary_path_);
  std::error_code error;
  std::filesystem::rename(temporary_path_, path_, error);
  if (error) throw_user_error("--metrics: cannot rename into '{}': {}", path_, error.message());
}

}  // namespace loom::cli
