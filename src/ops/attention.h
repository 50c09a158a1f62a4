// Causal self-attention, fused: O = softmax(Q K^T / sqrt(D) + causal mask) V per batch and head.
// q [B, T, H, D], k and v [B, T, Hkv, D] with H a multiple of Hkv (grouped-query attention).
// The forward never stores the T x T probabilities: it saves O and the per-row log-sum-exp, and
// the backward recomputes the probabilities one (batch, head) block at a time in workspace.
#pragma once

#include "ops/cpu/kernels.h"
#include "ops/primitive.h"

namespace loom::ops {

class CausalAttention : public Primitive {
 public:
  std::string name() const override { return "causal_attention"; }
  Tensor forward(const Tensor& q, const Tensor& k, const Tensor& v);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  // Causal: about half of the 4 B H T^2 D multiply-adds of full attention.
  double forward_flops() const override;
  double backward_flops() const override { return 2.5 * forward_flops(); }

 private:
  Tensor q_, k_, v_, out_, lse_;  // lse [B, H, T]
  cpu::AttentionShape shape_;
};

}  // namespace loom::ops
