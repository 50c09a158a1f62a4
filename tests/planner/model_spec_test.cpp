// The planner's model inputs: Hugging Face config.json of each family, Loom presets and model
// JSON, one-line errors for bad configs, parameter and FLOP counts against hand-computed and
// published values, and conversion to the runtime's config.
#include "planner/model_spec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "nn/model_config.h"
#include "test_support.h"

namespace loom::planner {
namespace {

std::string write_config(const std::string& name, const nlohmann::json& json) {
  const std::string path = testing_support::unique_temp_path(name);
  std::ofstream(path) << json.dump(2);
  return path;
}

nlohmann::json gpt2_small_json() {
  return {{"model_type", "gpt2"}, {"n_layer", 12},       {"n_embd", 768},       {"n_head", 12},
          {"n_inner", nullptr},   {"vocab_size", 50257}, {"n_positions", 1024}, {"layer_norm_epsilon", 1e-5}};
}

nlohmann::json llama2_7b_json() {
  return {{"model_type", "llama"},       {"num_hidden_layers", 32},         {"hidden_size", 4096},
          {"num_attention_heads", 32},   {"num_key_value_heads", 32},       {"intermediate_size", 11008},
          {"vocab_size", 32000},         {"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-5},
          {"tie_word_embeddings", false}};
}

nlohmann::json mistral_7b_json() {
  return {{"model_type", "mistral"},   {"num_hidden_layers", 32},          {"hidden_size", 4096},
          {"num_attention_heads", 32}, {"num_key_value_heads", 8},         {"intermediate_size", 14336},
          {"vocab_size", 32000},       {"max_position_embeddings", 32768}, {"sliding_window", 4096}};
}

nlohmann::json qwen2_05b_json() {
  return {{"model_type", "qwen2"},     {"num_hidden_layers", 24},          {"hidden_size", 896},
          {"num_attention_heads", 14}, {"num_key_value_heads", 2},         {"intermediate_size", 4864},
          {"vocab_size", 151936},      {"max_position_embeddings", 32768}, {"tie_word_embeddings", true}};
}

nlohmann::json pythia_160m_json() {
  return {{"model_type", "gpt_neox"},        {"num_hidden_layers", 12},      {"hidden_size", 768},
          {"num_attention_heads", 12},       {"intermediate_size", 3072},    {"vocab_size", 50304},
          {"max_position_embeddings", 2048}, {"use_parallel_residual", true}};
}

// The UserError message of loading `json` from a temp file, or "" when it loads.
std::string load_error(const std::string& name, const nlohmann::json& json) {
  try {
    load_model_spec(write_config(name, json));
  } catch (const UserError& error) {
    return error.what();
  }
  return "";
}

TEST(ModelSpecTest, Gpt2ConfigMatchesPublishedCountAndLoomPreset) {
  const ModelSpec spec = load_model_spec(write_config("gpt2.json", gpt2_small_json()));
  EXPECT_EQ(spec.family, "gpt2");
  EXPECT_EQ(spec.layers, 12);
  EXPECT_EQ(spec.hidden, 768);
  EXPECT_EQ(spec.heads, 12);
  EXPECT_EQ(spec.kv_heads, 12);
  EXPECT_EQ(spec.ffn_hidden, 4 * 768);  // n_inner null
  EXPECT_EQ(spec.vocab_size, 50257);
  EXPECT_EQ(spec.max_positions, 1024);
  EXPECT_TRUE(spec.tie_embeddings);  // GPT2Config's default
  EXPECT_FALSE(spec.gated_mlp);
  EXPECT_EQ(spec.norm, NormType::layernorm);
  EXPECT_TRUE(spec.qkv_bias && spec.out_bias && spec.mlp_bias);
  EXPECT_TRUE(spec.learned_positions);
  EXPECT_TRUE(spec.runnable);
  EXPECT_EQ(parameter_count(spec), 124439808);
  EXPECT_EQ(parameter_count(spec), nn::model_preset("gpt2-small").parameter_count());

  const nn::ModelConfig config = spec.to_model_config();
  EXPECT_EQ(config.family, nn::ModelFamily::gpt);
  EXPECT_EQ(config.seq_len, 1024);
  EXPECT_EQ(config.parameter_count(), 124439808);
}

TEST(ModelSpecTest, Gpt2UntiedAndExplicitInner) {
  nlohmann::json json = gpt2_small_json();
  json["tie_word_embeddings"] = false;
  json["n_inner"] = 1024;
  const ModelSpec spec = load_model_spec(write_config("gpt2_untied.json", json));
  EXPECT_FALSE(spec.tie_embeddings);
  EXPECT_EQ(spec.ffn_hidden, 1024);
  EXPECT_EQ(parameter_count(spec), spec.to_model_config().parameter_count());
}

TEST(ModelSpecTest, Llama2SevenBillion) {
  const ModelSpec spec = load_model_spec(write_config("llama2.json", llama2_7b_json()));
  EXPECT_EQ(spec.family, "llama");
  EXPECT_EQ(spec.kv_heads, 32);
  EXPECT_TRUE(spec.gated_mlp);
  EXPECT_EQ(spec.norm, NormType::rmsnorm);
  EXPECT_FALSE(spec.qkv_bias || spec.out_bias || spec.mlp_bias);
  EXPECT_FALSE(spec.learned_positions);
  EXPECT_FALSE(spec.tie_embeddings);
  EXPECT_EQ(parameter_count(spec), 6738415616);
  // One block: 4 attention matrices, 3 MLP matrices, 2 RMSNorm gammas.
  EXPECT_EQ(layer_parameter_count(spec), 4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096);

  const nn::ModelConfig config = spec.to_model_config();
  EXPECT_EQ(config.family, nn::ModelFamily::llama);
  EXPECT_FALSE(config.tie_embeddings);
  EXPECT_FLOAT_EQ(config.norm_eps, 1e-5f);
  EXPECT_EQ(config.parameter_count(), 6738415616);
}

TEST(ModelSpecTest, LlamaKvHeadsDefaultToHeads) {
  nlohmann::json json = llama2_7b_json();
  json.erase("num_key_value_heads");
  json.erase("tie_word_embeddings");
  const ModelSpec spec = load_model_spec(write_config("llama_defaults.json", json));
  EXPECT_EQ(spec.kv_heads, 32);
  EXPECT_FALSE(spec.tie_embeddings);  // LlamaConfig's default
}

TEST(ModelSpecTest, MistralGroupedQueryAndSlidingWindow) {
  const ModelSpec spec = load_model_spec(write_config("mistral.json", mistral_7b_json()));
  EXPECT_EQ(spec.family, "mistral");
  EXPECT_EQ(spec.kv_heads, 8);
  EXPECT_EQ(spec.kv_hidden(), 1024);
  EXPECT_EQ(parameter_count(spec), 7241732096);  // Mistral-7B
  EXPECT_FALSE(spec.runnable);
  EXPECT_NE(spec.not_runnable_reason.find("sliding_window"), std::string::npos);

  nlohmann::json full_attention = mistral_7b_json();
  full_attention["sliding_window"] = nullptr;
  const ModelSpec runnable = load_model_spec(write_config("mistral_full.json", full_attention));
  EXPECT_TRUE(runnable.runnable);
  EXPECT_EQ(runnable.to_model_config().kv_heads, 8);
}

TEST(ModelSpecTest, Qwen2HasQkvBiasesAndIsNotRunnable) {
  const ModelSpec spec = load_model_spec(write_config("qwen2.json", qwen2_05b_json()));
  EXPECT_EQ(spec.family, "qwen2");
  EXPECT_TRUE(spec.qkv_bias);
  EXPECT_FALSE(spec.out_bias || spec.mlp_bias);
  EXPECT_TRUE(spec.tie_embeddings);
  EXPECT_EQ(parameter_count(spec), 494032768);  // Qwen2-0.5B
  EXPECT_FALSE(spec.runnable);
  EXPECT_THROW(spec.to_model_config(), UserError);
}

TEST(ModelSpecTest, GptNeoxCountsAndRefusesToRun) {
  const ModelSpec spec = load_model_spec(write_config("pythia.json", pythia_160m_json()));
  EXPECT_EQ(spec.family, "gpt_neox");
  EXPECT_FALSE(spec.tie_embeddings);  // GPTNeoXConfig's default
  EXPECT_FALSE(spec.learned_positions);
  EXPECT_EQ(parameter_count(spec), 162322944);  // Pythia-160M
  EXPECT_FALSE(spec.runnable);
  try {
    spec.to_model_config();
    FAIL() << "gpt_neox converted to a runtime config";
  } catch (const UserError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("gpt_neox"), std::string::npos) << message;
    EXPECT_NE(message.find("parallel"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(ModelSpecTest, NameComesFromNameOrPathOrFolder) {
  nlohmann::json json = gpt2_small_json();
  json["_name_or_path"] = "openai-community/gpt2";
  EXPECT_EQ(load_model_spec(write_config("named.json", json)).name, "openai-community/gpt2");
  EXPECT_EQ(load_model_spec(write_config("unnamed.json", gpt2_small_json())).name.find(".json"), std::string::npos);
}

TEST(ModelSpecTest, HandComputedCountsAndFlops) {
  ModelSpec spec;
  spec.family = "llama";
  spec.layers = 2;
  spec.hidden = 8;
  spec.heads = 2;
  spec.kv_heads = 1;
  spec.ffn_hidden = 16;
  spec.vocab_size = 10;
  spec.max_positions = 4;
  spec.gated_mlp = true;
  spec.norm = NormType::rmsnorm;
  // q 8x8, k and v 8x4 each, o 8x8, three 8x16 MLP matrices, two gammas of 8.
  EXPECT_EQ(layer_parameter_count(spec), 64 + 64 + 64 + 384 + 16);
  EXPECT_EQ(parameter_count(spec), 2 * 592 + 80 + 8 + 80);  // + embedding, final norm, head
  // Per layer: QKV 2*8*16, scores and weighted sum 2*2*4*8, output 2*8*8, MLP 2*3*8*16; head 2*8*10.
  EXPECT_DOUBLE_EQ(forward_flops_per_token(spec, 4), 2.0 * (256 + 128 + 128 + 768) + 160);

  // GPT-2 small at seq 1024: 12 x (2 * 12 * 768^2 + 4 * 1024 * 768) + 2 * 768 * 50257.
  const ModelSpec gpt2 = load_model_spec("gpt2-small");
  EXPECT_DOUBLE_EQ(forward_flops_per_token(gpt2, 1024), 284812800.0);
}

TEST(ModelSpecTest, PresetsAndLoomJsonMatchRuntimeCounts) {
  for (const std::string& name : nn::model_preset_names()) {
    const ModelSpec spec = load_model_spec(name);
    const nn::ModelConfig config = nn::model_preset(name);
    EXPECT_EQ(spec.family, config.family == nn::ModelFamily::gpt ? "loom-gpt" : "loom-llama") << name;
    EXPECT_TRUE(spec.runnable) << name;
    EXPECT_EQ(parameter_count(spec), config.parameter_count()) << name;
    EXPECT_EQ(spec.layers * layer_parameter_count(spec), config.layers * config.block_parameter_count()) << name;
    EXPECT_EQ(nn::model_config_to_json(spec.to_model_config()), nn::model_config_to_json(config)) << name;
  }
  const nlohmann::json loom_json = {{"version", 1},  {"family", "llama"}, {"vocab_size", 512}, {"hidden", 64},
                                    {"layers", 3},   {"heads", 4},        {"kv_heads", 2},     {"ffn_hidden", 96},
                                    {"seq_len", 64}, {"name", "my-llama"}};
  const ModelSpec spec = load_model_spec(write_config("loom_model.json", loom_json));
  EXPECT_EQ(spec.name, "my-llama");
  EXPECT_EQ(spec.family, "loom-llama");
  EXPECT_EQ(spec.kv_heads, 2);
  EXPECT_EQ(spec.max_positions, 64);
  EXPECT_EQ(parameter_count(spec), nn::parse_model_config(loom_json, "test").parameter_count());
}

TEST(ModelSpecTest, InvalidConfigsGiveOneLineNamingTheField) {
  struct Case {
    std::string name;
    nlohmann::json json;
    std::string expected;  // a piece of the message naming the field and value
  };
  std::vector<Case> cases;
  auto with = [](nlohmann::json json, const std::string& key, const nlohmann::json& value) {
    json[key] = value;
    return json;
  };
  auto without = [](nlohmann::json json, const std::string& key) {
    json.erase(key);
    return json;
  };
  cases.push_back({"bad_type.json", with(gpt2_small_json(), "model_type", "bert"), "model_type='bert'"});
  cases.push_back({"no_type_value.json", with(gpt2_small_json(), "model_type", 3), "model_type=3"});
  cases.push_back({"no_layers.json", without(gpt2_small_json(), "n_layer"), "'n_layer'"});
  cases.push_back({"zero_hidden.json", with(llama2_7b_json(), "hidden_size", 0), "hidden_size=0"});
  cases.push_back({"negative_vocab.json", with(pythia_160m_json(), "vocab_size", -5), "vocab_size=-5"});
  cases.push_back({"string_inner.json", with(gpt2_small_json(), "n_inner", "big"), "n_inner=\"big\""});
  cases.push_back({"float_layers.json", with(qwen2_05b_json(), "num_hidden_layers", 2.5), "num_hidden_layers=2.5"});
  cases.push_back({"heads.json", with(llama2_7b_json(), "num_attention_heads", 30), "num_attention_heads=30"});
  cases.push_back({"gpt2_heads.json", with(gpt2_small_json(), "n_head", 7), "n_head=7 does not divide n_embd=768"});
  cases.push_back({"kv_heads.json", with(mistral_7b_json(), "num_key_value_heads", 5), "num_key_value_heads=5"});
  cases.push_back({"tie.json", with(llama2_7b_json(), "tie_word_embeddings", "yes"), "tie_word_embeddings"});
  cases.push_back({"head_dim.json", with(llama2_7b_json(), "head_dim", 64), "head_dim=64"});
  cases.push_back(
      {"no_positions.json", without(mistral_7b_json(), "max_position_embeddings"), "'max_position_embeddings'"});
  cases.push_back({"neither.json", nlohmann::json{{"hidden_size", 8}}, "model_type"});
  for (const Case& test_case : cases) {
    const std::string message = load_error(test_case.name, test_case.json);
    EXPECT_NE(message.find(test_case.expected), std::string::npos) << test_case.name << ": " << message;
    EXPECT_NE(message.find(test_case.name), std::string::npos) << "the file is not named: " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_NE(load_error("heads_valid.json", with(llama2_7b_json(), "num_attention_heads", 30)).find("valid: "),
            std::string::npos);
}

TEST(ModelSpecTest, UnknownPresetAndMissingFile) {
  EXPECT_THROW(load_model_spec("gpt5"), UserError);
  EXPECT_THROW(load_model_spec(testing_support::unique_temp_path("absent.json")), UserError);
  const std::string path = testing_support::unique_temp_path("broken.json");
  std::ofstream(path) << "{ not json";
  EXPECT_THROW(load_model_spec(path), UserError);
}

}  // namespace
}  // namespace loom::planner
