// MatMul: C = op(A) @ op(B) for 2-D operands, where op transposes when asked. A may carry
// leading batch dimensions when it is not transposed ([..., K] is treated as [M, K]); this is
// how a linear layer multiplies activations [B, T, C] by a weight. Kernel: oneDNN sgemm.
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class MatMul : public Primitive {
 public:
  MatMul(bool transpose_a, bool transpose_b) : transpose_a_(transpose_a), transpose_b_(transpose_b) {}
  std::string name() const override { return "matmul"; }

  Tensor forward(const Tensor& a, const Tensor& b);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  double forward_flops() const override { return 2.0 * double(m_) * double(n_) * double(k_); }

  static double flops(int64_t m, int64_t n, int64_t k) { return 2.0 * double(m) * double(n) * double(k); }

 private:
  bool transpose_a_;
  bool transpose_b_;
  Tensor a_, b_;
  int64_t m_ = 0, n_ = 0, k_ = 0;
};

}  // namespace loom::ops
