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

void adamw_update(float* w, const float* g, float* m, float* v, int64_t count, float lr, int64_t step, bool decay,
                  const AdamWOptions& options) {
  const float b1 = options.beta1;
  const float b2 = options.beta2;
  const float correction1 = 1.0f - std::pow(b1, static_cast<float>(step));
  const float correction2 = 1.0f - std::pow(b2, static_cast<float>(step));
  const float step_size = lr / correction1;
  const float inv_sqrt_correction2 = 1.0f / std::sqrt(correction2);
  const float eps = options.eps;
  const float keep = decay ? 1.0f - lr * options.weight_decay : 1.0f;
#pragma omp parallel for simd schedule(static) if (count > 16384)
  for (int64_t j = 0; j < count; ++j) {
    const float gj = g[j];
    const float mj = b1 * m[j] + (1.0f - b1) * gj;
    const float vj = b2 * v[j] + (1.0f - b2) * gj * gj;
    m[j] = mj;
    v[j] = vj;
    w[j] = w[j] * keep - step_size * mj / (std::sqrt(vj) * inv_sqrt_correction2 + eps);
  }
}

void AdamW::step(float lr) {
  ++steps_;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& grad = parameters_[i].grad();
    if (!grad.defined()) continue;
    const Tensor& value = parameters_[i].value();
    adamw_update(value.f32(), grad.f32(), m_[i].f32(), v_[i].f32(), value.numel(), lr, steps_, value.ndim() >= 2,
                 options_);
  }
}

void AdamW::zero_grad() {
  for (auto& p : parameters_) p.zero_grad();
}

double sum_of_squares(const float* values, int64_t count) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (count > 16384)
  for (int64_t j = 0; j < count; ++j) total += double(values[j]) * double(values[j]);
  return total;
}

void scale_in_place(float* values, int64_t count, float scale) {
#pragma omp parallel for simd schedule(static) if (count > 16384)
  for (int64_t j = 0; j < count; ++j) values[j] *= scale;
}

float clip_scale(double norm, double max_norm) {
  return max_norm > 0.0 && norm > max_norm ? static_cast<float>(max_norm / (norm + 1e-6)) : 1.0f;
}

double clip_grad_norm(const std::vector<autograd::Var>& parameters, double max_norm) {
  double sum_squares = 0.0;
  for (const auto& p : parameters) {
    const Tensor& grad = p.grad();
    if (grad.defined()) sum_squares += sum_of_squares(grad.f32(), grad.numel());
  }
  const double norm = std::sqrt(sum_squares);
  const float scale = clip_scale(norm, max_norm);
  if (scale != 1.0f) {
    for (const auto& p : parameters) {
      const Tensor& grad = p.grad();
      if (grad.defined()) scale_in_place(grad.f32(), grad.numel(), scale);
    }
  }
  return norm;
}

}  // namespace loom::nn
