// Reshape forward (a view when the input is contiguous, else a contiguous copy reshaped) and
// backward (the gradient reshaped back).
#include "ops/reshape.h"

#include "core/error.h"

namespace loom::ops {

Tensor Reshape::forward(const Tensor& x, const Shape& shape) {
  require_cpu(x, "reshape");
  x_shape_ = x.shape();
  return x.contiguous().reshape(shape);
}

std::vector<Tensor> Reshape::backward(const std::vector<Tensor>& output_grads,
                                      const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0);
  LOOM_CHECK(dy.numel() == shape_numel(x_shape_), "reshape: gradient {} for input {}", dy.describe(),
             shape_str(x_shape_));
  std::vector<Tensor> grads(1);
  if (needs_input_grad[0]) grads[0] = dy.contiguous().reshape(x_shape_);
  return grads;
}

}  // namespace loom::ops
