// Cross-entropy fused with softmax: loss = mean over rows with target >= 0 of
// logsumexp(logits[r]) - logits[r, target[r]]. logits [N, V] f32, targets [N] i32 (-1: ignored).
// Saves the logits and the per-row log-sum-exp; the backward writes softmax - onehot, scaled.
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class CrossEntropy : public Primitive {
 public:
  std::string name() const override { return "cross_entropy"; }
  Tensor forward(const Tensor& logits, const Tensor& targets);  // returns a [1] tensor
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return 4.0 * double(numel_); }
  // exp(logit - lse) * scale per element.
  double backward_flops() const override { return 3.0 * double(numel_); }

 private:
  Tensor logits_, targets_, lse_;
  int64_t counted_rows_ = 0;
  int64_t numel_ = 0;
};

}  // namespace loom::ops
