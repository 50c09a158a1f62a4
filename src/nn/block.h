// One transformer block (GPT or Llama), written once for one process and for tensor parallelism.
// With tensor parallelism (Megatron-LM) a rank holds a slice of the attention heads and of the MLP's
// hidden units: the QKV and first MLP linears are column-parallel (their output features split),
// the attention output and second MLP linears row-parallel (their input features split, so each
// rank's product is a partial sum). BlockComm says where the group communicates: `enter` before the
// column-parallel linears and `leave` after the row-parallel ones (before their bias). One process
// uses the identity; the runtime's hooks are Megatron's f/g, or all-gather/reduce-scatter along the
// sequence with sequence parallelism.
#pragma once

#include "autograd/variable.h"
#include "nn/model_config.h"

namespace loom::nn {

using autograd::Var;

// The weights of one block as a rank holds them (whole, or its tensor-parallel shards).
struct BlockParameters {
  Var norm1_gamma, norm1_beta;  // beta: GPT only
  Var qkv_weight, qkv_bias;     // [Cq + 2 Ckv, C]: rows of the local query, key and value heads; bias: GPT only
  Var out_weight, out_bias;     // [C, Cq]; the bias is not split
  Var norm2_gamma, norm2_beta;
  Var fc_weight, fc_bias;      // GPT: [F, C]; Llama: gate [F, C]
  Var up_weight;               // Llama only: [F, C]
  Var proj_weight, proj_bias;  // [C, F]; the bias is not split
};

class BlockComm {
 public:
  virtual ~BlockComm() = default;
  // Ranks the heads and hidden units are split over (1: the whole block here).
  virtual int degree() const { return 1; }
  // The normalised input on its way into the column-parallel linears.
  virtual Var enter(const Var& x) const { return x; }
  // A row-parallel linear's partial output on its way back to the residual stream.
  virtual Var leave(const Var& x) const { return x; }
};

// x [B, T, C] (with sequence parallelism [B, T / degree, C]) -> the block's output, same shape.
Var block_forward(const ModelConfig& config, const BlockParameters& weights, const Var& x,
                  const BlockComm& comm = BlockComm());

}  // namespace loom::nn
