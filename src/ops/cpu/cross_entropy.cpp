// Cross-entropy fused with log-softmax. Forward: per row a max pass and an exp-sum pass (the
// second reads the row from cache), nothing written but lse. Backward: one pass that writes
// (exp(logit - lse) - onehot) * scale directly, never materialising the softmax.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/cpu/fast_math.h"
#include "ops/cpu/kernels.h"

namespace loom::ops::cpu {

double cross_entropy_forward(const float* logits, const int32_t* targets, float* lse, int64_t rows, int64_t vocab) {
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
#pragma omp parallel for schedule(static) if (rows * vocab > 16384)
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = logits + r * vocab;
    float row_max = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : row_max)
    for (int64_t c = 0; c < vocab; ++c) row_max = row[c] > row_max ? row[c] : row_max;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < vocab; ++c) sum += fast_exp(row[c] - row_max);
    const float row_lse = row_max + std::log(sum);
    lse[r] = row_lse;
    if (targets[r] >= 0) row_loss[static_cast<size_t>(r)] = double(row_lse) - double(row[targets[r]]);
  }
  double total = 0.0;  // summed in row order: the loss does not depend on the thread count
  for (double loss : row_loss) total += loss;
  return total;
}

void cross_entropy_backward(const float* logits, const int32_t* targets, const float* lse, float scale, float* dlogits,
                            int64_t rows, int64_t vocab) {
#pragma omp parallel for schedule(static) if (rows * vocab > 16384)
  for (int64_t r = 0; r < rows; ++r) {
    float* drow = dlogits + r * vocab;
    const int32_t target = targets[r];
    if (target < 0) {
      std::memset(drow, 0, static_cast<size_t>(vocab) * sizeof(float));
      continue;
    }
    const float* row = logits + r * vocab;
    const float row_lse = lse[r];
#pragma omp simd
    for (int64_t c = 0; c < vocab; ++c) drow[c] = fast_exp(row[c] - row_lse) * scale;
    drow[target] -= scale;
  }
}

}  // namespace loom::ops::cpu
