// Add: y = a + b for tensors of the same shape (residual connections).
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class Add : public Primitive {
 public:
  std::string name() const override { return "add"; }
  Tensor forward(const Tensor& a, const Tensor& b);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return double(shape_numel(shape_)); }
  double backward_flops() const override { return 0.0; }  // both gradients are the output gradient

 private:
  Shape shape_;
};

}  // namespace loom::ops
