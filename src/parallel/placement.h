// Placements (PaddlePaddle's vocabulary, Hetu's sharding states): how a tensor is laid out over
// one axis of the mesh. Shard(dim) splits dimension `dim` evenly over the axis (with `segments`,
// each of those consecutive pieces of the dimension is split separately: the fused QKV weight
// splits its query, key and value rows head-wise); Replicate holds the whole tensor on every rank
// of the axis; Partial holds a summand (the full value is the sum over the axis).
//
// A layout is one placement per mesh axis (dp, tp). `derive_reshard` compares two layouts on the
// same stage mesh and names the collective that converts one into the other (all-gather,
// reduce-scatter, all-reduce, local slice, all-to-all, or a general exchange when the groups of
// the two layouts do not line up); `reshard` runs it, differentiably: its backward moves the
// gradient back from the second layout to the first.
#pragma once

#include <string>
#include <vector>

#include "autograd/variable.h"
#include "core/tensor.h"
#include "parallel/mesh.h"

namespace loom::parallel {

struct Placement {
  enum class Kind { replicate, shard, partial };
  Kind kind = Kind::replicate;
  int dim = 0;
  std::vector<int64_t> segments;  // shard only; empty: the whole dimension is one segment

  static Placement replicate() { return {}; }
  static Placement partial() { return {Kind::partial, 0, {}}; }
  static Placement shard(int dim, std::vector<int64_t> segments = {}) {
    return {Kind::shard, dim, std::move(segments)};
  }
  bool operator==(const Placement&) const = default;
  std::string describe() const;  // "Replicate", "Partial", "Shard(0)", "Shard(0, segments 256+256+256)"
};

// Shard `index` of `count` of a full tensor under a placement (replicate: a copy of the whole;
// partial is not a way to split and is refused). The result is contiguous.
Tensor shard_tensor(const Tensor& full, const Placement& placement, int index, int count,
                    MemoryCategory category = MemoryCategory::parameters);
// The shape of that shard.
Shape shard_shape(const Shape& full, const Placement& placement, int count);
// Inverse: the full tensor from all `count` shards in index order.
Tensor unshard_tensor(const std::vector<Tensor>& shards, const Placement& placement);

// An activation's layout on a stage: the grid it is on, the batch dimension (0) sharded over the
// dp axis, and over the tp axis replicated or, with sequence parallelism, sharded along dim 1.
struct ActivationLayout {
  GridLayout grid;
  bool sequence_sharded = false;
  bool operator==(const ActivationLayout&) const = default;
  std::string describe() const;
};

// What moving an activation from one layout to another costs and does, derived from the two
// layouts (for docs, tests and the planner's resharding cost).
struct ReshardPlan {
  enum class Kind { identity, local_slice, all_gather, all_to_all, exchange };
  Kind kind = Kind::identity;
  std::string description;  // e.g. "all-gather of the batch over TP groups of 2 (consecutive)"
  // Elements a rank sends and receives per element of the full activation (for cost models): the
  // busiest rank's, over the blocks reshard really moves.
  double send_fraction = 0.0;
  double receive_fraction = 0.0;
};
ReshardPlan derive_reshard(const ActivationLayout& from, const ActivationLayout& to, int stage_size);

// Moves `x` (this rank's part under `from`, shape [b, t, C]) to its part under `to`; recorded on
// the tape when x needs a gradient (the backward moves the gradient from `to` back to `from`).
// `full_batch` and `full_seq` are the micro-batch's whole sizes. Collective over the stage.
autograd::Var reshard(const autograd::Var& x, const ActivationLayout& from, const ActivationLayout& to,
                      DeviceMesh& mesh, int64_t full_batch, int64_t full_seq);

}  // namespace loom::parallel
