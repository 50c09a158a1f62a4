// Reference matmul, bias add, add and split.
#include "ops/reference/reference.h"

namespace loom::ops::reference {

Values matmul(const Values& a, const Values& b, int64_t m, int64_t n, int64_t k, bool transpose_a, bool transpose_b) {
  Values c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double a_ip = transpose_a ? a[static_cast<size_t>(p * m + i)] : a[static_cast<size_t>(i * k + p)];
        const double b_pj = transpose_b ? b[static_cast<size_t>(j * k + p)] : b[static_cast<size_t>(p * n + j)];
        sum += a_ip * b_pj;
      }
      c[static_cast<size_t>(i * n + j)] = sum;
    }
  }
  return c;
}

Values bias_add(const Values& x, const Values& bias, int64_t rows, int64_t cols) {
  Values y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      y[static_cast<size_t>(r * cols + c)] = x[static_cast<size_t>(r * cols + c)] + bias[static_cast<size_t>(c)];
    }
  }
  return y;
}

Values add(const Values& a, const Values& b) {
  Values y(a.size());
  for (size_t i = 0; i < a.size(); ++i) y[i] = a[i] + b[i];
  return y;
}

std::vector<Values> split(const Values& x, int64_t rows, int64_t cols, const std::vector<int64_t>& sizes) {
  std::vector<Values> pieces;
  int64_t start = 0;
  for (int64_t size : sizes) {
    Values piece;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = start; c < start + size; ++c) piece.push_back(x[static_cast<size_t>(r * cols + c)]);
    }
    pieces.push_back(piece);
    start += size;
  }
  return pieces;
}

}  // namespace loom::ops::reference
