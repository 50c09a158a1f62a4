// CrossEntropy forward and backward. Targets must lie in [0, V) or be -1 (ignored); the loss is
// the mean over the counted rows (0 when every row is ignored, with a zero gradient).
#include "ops/cross_entropy.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

Tensor CrossEntropy::forward(const Tensor& logits, const Tensor& targets) {
  require_cpu(logits, "cross_entropy");
  require_cpu(targets, "cross_entropy");
  LOOM_CHECK(logits.ndim() == 2 && logits.dim(1) > 0, "cross_entropy: logits must be [N, V], got {}",
             logits.describe());
  LOOM_CHECK(targets.dtype() == DType::i32 && targets.shape() == Shape{logits.dim(0)},
             "cross_entropy: targets {} for logits {} (want i32[N])", targets.describe(), logits.describe());
  logits_ = logits.contiguous();
  targets_ = targets.contiguous();
  const int64_t rows = logits_.dim(0);
  const int64_t vocab = logits_.dim(1);
  numel_ = logits_.numel();
  const int32_t* target = targets_.i32();
  counted_rows_ = 0;
  for (int64_t r = 0; r < rows; ++r) {
    LOOM_CHECK(target[r] >= -1 && target[r] < vocab, "cross_entropy: target {} at row {} outside [-1, {})", target[r],
               r, vocab);
    counted_rows_ += target[r] >= 0 ? 1 : 0;
  }
  lse_ = Tensor::empty({rows});
  const double total = cpu::cross_entropy_forward(logits_.f32(), target, lse_.f32(), rows, vocab);
  return Tensor::from_vector({counted_rows_ == 0 ? 0.0f : static_cast<float>(total / double(counted_rows_))}, {1});
}

std::vector<Tensor> CrossEntropy::backward(const std::vector<Tensor>& output_grads,
                                           const std::vector<bool>& needs_input_grad) {
  LOOM_CHECK(output_grads.at(0).numel() == 1, "cross_entropy: gradient {} for a [1] loss",
             output_grads.at(0).describe());
  std::vector<Tensor> grads(2);  // targets are integers: never a gradient
  if (needs_input_grad[0]) {
    const float scale = counted_rows_ == 0 ? 0.0f : output_grads[0].item() / static_cast<float>(counted_rows_);
    grads[0] = Tensor::empty(logits_.shape());
    cpu::cross_entropy_backward(logits_.f32(), targets_.i32(), lse_.f32(), scale, grads[0].f32(), logits_.dim(0),
                                logits_.dim(1));
  }
  logits_ = Tensor();
  targets_ = Tensor();
  lse_ = Tensor();
  return grads;
}

}  // namespace loom::ops
