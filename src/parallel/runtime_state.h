// Internals of the hybrid-parallel executor (parallel/runtime.h), shared by its three sources:
// runtime_setup.cpp builds units, buckets and neighbour groups from the plan; runtime.cpp runs a
// step (forward, backward, the pipeline program, gradient synchronisation, the update);
// training_state.cpp moves the whole state in and out (checkpoints, tests). Not a public API.
//
// A unit is one piece of the model on this rank (the embedding, the token table, one layer, the
// head) with its own layout, sharding stage and flat buffers.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tape.h"
#include "comm/async.h"
#include "nn/block.h"
#include "nn/transformer.h"
#include "parallel/placement.h"
#include "parallel/runtime.h"

namespace loom::parallel {

using autograd::Var;
using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

enum class UnitKind { embedding, table, layer, head };

struct ParamEntry {
  nn::ParameterSpec spec;
  Placement placement;  // over the unit's TP axis
  Shape local_shape;
  int64_t offset = 0;  // in the unit's flat buffer
  int64_t numel = 0;
  bool decay = false;         // AdamW weight decay (matrices)
  bool grad_partial = false;  // gradient is a partial sum over TP (sequence-parallel norms)
  Var var;
};

// One piece of the model on this rank with its own layout, sharding stage and flat buffers.
struct Unit {
  UnitKind kind = UnitKind::layer;
  int layer = -1;
  std::string name;
  GridLayout grid;
  int sharding = 0;
  bool recompute = false;
  bool sequence_parallel = false;
  comm::Communicator* tp = nullptr;
  comm::Communicator* dp = nullptr;
  int tp_rank = 0, tp_size = 1, dp_rank = 0, dp_size = 1;
  std::vector<ParamEntry> params;
  int64_t numel = 0, padded = 0, shard = 0;
  Tensor flat;        // [padded] parameters; sharding 3: released between uses
  Tensor master;      // sharding 3: [shard], the only persistent copy
  Tensor grads;       // [padded]: sharding 0/1 a slice of the bucket; 2/3 allocated per micro-batch
  Tensor grad_shard;  // sharding 2/3: [shard] accumulated over micro-batches
  Tensor m, v;        // AdamW moments over what this rank updates
  nn::BlockParameters block;
  int bucket = -1;
  int touches_per_micro_batch = 1;  // backward passes that add to this unit's gradients per micro-batch
  int touches = 0;                  // this step
  int touches_this_micro_batch = 0;
  std::shared_ptr<comm::Work> gather;       // sharding 3: an in-flight parameter gather
  std::shared_ptr<comm::Work> reduce_work;  // sharding 2/3: the last queued gradient reduce-scatter
  bool counts_in_norm = true;               // false for the tied table's copy on the last stage
  ActivationLayout input_layout;            // compute units: the layout their input arrives in
  std::vector<int> touched;                 // compute units: the units whose parameters they use

  bool resident() const { return flat.storage()->resident(); }
  Var param(const std::string& suffix) const {
    for (const ParamEntry& p : params)
      if (p.spec.name.size() >= suffix.size() &&
          p.spec.name.compare(p.spec.name.size() - suffix.size(), suffix.size(), suffix) == 0)
        return p.var;
    return Var();
  }
};

struct Bucket {
  comm::Communicator* dp = nullptr;
  Tensor buffer;
  std::vector<int> units;
  int complete = 0;
  std::shared_ptr<comm::Work> work;
};

// One unit's record for one micro-batch between its forward and its backward.
struct UnitRun {
  autograd::Tape tape;
  Var input;   // leaf (undefined for the embedding)
  Var output;  // on the tape, or a constant when recomputed
};

struct ParallelTrainer::State {
  std::shared_ptr<comm::Communicator> world;
  ParallelPlan plan;
  nn::ModelConfig model;
  ParallelOptions options;
  std::unique_ptr<DeviceMesh> mesh;
  PipelineProgram program;
  int stage = 0;
  bool first = false, last = false;
  std::vector<Unit> units;         // forward order: [embedding, table], layers, [head, head table]
  std::vector<int> compute_units;  // those that run a forward: table, layers, head
  int embedding_unit = -1, table_unit = -1, head_unit = -1, head_table_unit = -1;
  std::vector<Bucket> buckets;
  // Pipeline neighbours: per direction one two-rank group, so each group's operations are begun
  // in the same order on both of its ranks.
  std::shared_ptr<comm::Communicator> forward_prev, backward_prev, forward_next, backward_next;
  std::shared_ptr<comm::Communicator> tied_pair;  // first and last stage, same local index
  int64_t steps = 0;

  // Per step.
  int64_t micro_rows = 0;
  int64_t seq = 0;  // of this step's batch (at most the model's seq_len)
  Tensor ids, targets;
  std::vector<std::vector<UnitRun>> runs;  // [micro-batch][unit]
  std::vector<Tensor> received_input, received_grad, grad_to_send, output_to_send;
  double loss_sum = 0.0;
  double exposed_ms = 0.0, pipeline_ms = 0.0;

  // --- layout helpers ---
  ActivationLayout unit_layout(const Unit& u) const {
    return ActivationLayout{u.grid, u.kind == UnitKind::layer && u.sequence_parallel};
  }
  // The rows of the global batch a unit's replica processes in micro-batch `mb`.
  std::pair<int64_t, int64_t> rows(const Unit& u, int mb) const {
    const int64_t replica_rows = micro_rows / u.dp_size;
    const int64_t begin = int64_t(mb) * micro_rows + int64_t(u.dp_rank) * replica_rows;
    return {begin, begin + replica_rows};
  }
  // The activation layout at the end of stage s (what crosses to stage s + 1).
  ActivationLayout boundary_layout(int s) const {
    const LayerStrategy& l = plan.layers.at(size_t(plan.stages.at(size_t(s)).last_layer - 1));
    return ActivationLayout{GridLayout{l.tp, l.tp_consecutive}, l.sequence_parallel};
  }
  Shape activation_shape(const ActivationLayout& layout, int stage_size) const {
    const int64_t replicas = stage_size / layout.grid.tp;
    return {micro_rows / replicas, layout.sequence_sharded ? seq / layout.grid.tp : seq, model.hidden};
  }

  void build_units();
  void add_unit(Unit unit, const std::vector<nn::ParameterSpec>& specs);
  void build_buckets();
  void build_pipeline_groups();

  // --- parameters ---
  void acquire(int index, bool wait = true);
  void release(int index);
  void prefetch(int index);

  // --- one micro-batch of one unit ---
  Var unit_forward(int index, const Var& input, int mb);
  void begin_backward(int index);
  void end_backward(int index);
  void forward(int mb);
  void backward(int mb);

  void finish_gradients();
  double clip_gradients();
  void update(float lr);
  Tensor whole_flat(int index, int part);
  Tensor whole_tensor(Unit& u, const ParamEntry& entry, const Tensor& flat, const Shape& shape);
  std::vector<std::pair<std::string, Tensor>> gather_state(bool with_moments);
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state, int64_t optimizer_steps);
  void begin_batch(const Tensor& ids, const Tensor& targets);
  float global_loss(double stage_loss_sum);
  ParallelStepResult run_step(const Tensor& ids, const Tensor& targets, float lr);
};

}  // namespace loom::parallel
