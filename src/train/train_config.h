// TrainConfig: everything that defines a training run (model, data, batch, schedule, seed).
// It is stored in checkpoints, so a resumed run continues the same run.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace loom::train {

struct TrainConfig {
  std::string model = "tiny";      // preset name or model JSON path
  std::string data = "synthetic";  // "synthetic", a text file, or an llm.c .bin token file
  int64_t steps = 250;             // total optimizer steps (the schedule spans them)
  int64_t batch = 16;
  int64_t seq = 256;
  uint64_t seed = 1337;
  float lr = 2e-3f;                // peak learning rate
  float min_lr = 2e-4f;
  int64_t warmup_steps = 25;
  float weight_decay = 0.1f;
  float grad_clip = 1.0f;          // global gradient-norm limit; 0 disables
  double val_fraction = 0.05;
  int64_t eval_every = 100;        // validation every N steps (and at the end); 0 = only at the end
  int64_t eval_batches = 8;
};

// Throws UserError naming the flag, the value and what would be valid.
void validate_train_config(const TrainConfig& config);
nlohmann::json train_config_to_json(const TrainConfig& config);
TrainConfig train_config_from_json(const nlohmann::json& json);

}  // namespace loom::train
