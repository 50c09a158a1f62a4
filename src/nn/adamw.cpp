// AdamW update and global-norm gradient clipping, one fused pass per parameter.
#include "nn/adamw.h"

#include <cmath>

#include "core/error.h"

namespace loom::nn {

AdamW::AdamW(std::vector<autograd::Var> parameters, AdamWOptions options)
    : parameters_(std::move(parameters)), options_(options) {
  MemoryCategoryScope scope(MemoryCategory::optimizer_state);
  for (const auto& p : parameters_) {
    m_.push_back(Tensor::zeros(p.value().shape()));
    v_.push_back(Tensor::zeros(p.value().shape()));
  }
}

void AdamW::step(float lr) {
  ++steps_;
  const float b1 = options_.beta1;
  const float b2 = options_.beta2;
  const float correction1 = 1.0f - std::pow(b1, static_cast<float>(steps_));
  const float correction2 = 1.0f - std::pow(b2, static_cast<float>(steps_));
  const float step_size = lr / correction1;
  const float inv_sqrt_correction2 = 1.0f / std::sqrt(correction2);
  const float eps = options_.eps;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& grad = parameters_[i].grad();
    if (!grad.defined()) continue;
    const Tensor& value = parameters_[i].value();
    const float decay = value.ndim() >= 2 ? 1.0f - lr * options_.weight_decay : 1.0f;
    float* w = value.f32();
    const float* g = grad.f32();
    float* m = m_[i].f32();
    float* v = v_[i].f32();
    const int64_t count = value.numel();
#pragma omp parallel for simd schedule(static) if (count > 16384)
    for (int64_t j = 0; j < count; ++j) {
      const float gj = g[j];
      const float mj = b1 * m[j] + (1.0f - b1) * gj;
      const float vj = b2 * v[j] + (1.0f - b2) * gj * gj;
      m[j] = mj;
      v[j] = vj;
      w[j] = w[j] * decay - step_size * mj / (std::sqrt(vj) * inv_sqrt_correction2 + eps);
    }
  }
}

void AdamW::zero_grad() {
  for (auto& p : parameters_) p.zero_grad();
}

double clip_grad_norm(const std::vector<autograd::Var>& parameters, double max_norm) {
  double sum_squares = 0.0;
  for (const auto& p : parameters) {
    const Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    const float* g = grad.f32();
    const int64_t count = grad.numel();
    double local = 0.0;
#pragma omp parallel for reduction(+ : local) schedule(static) if (count > 16384)
    for (int64_t j = 0; j < count; ++j) local += double(g[j]) * double(g[j]);
    sum_squares += local;
  }
  const double norm = std::sqrt(sum_squares);
  if (max_norm > 0.0 && norm > max_norm) {
    const float scale = static_cast<float>(max_norm / (norm + 1e-6));
    for (const auto& p : parameters) {
      const Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      float* g = grad.f32();
      const int64_t count = grad.numel();
#pragma omp parallel for simd schedule(static) if (count > 16384)
      for (int64_t j = 0; j < count; ++j) g[j] *= scale;
    }
  }
  return norm;
}

}  // namespace loom::nn
