// Elementwise kernels: bias add, add, GELU (tanh form) and SwiGLU, forward and backward.
// GELU's 0.5 (1 + tanh(u)) is computed as sigmoid(2u), which has no cancellation for large |u|.
#include "ops/cpu/column_partials.h"
#include "ops/cpu/fast_math.h"
#include "ops/cpu/kernels.h"

namespace loom::ops::cpu {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;
constexpr int64_t kParallelMin = 16384;  // below this many elements a thread team costs more than it saves
}  // namespace

void bias_add_forward(const float* x, const float* bias, float* y, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] + bias[c];
  }
}

void column_sum(const float* x, float* sums, int64_t rows, int64_t cols) {
  ColumnPartials partials(cols);
#pragma omp parallel if (rows * cols > kParallelMin)
  {
    float* local = partials.slot();
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) local[c] += xr[c];
    }
  }
  partials.reduce_into(sums);
}

void add_forward(const float* a, const float* b, float* y, int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > kParallelMin)
  for (int64_t i = 0; i < count; ++i) y[i] = a[i] + b[i];
}

void gelu_forward(const float* x, float* y, int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > kParallelMin)
  for (int64_t i = 0; i < count; ++i) {
    const float v = x[i];
    const float u = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
    y[i] = v * fast_sigmoid(2.0f * u);
  }
}

void gelu_backward(const float* x, const float* dy, float* dx, int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > kParallelMin)
  for (int64_t i = 0; i < count; ++i) {
    const float v = x[i];
    const float u = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
    const float s = fast_sigmoid(2.0f * u);  // = 0.5 (1 + tanh(u))
    const float du_dx = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
    // d/dx [x s(2u)] = s + x * 2 s (1 - s) du/dx
    dx[i] = dy[i] * (s + 2.0f * v * s * (1.0f - s) * du_dx);
  }
}

void swiglu_forward(const float* gate, const float* up, float* y, int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > kParallelMin)
  for (int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    y[i] = g * fast_sigmoid(g) * up[i];
  }
}

void swiglu_backward(const float* gate, const float* up, const float* dy, float* dgate, float* dup, int64_t count) {
  if (dgate != nullptr && dup != nullptr) {
#pragma omp parallel for simd schedule(static) if (count > kParallelMin)
    for (int64_t i = 0; i < count; ++i) {
      const float g = gate[i];
      const float s = fast_sigmoid(g);
      dgate[i] = dy[i] * up[i] * s * (1.0f + g * (1.0f - s));
      dup[i] = dy[i] * g * s;
    }
  } else if (dgate != nullptr) {
#pragma omp parallel for simd schedule(static) if (count > kParallelMin)
    for (int64_t i = 0; i < count; ++i) {
      const float g = gate[i];
      const float s = fast_sigmoid(g);
      dgate[i] = dy[i] * up[i] * s * (1.0f + g * (1.0f - s));
    }
  } else if (dup != nullptr) {
#pragma omp parallel for simd schedule(static) if (count > kParallelMin)
    for (int64_t i = 0; i < count; ++i) dup[i] = dy[i] * gate[i] * fast_sigmoid(gate[i]);
  }
}

}  // namespace loom::ops::cpu
