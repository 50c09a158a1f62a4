// Model presets, the model JSON parser, writer and validator.
#include "nn/model_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <set>

#include "core/error.h"

namespace loom::nn {

namespace {

ModelConfig gpt(std::string name, int64_t vocab, int64_t hidden, int64_t layers, int64_t heads, int64_t seq) {
  ModelConfig config;
  config.name = std::move(name);
  config.family = ModelFamily::gpt;
  config.vocab_size = vocab;
  config.hidden = hidden;
  config.layers = layers;
  config.heads = heads;
  config.kv_heads = heads;
  config.ffn_hidden = 4 * hidden;
  config.seq_len = seq;
  config.tie_embeddings = true;
  return config;
}

}  // namespace

std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> result;
  for (int64_t d = 1; d <= n && result.size() < 12; ++d)
    if (n % d == 0) result.push_back(d);
  return result;
}

int64_t ModelConfig::block_parameter_count() const {
  const int64_t c = hidden;
  const int64_t attention = c * (c + 2 * kv_hidden()) + c * c;
  if (family == ModelFamily::gpt) {
    const int64_t biases = (c + 2 * kv_hidden()) + c + ffn_hidden + c;
    return attention + 2 * c * ffn_hidden + biases + 4 * c;  // + two LayerNorms (gamma, beta)
  }
  return attention + 3 * c * ffn_hidden + 2 * c;  // + two RMSNorm gammas
}

int64_t ModelConfig::parameter_count() const {
  int64_t count = layers * block_parameter_count() + vocab_size * hidden;  // blocks + token embedding
  if (family == ModelFamily::gpt) count += seq_len * hidden + 2 * hidden;  // positions, final LayerNorm
  if (family == ModelFamily::llama) count += hidden;                       // final RMSNorm
  if (!tie_embeddings) count += vocab_size * hidden;                       // separate head
  return count;
}

double ModelConfig::training_flops(int64_t tokens, int64_t seq) const {
  return 6.0 * double(parameter_count()) * double(tokens) +
         6.0 * double(layers) * double(seq) * double(hidden) * double(tokens);
}

std::string family_name(ModelFamily family) {
  return family == ModelFamily::gpt ? "gpt" : "llama";
}

std::vector<std::string> model_preset_names() {
  return {"tiny", "llama-tiny", "gpt-bench", "gpt2-small"};
}

ModelConfig model_preset(const std::string& name) {
  if (name == "tiny") {
    // The default: a byte-level GPT that learns the synthetic corpus in about two minutes.
    return gpt("tiny", 256, 256, 6, 8, 256);
  }
  if (name == "llama-tiny") {
    ModelConfig config = gpt("llama-tiny", 256, 192, 4, 6, 128);
    config.family = ModelFamily::llama;
    config.kv_heads = 2;
    config.ffn_hidden = 512;
    config.tie_embeddings = false;
    return config;
  }
  if (name == "gpt-bench") return gpt("gpt-bench", 8192, 512, 4, 8, 256);        // the benchmark's model
  if (name == "gpt2-small") return gpt("gpt2-small", 50257, 768, 12, 12, 1024);  // GPT-2 124M
  throw_user_error("--model: '{}' is neither a preset nor a .json file (presets: {})", name,
                   fmt::join(model_preset_names(), ", "));
}

ModelConfig load_model_config(const std::string& name_or_path) {
  const bool looks_like_file =
      name_or_path.find('/') != std::string::npos || (name_or_path.size() > 5 && name_or_path.ends_with(".json"));
  if (!looks_like_file) return model_preset(name_or_path);
  std::ifstream in(name_or_path);
  if (!in) throw_user_error("model file '{}' cannot be opened", name_or_path);
  nlohmann::json json;
  try {
    in >> json;
  } catch (const nlohmann::json::parse_error& error) {
    throw_user_error("model file '{}' is not valid JSON: {}", name_or_path, error.what());
  }
  return parse_model_config(json, name_or_path);
}

