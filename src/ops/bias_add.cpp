// BiasAdd forward and backward: dx = dy, dbias = sum of dy over all leading dimensions.
#include "ops/bias_add.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

Tensor BiasAdd::forward(const Tensor& x_in, const Tensor& bias_in) {
  require_cpu(x_in, "bias_add");
  require_cpu(bias_in, "bias_add");
  const Tensor x = x_in.contiguous();
  const Tensor bias = bias_in.contiguous();
  LOOM_CHECK(x.ndim() >= 1, "bias_add: x must have at least 1 dim, got {}", x.describe());
  LOOM_CHECK(bias.ndim() == 1 && bias.dim(0) == x.dim(-1), "bias_add: bias {} does not match x {}", bias.describe(),
             x.describe());
  x_shape_ = x.shape();
  cols_ = x.dim(-1);
  rows_ = cols_ == 0 ? 0 : x.numel() / cols_;
  Tensor y = Tensor::empty(x.shape());
  cpu::bias_add_forward(x.f32(), bias.f32(), y.f32(), rows_, cols_);
  return y;
}

std::vector<Tensor> BiasAdd::backward(const std::vector<Tensor>& output_grads,
                                      const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0).contiguous();
  LOOM_CHECK(dy.shape() == x_shape_, "bias_add: gradient {} for output {}", dy.describe(), shape_str(x_shape_));
  std::vector<Tensor> grads(2);
  if (needs_input_grad[0]) grads[0] = dy;
  if (needs_input_grad[1]) {
    grads[1] = Tensor::empty({cols_});
    cpu::column_sum(dy.f32(), grads[1].f32(), rows_, cols_);
  }
  return grads;
}

}  // namespace loom::ops
