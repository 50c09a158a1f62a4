// The op table: every primitive's cases (shapes including 1 and odd sizes, tolerance, FLOPs, and
// how to run it as a primitive, as a reference and on the tape), each checked by the harness in
// op_harness.h as three named tests: Forward, Gradient and Autograd. Below the table: bad shapes
// and the attention memory check.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "core/error.h"
#include "op_harness.h"
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

namespace loom::testing {
namespace {

namespace reference = ops::reference;
using autograd::Var;
using Vars = std::vector<Var>;
using Tensors = std::vector<Tensor>;

std::string dims_name(const Shape& shape) {
  std::string name;
  for (size_t i = 0; i < shape.size(); ++i) name += (i == 0 ? "" : "x") + std::to_string(shape[i]);
  return name;
}

// A one-output op: the primitive's forward wrapped into an OpRun.
template <typename Op>
OpRun run_one(std::shared_ptr<Op> op, Tensor output) {
  return OpRun{std::move(op), {std::move(output)}};
}

// ---- matmul ------------------------------------------------------------------------------------

// Named matmul_<op(A)><op(B)>_<[batch x] m>_<n>_<k>, n for as stored and t for transposed.
OpCase matmul_case(Shape a_lead, int64_t m, int64_t n, int64_t k, bool ta, bool tb) {
  OpCase c;
  c.name = std::string("matmul_") + (ta ? "t" : "n") + (tb ? "t" : "n") + "_" +
           (a_lead.empty() ? "" : dims_name(a_lead) + "x") + std::to_string(m) + "_" + std::to_string(n) + "_" +
           std::to_string(k);
  Shape a_shape = a_lead;
  int64_t rows = m;
  for (int64_t extent : a_lead) rows *= extent;
  if (ta) {
    a_shape = {k, m};
  } else {
    a_shape.push_back(m);
    a_shape.push_back(k);
  }
  c.inputs = {floats(a_shape), floats(tb ? Shape{n, k} : Shape{k, n})};
  c.flops = 2.0 * double(rows) * double(n) * double(k);
  c.forward = [ta, tb](const Tensors& in) {
    auto op = std::make_shared<ops::MatMul>(ta, tb);
    return run_one(op, op->forward(in[0], in[1]));
  };
  c.reference = [=](const std::vector<Values>& in) {
    return std::vector<Values>{reference::matmul(in[0], in[1], rows, n, k, ta, tb)};
  };
  c.differentiable = [ta, tb](const Vars& in) { return Vars{autograd::matmul(in[0], in[1], ta, tb)}; };
  return c;
}

std::vector<OpCase> matmul_cases() {
  std::vector<OpCase> cases;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      cases.push_back(matmul_case({}, 1, 1, 1, ta, tb));
      cases.push_back(matmul_case({}, 3, 5, 7, ta, tb));
      cases.push_back(matmul_case({}, 13, 1, 33, ta, tb));
      cases.push_back(matmul_case({}, 17, 13, 5, ta, tb));
    }
  }
  cases.push_back(matmul_case({2}, 3, 7, 5, false, false));  // batched A [2, 3, 5]
  cases.push_back(matmul_case({2, 3}, 1, 4, 13, false, true));
  return cases;
}

// ---- elementwise -------------------------------------------------------------------------------

std::vector<OpCase> bias_add_cases() {
  std::vector<OpCase> cases;
  for (const Shape& shape : {Shape{1, 1}, Shape{7, 13}, Shape{2, 3, 5}, Shape{33}}) {
    OpCase c;
    c.name = "bias_add_" + dims_name(shape);
    const int64_t cols = shape.back();
    const int64_t rows = shape_numel(shape) / cols;
    c.inputs = {floats(shape), floats({cols})};
    c.flops = double(rows * cols);
    c.forward = [](const Tensors& in) {
      auto op = std::make_shared<ops::BiasAdd>();
      return run_one(op, op->forward(in[0], in[1]));
    };
    c.reference = [=](const std::vector<Values>& in) {
      return std::vector<Values>{reference::bias_add(in[0], in[1], rows, cols)};
    };
    c.differentiable = [](const Vars& in) { return Vars{autograd::bias_add(in[0], in[1])}; };
    cases.push_back(c);
  }
  return cases;
}

