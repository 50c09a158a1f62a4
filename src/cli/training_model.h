// The model `loom train` trains: a preset or a Loom model JSON (nn::load_model_config), or a
// Hugging Face config.json (it has "model_type") read as the planner reads it, so that a plan
// made by `loom plan --model config.json` trains with the same --model.
#pragma once

#include <string>

#include "nn/model_config.h"

namespace loom::cli {

// UserError naming the file and the reason for a Hugging Face model Loom's runtime cannot train
// (e.g. biases on the query, key and value projections).
nn::ModelConfig load_training_model(const std::string& name_or_path);

}  // namespace loom::cli
