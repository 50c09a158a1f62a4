// CausalAttention forward and backward: shape checks, workspace, and the fused CPU kernels.
// The per-thread score tiles live in MemoryCategory::workspace only while a kernel runs; what
// the op keeps between forward and backward is q, k, v, the output and lse [B, H, T].
#include "ops/attention.h"

#include <omp.h>

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops {

namespace {
Tensor kernel_workspace(const cpu::AttentionShape& shape) {
  return Tensor::empty_in({omp_get_max_threads() * cpu::attention_workspace_floats(shape)}, MemoryCategory::workspace);
}
}  // namespace

Tensor CausalAttention::forward(const Tensor& q, const Tensor& k, const Tensor& v) {
  require_cpu(q, "causal_attention");
  require_cpu(k, "causal_attention");
  require_cpu(v, "causal_attention");
  LOOM_CHECK(q.ndim() == 4 && q.dim(3) > 0, "causal_attention: q must be [B, T, H, D], got {}", q.describe());
  LOOM_CHECK(k.ndim() == 4 && k.dim(0) == q.dim(0) && k.dim(1) == q.dim(1) && k.dim(3) == q.dim(3) && k.dim(2) > 0,
             "causal_attention: k {} does not match q {} (want [B, T, Hkv, D])", k.describe(), q.describe());
  LOOM_CHECK(v.shape() == k.shape(), "causal_attention: v {} differs from k {}", v.describe(), k.describe());
  LOOM_CHECK(q.dim(2) % k.dim(2) == 0, "causal_attention: {} query heads are not a multiple of {} kv heads", q.dim(2),
             k.dim(2));
  shape_ = {q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3)};
  q_ = q.contiguous();
  k_ = k.contiguous();
  v_ = v.contiguous();
  out_ = Tensor::empty(q_.shape());
  lse_ = Tensor::empty({shape_.batch, shape_.heads, shape_.seq});
  Tensor workspace = kernel_workspace(shape_);
  cpu::attention_forward(shape_, q_.f32(), k_.f32(), v_.f32(), out_.f32(), lse_.f32(), workspace.f32());
  return out_;
}

std::vector<Tensor> CausalAttention::backward(const std::vector<Tensor>& output_grads,
                                              const std::vector<bool>& needs_input_grad) {
  const Tensor dout = output_grads.at(0).contiguous();
  LOOM_CHECK(dout.shape() == out_.shape(), "causal_attention: gradient {} for output {}", dout.describe(),
             out_.describe());
  std::vector<Tensor> grads(3);
  if (needs_input_grad[0]) grads[0] = Tensor::empty(q_.shape());
  if (needs_input_grad[1]) grads[1] = Tensor::empty(k_.shape());
  if (needs_input_grad[2]) grads[2] = Tensor::empty(v_.shape());
  if (needs_input_grad[0] || needs_input_grad[1] || needs_input_grad[2]) {
    auto out = [&](size_t i) { return grads[i].defined() ? grads[i].f32() : nullptr; };
    Tensor workspace = kernel_workspace(shape_);
    cpu::attention_backward(shape_, q_.f32(), k_.f32(), v_.f32(), out_.f32(), lse_.f32(), dout.f32(), out(0), out(1),
                            out(2), workspace.f32());
  }
  q_ = Tensor();
  k_ = Tensor();
  v_ = Tensor();
  out_ = Tensor();
  lse_ = Tensor();
  return grads;
}

double CausalAttention::forward_flops() const {
  // Row i sees i + 1 keys: two products of 2 D FLOPs per visible (query, key) pair.
  const double pairs = double(shape_.seq) * double(shape_.seq + 1) / 2.0;
  return 4.0 * double(shape_.batch) * double(shape_.heads) * pairs * double(shape_.head_dim);
}

}  // namespace loom::ops
