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

Var TransformerModel::new_parameter(const std::string& name, const Shape& shape, float std, uint64_t seed) {
  Tensor value = Tensor::empty_in(shape, MemoryCategory::parameters);
  Rng rng(stream_seed(seed, name));
  float* data = value.f32();
  const int64_t count = value.numel();
  for (int64_t i = 0; i < count; ++i) data[i] = static_cast<float>(rng.normal() * std);
  Var var = Var::parameter(value, name);
  parameters_.push_back(var);
  return var;
}

Var TransformerModel::new_constant(const std::string& name, const Shape& shape, float value) {
  Tensor tensor = Tensor::empty_in(shape, MemoryCategory::parameters);
  tensor.fill(value);
  Var var = Var::parameter(tensor, name);
  parameters_.push_back(var);
  return var;
}

TransformerModel::TransformerModel(const ModelConfig& config, uint64_t seed) : config_(config) {
  validate_model_config(config_);
  const int64_t c = config_.hidden;
  const int64_t f = config_.ffn_hidden;
  const int64_t qkv = c + 2 * config_.kv_hidden();
  const bool gpt = config_.family == ModelFamily::gpt;
  const float std = config_.init_std;
  // Residual projections are scaled down by depth (GPT-2): each adds to the same stream.
  const float residual_std = std / std::sqrt(2.0f * static_cast<float>(config_.layers));

  token_embedding_ = new_parameter("embed.token", {config_.vocab_size, c}, std, seed);
  if (gpt) position_embedding_ = new_parameter("embed.position", {config_.seq_len, c}, std / 2, seed);
  blocks_.resize(static_cast<size_t>(config_.layers));
  for (int64_t l = 0; l < config_.layers; ++l) {
    BlockParameters& b = blocks_[static_cast<size_t>(l)];
    const std::string p = "block" + std::to_string(l) + ".";
    b.norm1_gamma = new_constant(p + "norm1.gamma", {c}, 1.0f);
    if (gpt) b.norm1_beta = new_constant(p + "norm1.beta", {c}, 0.0f);
    b.qkv_weight = new_parameter(p + "attn.qkv.weight", {qkv, c}, std, seed);
    if (gpt) b.qkv_bias = new_constant(p + "attn.qkv.bias", {qkv}, 0.0f);
    b.out_weight = new_parameter(p + "attn.out.weight", {c, c}, residual_std, seed);
    if (gpt) b.out_bias = new_constant(p + "attn.out.bias", {c}, 0.0f);
    b.norm2_gamma = new_constant(p + "norm2.gamma", {c}, 1.0f);
    if (gpt) b.norm2_beta = new_constant(p + "norm2.beta", {c}, 0.0f);
    b.fc_weight = new_parameter(p + (gpt ? "mlp.fc.weight" : "mlp.gate.weight"), {f, c}, std, seed);
    if (gpt) b.fc_bias = new_constant(p + "mlp.fc.bias", {f}, 0.0f);
    if (!gpt) b.up_weight = new_parameter(p + "mlp.up.weight", {f, c}, std, seed);
    b.proj_weight = new_parameter(p + (gpt ? "mlp.proj.weight" : "mlp.down.weight"), {c, f}, residual_std, seed);
    if (gpt) b.proj_bias = new_constant(p + "mlp.proj.bias", {c}, 0.0f);
  }
  final_gamma_ = new_constant("final_norm.gamma", {c}, 1.0f);
  if (gpt) final_beta_ = new_constant("final_norm.beta", {c}, 0.0f);
  head_weight_ = config_.tie_embeddings ? token_embedding_
                                        : new_parameter("head.weight", {config_.vocab_size, c}, std, seed);
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
    Tensor positions = Tensor::empty({batch, seq}, DType::i32);
    int32_t* p = positions.i32();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t = 0; t < seq; ++t) p[b * seq + t] = static_cast<int32_t>(t);
    x = af::add(x, af::embedding(Var(positions), position_embedding_));
  }
  return x;
}

Var TransformerModel::block(int layer, const Var& x) const {
  const BlockParameters& b = blocks_.at(static_cast<size_t>(layer));
  const bool gpt = config_.family == ModelFamily::gpt;
  const int64_t batch = x.shape()[0];
  const int64_t seq = x.shape()[1];
  const int64_t c = config_.hidden;
  const int64_t d = config_.head_dim();
  const float eps = config_.norm_eps;

  // Attention.
  Var h = gpt ? af::layer_norm(x, b.norm1_gamma, b.norm1_beta, eps) : af::rms_norm(x, b.norm1_gamma, eps);
  Var qkv = af::linear(h, b.qkv_weight, b.qkv_bias);
  std::vector<Var> pieces = af::split(qkv, {c, config_.kv_hidden(), config_.kv_hidden()});
  Var q = af::reshape(pieces[0], {batch, seq, config_.heads, d});
  Var k = af::reshape(pieces[1], {batch, seq, config_.kv_heads, d});
  Var v = af::reshape(pieces[2], {batch, seq, config_.kv_heads, d});
  if (!gpt) {
    q = af::rotary(q, config_.rope_theta);
    k = af::rotary(k, config_.rope_theta);
  }
  Var attention = af::reshape(af::causal_attention(q, k, v), {batch, seq, c});
  Var x1 = af::add(x, af::linear(attention, b.out_weight, b.out_bias));

  // MLP.
  Var h2 = gpt ? af::layer_norm(x1, b.norm2_gamma, b.norm2_beta, eps) : af::rms_norm(x1, b.norm2_gamma, eps);
  Var inner = gpt ? af::gelu(af::linear(h2, b.fc_weight, b.fc_bias))
                  : af::swiglu(af::linear(h2, b.fc_weight, Var()), af::linear(h2, b.up_weight, Var()));
  return af::add(x1, af::linear(inner, b.proj_weight, b.proj_bias));
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
  for (const Var* v : {&b.norm1_gamma, &b.norm1_beta, &b.qkv_weight, &b.qkv_bias, &b.out_weight, &b.out_bias,
                       &b.norm2_gamma, &b.norm2_beta, &b.fc_weight, &b.fc_bias, &b.up_weight, &b.proj_weight,
                       &b.proj_bias}) {
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
