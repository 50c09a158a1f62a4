// Models and training: initial loss, whole-model gradients, learning on the synthetic corpus,
// exact resume from a checkpoint, and model-config errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/random.h"
#include "nn/transformer.h"
#include "test_support.h"
#include "train/session.h"

namespace loom {
namespace {

nn::ModelConfig small_model(nn::ModelFamily family) {
  nn::ModelConfig config = nn::model_preset(family == nn::ModelFamily::gpt ? "tiny" : "llama-tiny");
  config.hidden = 64;
  config.heads = 4;
  config.kv_heads = family == nn::ModelFamily::gpt ? 4 : 2;
  config.ffn_hidden = 128;
  config.layers = 2;
  config.seq_len = 32;
  return config;
}

Tensor random_ids(int64_t batch, int64_t seq, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(batch * seq));
  for (auto& id : ids) id = static_cast<int32_t>(rng.uniform_int(static_cast<uint64_t>(vocab)));
  return Tensor::from_ints(ids, {batch, seq});
}

class ModelFamilies : public ::testing::TestWithParam<nn::ModelFamily> {};

TEST_P(ModelFamilies, FreshModelLossIsNearLnVocab) {
  const nn::ModelConfig config = small_model(GetParam());
  nn::TransformerModel model(config, 7);
  autograd::NoGradScope no_grad;
  const float loss = model.loss(random_ids(4, 32, 256, 1), random_ids(4, 32, 256, 2)).value().item();
  // With init std 0.02 the logits are within a few hundredths of zero: loss = ln(V) +- 0.05.
  EXPECT_NEAR(loss, std::log(256.0f), 0.05f);
}

TEST_P(ModelFamilies, WholeModelGradientMatchesFiniteDifferences) {
  nn::ModelConfig config = small_model(GetParam());
  config.vocab_size = 32;
  config.init_std = 0.2f;  // larger weights: gradients well above fp32 noise
  nn::TransformerModel model(config, 3);
  const Tensor ids = random_ids(2, 8, 32, 5);
  const Tensor targets = random_ids(2, 8, 32, 6);
  autograd::Tape tape;
  autograd::Var loss;
  {
    autograd::TapeScope scope(tape);
    loss = model.loss(ids, targets);
  }
  tape.backward(loss);
  auto evaluate = [&] {
    autograd::NoGradScope no_grad;
    return double(model.loss(ids, targets).value().item());
  };
  int checked = 0;
  Rng rng(11);
  for (const auto& p : model.parameters()) {
    ASSERT_TRUE(p.grad().defined()) << p.name();
    float* w = p.value().f32();
    const float* g = p.grad().f32();
    for (int trial = 0; trial < 3; ++trial) {
      const auto i = static_cast<int64_t>(rng.uniform_int(static_cast<uint64_t>(p.value().numel())));
      const float saved = w[i];
      const float eps = 1e-2f;
      w[i] = saved + eps;
      const double up = evaluate();
      w[i] = saved - eps;
      const double down = evaluate();
      w[i] = saved;
      const double numeric = (up - down) / (2.0 * eps);
      // fp32 forward noise ~1e-6 over 2 eps plus O(eps^2) curvature: absolute 2e-3 + 5% relative.
      EXPECT_NEAR(g[i], numeric, 2e-3 + 0.05 * std::abs(numeric)) << p.name() << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 20);
}

INSTANTIATE_TEST_SUITE_P(Families, ModelFamilies, ::testing::Values(nn::ModelFamily::gpt, nn::ModelFamily::llama),
                         [](const auto& info) { return nn::family_name(info.param); });

std::string write_model_json(const std::string& name, const nn::ModelConfig& config) {
  const std::string path = testing_support::unique_temp_path(name);
  std::ofstream(path) << nn::model_config_to_json(config).dump();
  return path;
}

train::TrainConfig quick_config(const std::string& model_path, int64_t steps) {
  train::TrainConfig config;
  config.model = model_path;
  config.steps = steps;
  config.batch = 8;
  config.seq = 32;
  config.lr = 3e-3f;
  config.min_lr = 3e-4f;
  config.warmup_steps = 10;
  config.eval_batches = 4;
  return config;
}

TEST(Training, SyntheticCorpusLossFallsBelowBound) {
  const std::string path = write_model_json("learn_gpt.json", small_model(nn::ModelFamily::gpt));
  auto session = train::TrainSession::create(quick_config(path, 150));
  const float first = session->step().loss;
  float last = first;
  while (!session->done()) last = session->step().loss;
  const float validation = session->validation_loss();
  // ln(256) = 5.55 at the start; a bigram model of the corpus scores 2.07 nats/byte. Reaching
  // 2.6 in 150 steps of 256 tokens means the model learned the byte statistics.
  EXPECT_NEAR(first, std::log(256.0f), 0.1f);
  EXPECT_LT(last, 2.6f);
  EXPECT_LT(validation, 2.6f);
}

TEST(Training, ResumedRunMatchesUninterruptedRunStepForStep) {
  for (auto family : {nn::ModelFamily::gpt, nn::ModelFamily::llama}) {
    const std::string path = write_model_json("resume_" + nn::family_name(family) + ".json", small_model(family));
    const train::TrainConfig config = quick_config(path, 8);
    auto full = train::TrainSession::create(config);
    std::vector<float> full_losses;
    while (!full->done()) full_losses.push_back(full->step().loss);

    const std::string directory = testing_support::unique_temp_path("resume_checkpoint_") + nn::family_name(family);
    std::filesystem::remove_all(directory);
    auto first_half = train::TrainSession::create(config);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(first_half->step().loss, full_losses[size_t(i)]);
    first_half->save(directory);
    first_half.reset();
    auto resumed = train::TrainSession::resume(directory);
    EXPECT_EQ(resumed->current_step(), 4);
    for (size_t i = 4; i < full_losses.size(); ++i) EXPECT_EQ(resumed->step().loss, full_losses[i]) << "step " << i + 1;
    ASSERT_EQ(resumed->model().parameters().size(), full->model().parameters().size());
    for (size_t p = 0; p < full->model().parameters().size(); ++p) {
      EXPECT_EQ(resumed->model().parameters()[p].value().to_vector(), full->model().parameters()[p].value().to_vector())
          << full->model().parameters()[p].name();
    }
  }
}

TEST(Training, CorruptedCheckpointIsRefused) {
  const std::string path = write_model_json("corrupt.json", small_model(nn::ModelFamily::gpt));
  auto session = train::TrainSession::create(quick_config(path, 2));
  session->step();
  const std::string directory = testing_support::unique_temp_path("corrupt_checkpoint");
  session->save(directory);
  {
    std::fstream file(directory + "/tensors.bin", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(100);
    file.put('\x7f');
  }
  try {
    train::TrainSession::resume(directory);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train::TrainSession::resume(::testing::TempDir() + "no_such_checkpoint"), UserError);
}

// Each bad model config gives a UserError naming the field and value.
struct BadModel {
  std::string name;
  std::string json;
  std::string expected;
};

class BadModelConfigs : public ::testing::TestWithParam<BadModel> {};

TEST_P(BadModelConfigs, GiveClearErrors) {
  const std::string path = testing_support::unique_temp_path("bad_model.json");
  std::ofstream(path) << GetParam().json;
  try {
    nn::load_model_config(path);
    FAIL() << "expected a UserError for " << GetParam().json;
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

const char* kBase = R"("family": "gpt", "vocab_size": 256, "layers": 2, "seq_len": 32)";

INSTANTIATE_TEST_SUITE_P(
    Cases, BadModelConfigs,
    ::testing::Values(
        BadModel{"syntax", "{\"family\": \"gpt\", ", "not valid JSON"},
        BadModel{"heads_not_dividing", std::string("{") + kBase + ", \"hidden\": 64, \"heads\": 6}",
                 "heads=6 does not divide hidden=64 (valid heads: 1, 2, 4, 8, 16, 32, 64)"},
        BadModel{"zero_hidden", std::string("{") + kBase + ", \"hidden\": 0, \"heads\": 1}", "hidden=0 must be"},
        BadModel{"negative_hidden", std::string("{") + kBase + ", \"hidden\": -64, \"heads\": 1}", "hidden=-64"},
        BadModel{"missing_heads", std::string("{") + kBase + ", \"hidden\": 64}", "missing field 'heads'"},
        BadModel{"unknown_field", std::string("{") + kBase + ", \"hidden\": 64, \"heads\": 4, \"hiden\": 3}",
                 "unknown field 'hiden'"},
        BadModel{"string_hidden", std::string("{") + kBase + ", \"hidden\": \"64\", \"heads\": 4}",
                 "hidden=\"64\" must be an integer"},
        BadModel{"unknown_family",
                 "{\"family\": \"bert\", \"vocab_size\": 256, \"hidden\": 64, \"layers\": 2, "
                 "\"heads\": 4, \"seq_len\": 32}",
                 "family=bert is not known (valid: gpt, llama)"},
        BadModel{"bad_version", std::string("{") + kBase + ", \"hidden\": 64, \"heads\": 4, \"version\": 9}",
                 "version=9 is not supported"}),
    [](const auto& info) { return info.param.name; });

TEST(BadInputs, MissingModelFileAndUnknownPreset) {
  EXPECT_THROW(nn::load_model_config("/no/such/model.json"), UserError);
  EXPECT_THROW(nn::load_model_config("giant"), UserError);
}

TEST(BadInputs, MissingDataFileAndBadSizes) {
  train::TrainConfig config;
  config.data = "/no/such/corpus.txt";
  EXPECT_THROW(train::TrainSession::create(config), UserError);
  train::TrainConfig zero_batch;
  zero_batch.batch = 0;
  EXPECT_THROW(train::TrainSession::create(zero_batch), UserError);
  train::TrainConfig long_seq;
  long_seq.seq = 4096;  // longer than tiny's seq_len
  EXPECT_THROW(train::TrainSession::create(long_seq), UserError);
}

TEST(ModelConfig, ParameterCountMatchesTheBuiltModel) {
  for (const char* name : {"tiny", "llama-tiny", "gpt-bench"}) {
    const nn::ModelConfig config = nn::model_preset(name);
    nn::TransformerModel model(config, 1);
    EXPECT_EQ(model.parameter_count(), config.parameter_count()) << name;
  }
  // GPT-2 small: 124,439,808 parameters with its 50257-token vocabulary and 1024 positions.
  EXPECT_EQ(nn::model_preset("gpt2-small").parameter_count(), 124439808);
}

}  // namespace
}  // namespace loom
