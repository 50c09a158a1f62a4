// Learning-rate schedule: linear warm-up from 0 to the peak over warmup_steps, then cosine decay
// to min_lr at total_steps (held there after).
#pragma once

#include <cstdint>

namespace loom::nn {

struct LrSchedule {
  float peak_lr = 1e-3f;
  float min_lr = 1e-4f;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;

  // Learning rate for 0-based step index `step`.
  float at(int64_t step) const;
};

}  // namespace loom::nn
