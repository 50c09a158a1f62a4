// Rotary position embedding (RoPE, as in Llama): rotates pairs (x[i], x[i + D/2]) of each head by
// the angle position * theta^(-2i/D). x [B, T, H, D], D even; positions start at position_offset.
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class Rotary : public Primitive {
 public:
  Rotary(float theta, int64_t position_offset) : theta_(theta), position_offset_(position_offset) {}
  std::string name() const override { return "rotary"; }
  Tensor forward(const Tensor& x);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return 3.0 * double(shape_numel(shape_)); }
  double backward_flops() const override { return forward_flops(); }  // the inverse rotation

 private:
  float theta_;
  int64_t position_offset_;
  Shape shape_;
};

}  // namespace loom::ops
