// Rotary position embedding. The cos/sin table [seq, head_dim/2] is built once per call in
// double precision (the first pair's angle is the position itself, whose fp32 sine loses digits
// at long positions), then every (batch, position) row rotates its heads from it.
#include <cmath>
#include <vector>

#include "ops/cpu/kernels.h"

namespace loom::ops::cpu {

void rotary_forward(const float* x, float* y, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, float theta,
                    int64_t position_offset, bool inverse) {
  const int64_t half = head_dim / 2;
  std::vector<float> cos_table(static_cast<size_t>(seq * half));
  std::vector<float> sin_table(static_cast<size_t>(seq * half));
  for (int64_t i = 0; i < half; ++i) {
    const double inv_freq = std::pow(double(theta), -2.0 * double(i) / double(head_dim));
    for (int64_t t = 0; t < seq; ++t) {
      const double angle = double(position_offset + t) * inv_freq;
      cos_table[static_cast<size_t>(t * half + i)] = static_cast<float>(std::cos(angle));
      sin_table[static_cast<size_t>(t * half + i)] = static_cast<float>(inverse ? -std::sin(angle) : std::sin(angle));
    }
  }
#pragma omp parallel for schedule(static) if (batch * seq * heads * head_dim > 16384)
  for (int64_t row = 0; row < batch * seq; ++row) {
    const int64_t t = row % seq;
    const float* cos_t = cos_table.data() + t * half;
    const float* sin_t = sin_table.data() + t * half;
    for (int64_t h = 0; h < heads; ++h) {
      const float* xh = x + (row * heads + h) * head_dim;
      float* yh = y + (row * heads + h) * head_dim;
#pragma omp simd
      for (int64_t i = 0; i < half; ++i) {
        const float a = xh[i];
        const float b = xh[i + half];
        yh[i] = a * cos_t[i] - b * sin_t[i];
        yh[i + half] = a * sin_t[i] + b * cos_t[i];
      }
    }
  }
}

}  // namespace loom::ops::cpu
