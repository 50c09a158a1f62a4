// Softmax over rows: max, then exp and sum in one pass writing y, then one scaling pass (the
// row is in L1 by then). The backward is dx = y * (dy - <dy, y>).
#include <limits>

#include "ops/cpu/fast_math.h"
#include "ops/cpu/kernels.h"

namespace loom::ops::cpu {

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float row_max = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : row_max)
    for (int64_t c = 0; c < cols; ++c) row_max = xr[c] > row_max ? xr[c] : row_max;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < cols; ++c) {
      const float e = fast_exp(xr[c] - row_max);
      yr[c] = e;
      sum += e;
    }
    const float inv_sum = 1.0f / sum;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) yr[c] *= inv_sum;
  }
}

void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t c = 0; c < cols; ++c) dot += dyr[c] * yr[c];
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) dxr[c] = yr[c] * (dyr[c] - dot);
  }
}

}  // namespace loom::ops::cpu
