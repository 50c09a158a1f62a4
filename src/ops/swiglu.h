// SwiGLU gate: y = silu(gate) * up, elementwise, where silu(g) = g * sigmoid(g) (Llama's MLP).
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class SwiGlu : public Primitive {
 public:
  std::string name() const override { return "swiglu"; }
  Tensor forward(const Tensor& gate, const Tensor& up);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return 6.0 * double(numel_); }

 private:
  Tensor gate_, up_;
  int64_t numel_ = 0;
};

}  // namespace loom::ops
