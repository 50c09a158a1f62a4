// Tape scope: one tape per layer (as the pipeline runtime records one stage's micro-batch) and
// recompute (drop a layer's activations, replay its forward before its backward) give exactly
// the gradients of one whole-model tape.
#include <gtest/gtest.h>

#include "autograd/tape.h"
#include "core/random.h"
#include "nn/transformer.h"

namespace loom {
namespace {

using autograd::Tape;
using autograd::TapeScope;
using autograd::Var;

nn::ModelConfig model_config(nn::ModelFamily family) {
  nn::ModelConfig config = nn::model_preset(family == nn::ModelFamily::gpt ? "tiny" : "llama-tiny");
  config.hidden = 32;
  config.heads = 4;
  config.kv_heads = family == nn::ModelFamily::gpt ? 4 : 2;
  config.ffn_hidden = 64;
  config.layers = 3;
  config.seq_len = 16;
  return config;
}

Tensor ids(uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> values(2 * 16);
  for (auto& v : values) v = static_cast<int32_t>(rng.uniform_int(256));
  return Tensor::from_ints(values, {2, 16});
}

std::vector<std::vector<float>> gradients(const nn::TransformerModel& model) {
  std::vector<std::vector<float>> result;
  for (const auto& p : model.parameters()) result.push_back(p.grad().to_vector());
  return result;
}

void clear(const nn::TransformerModel& model) {
  for (auto p : model.parameters()) p.clear_grad();
}

class LayerTapes : public ::testing::TestWithParam<nn::ModelFamily> {};

TEST_P(LayerTapes, PerLayerAndRecomputedBackwardMatchWholeModelTape) {
  const nn::TransformerModel model(model_config(GetParam()), 5);
  const Tensor inputs = ids(1);
  const Tensor targets = ids(2);
  const int layers = static_cast<int>(model.config().layers);

  // 1. One tape for the whole step.
  {
    Tape tape;
    Var loss;
    {
      TapeScope scope(tape);
      loss = model.loss(inputs, targets);
    }
    tape.backward(loss);
  }
  const auto whole = gradients(model);
  clear(model);

  // 2. One tape per piece: embedding, each block, head. Each block's input is a fresh leaf, so
  //    its tape ends there; the backward runs stage by stage with the gradient handed back.
  for (bool recompute : {false, true}) {
    std::vector<Tape> tapes(static_cast<size_t>(layers + 2));
    std::vector<Var> inputs_of(static_cast<size_t>(layers));
    std::vector<Var> outputs_of(static_cast<size_t>(layers));
    Var x;
    {
      TapeScope scope(tapes[0]);
      x = model.embed(inputs);
    }
    const Var embedded = x;
    for (int l = 0; l < layers; ++l) {
      const auto index = static_cast<size_t>(l);
      Var leaf(x.value(), true);  // the layer boundary: what a pipeline stage receives
      inputs_of[index] = leaf;
      if (recompute) {
        autograd::NoGradScope no_grad;  // keep only the input; the layer's activations are dropped
        x = model.block(l, leaf);
        EXPECT_TRUE(tapes[index + 1].empty());
      } else {
        TapeScope scope(tapes[index + 1]);
        x = model.block(l, leaf);
        outputs_of[index] = x;
      }
    }
    Var head_input(x.value(), true);
    Var loss;
    {
      TapeScope scope(tapes[static_cast<size_t>(layers + 1)]);
      loss = model.head_loss(head_input, targets);
    }
    tapes[static_cast<size_t>(layers + 1)].backward(loss);
    Tensor upstream = head_input.grad();
    for (int l = layers - 1; l >= 0; --l) {
      const auto index = static_cast<size_t>(l);
      if (recompute) {
        TapeScope scope(tapes[index + 1]);  // replay the forward, recorded this time
        outputs_of[index] = model.block(l, inputs_of[index]);
      }
      tapes[index + 1].backward({outputs_of[index]}, {upstream});
      upstream = inputs_of[index].grad();
      ASSERT_TRUE(upstream.defined()) << "layer " << l;
    }
    tapes[0].backward({embedded}, {upstream});
    const auto pieces = gradients(model);
    ASSERT_EQ(pieces.size(), whole.size());
    for (size_t p = 0; p < whole.size(); ++p) {
      ASSERT_EQ(pieces[p].size(), whole[p].size());
      for (size_t i = 0; i < whole[p].size(); ++i) {
        // Same operations on the same values; only the order of gradient accumulation for the
        // tied embedding differs, so allow fp32 rounding.
        EXPECT_NEAR(pieces[p][i], whole[p][i], 1e-6f + 1e-5f * std::abs(whole[p][i]))
            << model.parameters()[p].name() << "[" << i << "] recompute=" << recompute;
      }
    }
    clear(model);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, LayerTapes, ::testing::Values(nn::ModelFamily::gpt, nn::ModelFamily::llama),
                         [](const auto& info) { return nn::family_name(info.param); });

}  // namespace
}  // namespace loom
