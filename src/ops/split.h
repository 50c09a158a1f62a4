// Split the last dimension into consecutive pieces of the given sizes (e.g. fused QKV into Q, K
// and V). Each output is a contiguous copy; the backward concatenates the gradients (zeros for
// an output whose gradient is undefined).
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class Split : public Primitive {
 public:
  explicit Split(std::vector<int64_t> sizes) : sizes_(std::move(sizes)) {}
  std::string name() const override { return "split"; }
  std::vector<Tensor> forward(const Tensor& x);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;

 private:
  std::vector<int64_t> sizes_;
  Shape x_shape_;
};

}  // namespace loom::ops
