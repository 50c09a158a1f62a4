// Embedding lookup: y[..., :] = table[ids[...], :]. ids are i32 in [0, V); the backward
// scatter-adds into a dense [V, C] gradient (rows sharing an id accumulate).
#pragma once

#include "ops/primitive.h"

namespace loom::ops {

class Embedding : public Primitive {
 public:
  std::string name() const override { return "embedding"; }
  Tensor forward(const Tensor& ids, const Tensor& table);
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override;
  // The forward is a gather (no arithmetic); the backward adds every output row into the table.
  double backward_flops() const override { return double(count_) * double(table_shape_.empty() ? 0 : table_shape_[1]); }

 private:
  Tensor ids_;
  Shape table_shape_;
  int64_t count_ = 0;
};

}  // namespace loom::ops