ModelConfig parse_model_config(const nlohmann::json& json, const std::string& origin) {
  if (!json.is_object()) throw_user_error("[{}] a model config must be a JSON object", origin);
  static const std::set<std::string> known = {"version",  "name",       "family",         "vocab_size", "hidden",
                                              "layers",   "heads",      "kv_heads",       "ffn_hidden", "seq_len",
                                              "norm_eps", "rope_theta", "tie_embeddings", "init_std"};
  for (const auto& [key, value] : json.items()) {
    if (!known.contains(key))
      throw_user_error("[{}] unknown field '{}' (valid: {})", origin, key, fmt::join(known, ", "));
  }
  auto integer = [&](const char* key, bool required, int64_t fallback) -> int64_t {
    if (!json.contains(key)) {
      if (required) throw_user_error("[{}] missing field '{}'", origin, key);
      return fallback;
    }
    const auto& value = json.at(key);
    if (!value.is_number_integer()) throw_user_error("[{}] {}={} must be an integer", origin, key, value.dump());
    return value.get<int64_t>();
  };
  auto number = [&](const char* key, float fallback) -> float {
    if (!json.contains(key)) return fallback;
    const auto& value = json.at(key);
    if (!value.is_number()) throw_user_error("[{}] {}={} must be a number", origin, key, value.dump());
    return value.get<float>();
  };
  const int version = static_cast<int>(integer("version", false, 1));
  if (version != 1) throw_user_error("[{}] version={} is not supported (valid: 1)", origin, version);

  ModelConfig config;
  config.name = json.value("name", std::string("custom"));
  const std::string family = json.contains("family") && json.at("family").is_string()
                                 ? json.at("family").get<std::string>()
                                 : (json.contains("family") ? json.at("family").dump() : std::string());
  if (family == "gpt") {
    config.family = ModelFamily::gpt;
  } else if (family == "llama") {
    config.family = ModelFamily::llama;
  } else {
    throw_user_error("[{}] family={} is not known (valid: gpt, llama)", origin, family.empty() ? "missing" : family);
  }
  const bool llama = config.family == ModelFamily::llama;
  config.vocab_size = integer("vocab_size", true, 0);
  config.hidden = integer("hidden", true, 0);
  config.layers = integer("layers", true, 0);
  config.heads = integer("heads", true, 0);
  config.kv_heads = integer("kv_heads", false, config.heads);
  config.ffn_hidden = integer("ffn_hidden", false, 4 * config.hidden);
  config.seq_len = integer("seq_len", true, 0);
  config.norm_eps = number("norm_eps", llama ? 1e-5f : 1e-5f);
  config.rope_theta = number("rope_theta", 10000.0f);
  config.init_std = number("init_std", 0.02f);
  if (json.contains("tie_embeddings")) {
    if (!json.at("tie_embeddings").is_boolean())
      throw_user_error("[{}] tie_embeddings={} must be true or false", origin, json.at("tie_embeddings").dump());
    config.tie_embeddings = json.at("tie_embeddings").get<bool>();
  } else {
    config.tie_embeddings = !llama;
  }
  validate_model_config(config, origin);
  return config;
}

nlohmann::json model_config_to_json(const ModelConfig& config) {
  return {{"version", 1},
          {"name", config.name},
          {"family", family_name(config.family)},
          {"vocab_size", config.vocab_size},
          {"hidden", config.hidden},
          {"layers", config.layers},
          {"heads", config.heads},
          {"kv_heads", config.kv_heads},
          {"ffn_hidden", config.ffn_hidden},
          {"seq_len", config.seq_len},
          {"norm_eps", config.norm_eps},
          {"rope_theta", config.rope_theta},
          {"tie_embeddings", config.tie_embeddings},
          {"init_std", config.init_std}};
}

void validate_model_config(const ModelConfig& config, const std::string& origin) {
  auto positive = [&](const char* field, int64_t value) {
    if (value <= 0) throw_user_error("[{}] {}={} must be a positive integer", origin, field, value);
  };
  positive("vocab_size", config.vocab_size);
  positive("hidden", config.hidden);
  positive("layers", config.layers);
  positive("heads", config.heads);
  positive("kv_heads", config.kv_heads);
  positive("ffn_hidden", config.ffn_hidden);
  positive("seq_len", config.seq_len);
  if (config.hidden % config.heads != 0) {
    throw_user_error("[{}] heads={} does not divide hidden={} (valid heads: {})", origin, config.heads, config.hidden,
                     fmt::join(divisors(config.hidden), ", "));
  }
  if (config.heads % config.kv_heads != 0) {
    throw_user_error("[{}] kv_heads={} does not divide heads={} (valid kv_heads: {})", origin, config.kv_heads,
                     config.heads, fmt::join(divisors(config.heads), ", "));
  }
  if (config.family == ModelFamily::gpt && config.kv_heads != config.heads) {
    throw_user_error("[{}] kv_heads={} differs from heads={}: grouped-query attention needs family llama", origin,
                     config.kv_heads, config.heads);
  }
  if (config.family == ModelFamily::llama && config.head_dim() % 2 != 0) {
    throw_user_error("[{}] hidden/heads={} is odd; rotary embedding needs an even head size", origin,
                     config.head_dim());
  }
  if (!(config.norm_eps > 0.0f)) throw_user_error("[{}] norm_eps={} must be positive", origin, config.norm_eps);
  if (!(config.rope_theta > 0.0f)) throw_user_error("[{}] rope_theta={} must be positive", origin, config.rope_theta);
  if (!(config.init_std > 0.0f)) throw_user_error("[{}] init_std={} must be positive", origin, config.init_std);
  if (config.vocab_size > (int64_t{1} << 31) - 1)
    throw_user_error("[{}] vocab_size={} is too large (at most 2^31-1)", origin, config.vocab_size);
}

}  // namespace loom::nn
