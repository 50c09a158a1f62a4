// Softmax over the last dimension (numerically stable). Saves its output.
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class Softmax : public Primitive {
 public:
  std::string name() const override { return "softmax"; }
  Tensor forward(const Tensor& x);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return 5.0 * double(numel_); }
  // <dy, y> per row, then y * (dy - dot): 4 FLOPs per element.
  double backward_flops() const override { return 4.0 * double(numel_); }

 private:
  Tensor y_;
  int64_t numel_ = 0;
};

}  // namespace loom::ops
