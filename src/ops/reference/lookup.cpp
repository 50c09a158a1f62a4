// Reference embedding lookup and cross-entropy.
#include <algorithm>
#include <cmath>

#include "ops/reference/reference.h"

namespace loom::ops::reference {

Values embedding(const std::vector<int32_t>& ids, const Values& table, int64_t dim) {
  Values y;
  for (int32_t id : ids) {
    for (int64_t c = 0; c < dim; ++c) y.push_back(table[static_cast<size_t>(int64_t(id) * dim + c)]);
  }
  return y;
}

double cross_entropy(const Values& logits, const std::vector<int32_t>& targets, int64_t rows, int64_t vocab) {
  double total = 0.0;
  int64_t counted = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t target = targets[static_cast<size_t>(r)];
    if (target < 0) continue;
    const double* row = logits.data() + r * vocab;
    const double row_max = *std::max_element(row, row + vocab);
    double sum = 0.0;
    for (int64_t c = 0; c < vocab; ++c) sum += std::exp(row[c] - row_max);
    total += row_max + std::log(sum) - row[target];
    ++counted;
  }
  return counted == 0 ? 0.0 : total / double(counted);
}

}  // namespace loom::ops::reference
