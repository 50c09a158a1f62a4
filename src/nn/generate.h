// Autoregressive sampling from a trained model: temperature and top-k over the last position's
// logits, reproducible from a seed. Recomputes the full (cropped) context per token: simple and
// adequate for the small models trained on a CPU.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/transformer.h"

namespace loom::nn {

struct SampleOptions {
  int64_t tokens = 200;
  float temperature = 0.8f;  // 0: greedy
  int64_t top_k = 40;        // 0: no limit
  uint64_t seed = 1;
};

// Returns only the generated tokens (not the prompt). The prompt must not be empty.
std::vector<int32_t> generate(const TransformerModel& model, const std::vector<int32_t>& prompt,
                              const SampleOptions& options);

}  // namespace loom::nn
