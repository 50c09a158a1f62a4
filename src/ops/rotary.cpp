// Rotary forward and backward: the backward is the inverse rotation (the transpose of a rotation).
#include "ops/rotary.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

namespace {
Tensor rotate(const Tensor& x, float theta, int64_t position_offset, bool inverse) {
  Tensor y = Tensor::empty(x.shape());
  cpu::rotary_forward(x.f32(), y.f32(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), theta, position_offset, inverse);
  return y;
}
}  // namespace

Tensor Rotary::forward(const Tensor& x) {
  require_cpu(x, "rotary");
  LOOM_CHECK(x.ndim() == 4 && x.dim(3) % 2 == 0, "rotary: x must be [B, T, H, D] with D even, got {}", x.describe());
  LOOM_CHECK(position_offset_ >= 0, "rotary: negative position offset {}", position_offset_);
  shape_ = x.shape();
  return rotate(x.contiguous(), theta_, position_offset_, false);
}

std::vector<Tensor> Rotary::backward(const std::vector<Tensor>& output_grads,
                                     const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0).contiguous();
  LOOM_CHECK(dy.shape() == shape_, "rotary: gradient {} for output {}", dy.describe(), shape_str(shape_));
  std::vector<Tensor> grads(1);
  if (needs_input_grad[0]) grads[0] = rotate(dy, theta_, position_offset_, true);
  return grads;
}

}  // namespace loom::ops
