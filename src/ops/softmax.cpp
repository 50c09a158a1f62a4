// Softmax forward and backward over the last dimension; the backward uses the saved output.
#include "ops/softmax.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

Tensor Softmax::forward(const Tensor& x_in) {
  require_cpu(x_in, "softmax");
  LOOM_CHECK(x_in.ndim() >= 1 && x_in.dim(-1) > 0, "softmax: x must have a non-empty last dim, got {}",
             x_in.describe());
  const Tensor x = x_in.contiguous();
  const int64_t cols = x.dim(-1);
  y_ = Tensor::empty(x.shape());
  numel_ = x.numel();
  cpu::softmax_forward(x.f32(), y_.f32(), numel_ / cols, cols);
  return y_;
}

std::vector<Tensor> Softmax::backward(const std::vector<Tensor>& output_grads,
                                      const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0).contiguous();
  LOOM_CHECK(dy.shape() == y_.shape(), "softmax: gradient {} for output {}", dy.describe(), y_.describe());
  std::vector<Tensor> grads(1);
  if (needs_input_grad[0]) {
    const int64_t cols = y_.dim(-1);
    grads[0] = Tensor::empty(y_.shape());
    cpu::softmax_backward(y_.f32(), dy.f32(), grads[0].f32(), numel_ / cols, cols);
  }
  y_ = Tensor();
  return grads;
}

}  // namespace loom::ops
