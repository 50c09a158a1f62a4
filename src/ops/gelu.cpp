// GELU forward and backward (the backward recomputes the gate from the saved input).
#include "ops/gelu.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

Tensor Gelu::forward(const Tensor& x) {
  require_cpu(x, "gelu");
  x_ = x.contiguous();
  numel_ = x_.numel();
  Tensor y = Tensor::empty(x_.shape());
  cpu::gelu_forward(x_.f32(), y.f32(), numel_);
  return y;
}

std::vector<Tensor> Gelu::backward(const std::vector<Tensor>& output_grads, const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0).contiguous();
  LOOM_CHECK(dy.shape() == x_.shape(), "gelu: gradient {} for output {}", dy.describe(), x_.describe());
  std::vector<Tensor> grads(1);
  if (needs_input_grad[0]) {
    grads[0] = Tensor::empty(x_.shape());
    cpu::gelu_backward(x_.f32(), dy.f32(), grads[0].f32(), numel_);
  }
  x_ = Tensor();
  return grads;
}

}  // namespace loom::ops