std::vector<OpCase> add_cases() {
  std::vector<OpCase> cases;
  for (const Shape& shape : {Shape{1}, Shape{7, 13}, Shape{2, 3, 5}}) {
    OpCase c;
    c.name = "add_" + dims_name(shape);
    c.inputs = {floats(shape), floats(shape)};
    c.flops = double(shape_numel(shape));
    c.forward = [](const Tensors& in) {
      auto op = std::make_shared<ops::Add>();
      return run_one(op, op->forward(in[0], in[1]));
    };
    c.reference = [](const std::vector<Values>& in) { return std::vector<Values>{reference::add(in[0], in[1])}; };
    c.differentiable = [](const Vars& in) { return Vars{autograd::add(in[0], in[1])}; };
    cases.push_back(c);
  }
  return cases;
}

std::vector<OpCase> gelu_cases() {
  std::vector<OpCase> cases;
  for (const Shape& shape : {Shape{1}, Shape{13}, Shape{3, 33}, Shape{4099}}) {
    OpCase c;
    c.name = "gelu_" + dims_name(shape);
    c.inputs = {floats(shape, -5.0, 5.0)};
    c.flops = 8.0 * double(shape_numel(shape));
    c.gradient_samples = shape_numel(shape) < 1000 ? 0 : 64;
    c.forward = [](const Tensors& in) {
      auto op = std::make_shared<ops::Gelu>();
      return run_one(op, op->forward(in[0]));
    };
    c.reference = [](const std::vector<Values>& in) { return std::vector<Values>{reference::gelu(in[0])}; };
    c.differentiable = [](const Vars& in) { return Vars{autograd::gelu(in[0])}; };
    cases.push_back(c);
  }
  return cases;
}

std::vector<OpCase> swiglu_cases() {
  std::vector<OpCase> cases;
  for (const Shape& shape : {Shape{1}, Shape{7}, Shape{3, 13}, Shape{2, 5, 33}}) {
    OpCase c;
    c.name = "swiglu_" + dims_name(shape);
    c.inputs = {floats(shape, -6.0, 6.0), floats(shape)};
    c.flops = 6.0 * double(shape_numel(shape));
    c.forward = [](const Tensors& in) {
      auto op = std::make_shared<ops::SwiGlu>();
      return run_one(op, op->forward(in[0], in[1]));
    };
    c.reference = [](const std::vector<Values>& in) { return std::vector<Values>{reference::swiglu(in[0], in[1])}; };
    c.differentiable = [](const Vars& in) { return Vars{autograd::swiglu(in[0], in[1])}; };
    cases.push_back(c);
  }
  return cases;
}

// ---- normalisation and softmax -----------------------------------------------------------------

OpCase layer_norm_case(const std::string& name, const Shape& shape, double low = -1.0, double high = 1.0) {
  static constexpr float kEps = 1e-5f;
  OpCase c;
  c.name = name;
  const int64_t cols = shape.back();
  const int64_t rows = shape_numel(shape) / cols;
  c.inputs = {floats(shape, low, high), floats({cols}, 0.5, 1.5), floats({cols})};
  c.flops = 8.0 * double(rows * cols);
  c.gradient_samples = rows * cols < 1000 ? 0 : 64;
  c.forward = [](const Tensors& in) {
    auto op = std::make_shared<ops::LayerNorm>(kEps);
    return run_one(op, op->forward(in[0], in[1], in[2]));
  };
  c.reference = [=](const std::vector<Values>& in) {
    return std::vector<Values>{reference::layer_norm(in[0], in[1], in[2], rows, cols, kEps)};
  };
  c.differentiable = [](const Vars& in) { return Vars{autograd::layer_norm(in[0], in[1], in[2], kEps)}; };
  return c;
}

std::vector<OpCase> layer_norm_cases() {
  return {layer_norm_case("layer_norm_1x3", {1, 3}), layer_norm_case("layer_norm_7x13", {7, 13}),
          layer_norm_case("layer_norm_2x3x33", {2, 3, 33}),
          // |mean| >> std: the one-pass variance must not cancel.
          layer_norm_case("layer_norm_offset_mean_5x17", {5, 17}, 100.0, 101.0),
          layer_norm_case("layer_norm_64x512", {64, 512})};
}

