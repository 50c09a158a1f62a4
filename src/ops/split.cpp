// Split forward (contiguous copies of consecutive slices of the last dim) and backward (their
// gradients concatenated back, zeros where a gradient is undefined).
#include "ops/split.h"

#include <cstring>

#include "core/error.h"

namespace loom::ops {

std::vector<Tensor> Split::forward(const Tensor& x) {
  require_cpu(x, "split");
  LOOM_CHECK(x.ndim() >= 1, "split: x must have at least 1 dim, got {}", x.describe());
  int64_t total = 0;
  for (int64_t size : sizes_) {
    LOOM_CHECK(size >= 0, "split: negative size {}", size);
    total += size;
  }
  LOOM_CHECK(total == x.dim(-1), "split: sizes [{}] sum to {}, not the last dim of {}", fmt::join(sizes_, ", "), total,
             x.describe());
  x_shape_ = x.shape();
  const Tensor source = x.contiguous();
  const int64_t cols = x.dim(-1);
  const int64_t rows = cols == 0 ? 0 : x.numel() / cols;
  const float* src = source.f32();
  std::vector<Tensor> pieces;
  int64_t start = 0;
  for (int64_t size : sizes_) {
    Shape piece_shape = x_shape_;
    piece_shape.back() = size;
    Tensor piece = Tensor::empty(piece_shape);
    float* dst = piece.f32();
#pragma omp parallel for schedule(static) if (rows * size > 65536)
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(dst + r * size, src + r * cols + start, static_cast<size_t>(size) * sizeof(float));
    }
    pieces.push_back(std::move(piece));
    start += size;
  }
  return pieces;
}

std::vector<Tensor> Split::backward(const std::vector<Tensor>& output_grads,
                                    const std::vector<bool>& needs_input_grad) {
  LOOM_CHECK_EQ(output_grads.size(), sizes_.size());
  std::vector<Tensor> grads(1);
  if (!needs_input_grad[0]) return grads;
  const int64_t cols = x_shape_.back();
  const int64_t rows = cols == 0 ? 0 : shape_numel(x_shape_) / cols;
  Tensor dx = Tensor::empty(x_shape_);
  float* dst = dx.f32();
  int64_t start = 0;
  for (size_t p = 0; p < sizes_.size(); ++p) {
    const int64_t size = sizes_[p];
    const Tensor piece = output_grads[p].defined() ? output_grads[p].contiguous() : Tensor();
    LOOM_CHECK(!piece.defined() || piece.numel() == rows * size, "split: gradient {} for piece {} of width {}",
               piece.describe(), p, size);
    const float* src = piece.defined() ? piece.f32() : nullptr;
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; ++r) {
      float* dst_row = dst + r * cols + start;
      if (src != nullptr) {
        std::memcpy(dst_row, src + r * size, static_cast<size_t>(size) * sizeof(float));
      } else {
        std::memset(dst_row, 0, static_cast<size_t>(size) * sizeof(float));
      }
    }
    start += size;
  }
  grads[0] = dx;
  return grads;
}

}  // namespace loom::ops
