// MatMul forward and backward:
//   dA = dC @ op(B)^T (transposed back if A was), dB = op(A)^T @ dC (likewise).
#include "ops/matmul.h"

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

namespace {
// The [rows, cols] view of a matrix operand; leading dims fold into rows.
struct Matrix {
  int64_t rows;
  int64_t cols;
};

Matrix as_matrix(const Tensor& t) {
  LOOM_CHECK(t.ndim() >= 2, "matmul operand must have at least 2 dims, got {}", t.describe());
  const int64_t cols = t.dim(-1);
  return {cols == 0 ? 0 : t.numel() / cols, cols};
}
}  // namespace

Tensor MatMul::forward(const Tensor& a_in, const Tensor& b_in) {
  require_cpu(a_in, "matmul");
  a_ = a_in.contiguous();
  b_ = b_in.contiguous();
  LOOM_CHECK(b_.ndim() == 2, "matmul: B must be 2-D, got {}", b_.describe());
  LOOM_CHECK(!transpose_a_ || a_.ndim() == 2, "matmul: transposed A must be 2-D, got {}", a_.describe());
  const Matrix a = as_matrix(a_);
  m_ = transpose_a_ ? a.cols : a.rows;
  k_ = transpose_a_ ? a.rows : a.cols;
  const int64_t kb = transpose_b_ ? b_.dim(1) : b_.dim(0);
  n_ = transpose_b_ ? b_.dim(0) : b_.dim(1);
  LOOM_CHECK(k_ == kb, "matmul: inner dims differ: {} (A {}) vs {} (B {})", k_, a_.describe(), kb, b_.describe());

  Shape out_shape;
  if (transpose_a_) {
    out_shape = {m_, n_};
  } else {
    out_shape = a_.shape();
    out_shape.back() = n_;
  }
  Tensor c = Tensor::empty(out_shape);
  cpu::gemm(transpose_a_, transpose_b_, m_, n_, k_, 1.0f, a_.f32(), a_.dim(-1), b_.f32(), b_.dim(1), 0.0f,
            c.f32(), n_);
  return c;
}

std::vector<Tensor> MatMul::backward(const std::vector<Tensor>& output_grads,
                                     const std::vector<bool>& needs_input_grad) {
  const Tensor dc = output_grads.at(0).contiguous();
  std::vector<Tensor> grads(2);
  if (needs_input_grad[0]) {
    // op(A) = dC @ op(B)^T  ->  A = (dC @ op(B)^T)^T when A was transposed.
    Tensor da = Tensor::empty(a_.shape());
    if (!transpose_a_) {
      // dA[m, k] = dC[m, n] @ op(B)^T[n, k]
      cpu::gemm(false, !transpose_b_, m_, k_, n_, 1.0f, dc.f32(), n_, b_.f32(), b_.dim(1), 0.0f, da.f32(), k_);
    } else {
      // dA[k, m] = op(B)[k, n] @ dC^T[n, m]
      cpu::gemm(transpose_b_, true, k_, m_, n_, 1.0f, b_.f32(), b_.dim(1), dc.f32(), n_, 0.0f, da.f32(), m_);
    }
    grads[0] = da;
  }
  if (needs_input_grad[1]) {
    Tensor db = Tensor::empty(b_.shape());
    if (!transpose_b_) {
      // dB[k, n] = op(A)^T[k, m] @ dC[m, n]
      cpu::gemm(!transpose_a_, false, k_, n_, m_, 1.0f, a_.f32(), a_.dim(-1), dc.f32(), n_, 0.0f, db.f32(), n_);
    } else {
      // dB[n, k] = dC^T[n, m] @ op(A)[m, k]
      cpu::gemm(true, transpose_a_, n_, k_, m_, 1.0f, dc.f32(), n_, a_.f32(), a_.dim(-1), 0.0f, db.f32(), k_);
    }
    grads[1] = db;
  }
  a_ = Tensor();
  b_ = Tensor();
  return grads;
}

}  // namespace loom::ops