OpCase rms_norm_case(const Shape& shape) {
  static constexpr float kEps = 1e-6f;
  OpCase c;
  c.name = "rms_norm_" + dims_name(shape);
  const int64_t cols = shape.back();
  const int64_t rows = shape_numel(shape) / cols;
  c.inputs = {floats(shape), floats({cols}, 0.5, 1.5)};
  c.flops = 5.0 * double(rows * cols);
  c.gradient_samples = rows * cols < 1000 ? 0 : 64;
  c.forward = [](const Tensors& in) {
    auto op = std::make_shared<ops::RmsNorm>(kEps);
    return run_one(op, op->forward(in[0], in[1]));
  };
  c.reference = [=](const std::vector<Values>& in) {
    return std::vector<Values>{reference::rms_norm(in[0], in[1], rows, cols, kEps)};
  };
  c.differentiable = [](const Vars& in) { return Vars{autograd::rms_norm(in[0], in[1], kEps)}; };
  return c;
}

std::vector<OpCase> rms_norm_cases() {
  return {rms_norm_case({1, 1}), rms_norm_case({7, 13}), rms_norm_case({2, 3, 33}), rms_norm_case({64, 512})};
}

OpCase softmax_case(const Shape& shape) {
  OpCase c;
  c.name = "softmax_" + dims_name(shape);
  const int64_t cols = shape.back();
  const int64_t rows = shape_numel(shape) / cols;
  c.inputs = {floats(shape, -5.0, 5.0)};
  c.flops = 5.0 * double(rows * cols);
  c.gradient_samples = rows * cols < 1000 ? 0 : 64;
  c.forward = [](const Tensors& in) {
    auto op = std::make_shared<ops::Softmax>();
    return run_one(op, op->forward(in[0]));
  };
  c.reference = [=](const std::vector<Values>& in) {
    return std::vector<Values>{reference::softmax(in[0], rows, cols)};
  };
  c.differentiable = [](const Vars& in) { return Vars{autograd::softmax(in[0])}; };
  return c;
}

std::vector<OpCase> softmax_cases() {
  return {softmax_case({1, 1}), softmax_case({7, 13}), softmax_case({2, 3, 33}), softmax_case({9, 1000})};
}

// ---- attention and rotary ----------------------------------------------------------------------

OpCase attention_case(int64_t batch, int64_t seq, int64_t heads, int64_t kv_heads, int64_t head_dim,
                      int64_t gradient_samples = 0) {
  OpCase c;
  c.name = "causal_attention_B" + std::to_string(batch) + "_T" + std::to_string(seq) + "_H" + std::to_string(heads) +
           "_Hkv" + std::to_string(kv_heads) + "_D" + std::to_string(head_dim);
  c.inputs = {floats({batch, seq, heads, head_dim}, -2.0, 2.0), floats({batch, seq, kv_heads, head_dim}, -2.0, 2.0),
              floats({batch, seq, kv_heads, head_dim})};
  c.flops = 4.0 * double(batch * heads) * double(seq * (seq + 1) / 2) * double(head_dim);
  c.gradient_samples = gradient_samples;
  c.forward = [](const Tensors& in) {
    auto op = std::make_shared<ops::CausalAttention>();
    return run_one(op, op->forward(in[0], in[1], in[2]));
  };
  c.reference = [=](const std::vector<Values>& in) {
    return std::vector<Values>{reference::causal_attention(in[0], in[1], in[2], batch, seq, heads, kv_heads, head_dim)};
  };
  c.differentiable = [](const Vars& in) { return Vars{autograd::causal_attention(in[0], in[1], in[2])}; };
  return c;
}

std::vector<OpCase> attention_cases() {
  std::vector<OpCase> cases;
  cases.push_back(attention_case(1, 1, 1, 1, 4));
  cases.push_back(attention_case(2, 5, 2, 2, 8));
  cases.push_back(attention_case(1, 17, 3, 3, 4));
  cases.push_back(attention_case(2, 7, 4, 2, 8));         // grouped-query
  cases.push_back(attention_case(1, 13, 4, 1, 6));        // multi-query
  cases.push_back(attention_case(1, 70, 2, 1, 4));        // two row blocks, the second partial
  cases.push_back(attention_case(2, 200, 4, 2, 16, 24));  // four row blocks; gradients sampled
  return cases;
}

