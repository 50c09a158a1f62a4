// Warm-up + cosine learning-rate schedule.
#include "nn/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace loom::nn {

float LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return peak_lr * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress = std::clamp(double(step - warmup_steps) / double(decay_steps), 0.0, 1.0);
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return static_cast<float>(min_lr + (peak_lr - min_lr) * cosine);
}

}  // namespace loom::nn
