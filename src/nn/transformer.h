// TransformerModel: GPT (learned positions, LayerNorm, GELU MLP, tied embeddings) and Llama
// (RMSNorm, rotary positions, SwiGLU MLP, untied head, grouped-query attention) from one config.
// The forward is exposed in pieces (embed, one block, head) so that a runtime can place a tape
// around one layer and one micro-batch, or replay one block's forward for recompute.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "nn/block.h"
#include "nn/model_config.h"

namespace loom::nn {

using autograd::Var;

// One parameter of the model: its name (which also seeds its initial values), shape and initial
// value, and where it belongs: `layer` -1 for the embeddings, 0..layers-1 for a block (then
// `member` says which), `layers` for the final norm and the head. The model builds itself from
// this list; the parallel runtime builds its shards from it.
struct ParameterSpec {
  std::string name;
  Shape shape;
  float init_std = 0.0f;    // > 0: normal(0, init_std) values
  float init_value = 0.0f;  // otherwise every element
  int layer = -1;
  Var BlockParameters::*member = nullptr;
};

// In the model's parameter order (embeddings, blocks, final norm, head; no head when tied).
std::vector<ParameterSpec> parameter_specs(const ModelConfig& config);
// The whole initial value of one parameter for `seed` (independent of every other parameter).
Tensor initial_parameter_value(const ParameterSpec& spec, uint64_t seed,
                               MemoryCategory category = MemoryCategory::parameters);

// Position ids [batch, seq] i32: 0..seq-1 in every row (GPT's learned positions).
Tensor position_ids(int64_t batch, int64_t seq);

class TransformerModel {
 public:
  // Parameters are initialised deterministically from the seed: each parameter draws from its
  // own stream keyed by its name, so the values do not depend on construction order.
  TransformerModel(const ModelConfig& config, uint64_t seed);

  const ModelConfig& config() const { return config_; }

  // ids [B, T] i32 -> hidden states [B, T, C].
  Var embed(const Tensor& ids) const;
  // One transformer block.
  Var block(int layer, const Var& x) const;
  // Final norm and output projection: [B, T, C] -> logits [B, T, V].
  Var logits(const Var& x) const;
  // Final norm, projection and mean cross-entropy against targets [B, T] i32.
  Var head_loss(const Var& x, const Tensor& targets) const;
  // The whole model: mean cross-entropy loss of a batch.
  Var loss(const Tensor& ids, const Tensor& targets) const;
  Var forward_logits(const Tensor& ids) const;

  // Every parameter, in a fixed order (embeddings, blocks, final norm, head).
  const std::vector<Var>& parameters() const { return parameters_; }
  std::vector<Var> block_parameters(int layer) const;
  int64_t parameter_count() const;

 private:
  ModelConfig config_;
  Var token_embedding_;     // [V, C]
  Var position_embedding_;  // GPT: [S, C]
  std::vector<BlockParameters> blocks_;
  Var final_gamma_, final_beta_;
  Var head_weight_;  // [V, C]; the token embedding when tied
  std::vector<Var> parameters_;
};

}  // namespace loom::nn