OpCase rotary_case(const Shape& shape, int64_t position_offset) {
  static constexpr float kTheta = 10000.0f;
  OpCase c;
  c.name = "rotary_" + dims_name(shape) + "_offset" + std::to_string(position_offset);
  c.inputs = {floats(shape)};
  c.flops = 3.0 * double(shape_numel(shape));
  c.forward = [=](const Tensors& in) {
    auto op = std::make_shared<ops::Rotary>(kTheta, position_offset);
    return run_one(op, op->forward(in[0]));
  };
  c.reference = [=](const std::vector<Values>& in) {
    return std::vector<Values>{
        reference::rotary(in[0], shape[0], shape[1], shape[2], shape[3], kTheta, position_offset)};
  };
  c.differentiable = [=](const Vars& in) { return Vars{autograd::rotary(in[0], kTheta, position_offset)}; };
  return c;
}

std::vector<OpCase> rotary_cases() {
  return {rotary_case({1, 1, 1, 2}, 0), rotary_case({2, 5, 3, 8}, 0), rotary_case({1, 7, 2, 6}, 3),
          rotary_case({1, 13, 1, 34}, 1000)};
}

// ---- embedding and cross-entropy ---------------------------------------------------------------

OpCase embedding_case(const std::string& name, int64_t vocab, int64_t dim, const Shape& ids_shape,
                      std::vector<int32_t> ids) {
  OpCase c;
  c.name = name;
  c.inputs = {int_ids(ids_shape, std::move(ids)), floats({vocab, dim})};
  c.flops = 0.0;
  c.forward = [](const Tensors& in) {
    auto op = std::make_shared<ops::Embedding>();
    return run_one(op, op->forward(in[0], in[1]));
  };
  c.reference = [=](const std::vector<Values>& in) {
    return std::vector<Values>{reference::embedding(as_ids(in[0]), in[1], dim)};
  };
  c.differentiable = [](const Vars& in) { return Vars{autograd::embedding(in[0], in[1])}; };
  return c;
}

std::vector<OpCase> embedding_cases() {
  return {embedding_case("embedding_V1_C1_repeated", 1, 1, {3}, {0, 0, 0}),
          embedding_case("embedding_V7_C5_repeated", 7, 5, {2, 3}, {1, 1, 6, 0, 1, 6}),
          embedding_case("embedding_V13_C33", 13, 33, {17}, {3, 12, 0, 5, 5, 7, 1, 2, 9, 11, 4, 6, 8, 10, 3, 0, 12})};
}

OpCase cross_entropy_case(const std::string& name, int64_t vocab, std::vector<int32_t> targets) {
  OpCase c;
  c.name = name;
  const int64_t rows = static_cast<int64_t>(targets.size());
  c.inputs = {floats({rows, vocab}, -3.0, 3.0), int_ids({rows}, std::move(targets))};
  c.flops = 4.0 * double(rows * vocab);
  c.gradient_samples = rows * vocab < 1000 ? 0 : 64;
  c.forward = [](const Tensors& in) {
    auto op = std::make_shared<ops::CrossEntropy>();
    return run_one(op, op->forward(in[0], in[1]));
  };
  c.reference = [=](const std::vector<Values>& in) {
    return std::vector<Values>{{reference::cross_entropy(in[0], as_ids(in[1]), rows, vocab)}};
  };
  c.differentiable = [](const Vars& in) { return Vars{autograd::cross_entropy(in[0], in[1])}; };
  return c;
}

std::vector<OpCase> cross_entropy_cases() {
  std::vector<int32_t> many(64);
  for (size_t r = 0; r < many.size(); ++r) many[r] = r % 9 == 4 ? -1 : static_cast<int32_t>((r * 131) % 1000);
  return {cross_entropy_case("cross_entropy_N1_V1", 1, {0}),
          cross_entropy_case("cross_entropy_N7_V13_ignored", 13, {3, -1, 12, 0, 7, 7, -1}),
          cross_entropy_case("cross_entropy_N3_V33", 33, {32, 0, 16}),
          cross_entropy_case("cross_entropy_N2_V5_all_ignored", 5, {-1, -1}),
          cross_entropy_case("cross_entropy_N64_V1000", 1000, many)};
}

// ---- split and reshape -------------------------------------------------------------------------

