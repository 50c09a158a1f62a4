// Reshape: a view with a new shape and the same elements; the backward reshapes the gradient back.
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class Reshape : public Primitive {
 public:
  std::string name() const override { return "reshape"; }
  Tensor forward(const Tensor& x, const Shape& shape);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;

 private:
  Shape x_shape_;
};

}  // namespace loom::ops
