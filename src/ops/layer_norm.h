// LayerNorm over the last dimension: y = (x - mean) / sqrt(var + eps) * gamma + beta.
// Saves the input, the per-row mean and reciprocal standard deviation.
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class LayerNorm : public Primitive {
 public:
  explicit LayerNorm(float eps) : eps_(eps) {}
  std::string name() const override { return "layer_norm"; }
  Tensor forward(const Tensor& x, const Tensor& gamma, const Tensor& beta);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return 8.0 * double(numel_); }

 private:
  float eps_;
  Tensor x_, gamma_, mean_, rstd_;
  int64_t numel_ = 0;
};

}  // namespace loom::ops