OpCase split_case(const Shape& shape, const std::vector<int64_t>& sizes) {
  OpCase c;
  c.name = "split_" + dims_name(shape) + "_into_" + dims_name(sizes);
  const int64_t cols = shape.back();
  const int64_t rows = shape_numel(shape) / cols;
  c.inputs = {floats(shape)};
  c.flops = 0.0;
  c.forward = [=](const Tensors& in) {
    auto op = std::make_shared<ops::Split>(sizes);
    std::vector<Tensor> pieces = op->forward(in[0]);
    return OpRun{op, pieces};
  };
  c.reference = [=](const std::vector<Values>& in) { return reference::split(in[0], rows, cols, sizes); };
  c.differentiable = [=](const Vars& in) { return autograd::split(in[0], sizes); };
  return c;
}

std::vector<OpCase> split_cases() {
  return {split_case({7, 13}, {3, 10}), split_case({2, 3}, {1, 1, 1}), split_case({2, 3, 33}, {5, 8, 20}),
          split_case({5}, {5})};
}

OpCase reshape_case(const Shape& from, const Shape& to) {
  OpCase c;
  c.name = "reshape_" + dims_name(from) + "_to_" + dims_name(to);
  for (char& ch : c.name) ch = ch == '-' ? 'm' : ch;  // -1 in a test name
  c.inputs = {floats(from)};
  c.flops = 0.0;
  c.forward = [=](const Tensors& in) {
    auto op = std::make_shared<ops::Reshape>();
    return run_one(op, op->forward(in[0], to));
  };
  c.reference = [](const std::vector<Values>& in) { return std::vector<Values>{in[0]}; };
  c.differentiable = [=](const Vars& in) { return Vars{autograd::reshape(in[0], to)}; };
  return c;
}

std::vector<OpCase> reshape_cases() {
  return {reshape_case({2, 3, 5}, {6, 5}), reshape_case({7, 13}, {91}), reshape_case({1}, {1, 1, 1}),
          reshape_case({4, 6}, {-1, 3})};
}

// ---- the parameterised tests -------------------------------------------------------------------

