// RMSNorm forward and backward over the last dimension; gamma is [C].
#include "ops/rms_norm.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

Tensor RmsNorm::forward(const Tensor& x, const Tensor& gamma) {
  require_cpu(x, "rms_norm");
  require_cpu(gamma, "rms_norm");
  LOOM_CHECK(x.ndim() >= 1 && x.dim(-1) > 0, "rms_norm: x must have a non-empty last dim, got {}", x.describe());
  const int64_t cols = x.dim(-1);
  LOOM_CHECK(gamma.shape() == Shape{cols}, "rms_norm: gamma {} for x {}", gamma.describe(), x.describe());
  x_ = x.contiguous();
  gamma_ = gamma.contiguous();
  numel_ = x_.numel();
  const int64_t rows = numel_ / cols;
  rstd_ = Tensor::empty({rows});
  Tensor y = Tensor::empty(x_.shape());
  cpu::rms_norm_forward(x_.f32(), gamma_.f32(), eps_, y.f32(), rstd_.f32(), rows, cols);
  return y;
}

std::vector<Tensor> RmsNorm::backward(const std::vector<Tensor>& output_grads,
                                      const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0).contiguous();
  LOOM_CHECK(dy.shape() == x_.shape(), "rms_norm: gradient {} for output {}", dy.describe(), x_.describe());
  const int64_t cols = x_.dim(-1);
  std::vector<Tensor> grads(2);
  if (needs_input_grad[0]) grads[0] = Tensor::empty(x_.shape());
  if (needs_input_grad[1]) grads[1] = Tensor::empty({cols});
  cpu::rms_norm_backward(x_.f32(), gamma_.f32(), rstd_.f32(), dy.f32(), grads[0].defined() ? grads[0].f32() : nullptr,
                         grads[1].defined() ? grads[1].f32() : nullptr, numel_ / cols, cols);
  x_ = Tensor();
  gamma_ = Tensor();
  rstd_ = Tensor();
  return grads;
}

}  // namespace loom::ops
