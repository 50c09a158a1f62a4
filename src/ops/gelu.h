// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class Gelu : public Primitive {
 public:
  std::string name() const override { return "gelu"; }
  Tensor forward(const Tensor& x);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return 8.0 * double(numel_); }

 private:
  Tensor x_;
  int64_t numel_ = 0;
};

}  // namespace loom::ops
