// The GPT and Llama decoders, written with the differentiable functions of autograd/.
#include "nn/transformer.h"

#include <cmath>

#include "autograd/functions.h"
#include "core/error.h"
#include "core/random.h"

namespace loom::nn {

namespace af = autograd;

namespace {
// FNV-1a of a parameter name, mixed with the seed: one independent stream per parameter.
uint64_t stream_seed(uint64_t seed, const std::string& name) {
  uint64_t hash = 1469598103934665603ull;
  for (char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash ^ (seed * 0x9e3779b97f4a7c15ull);
}
}  // namespace

std::vector<ParameterSpec> parameter_specs(const ModelConfig& config) {
  validate_model_config(config);
  const int64_t c = config.hidden;
  const int64_t f = config.ffn_hidden;
  const int64_t qkv = c + 2 * config.kv_hidden();
  const bool gpt = config.family == ModelFamily::gpt;
  const float std = config.init_std;
  // Residual projections are scaled down by depth (GPT-2): each adds to the same stream.
  const float residual_std = std / std::sqrt(2.0f * static_cast<float>(config.layers));
  const int layers = static_cast<int>(config.layers);

  std::vector<ParameterSpec> specs;
  auto normal = [&](std::string name, Shape shape, float init_std, int layer, Var BlockParameters::*member) {
    specs.push_back({std::move(name), std::move(shape), init_std, 0.0f, layer, member});
  };
  auto constant = [&](std::string name, Shape shape, float value, int layer, Var BlockParameters::*member) {
    specs.push_back({std::move(name), std::move(shape), 0.0f, value, layer, member});
  };
  normal("embed.token", {config.vocab_size, c}, std, -1, nullptr);
  if (gpt) normal("embed.position", {config.seq_len, c}, std / 2, -1, nullptr);
  for (int l = 0; l < layers; ++l) {
    const std::string p = "block" + std::to_string(l) + ".";
    constant(p + "norm1.gamma", {c}, 1.0f, l, &BlockParameters::norm1_gamma);
    if (gpt) constant(p + "norm1.beta", {c}, 0.0f, l, &BlockParameters::norm1_beta);
    normal(p + "attn.qkv.weight", {qkv, c}, std, l, &BlockParameters::qkv_weight);
    if (gpt) constant(p + "attn.qkv.bias", {qkv}, 0.0f, l, &BlockParameters::qkv_bias);
    normal(p + "attn.out.weight", {c, c}, residual_std, l, &BlockParameters::out_weight);
    if (gpt) constant(p + "attn.out.bias", {c}, 0.0f, l, &BlockParameters::out_bias);
    constant(p + "norm2.gamma", {c}, 1.0f, l, &BlockParameters::norm2_gamma);
    if (gpt) constant(p + "norm2.beta", {c}, 0.0f, l, &BlockParameters::norm2_beta);
    normal(p + (gpt ? "mlp.fc.weight" : "mlp.gate.weight"), {f, c}, std, l, &BlockParameters::fc_weight);
    if (gpt) constant(p + "mlp.fc.bias", {f}, 0.0f, l, &BlockParameters::fc_bias);
    if (!gpt) normal(p + "mlp.up.weight", {f, c}, std, l, &BlockParameters::up_weight);
    normal(p + (gpt ? "mlp.proj.weight" : "mlp.down.weight"), {c, f}, residual_std, l, &BlockParameters::proj_weight);
    if (gpt) constant(p + "mlp.proj.bias", {c}, 0.0f, l, &BlockParameters::proj_bias);
  }
  constant("final_norm.gamma", {c}, 1.0f, layers, nullptr);
  if (gpt) constant("final_norm.beta", {c}, 0.0f, layers, nullptr);
  if (!config.tie_embeddings) normal("head.weight", {config.vocab_size, c}, std, layers, nullptr);
  return specs;
}

Tensor initial_parameter_value(const ParameterSpec& spec, uint64_t seed, MemoryCategory category) {
  Tensor value = Tensor::empty_in(spec.shape, category);
  if (spec.init_std > 0.0f) {
    Rng rng(stream_seed(seed, spec.name));
    float* data = value.f32();
    const int64_t count = value.numel();
    for (int64_t i = 0; i < count; ++i) data[i] = static_cast<float>(rng.normal() * spec.init_std);
  } else {
    value.fill(spec.init_value);
  }
  return value;
}

TransformerModel::TransformerModel(const ModelConfig& config, uint64_t seed) : config_(config) {
  blocks_.resize(static_cast<size_t>(config_.layers));
  for (const ParameterSpec& spec : parameter_specs(config_)) {
    Var var = Var::parameter(initial_parameter_value(spec, seed), spec.name);
    parameters_.push_back(var);
    if (spec.member != nullptr) {
      blocks_[static_cast<size_t>(spec.layer)].*spec.member = var;
    } else if (spec.name == "embed.token") {
      token_embedding_ = var;
    } else if (spec.name == "embed.position") {
      position_embedding_ = var;
    } else if (spec.name == "final_norm.gamma") {
      final_gamma_ = var;
    } else if (spec.name == "final_norm.beta") {
      final_beta_ = var;
    } else {
      head_weight_ = var;
    }
  }
  if (config_.tie_embeddings) head_weight_ = token_embedding_;
}

Tensor position_ids(int64_t batch, int64_t seq) {
  Tensor positions = Tensor::empty({batch, seq}, DType::i32);
  int32_t* p = positions.i32();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq; ++t) p[b * seq + t] = static_cast<int32_t>(t);
  return positions;
}

Var TransformerModel::embed(const Tensor& ids) const {
  LOOM_CHECK(ids.ndim() == 2 && ids.dtype() == DType::i32, "embed expects i32 [B, T] ids, got {}", ids.describe());
  const int64_t batch = ids.dim(0);
  const int64_t seq = ids.dim(1);
  if (seq > config_.seq_len) {
    throw_user_error("sequence length {} exceeds the model's seq_len={}", seq, config_.seq_len);
  }
  Var x = af::embedding(Var(ids), token_embedding_);
  if (config_.family == ModelFamily::gpt) {
    x = af::add(x, af::embedding(Var(position_ids(batch, seq)), position_embedding_));
  }
  return x;
}

Var TransformerModel::block(int layer, const Var& x) const {
  return block_forward(config_, blocks_.at(static_cast<size_t>(layer)), x);
}

Var TransformerModel::logits(const Var& x) const {
  Var h = config_.family == ModelFamily::gpt ? af::layer_norm(x, final_gamma_, final_beta_, config_.norm_eps)
                                             : af::rms_norm(x, final_gamma_, config_.norm_eps);
  return af::matmul(h, head_weight_, false, true);
}

Var TransformerModel::head_loss(const Var& x, const Tensor& targets) const {
  Var out = logits(x);
  const int64_t rows = out.value().numel() / config_.vocab_size;
  return af::cross_entropy(af::reshape(out, {rows, config_.vocab_size}), Var(targets.reshape({rows})));
}

Var TransformerModel::loss(const Tensor& ids, const Tensor& targets) const {
  Var x = embed(ids);
  for (int l = 0; l < static_cast<int>(config_.layers); ++l) x = block(l, x);
  return head_loss(x, targets);
}

Var TransformerModel::forward_logits(const Tensor& ids) const {
  Var x = embed(ids);
  for (int l = 0; l < static_cast<int>(config_.layers); ++l) x = block(l, x);
  return logits(x);
}

std::vector<Var> TransformerModel::block_parameters(int layer) const {
  const BlockParameters& b = blocks_.at(static_cast<size_t>(layer));
  std::vector<Var> result;
  for (const Var* v :
       {&b.norm1_gamma, &b.norm1_beta, &b.qkv_weight, &b.qkv_bias, &b.out_weight, &b.out_bias, &b.norm2_gamma,
        &b.norm2_beta, &b.fc_weight, &b.fc_bias, &b.up_weight, &b.proj_weight, &b.proj_bias}) {
    if (v->defined()) result.push_back(*v);
  }
  return result;
}

int64_t TransformerModel::parameter_count() const {
  int64_t count = 0;
  for (const Var& p : parameters_) count += p.value().numel();
  return count;
}

}  // namespace loom::nn
