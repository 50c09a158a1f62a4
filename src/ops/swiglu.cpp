// SwiGLU forward and backward: dgate = dy * up * s (1 + g (1 - s)), dup = dy * g * s, s = sigmoid(g).
#include "ops/swiglu.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

Tensor SwiGlu::forward(const Tensor& gate, const Tensor& up) {
  require_cpu(gate, "swiglu");
  require_cpu(up, "swiglu");
  LOOM_CHECK(gate.shape() == up.shape(), "swiglu: gate {} and up {} differ", gate.describe(), up.describe());
  gate_ = gate.contiguous();
  up_ = up.contiguous();
  numel_ = gate_.numel();
  Tensor y = Tensor::empty(gate_.shape());
  cpu::swiglu_forward(gate_.f32(), up_.f32(), y.f32(), numel_);
  return y;
}

std::vector<Tensor> SwiGlu::backward(const std::vector<Tensor>& output_grads,
                                     const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0).contiguous();
  LOOM_CHECK(dy.shape() == gate_.shape(), "swiglu: gradient {} for output {}", dy.describe(), gate_.describe());
  std::vector<Tensor> grads(2);
  if (needs_input_grad[0]) grads[0] = Tensor::empty(gate_.shape());
  if (needs_input_grad[1]) grads[1] = Tensor::empty(gate_.shape());
  cpu::swiglu_backward(gate_.f32(), up_.f32(), dy.f32(), grads[0].defined() ? grads[0].f32() : nullptr,
                       grads[1].defined() ? grads[1].f32() : nullptr, numel_);
  gate_ = Tensor();
  up_ = Tensor();
  return grads;
}

}  // namespace loom::ops
