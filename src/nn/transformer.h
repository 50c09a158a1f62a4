// TransformerModel: GPT (learned positions, LayerNorm, GELU MLP, tied embeddings) and Llama
// (RMSNorm, rotary positions, SwiGLU MLP, untied head, grouped-query attention) from one config.
// The forward is exposed in pieces (embed, one block, head) so that a runtime can place a tape
// around one layer and one micro-batch, or replay one block's forward for recompute.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "nn/model_config.h"

namespace loom::nn {

using autograd::Var;

struct BlockParameters {
  Var norm1_gamma, norm1_beta;   // beta: GPT only
  Var qkv_weight, qkv_bias;      // [C + 2 Ckv, C]; bias: GPT only
  Var out_weight, out_bias;      // [C, C]
  Var norm2_gamma, norm2_beta;
  Var fc_weight, fc_bias;        // GPT: [F, C]; Llama: gate [F, C]
  Var up_weight;                 // Llama only: [F, C]
  Var proj_weight, proj_bias;    // [C, F]
};

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
  Var new_parameter(const std::string& name, const Shape& shape, float std, uint64_t seed);
  Var new_constant(const std::string& name, const Shape& shape, float value);

  ModelConfig config_;
  Var token_embedding_;     // [V, C]
  Var position_embedding_;  // GPT: [S, C]
  std::vector<BlockParameters> blocks_;
  Var final_gamma_, final_beta_;
  Var head_weight_;  // [V, C]; the token embedding when tied
  std::vector<Var> parameters_;
};

}  // namespace loom::nn
