// BiasAdd: y[..., n] = x[..., n] + bias[n].
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class BiasAdd : public Primitive {
 public:
  std::string name() const override { return "bias_add"; }
  Tensor forward(const Tensor& x, const Tensor& bias);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return double(rows_ * cols_); }
  double backward_flops() const override { return double(rows_ * cols_); }

 private:
  Shape x_shape_;
  int64_t rows_ = 0, cols_ = 0;
};

}  // namespace loom::ops
