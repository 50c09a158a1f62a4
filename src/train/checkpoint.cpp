// Checkpoint directory I/O.
#include "train/checkpoint.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"

namespace loom::train {

namespace fs = std::filesystem;

namespace {
constexpr const char* kMetadataFile = "checkpoint.json";
constexpr const char* kTensorFile = "tensors.bin";
constexpr int kVersion = 1;

uint64_t fnv1a(const void* data, size_t bytes, uint64_t hash = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    hash ^= p[i];
    hash *= 1099511628211ull;
  }
  return hash;
}
}  // namespace

void check_checkpoint_target(const std::string& directory) {
  const fs::path target(directory);
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code error;
  fs::create_directories(parent, error);
  if (error || ::access(parent.c_str(), W_OK) != 0) {
    throw_user_error("--save {}: directory '{}' cannot be written{}{}", directory, parent.string(),
                     error ? ": " : "", error ? error.message() : "");
  }
  if (fs::exists(target) && !fs::is_directory(target)) {
    throw_user_error("--save {}: exists and is not a directory", directory);
  }
}

void write_checkpoint(const std::string& directory, const CheckpointContents& contents) {
  const fs::path target(directory);
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code error;
  fs::create_directories(parent, error);
  if (error) throw_user_error("--save: cannot create directory '{}': {}", parent.string(), error.message());
  const std::string suffix = "." + std::to_string(::getpid());
  const fs::path staging = fs::path(target.string() + ".tmp" + suffix);
  fs::remove_all(staging, error);
  fs::create_directory(staging, error);
  if (error) throw_user_error("--save: cannot create '{}': {}", staging.string(), error.message());

  nlohmann::json manifest = nlohmann::json::array();
  uint64_t checksum = 1469598103934665603ull;
  {
    std::ofstream out(staging / kTensorFile, std::ios::binary);
    if (!out) throw_user_error("--save: cannot write '{}'", (staging / kTensorFile).string());
    uint64_t offset = 0;
    for (const NamedTensor& named : contents.tensors) {
      const Tensor dense = named.tensor.contiguous();
      LOOM_CHECK(dense.dtype() == DType::f32, "checkpoint tensor {} is {}", named.name, dense.describe());
      out.write(static_cast<const char*>(dense.raw_data()), static_cast<std::streamsize>(dense.nbytes()));
      checksum = fnv1a(dense.raw_data(), dense.nbytes(), checksum);
      manifest.push_back({{"name", named.name}, {"shape", dense.shape()}, {"offset", offset}, {"bytes", dense.nbytes()}});
      offset += dense.nbytes();
    }
    out.flush();
    if (!out) throw_user_error("--save: writing '{}' failed (disk full?)", (staging / kTensorFile).string());
  }
  nlohmann::json metadata = contents.metadata;
  metadata["version"] = kVersion;
  metadata["format"] = "loom-checkpoint";
  metadata["tensors"] = manifest;
  metadata["tensors_checksum"] = fmt::format("{:016x}", checksum);
  {
    std::ofstream out(staging / kMetadataFile);
    out << metadata.dump(2) << "\n";
    out.flush();
    if (!out) throw_user_error("--save: writing '{}' failed", (staging / kMetadataFile).string());
  }
  // Swap into place: the old checkpoint is removed only after the new one is complete.
  const fs::path old = fs::path(target.string() + ".old" + suffix);
  const bool had_old = fs::exists(target);
  if (had_old) {
    fs::rename(target, old, error);
    if (error) throw_user_error("--save: cannot replace '{}': {}", target.string(), error.message());
  }
  fs::rename(staging, target, error);
  if (error) throw_user_error("--save: cannot rename into '{}': {}", target.string(), error.message());
  if (had_old) fs::remove_all(old, error);
}

nlohmann::json read_checkpoint_metadata(const std::string& directory) {
  const fs::path path = fs::path(directory) / kMetadataFile;
  if (!fs::is_directory(directory)) throw_user_error("--resume: '{}' is not a checkpoint directory", directory);
  std::ifstream in(path);
  if (!in) throw_user_error("--resume: '{}' has no {}", directory, kMetadataFile);
  nlohmann::json metadata;
  try {
    in >> metadata;
  } catch (const nlohmann::json::parse_error& e) {
    throw_user_error("--resume: '{}' is not valid JSON: {}", path.string(), e.what());
  }
  if (metadata.value("format", "") != "loom-checkpoint")
    throw_user_error("--resume: '{}' is not a Loom checkpoint (format field missing)", path.string());
  if (metadata.value("version", 0) != kVersion)
    throw_user_error("--resume: checkpoint version {} is not supported (valid: {})", metadata.value("version", 0),
                     kVersion);
  return metadata;
}

void read_checkpoint_tensors(const std::string& directory, std::vector<NamedTensor>& tensors) {
  const nlohmann::json metadata = read_checkpoint_metadata(directory);
  std::map<std::string, nlohmann::json> entries;
  for (const auto& entry : metadata.at("tensors")) entries[entry.at("name").get<std::string>()] = entry;
  const fs::path path = fs::path(directory) / kTensorFile;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_user_error("--resume: '{}' has no {}", directory, kTensorFile);
  uint64_t checksum = 1469598103934665603ull;
  // Read in file order so the checksum covers the whole file as written.
  std::vector<std::pair<uint64_t, NamedTensor*>> order;
  for (NamedTensor& named : tensors) {
    auto it = entries.find(named.name);
    if (it == entries.end()) throw_user_error("--resume: checkpoint has no tensor '{}'", named.name);
    const Shape shape = it->second.at("shape").get<Shape>();
    if (shape != named.tensor.shape())
      throw_user_error("--resume: tensor '{}' has shape {} in the checkpoint but the model expects {}", named.name,
                       shape_str(shape), shape_str(named.tensor.shape()));
    order.emplace_back(it->second.at("offset").get<uint64_t>(), &named);
  }
  if (order.size() != entries.size())
    throw_user_error("--resume: checkpoint holds {} tensors, the model expects {}", entries.size(), order.size());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  uint64_t position = 0;
  for (auto& [offset, named] : order) {
    if (offset != position) throw_user_error("--resume: '{}' has a gap at byte {}", path.string(), position);
    in.read(static_cast<char*>(named->tensor.raw_data()), static_cast<std::streamsize>(named->tensor.nbytes()));
    if (!in) throw_user_error("--resume: '{}' is truncated (tensor '{}')", path.string(), named->name);
    checksum = fnv1a(named->tensor.raw_data(), named->tensor.nbytes(), checksum);
    position += named->tensor.nbytes();
  }
  if (fmt::format("{:016x}", checksum) != metadata.value("tensors_checksum", ""))
    throw_user_error("--resume: '{}' is corrupted (checksum mismatch)", path.string());
}

}  // namespace loom::train
