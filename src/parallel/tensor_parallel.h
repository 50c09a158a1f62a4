// Tensor parallelism (Megatron-LM): differentiable collectives over a TP group, the BlockComm that
// makes nn::block_forward run on a rank's shards, the placement of every block parameter, and the
// vocabulary-parallel embedding and fused cross-entropy.
#pragma once

#include "autograd/variable.h"
#include "comm/communicator.h"
#include "nn/block.h"
#include "nn/model_config.h"
#include "nn/transformer.h"
#include "parallel/placement.h"

namespace loom::parallel {

using autograd::Var;

// Megatron's f: identity forward, all-reduce (sum) of the gradient over the group in backward.
Var copy_to_group(const Var& x, comm::Communicator& group);
// Megatron's g: all-reduce (sum) forward, identity backward.
Var reduce_from_group(const Var& x, comm::Communicator& group);
// Sequence parallel: all-gather along `dim` forward, reduce-scatter along `dim` backward.
Var gather_along_reduce_grad(const Var& x, int dim, comm::Communicator& group);
// Sequence parallel: reduce-scatter along `dim` forward, all-gather backward.
Var reduce_scatter_along(const Var& x, int dim, comm::Communicator& group);

// The hooks of nn::block_forward for a TP group (f/g, or the sequence-parallel pair along dim 1).
class TensorParallelComm : public nn::BlockComm {
 public:
  TensorParallelComm(comm::Communicator& group, bool sequence_parallel);
  int degree() const override;
  Var enter(const Var& x) const override;
  Var leave(const Var& x) const override;

 private:
  comm::Communicator& group_;
  bool sequence_parallel_;
};

// How a block parameter is split over the TP axis: QKV weight and bias Shard(0) by segments
// (query, key, value rows), attention output weight Shard(1), MLP fc/gate/up weight and fc bias
// Shard(0), MLP proj/down weight Shard(1); norms and the output biases Replicate.
Placement block_parameter_placement(const nn::ModelConfig& config, nn::Var nn::BlockParameters::*member);
// With sequence parallelism the replicated parameters (the norms, and the attention-output and
// MLP-projection biases added after the reduce-scatter) see only a sequence shard: their
// gradients are partial sums over the TP group (the runtime all-reduces them).
bool gradient_partial_under_sequence_parallel(nn::Var nn::BlockParameters::*member);

// Vocabulary parallelism over a group of t ranks: the table [V, C] is padded to padded_vocab(V, t)
// rows and split by rows; rank r holds rows [r Vp/t, (r+1) Vp/t).
// Embedding lookup: rows outside my range contribute zero, then g (all-reduce) over the group.
Var vocab_parallel_embedding(const Tensor& ids, const Var& local_table, int64_t vocab_start, comm::Communicator& group);
// Mean cross-entropy of local logits [rows, Vp/t] (columns vocab_start...) against targets
// [rows] i32, where only the first `vocab` of the padded columns are real; the max, the sum of
// exponentials and the target logit are all-reduced over the group; backward is local.
Var vocab_parallel_cross_entropy(const Var& local_logits, const Tensor& targets, int64_t vocab_start, int64_t vocab,
                                 comm::Communicator& group);

}  // namespace loom::parallel
