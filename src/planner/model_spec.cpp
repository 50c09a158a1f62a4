// Model specs from Loom presets, Loom model JSON and Hugging Face config.json, and their parameter
// and FLOP counts. Hugging Face defaults are the ones transformers' config classes define.
#include "planner/model_spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace loom::planner {

namespace {

const std::vector<std::string>& hf_model_types() {
  static const std::vector<std::string> types = {"gpt2", "gpt_neox", "llama", "mistral", "qwen2"};
  return types;
}

// Reads the fields of one Hugging Face config, each error naming the file, field and value.
class HfFields {
 public:
  HfFields(const nlohmann::json& json, std::string origin, std::string model_type)
      : json_(json), origin_(std::move(origin)), model_type_(std::move(model_type)) {}

  bool present(const char* key) const { return json_.contains(key) && !json_.at(key).is_null(); }
  bool explicitly_null(const char* key) const { return json_.contains(key) && json_.at(key).is_null(); }

  int64_t positive(const char* key) const {
    if (!json_.contains(key))
      throw_user_error("[{}] {} config: missing field '{}' (a positive integer)", origin_, model_type_, key);
    return checked_positive(key);
  }

  // A positive integer, or `fallback` when the field is absent or null.
  int64_t positive_or(const char* key, int64_t fallback) const {
    return present(key) ? checked_positive(key) : fallback;
  }

  bool boolean_or(const char* key, bool fallback) const {
    if (!present(key)) return fallback;
    const auto& value = json_.at(key);
    if (!value.is_boolean()) throw_user_error("[{}] {}={} must be true or false", origin_, key, value.dump());
    return value.get<bool>();
  }

  float number_or(const char* key, float fallback) const {
    if (!present(key)) return fallback;
    const auto& value = json_.at(key);
    if (!value.is_number() || !(value.get<double>() > 0.0))
      throw_user_error("[{}] {}={} must be a positive number", origin_, key, value.dump());
    return value.get<float>();
  }

  const std::string& origin() const { return origin_; }

 private:
  int64_t checked_positive(const char* key) const {
    const auto& value = json_.at(key);
    if (!value.is_number_integer() || value.get<int64_t>() <= 0)
      throw_user_error("[{}] {}={} must be a positive integer", origin_, key, value.dump());
    return value.get<int64_t>();
  }

