// Embedding forward (a row gather) and backward (a scatter-add into a dense [V, C] gradient).
#include "ops/embedding.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

Tensor Embedding::forward(const Tensor& ids_in, const Tensor& table_in) {
  require_cpu(ids_in, "embedding");
  require_cpu(table_in, "embedding");
  LOOM_CHECK(ids_in.dtype() == DType::i32, "embedding: ids must be i32, got {}", ids_in.describe());
  LOOM_CHECK(table_in.ndim() == 2, "embedding: table must be [V, C], got {}", table_in.describe());
  ids_ = ids_in.contiguous();
  count_ = ids_.numel();
  const Tensor table = table_in.contiguous();
  table_shape_ = table.shape();
  const int64_t vocab = table.dim(0);
  const int64_t dim = table.dim(1);
  const int32_t* ids = ids_.i32();
  for (int64_t i = 0; i < ids_.numel(); ++i) {
    LOOM_CHECK(ids[i] >= 0 && ids[i] < vocab, "embedding: id {} at position {} outside [0, {})", ids[i], i, vocab);
  }
  Shape out_shape = ids_.shape();
  out_shape.push_back(dim);
  Tensor y = Tensor::empty(out_shape);
  cpu::embedding_forward(ids, table.f32(), y.f32(), ids_.numel(), dim);
  return y;
}

std::vector<Tensor> Embedding::backward(const std::vector<Tensor>& output_grads,
                                        const std::vector<bool>& needs_input_grad) {
  const Tensor dy = output_grads.at(0).contiguous();
  LOOM_CHECK(dy.numel() == ids_.numel() * table_shape_[1], "embedding: gradient {} for {} ids of width {}",
             dy.describe(), ids_.numel(), table_shape_[1]);
  std::vector<Tensor> grads(2);  // ids are integers: never a gradient
  if (needs_input_grad[1]) {
    grads[1] = Tensor::empty(table_shape_);
    cpu::embedding_backward(ids_.i32(), dy.f32(), grads[1].f32(), ids_.numel(), table_shape_[0], table_shape_[1]);
  }
  ids_ = Tensor();
  return grads;
}

}  // namespace loom::ops
