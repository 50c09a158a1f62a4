// Differentiable functions: create the primitive, run its forward, record it.
#include "autograd/functions.h"

#include <memory>

#include "autograd/op_profile.h"
#include "autograd/tape.h"
#include "ops/add.h"
#include "ops/attention.h"
#include "ops/bias_add.h"
#include "ops/cross_entropy.h"
#include "ops/embedding.h"
#include "ops/gelu.h"
#include "ops/layer_norm.h"
#include "ops/matmul.h"
#include "ops/reshape.h"
#include "ops/rms_norm.h"
#include "ops/rotary.h"
#include "ops/softmax.h"
#include "ops/split.h"
#include "ops/swiglu.h"

namespace loom::autograd {

Var matmul(const Var& a, const Var& b, bool transpose_a, bool transpose_b) {
  auto op = std::make_shared<ops::MatMul>(transpose_a, transpose_b);
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(a.value(), b.value());
  }
  return apply_one(op, {a, b}, std::move(y));
}

Var linear(const Var& x, const Var& weight, const Var& bias) {
  Var y = matmul(x, weight, false, true);
  return bias.defined() ? bias_add(y, bias) : y;
}

Var bias_add(const Var& x, const Var& bias) {
  auto op = std::make_shared<ops::BiasAdd>();
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(x.value(), bias.value());
  }
  return apply_one(op, {x, bias}, std::move(y));
}

Var gelu(const Var& x) {
  auto op = std::make_shared<ops::Gelu>();
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(x.value());
  }
  return apply_one(op, {x}, std::move(y));
}

Var layer_norm(const Var& x, const Var& gamma, const Var& beta, float eps) {
  auto op = std::make_shared<ops::LayerNorm>(eps);
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(x.value(), gamma.value(), beta.value());
  }
  return apply_one(op, {x, gamma, beta}, std::move(y));
}

Var rms_norm(const Var& x, const Var& gamma, float eps) {
  auto op = std::make_shared<ops::RmsNorm>(eps);
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(x.value(), gamma.value());
  }
  return apply_one(op, {x, gamma}, std::move(y));
}

Var softmax(const Var& x) {
  auto op = std::make_shared<ops::Softmax>();
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(x.value());
  }
  return apply_one(op, {x}, std::move(y));
}

Var causal_attention(const Var& q, const Var& k, const Var& v) {
  auto op = std::make_shared<ops::CausalAttention>();
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(q.value(), k.value(), v.value());
  }
  return apply_one(op, {q, k, v}, std::move(y));
}

Var rotary(const Var& x, float theta, int64_t position_offset) {
  auto op = std::make_shared<ops::Rotary>(theta, position_offset);
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(x.value());
  }
  return apply_one(op, {x}, std::move(y));
}

Var swiglu(const Var& gate, const Var& up) {
  auto op = std::make_shared<ops::SwiGlu>();
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(gate.value(), up.value());
  }
  return apply_one(op, {gate, up}, std::move(y));
}

Var embedding(const Var& ids, const Var& table) {
  auto op = std::make_shared<ops::Embedding>();
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(ids.value(), table.value());
  }
  return apply_one(op, {ids, table}, std::move(y));
}

Var cross_entropy(const Var& logits, const Var& targets) {
  auto op = std::make_shared<ops::CrossEntropy>();
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(logits.value(), targets.value());
  }
  return apply_one(op, {logits, targets}, std::move(y));
}

Var add(const Var& a, const Var& b) {
  auto op = std::make_shared<ops::Add>();
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(a.value(), b.value());
  }
  return apply_one(op, {a, b}, std::move(y));
}

std::vector<Var> split(const Var& x, const std::vector<int64_t>& sizes) {
  auto op = std::make_shared<ops::Split>(sizes);
  std::vector<Tensor> pieces;
  {
    OpTimer timer(*op, false);
    pieces = op->forward(x.value());
  }
  return apply(op, {x}, std::move(pieces));
}

Var reshape(const Var& x, const Shape& shape) {
  auto op = std::make_shared<ops::Reshape>();
  Tensor y;
  {
    OpTimer timer(*op, false);
    y = op->forward(x.value(), shape);
  }
  return apply_one(op, {x}, std::move(y));
}

}  // namespace loom::autograd
