// RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * gamma (Llama).
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class RmsNorm : public Primitive {
 public:
  explicit RmsNorm(float eps) : eps_(eps) {}
  std::string name() const override { return "rms_norm"; }
  Tensor forward(const Tensor& x, const Tensor& gamma);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return 5.0 * double(numel_); }

 private:
  float eps_;
  Tensor x_, gamma_, rstd_;
  int64_t numel_ = 0;
};

}  // namespace loom::ops
