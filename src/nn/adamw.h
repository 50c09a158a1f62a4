// AdamW (decoupled weight decay, Loshchilov & Hutter) with bias correction. Weight decay applies
// to matrices (parameters with two or more dimensions), not to biases and norm gains. The two
// moment buffers live in MemoryCategory::optimizer_state.
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.h"

namespace loom::nn {

struct AdamWOptions {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
};

class AdamW {
 public:
  AdamW(std::vector<autograd::Var> parameters, AdamWOptions options);

  // One update with learning rate lr from the parameters' current gradients (a parameter
  // without a gradient is left alone).
  void step(float lr);
  void zero_grad();

  int64_t steps_taken() const { return steps_; }
  void set_steps_taken(int64_t steps) { steps_ = steps; }
  const AdamWOptions& options() const { return options_; }
  const std::vector<autograd::Var>& parameters() const { return parameters_; }
  // First and second moments, one per parameter (for checkpoints).
  std::vector<Tensor>& first_moments() { return m_; }
  std::vector<Tensor>& second_moments() { return v_; }

 private:
  std::vector<autograd::Var> parameters_;
  AdamWOptions options_;
  std::vector<Tensor> m_, v_;
  int64_t steps_ = 0;
};

// The update of `count` elements of one parameter (or of a shard of it: sharded data parallel runs
// the same update on its slice) at optimizer step `step` (1-based); `decay` for matrices.
void adamw_update(float* weights, const float* grads, float* m, float* v, int64_t count, float lr, int64_t step,
                  bool decay, const AdamWOptions& options);
// Sum of squares in double, and in-place scaling: the pieces of global-norm clipping.
double sum_of_squares(const float* values, int64_t count);
void scale_in_place(float* values, int64_t count, float scale);
// The factor clip_grad_norm scales by for a global `norm` (1 when no clipping applies).
float clip_scale(double norm, double max_norm);

// Scales all gradients so that their global L2 norm is at most max_norm (no-op when
// max_norm <= 0). Returns the norm before clipping.
double clip_grad_norm(const std::vector<autograd::Var>& parameters, double max_norm);

}  // namespace loom::nn
