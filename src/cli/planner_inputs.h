// The flags `loom plan` and `loom simulate` share (model, cluster, training, profile, memory) and
// the cost-model inputs they make.
#pragma once

#include <string>

#include "planner/cost_model.h"

namespace CLI {
class App;
}

namespace loom::cli {

struct PlannerFlags {
  std::string model = "tiny";
  std::string cluster = "local";
  int nodes = 0;             // 0: the cluster's (simulate: enough for the strategy)
  int devices_per_node = 0;  // 0: the cluster's
  std::string batch;         // "512" or "256:2048"; empty: 8 per device
  int64_t seq = 0;           // 0: the model's positions, at most 2048
  std::string precision;     // empty: fp32 on `local`, bf16 elsewhere
  std::string optimizer = "adamw";
  double memory_gb = 0.0;  // 0: the device's memory
  std::string profile;     // a `loom profile` file: measured compute and links
  bool json = false;
};

void add_planner_flags(CLI::App& command, PlannerFlags& flags);

// Loads and validates everything; UserError (one line) for any bad input.
planner::CostInputs make_cost_inputs(const PlannerFlags& flags);

}  // namespace loom::cli
