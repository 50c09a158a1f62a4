// RMSNorm kernels: one read of each row for mean(x^2), one to write y. The backward:
//   dx = rstd * (g - xhat * mean(g * xhat)),  g = dy * gamma,  xhat = x * rstd.
#include <cmath>

#include "ops/cpu/column_partials.h"
#include "ops/cpu/kernels.h"

namespace loom::ops::cpu {

void rms_norm_forward(const float* x, const float* gamma, float eps, float* y, float* rstd, int64_t rows,
                      int64_t cols) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float sum_sq = 0.0f;
#pragma omp simd reduction(+ : sum_sq)
    for (int64_t c = 0; c < cols; ++c) sum_sq += xr[c] * xr[c];
    const float rs = 1.0f / std::sqrt(sum_sq * inv_cols + eps);
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] * rs * gamma[c];
    rstd[r] = rs;
  }
}

void rms_norm_backward(const float* x, const float* gamma, const float* rstd, const float* dy, float* dx, float* dgamma,
                       int64_t rows, int64_t cols) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
  ColumnPartials gamma_partials(cols);  // accumulated even when unwanted: one fused loop beats a branch
#pragma omp parallel if (rows * cols > 16384)
  {
    float* dgamma_local = gamma_partials.slot();
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols;
      const float* dyr = dy + r * cols;
      const float rs = rstd[r];
      float sum_g_xhat = 0.0f;
#pragma omp simd reduction(+ : sum_g_xhat)
      for (int64_t c = 0; c < cols; ++c) {
        const float xhat = xr[c] * rs;
        dgamma_local[c] += dyr[c] * xhat;
        sum_g_xhat += dyr[c] * gamma[c] * xhat;
      }
      if (dx == nullptr) continue;
      const float mean_g_xhat = sum_g_xhat * inv_cols;
      float* dxr = dx + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) dxr[c] = rs * (dyr[c] * gamma[c] - xr[c] * rs * mean_g_xhat);
    }
  }
  if (dgamma != nullptr) gamma_partials.reduce_into(dgamma);
}

}  // namespace loom::ops::cpu