  const nlohmann::json& json_;
  std::string origin_;
  std::string model_type_;
};

std::string hf_model_name(const nlohmann::json& json, const std::string& origin) {
  if (json.contains("_name_or_path") && json.at("_name_or_path").is_string() &&
      !json.at("_name_or_path").get<std::string>().empty())
    return json.at("_name_or_path").get<std::string>();
  const std::filesystem::path path(origin);
  if (path.stem() == "config" && !path.parent_path().filename().empty()) return path.parent_path().filename().string();
  return path.stem().string();
}

void validate_shape(const ModelSpec& spec, const std::string& origin, const char* heads_field, const char* hidden_field,
                    const char* kv_heads_field) {
  if (spec.hidden % spec.heads != 0) {
    throw_user_error("[{}] {}={} does not divide {}={} (valid: {})", origin, heads_field, spec.heads, hidden_field,
                     spec.hidden, fmt::join(nn::divisors(spec.hidden), ", "));
  }
  if (spec.heads % spec.kv_heads != 0) {
    throw_user_error("[{}] {}={} does not divide {}={} (valid: {})", origin, kv_heads_field, spec.kv_heads, heads_field,
                     spec.heads, fmt::join(nn::divisors(spec.heads), ", "));
  }
}

ModelSpec parse_gpt2(const HfFields& fields) {
  ModelSpec spec;
  spec.family = "gpt2";
  spec.layers = fields.positive("n_layer");
  spec.hidden = fields.positive("n_embd");
  spec.heads = fields.positive("n_head");
  spec.kv_heads = spec.heads;
  spec.ffn_hidden = fields.positive_or("n_inner", 4 * spec.hidden);
  spec.vocab_size = fields.positive("vocab_size");
  spec.max_positions = fields.positive("n_positions");
  spec.tie_embeddings = fields.boolean_or("tie_word_embeddings", true);
  spec.gated_mlp = false;
  spec.norm = NormType::layernorm;
  spec.qkv_bias = spec.out_bias = spec.mlp_bias = true;
  spec.learned_positions = true;
  spec.norm_eps = fields.number_or("layer_norm_epsilon", 1e-5f);
  validate_shape(spec, fields.origin(), "n_head", "n_embd", "n_head");
  spec.runnable = true;
  return spec;
}

ModelSpec parse_gpt_neox(const HfFields& fields) {
  ModelSpec spec;
  spec.family = "gpt_neox";
  spec.layers = fields.positive("num_hidden_layers");
  spec.hidden = fields.positive("hidden_size");
  spec.heads = fields.positive("num_attention_heads");
  spec.kv_heads = spec.heads;
  spec.ffn_hidden = fields.positive("intermediate_size");
  spec.vocab_size = fields.positive("vocab_size");
  spec.max_positions = fields.positive("max_position_embeddings");
  spec.tie_embeddings = fields.boolean_or("tie_word_embeddings", false);
  spec.gated_mlp = false;
  spec.norm = NormType::layernorm;
  spec.qkv_bias = spec.out_bias = spec.mlp_bias = true;
  spec.learned_positions = false;
  spec.norm_eps = fields.number_or("layer_norm_eps", 1e-5f);
  spec.rope_theta = fields.number_or("rotary_emb_base", 10000.0f);
  validate_shape(spec, fields.origin(), "num_attention_heads", "hidden_size", "num_attention_heads");
  spec.runnable = false;
  spec.not_runnable_reason = fields.boolean_or("use_parallel_residual", true)
                                 ? "GPT-NeoX runs attention and MLP in parallel (use_parallel_residual) with "
                                   "partial rotary embeddings; Loom's blocks are sequential with full rotary"
                                 : "GPT-NeoX uses partial rotary embeddings (rotary_pct) and biases on every "
                                   "linear; Loom's llama blocks have neither";
  return spec;
}

// Llama, Mistral and Qwen2 share one shape: RMSNorm, SwiGLU, rotary, optional grouped-query attention.
ModelSpec parse_llama_like(const HfFields& fields, const std::string& model_type) {
  ModelSpec spec;
  spec.family = model_type;
  spec.layers = fields.positive("num_hidden_layers");
  spec.hidden = fields.positive("hidden_size");
  spec.heads = fields.positive("num_attention_heads");
  spec.kv_heads = fields.positive_or("num_key_value_heads", spec.heads);
  spec.ffn_hidden = fields.positive("intermediate_size");
  spec.vocab_size = fields.positive("vocab_size");
  spec.max_positions = fields.positive("max_position_embeddings");
  spec.tie_embeddings = fields.boolean_or("tie_word_embeddings", false);
  spec.gated_mlp = true;
  spec.norm = NormType::rmsnorm;
  spec.learned_positions = false;
  spec.norm_eps = fields.number_or("rms_norm_eps", 1e-6f);
  spec.rope_theta = fields.number_or("rope_theta", 10000.0f);
  validate_shape(spec, fields.origin(), "num_attention_heads", "hidden_size", "num_key_value_heads");
  if (fields.present("head_dim")) {
    const int64_t head_dim = fields.positive("head_dim");
    if (head_dim != spec.head_dim())
      throw_user_error("[{}] head_dim={} differs from hidden_size/num_attention_heads={} (valid: {})", fields.origin(),
                       head_dim, spec.head_dim(), spec.head_dim());
  }
  spec.runnable = true;
  if (model_type == "qwen2") {
    spec.qkv_bias = true;  // Qwen2's attention always has q, k and v biases
    spec.runnable = false;
    spec.not_runnable_reason = "Qwen2 has biases on the q, k and v projections; Loom's llama blocks have none";
  } else {
    spec.qkv_bias = spec.out_bias = fields.boolean_or("attention_bias", false);
    spec.mlp_bias = fields.boolean_or("mlp_bias", false);
    if (spec.qkv_bias || spec.mlp_bias) {
      spec.runnable = false;
      spec.not_runnable_reason = "attention_bias or mlp_bias is set; Loom's llama blocks have no biases";
    }
  }
  if (model_type == "mistral") {
    // MistralConfig's sliding_window defaults to 4096; null means full attention.
    const int64_t window = fields.explicitly_null("sliding_window") ? 0 : fields.positive_or("sliding_window", 4096);
    if (window > 0 && window < spec.max_positions && spec.runnable) {
      spec.runnable = false;
      spec.not_runnable_reason =
          fmt::format("sliding_window={} is shorter than max_position_embeddings={}; Loom's attention is full", window,
                      spec.max_positions);
    }
  }
  return spec;
}

}  // namespace

nn::ModelConfig ModelSpec::to_model_config() const {
  if (!runnable)
    throw_user_error("model '{}' ({}) cannot be trained by Loom's runtime: {}", name, family, not_runnable_reason);
  nn::ModelConfig config;
  config.name = name;
  config.family = norm == NormType::layernorm ? nn::ModelFamily::gpt : nn::ModelFamily::llama;
  config.vocab_size = vocab_size;
  config.hidden = hidden;
  config.layers = layers;
  config.heads = heads;
  config.kv_heads = kv_heads;
  config.ffn_hidden = ffn_hidden;
  config.seq_len = max_positions;
  config.norm_eps = norm_eps;
  config.rope_theta = rope_theta;
  config.tie_embeddings = tie_embeddings;
  nn::validate_model_config(config, name);
  return config;
}

ModelSpec model_spec_from_config(const nn::ModelConfig& config) {
  const bool gpt = config.family == nn::ModelFamily::gpt;
  ModelSpec spec;
  spec.name = config.name;
  spec.family = gpt ? "loom-gpt" : "loom-llama";
  spec.layers = config.layers;
  spec.hidden = config.hidden;
  spec.heads = config.heads;
  spec.kv_heads = config.kv_heads;
  spec.ffn_hidden = config.ffn_hidden;
  spec.vocab_size = config.vocab_size;
  spec.max_positions = config.seq_len;
  spec.tie_embeddings = config.tie_embeddings;
  spec.gated_mlp = !gpt;
  spec.norm = gpt ? NormType::layernorm : NormType::rmsnorm;
  spec.qkv_bias = spec.out_bias = spec.mlp_bias = gpt;
  spec.learned_positions = gpt;
  spec.norm_eps = config.norm_eps;
  spec.rope_theta = config.rope_theta;
  spec.runnable = true;
  return spec;
}

