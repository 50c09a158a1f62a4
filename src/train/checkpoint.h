// Single-process checkpoints: a directory with checkpoint.json (configs, step, optimizer and
// data-loader state, a manifest of tensors with a checksum) and tensors.bin (raw little-endian
// fp32: every parameter, then Adam's first and second moments). Saving writes a new directory
// beside the target and renames it into place, so an interrupted save never leaves a torn one.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace loom::train {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

struct CheckpointContents {
  nlohmann::json metadata;            // everything but the tensors
  std::vector<NamedTensor> tensors;   // in file order
};

// Checks before a run that a checkpoint can be written there later (UserError otherwise), so a
// long run does not fail at its end.
void check_checkpoint_target(const std::string& directory);

// Writes atomically (temporary directory, then rename); replaces an existing checkpoint.
void write_checkpoint(const std::string& directory, const CheckpointContents& contents);

// Reads the metadata and, into the given tensors (matched by name, shapes checked), the values.
// UserError for a missing directory, a torn or corrupted file, or mismatched tensors.
nlohmann::json read_checkpoint_metadata(const std::string& directory);
void read_checkpoint_tensors(const std::string& directory, std::vector<NamedTensor>& tensors);

}  // namespace loom::train
