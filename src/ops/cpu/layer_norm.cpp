// LayerNorm kernels. The forward reads each row once for its statistics (sum and sum of squares
// of d = x - x[0]: the shift keeps E[d^2] - E[d]^2 from cancelling when |mean| >> std) and once
// more, from L1, to write y from d - mean(d), which keeps the digits that x - mean loses when the
// mean is rounded to fp32. The backward makes one fused pass for the two row sums and the gamma
// and beta partials, and one to write dx:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  g = dy * gamma,  xhat = (x - mean) * rstd.
#include <algorithm>
#include <cmath>

#include "ops/cpu/column_partials.h"
#include "ops/cpu/kernels.h"

namespace loom::ops::cpu {

void layer_norm_forward(const float* x, const float* gamma, const float* beta, float eps, float* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float shift = xr[0];
    float sum = 0.0f;
    float sum_sq = 0.0f;
#pragma omp simd reduction(+ : sum, sum_sq)
    for (int64_t c = 0; c < cols; ++c) {
      const float d = xr[c] - shift;
      sum += d;
      sum_sq += d * d;
    }
    const float shifted_mean = sum * inv_cols;
    const float variance = std::max(sum_sq * inv_cols - shifted_mean * shifted_mean, 0.0f);
    const float mu = shift + shifted_mean;
    const float rs = 1.0f / std::sqrt(variance + eps);
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) yr[c] = ((xr[c] - shift) - shifted_mean) * rs * gamma[c] + beta[c];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

void layer_norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd, const float* dy,
                         float* dx, float* dgamma, float* dbeta, int64_t rows, int64_t cols) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
  // The partials are accumulated whether or not they are wanted: one fused loop beats a branch.
  ColumnPartials gamma_partials(cols);
  ColumnPartials beta_partials(cols);
#pragma omp parallel if (rows * cols > 16384)
  {
    float* dgamma_local = gamma_partials.slot();
    float* dbeta_local = beta_partials.slot();
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols;
      const float* dyr = dy + r * cols;
      const float mu = mean[r];
      const float rs = rstd[r];
      float sum_g = 0.0f;
      float sum_g_xhat = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_g_xhat)
      for (int64_t c = 0; c < cols; ++c) {
        const float xhat = (xr[c] - mu) * rs;
        const float g = dyr[c] * gamma[c];
        dgamma_local[c] += dyr[c] * xhat;
        dbeta_local[c] += dyr[c];
        sum_g += g;
        sum_g_xhat += g * xhat;
      }
      if (dx == nullptr) continue;
      const float mean_g = sum_g * inv_cols;
      const float mean_g_xhat = sum_g_xhat * inv_cols;
      float* dxr = dx + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) {
        const float xhat = (xr[c] - mu) * rs;
        dxr[c] = rs * (dyr[c] * gamma[c] - mean_g - xhat * mean_g_xhat);
      }
    }
  }
  if (dgamma != nullptr) gamma_partials.reduce_into(dgamma);
  if (dbeta != nullptr) beta_partials.reduce_into(dbeta);
}

}  // namespace loom::ops::cpu