ModelSpec parse_hf_config(const nlohmann::json& json, const std::string& origin) {
  if (!json.is_object()) throw_user_error("[{}] a Hugging Face config must be a JSON object", origin);
  if (!json.contains("model_type") || !json.at("model_type").is_string())
    throw_user_error("[{}] model_type={} is missing or not a string (valid: {})", origin,
                     json.contains("model_type") ? json.at("model_type").dump() : "missing",
                     fmt::join(hf_model_types(), ", "));
  const std::string model_type = json.at("model_type").get<std::string>();
  const HfFields fields(json, origin, model_type);
  ModelSpec spec;
  if (model_type == "gpt2") {
    spec = parse_gpt2(fields);
  } else if (model_type == "gpt_neox") {
    spec = parse_gpt_neox(fields);
  } else if (model_type == "llama" || model_type == "mistral" || model_type == "qwen2") {
    spec = parse_llama_like(fields, model_type);
  } else {
    throw_user_error("[{}] model_type='{}' is not supported (valid: {})", origin, model_type,
                     fmt::join(hf_model_types(), ", "));
  }
  spec.name = hf_model_name(json, origin);
  return spec;
}

ModelSpec load_model_spec(const std::string& name_or_path) {
  const bool looks_like_file = name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json");
  if (!looks_like_file) {
    const auto presets = nn::model_preset_names();
    if (std::find(presets.begin(), presets.end(), name_or_path) == presets.end())
      throw_user_error("--model: '{}' is neither a preset nor a .json file (presets: {})", name_or_path,
                       fmt::join(presets, ", "));
    return model_spec_from_config(nn::model_preset(name_or_path));
  }
  std::ifstream in(name_or_path);
  if (!in) throw_user_error("model file '{}' cannot be opened", name_or_path);
  nlohmann::json json;
  try {
    in >> json;
  } catch (const nlohmann::json::parse_error& error) {
    throw_user_error("model file '{}' is not valid JSON: {}", name_or_path, error.what());
  }
  if (!json.is_object()) throw_user_error("[{}] a model file must be a JSON object", name_or_path);
  if (json.contains("model_type")) return parse_hf_config(json, name_or_path);
  if (json.contains("version") || json.contains("family"))
    return model_spec_from_config(nn::parse_model_config(json, name_or_path));
  throw_user_error(
      "[{}] is neither a Loom model JSON (needs \"version\" and \"family\") nor a Hugging Face config.json "
      "(needs \"model_type\": {})",
      name_or_path, fmt::join(hf_model_types(), ", "));
}

int64_t layer_parameter_count(const ModelSpec& spec) {
  const int64_t h = spec.hidden;
  const int64_t qkv_out = h + 2 * spec.kv_hidden();
  const int64_t mlp_matrices = spec.gated_mlp ? 3 : 2;
  int64_t count = h * qkv_out + h * h + mlp_matrices * h * spec.ffn_hidden;
  if (spec.qkv_bias) count += qkv_out;
  if (spec.out_bias) count += h;
  if (spec.mlp_bias) count += (mlp_matrices - 1) * spec.ffn_hidden + h;      // up (and gate) biases, down bias
  const int64_t norm_params = spec.norm == NormType::layernorm ? 2 * h : h;  // gamma (and beta)
  return count + 2 * norm_params;  // one norm before attention, one before the MLP
}

int64_t parameter_count(const ModelSpec& spec) {
  const int64_t h = spec.hidden;
  int64_t count = spec.layers * layer_parameter_count(spec) + spec.vocab_size * h;
  if (spec.learned_positions) count += spec.max_positions * h;
  count += spec.norm == NormType::layernorm ? 2 * h : h;   // final norm
  if (!spec.tie_embeddings) count += spec.vocab_size * h;  // separate LM head
  return count;
}

double forward_flops_per_token(const ModelSpec& spec, int64_t seq) {
  const double h = double(spec.hidden);
  const double qkv = 2.0 * h * double(spec.hidden + 2 * spec.kv_hidden());
  // Scores q.k and the weighted sum of values: each token against all `seq` positions. Causal
  // masking is counted as full (as Megatron-LM's and PaLM's MFU formulas do): kernels that skip
  // the masked half do less work than this counts.
  const double attention = 2.0 * 2.0 * double(seq) * h;
  const double out_projection = 2.0 * h * h;
  const double mlp = 2.0 * (spec.gated_mlp ? 3.0 : 2.0) * h * double(spec.ffn_hidden);
  const double lm_head = 2.0 * h * double(spec.vocab_size);
  return double(spec.layers) * (qkv + attention + out_projection + mlp) + lm_head;
}

}  // namespace loom::planner
