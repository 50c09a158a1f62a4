// What is trained, apart from the model: the global batch (one size, or a range the search tries),
// the sequence length, the number format and the optimizer. The planner's memory model takes the
// bytes per parameter from the last two (Rajbhandari et al. 2020, ZeRO: 2 + 2 + 12 bytes with
// mixed-precision Adam).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "planner/precision.h"

namespace loom::planner {

enum class Optimizer { adamw, sgd };

struct TrainingSpec {
  int64_t global_batch = 8;  // samples per optimizer step
  int64_t batch_max = 0;     // > global_batch: search batches global_batch, 2x, 4x, ... up to this
  int64_t seq = 64;
  Precision precision = Precision::fp32;
  Optimizer optimizer = Optimizer::adamw;

  // The batches the search tries (one when batch_max is 0).
  std::vector<int64_t> batches() const;
  // Bytes per parameter of each kind of model state.
  int parameter_bytes() const { return element_bytes(precision); }
  int gradient_bytes() const { return element_bytes(precision); }
  // AdamW's two moments (SGD's one momentum), plus the fp32 master copy in mixed precision.
  int optimizer_state_bytes() const;
};

const char* optimizer_name(Optimizer optimizer);
Optimizer parse_optimizer(const std::string& name);

// `--batch` as the user writes it: "512" or a range "256:2048". UserError naming the flag otherwise.
void parse_batch(const std::string& text, TrainingSpec& spec);

// UserError naming the field, the value and what is valid: batch >= 1, batch_max 0 or >= batch,
// seq in 1..max_positions (0: unchecked).
void validate_training(const TrainingSpec& spec, int64_t max_positions = 0);

}  // namespace loom::planner
