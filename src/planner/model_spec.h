// ModelSpec: what the planner needs to cost a decoder-only transformer, read from a Loom preset,
// a Loom model JSON, or a Hugging Face config.json as it is. It describes more models than Loom's
// runtime can train (NeoX parallel attention, Qwen2 QKV biases); `runnable` says which ones it can.
#pragma once

#include <cstdint>
#include <string>

#include "nn/model_config.h"

namespace loom::planner {

enum class NormType { layernorm, rmsnorm };

struct ModelSpec {
  std::string name = "custom";
  // "gpt2", "gpt_neox", "llama", "mistral", "qwen2" (Hugging Face model_type), or "loom-gpt" /
  // "loom-llama" for Loom's presets and model JSON.
  std::string family = "loom-gpt";
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;  // < heads: grouped-query attention
  int64_t ffn_hidden = 0;
  int64_t vocab_size = 0;
  int64_t max_positions = 0;  // the longest sequence the model takes
  bool tie_embeddings = false;
  bool gated_mlp = false;  // SwiGLU: gate, up and down matrices; otherwise up and down
  NormType norm = NormType::layernorm;
  bool qkv_bias = false;           // biases on the query, key and value projections
  bool out_bias = false;           // bias on the attention output projection
  bool mlp_bias = false;           // biases on the MLP matrices
  bool learned_positions = false;  // a learned position embedding table (GPT-2); otherwise rotary
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  // Whether Loom's runtime can train this model; when not, `not_runnable_reason` says why.
  bool runnable = false;
  std::string not_runnable_reason;

  int64_t head_dim() const { return hidden / heads; }
  int64_t kv_hidden() const { return kv_heads * head_dim(); }
  // The runtime's config for this model; UserError naming the reason when it is not runnable.
  nn::ModelConfig to_model_config() const;
};

// A Loom preset name (nn::model_preset_names), a Loom model JSON (has "version" and "family"),
// or a Hugging Face config.json (has "model_type": gpt2, gpt_neox, llama, mistral, qwen2).
// Bad input is a one-line UserError naming the file, the field, the value and what is valid.
ModelSpec load_model_spec(const std::string& name_or_path);
// The spec of a Loom runtime config ("loom-gpt" or "loom-llama", runnable).
ModelSpec model_spec_from_config(const nn::ModelConfig& config);
// A Hugging Face config.json already parsed; `origin` names it in errors.
ModelSpec parse_hf_config(const nlohmann::json& json, const std::string& origin);

// Parameters of one transformer block (attention, MLP, norms, biases).
int64_t layer_parameter_count(const ModelSpec& spec);
// All parameters: blocks, token (and position) embeddings, final norm, and the head when untied.
int64_t parameter_count(const ModelSpec& spec);
// Forward matmul FLOPs per token at sequence length `seq` (2*m*n*k per matmul): per layer QKV,
// attention scores and weighted sum (causal masking counted as full), output projection and MLP,
// plus the LM head. Norms, biases, softmax and activations are not counted.
double forward_flops_per_token(const ModelSpec& spec, int64_t seq);

}  // namespace loom::planner
