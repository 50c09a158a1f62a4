// Reference GELU, SwiGLU, LayerNorm, RMSNorm and softmax.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "ops/reference/reference.h"

namespace loom::ops::reference {

Values gelu(const Values& x) {
  const double c = std::sqrt(2.0 / std::numbers::pi);
  Values y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = 0.5 * x[i] * (1.0 + std::tanh(c * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
  return y;
}

Values swiglu(const Values& gate, const Values& up) {
  Values y(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) y[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
  return y;
}

Values layer_norm(const Values& x, const Values& gamma, const Values& beta, int64_t rows, int64_t cols, double eps) {
  Values y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = x.data() + r * cols;
    double mean = 0.0;
    for (int64_t c = 0; c < cols; ++c) mean += row[c];
    mean /= double(cols);
    double variance = 0.0;
    for (int64_t c = 0; c < cols; ++c) variance += (row[c] - mean) * (row[c] - mean);
    variance /= double(cols);
    for (int64_t c = 0; c < cols; ++c) {
      y[static_cast<size_t>(r * cols + c)] =
          (row[c] - mean) / std::sqrt(variance + eps) * gamma[static_cast<size_t>(c)] + beta[static_cast<size_t>(c)];
    }
  }
  return y;
}

Values rms_norm(const Values& x, const Values& gamma, int64_t rows, int64_t cols, double eps) {
  Values y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = x.data() + r * cols;
    double mean_square = 0.0;
    for (int64_t c = 0; c < cols; ++c) mean_square += row[c] * row[c];
    mean_square /= double(cols);
    for (int64_t c = 0; c < cols; ++c) {
      y[static_cast<size_t>(r * cols + c)] = row[c] / std::sqrt(mean_square + eps) * gamma[static_cast<size_t>(c)];
    }
  }
  return y;
}

Values softmax(const Values& x, int64_t rows, int64_t cols) {
  Values y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = x.data() + r * cols;
    const double row_max = *std::max_element(row, row + cols);
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += std::exp(row[c] - row_max);
    for (int64_t c = 0; c < cols; ++c) y[static_cast<size_t>(r * cols + c)] = std::exp(row[c] - row_max) / sum;
  }
  return y;
}

}  // namespace loom::ops::reference
