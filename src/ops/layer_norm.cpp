// LayerNorm forward and backward over the last dimension; gamma and beta are [C].
#include "ops/layer_norm.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

Tensor LayerNorm::forward(const Tensor& x, const Tensor& gamma, const Tensor& beta) {
  require_cpu(x, "layer_norm");
  require_cpu(gamma, "layer_norm");
  require_cpu(beta, "layer_norm");
  LOOM_CHECK(x.ndim() >= 1 && x.dim(-1) > 0, "layer_norm: x must have a non-empty last dim, got {}", x.describe());
  const int64_t cols = x.dim(-1);
  LOOM_CHECK(gamma.shape() == Shape{cols}, "layer_norm: gamma {} for x {}", gamma.describe(), x.describe());
  LOOM_CHECK(beta.shape() == Shape{cols}, "layer_norm: beta {} for x {}", beta.describe(), x.describe());
  x_ = x.contiguous();
  gamma_ = gamma.contiguous();
  numel_ = x_.numel();
  const int64_t rows = numel_ / cols;
  mean_ = Tensor::empty({rows});
  rstd_ = Tensor::empty({rows});
  Tensor y = Tensor::empty(x_.shape());
  cpu::layer_norm_forward(x_.f32(), gamma_.f32(), beta.contiguous().f32(), eps_, y.f32(), mean_.f32(), rstd_.f32(),
                          rows, cols);
  return y;
}

std::vector<Tensor> LayerNorm::backward(const std::vector<Tensor>& output_grads,
                                        const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0).contiguous();
  LOOM_CHECK(dy.shape() == x_.shape(), "layer_norm: gradient {} for output {}", dy.describe(), x_.describe());
  const int64_t cols = x_.dim(-1);
  std::vector<Tensor> grads(3);
  if (needs_input_grad[0]) grads[0] = Tensor::empty(x_.shape());
  if (needs_input_grad[1]) grads[1] = Tensor::empty({cols});
  if (needs_input_grad[2]) grads[2] = Tensor::empty({cols});
  auto out = [&](size_t i) { return grads[i].defined() ? grads[i].f32() : nullptr; };
  cpu::layer_norm_backward(x_.f32(), gamma_.f32(), mean_.f32(), rstd_.f32(), dy.f32(), out(0), out(1), out(2),
                           numel_ / cols, cols);
  x_ = Tensor();
  gamma_ = Tensor();
  mean_ = Tensor();
  rstd_ = Tensor();
  return grads;
}

}  // namespace loom::ops