class OpTest : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpTest, Forward) {
  check_forward(GetParam());
}
TEST_P(OpTest, Gradient) {
  check_gradient(GetParam());
}
TEST_P(OpTest, Autograd) {
  check_autograd(GetParam());
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(MatMul, OpTest, ::testing::ValuesIn(matmul_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(BiasAdd, OpTest, ::testing::ValuesIn(bias_add_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Add, OpTest, ::testing::ValuesIn(add_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Gelu, OpTest, ::testing::ValuesIn(gelu_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(SwiGlu, OpTest, ::testing::ValuesIn(swiglu_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(LayerNorm, OpTest, ::testing::ValuesIn(layer_norm_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(RmsNorm, OpTest, ::testing::ValuesIn(rms_norm_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Softmax, OpTest, ::testing::ValuesIn(softmax_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(CausalAttention, OpTest, ::testing::ValuesIn(attention_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Rotary, OpTest, ::testing::ValuesIn(rotary_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Embedding, OpTest, ::testing::ValuesIn(embedding_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(CrossEntropy, OpTest, ::testing::ValuesIn(cross_entropy_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Split, OpTest, ::testing::ValuesIn(split_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Reshape, OpTest, ::testing::ValuesIn(reshape_cases()), case_name);

// ---- bad shapes --------------------------------------------------------------------------------

TEST(OpShapes, MismatchedShapesThrow) {
  const Tensor a = Tensor::zeros({3, 4});
  EXPECT_THROW(ops::MatMul(false, false).forward(a, Tensor::zeros({5, 2})), InternalError);
  EXPECT_THROW(ops::MatMul(true, false).forward(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 2})), InternalError);
  EXPECT_THROW(ops::BiasAdd().forward(a, Tensor::zeros({3})), InternalError);
  EXPECT_THROW(ops::Add().forward(a, Tensor::zeros({4, 3})), InternalError);
  EXPECT_THROW(ops::SwiGlu().forward(a, Tensor::zeros({12})), InternalError);
  EXPECT_THROW(ops::LayerNorm(1e-5f).forward(a, Tensor::zeros({3}), Tensor::zeros({4})), InternalError);
  EXPECT_THROW(ops::RmsNorm(1e-5f).forward(a, Tensor::zeros({4, 1})), InternalError);
  EXPECT_THROW(ops::Split({1, 2}).forward(a), InternalError);
  EXPECT_THROW(ops::Reshape().forward(a, {5, 2}), InternalError);
  EXPECT_THROW(ops::Rotary(10000.0f, 0).forward(Tensor::zeros({1, 2, 3, 5})), InternalError);  // odd head dim
  EXPECT_THROW(ops::Rotary(10000.0f, 0).forward(a), InternalError);                            // not 4-D
}

TEST(OpShapes, AttentionRejectsBadHeadsAndShapes) {
  const Tensor q = Tensor::zeros({2, 5, 3, 8});
  EXPECT_THROW(ops::CausalAttention().forward(q, Tensor::zeros({2, 5, 2, 8}), Tensor::zeros({2, 5, 2, 8})),
               InternalError);  // 3 heads, 2 kv heads
  EXPECT_THROW(ops::CausalAttention().forward(q, Tensor::zeros({2, 4, 3, 8}), Tensor::zeros({2, 4, 3, 8})),
               InternalError);  // sequence lengths differ
  EXPECT_THROW(ops::CausalAttention().forward(q, Tensor::zeros({2, 5, 3, 8}), Tensor::zeros({2, 5, 3, 4})),
               InternalError);  // v differs from k
  EXPECT_THROW(ops::CausalAttention().forward(Tensor::zeros({10, 8}), q, q), InternalError);
}

TEST(OpShapes, BadIdsAndTargetsThrow) {
  const Tensor table = Tensor::zeros({5, 3});
  EXPECT_THROW(ops::Embedding().forward(Tensor::from_ints({0, 5}, {2}), table), InternalError);
  EXPECT_THROW(ops::Embedding().forward(Tensor::from_ints({-1}, {1}), table), InternalError);
  EXPECT_THROW(ops::Embedding().forward(Tensor::zeros({2}), table), InternalError);  // f32 ids
  const Tensor logits = Tensor::zeros({2, 5});
  EXPECT_THROW(ops::CrossEntropy().forward(logits, Tensor::from_ints({0, 5}, {2})), InternalError);
  EXPECT_THROW(ops::CrossEntropy().forward(logits, Tensor::from_ints({0, -2}, {2})), InternalError);
  EXPECT_THROW(ops::CrossEntropy().forward(logits, Tensor::from_ints({0, 1, 2}, {3})), InternalError);
}

// ---- attention memory --------------------------------------------------------------------------

// The forward keeps O and lse [B, H, T]; no T x T buffer is held after it, nor lives in
// activations during it, and the backward releases everything the op saved.
TEST(OpMemory, AttentionKeepsNoScoreMatrix) {
  constexpr int64_t kBatch = 2, kSeq = 256, kHeads = 4, kHeadDim = 16;
  const Tensor q = Tensor::full({kBatch, kSeq, kHeads, kHeadDim}, 0.1f);
  const Tensor k = Tensor::full({kBatch, kSeq, kHeads, kHeadDim}, 0.2f);
  const Tensor v = Tensor::full({kBatch, kSeq, kHeads, kHeadDim}, 0.3f);
  const int64_t scores_bytes = kBatch * kHeads * kSeq * kSeq * int64_t(sizeof(float));
  const int64_t lse_bytes = kBatch * kHeads * kSeq * int64_t(sizeof(float));

  auto& tracker = MemoryTracker::instance();
  const int64_t activations_before = tracker.live_bytes(MemoryCategory::activations);
  const int64_t workspace_before = tracker.live_bytes(MemoryCategory::workspace);
  tracker.reset_peaks();
  auto op = std::make_shared<ops::CausalAttention>();
  Tensor out = op->forward(q, k, v);
  const int64_t held = tracker.live_bytes(MemoryCategory::activations) - activations_before;
  EXPECT_EQ(held, int64_t(out.nbytes()) + lse_bytes);
  EXPECT_LT(held, scores_bytes / 8);
  EXPECT_EQ(tracker.peak_bytes(MemoryCategory::activations) - activations_before, held);
  EXPECT_EQ(tracker.live_bytes(MemoryCategory::workspace), workspace_before);  // tiles freed
  EXPECT_LT(tracker.peak_bytes(MemoryCategory::workspace) - workspace_before, scores_bytes / 2);

  {
    const std::vector<Tensor> grads = op->backward({Tensor::full(out.shape(), 1.0f)}, {true, true, true});
    EXPECT_EQ(grads.size(), 3u);
  }
  out = Tensor();
  EXPECT_EQ(tracker.live_bytes(MemoryCategory::activations), activations_before);  // saved state released
}

}  // namespace
}  // namespace loom::testing
