// ModelConfig: the shape of a GPT- or Llama-style decoder, from a built-in preset or Loom's
// model JSON. One parser, one validator, one writer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loom::nn {

enum class ModelFamily { gpt, llama };

// The divisors of n in increasing order, at most 12 of them (for "valid: ..." in error messages).
std::vector<int64_t> divisors(int64_t n);

struct ModelConfig {
  std::string name = "custom";
  ModelFamily family = ModelFamily::gpt;
  int64_t vocab_size = 256;
  int64_t hidden = 128;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 4;  // < heads: grouped-query attention (Llama family)
  int64_t ffn_hidden = 512;
  int64_t seq_len = 128;  // maximum sequence length (learned positions for GPT)
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool tie_embeddings = true;  // GPT: the head reuses the token embedding
  float init_std = 0.02f;

  int64_t head_dim() const { return hidden / heads; }
  int64_t kv_hidden() const { return kv_heads * head_dim(); }
  // Parameters of one transformer block, and of the whole model.
  int64_t block_parameter_count() const;
  int64_t parameter_count() const;
  // Model FLOPs of a training step over `tokens` tokens of length `seq`:
  // 6 * parameters * tokens + causal attention 6 * layers * seq * hidden * tokens.
  double training_flops(int64_t tokens, int64_t seq) const;
};

std::string family_name(ModelFamily family);

std::vector<std::string> model_preset_names();
// A preset by name ("tiny", "gpt2-small", "llama-tiny", ...) or a model JSON file path.
ModelConfig load_model_config(const std::string& name_or_path);
ModelConfig model_preset(const std::string& name);  // UserError for an unknown name

// Loom's model JSON: {"version": 1, "family": "gpt"|"llama", "vocab_size", "hidden", "layers",
// "heads", "ffn_hidden", "seq_len", optional "kv_heads", "norm_eps", "rope_theta",
// "tie_embeddings", "init_std", "name"}. Unknown keys are errors (they are usually typos).
ModelConfig parse_model_config(const nlohmann::json& json, const std::string& origin);
nlohmann::json model_config_to_json(const ModelConfig& config);
// Throws UserError naming the field, its value and what would be valid.
void validate_model_config(const ModelConfig& config, const std::string& origin = "model");

}  // namespace loom::nn
