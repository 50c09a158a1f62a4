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

// Scales all gradients so that their global L2 norm is at most max_norm (no-op when
// max_norm <= 0). Returns the norm before clipping.
double clip_grad_norm(const std::vector<autograd::Var>& parameters, double max_norm);

}  // namespace loom::nn
