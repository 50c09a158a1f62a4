// The differentiable functions models are written with: each runs one primitive's forward and
// records it on the current tape (see tape.h).
#pragma once

#include <vector>

#include "autograd/variable.h"

namespace loom::autograd {

Var matmul(const Var& a, const Var& b, bool transpose_a = false, bool transpose_b = false);
// x @ weight^T (+ bias): weight [out, in] as stored by nn::Linear; bias may be undefined.
Var linear(const Var& x, const Var& weight, const Var& bias);
Var bias_add(const Var& x, const Var& bias);
Var gelu(const Var& x);
Var layer_norm(const Var& x, const Var& gamma, const Var& beta, float eps);
Var rms_norm(const Var& x, const Var& gamma, float eps);
Var softmax(const Var& x);
Var causal_attention(const Var& q, const Var& k, const Var& v);
Var rotary(const Var& x, float theta, int64_t position_offset = 0);
Var swiglu(const Var& gate, const Var& up);
Var embedding(const Var& ids, const Var& table);
Var cross_entropy(const Var& logits, const Var& targets);
Var add(const Var& a, const Var& b);
std::vector<Var> split(const Var& x, const std::vector<int64_t>& sizes);
Var reshape(const Var& x, const Shape& shape);

}  // namespace loom::autograd
