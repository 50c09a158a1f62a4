// Add forward and backward: both gradients are the output gradient itself (the tape copies
// before it ever accumulates into a shared buffer).
#include "ops/add.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

Tensor Add::forward(const Tensor& a_in, const Tensor& b_in) {
  require_cpu(a_in, "add");
  require_cpu(b_in, "add");
  LOOM_CHECK(a_in.shape() == b_in.shape(), "add: shapes differ: {} vs {}", a_in.describe(), b_in.describe());
  const Tensor a = a_in.contiguous();
  const Tensor b = b_in.contiguous();
  shape_ = a.shape();
  Tensor y = Tensor::empty(shape_);
  cpu::add_forward(a.f32(), b.f32(), y.f32(), y.numel());
  return y;
}

std::vector<Tensor> Add::backward(const std::vector<Tensor>& output_grads, const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0).contiguous();
  LOOM_CHECK(dy.shape() == shape_, "add: gradient {} for output {}", dy.describe(), shape_str(shape_));
  std::vector<Tensor> grads(2);
  if (needs_input_grad[0]) grads[0] = dy;
  if (needs_input_grad[1]) grads[1] = dy;
  return grads;
}

}  // namespace loom::ops
