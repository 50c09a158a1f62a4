// The hybrid-parallel executor: units, flat buffers, buckets, sharding, and the interpreter of the
// pipeline program. See runtime.h for the whole picture.
#include "parallel/runtime.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>

#include "autograd/functions.h"
#include "autograd/tape.h"
#include "comm/async.h"
#include "comm/collectives.h"
#include "core/error.h"
#include "nn/block.h"
#include "nn/transformer.h"
#include "parallel/placement.h"
#include "parallel/tensor_parallel.h"

namespace loom::parallel {

namespace af = autograd;
using autograd::Var;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point start) {
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

}  // namespace

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

// ---------------------------------------------------------------------------------------------
// Construction.

void ParallelTrainer::State::add_unit(Unit unit, const std::vector<nn::ParameterSpec>& specs) {
  const bool vocab_unit = unit.kind == UnitKind::table || (unit.kind == UnitKind::head && !model.tie_embeddings);
  for (const nn::ParameterSpec& spec : specs) {
    ParamEntry entry;
    entry.spec = spec;
    if (spec.member != nullptr) {
      entry.placement = block_parameter_placement(model, spec.member);
      entry.grad_partial = unit.sequence_parallel && gradient_partial_under_sequence_parallel(spec.member);
    } else if (vocab_unit && (spec.name == "embed.token" || spec.name == "head.weight")) {
      entry.placement = Placement::shard(0);
      entry.spec.shape[0] = padded_vocab(model.vocab_size, unit.tp_size);
    }
    entry.local_shape = entry.placement.kind == Placement::Kind::shard
                            ? shard_shape(entry.spec.shape, entry.placement, unit.tp_size)
                            : entry.spec.shape;
    entry.numel = shape_numel(entry.local_shape);
    entry.offset = unit.numel;
    entry.decay = spec.shape.size() >= 2;
    unit.numel += entry.numel;
    unit.params.push_back(entry);
  }
  unit.padded = (unit.numel + unit.dp_size - 1) / unit.dp_size * unit.dp_size;
  unit.shard = unit.padded / unit.dp_size;

  // Every rank computes the whole initial value of each parameter from its name and the seed,
  // exactly as one process does, and keeps its shard.
  unit.flat = Tensor::empty_in({unit.padded}, MemoryCategory::parameters);
  unit.flat.fill(0.0f);
  for (ParamEntry& p : unit.params) {
    Tensor full = nn::initial_parameter_value(p.spec, options.seed, MemoryCategory::workspace);
    if (p.spec.name == "embed.token" || p.spec.name == "head.weight") {
      // Padding rows (zero) beyond the real vocabulary.
      nn::ParameterSpec real = p.spec;
      real.shape[0] = model.vocab_size;
      Tensor values = nn::initial_parameter_value(real, options.seed, MemoryCategory::workspace);
      full.fill(0.0f);
      full.slice(0, 0, model.vocab_size).copy_from(values);
    }
    Tensor local = p.placement.kind == Placement::Kind::shard
                       ? shard_tensor(full, p.placement, unit.tp_rank, unit.tp_size, MemoryCategory::workspace)
                       : full;
    Tensor view = unit.flat.slice(0, p.offset, p.offset + p.numel).reshape(p.local_shape);
    view.copy_from(local);
    p.var = Var::parameter(view, p.spec.name);
    if (p.spec.member != nullptr) unit.block.*(p.spec.member) = p.var;
  }
  {
    MemoryCategoryScope scope(MemoryCategory::optimizer_state);
    const int64_t moments = unit.sharding == 0 ? unit.padded : unit.shard;
    unit.m = Tensor::zeros({moments});
    unit.v = Tensor::zeros({moments});
  }
  if (unit.sharding >= 2) unit.grad_shard = Tensor::empty_in({unit.shard}, MemoryCategory::gradients);
  if (unit.sharding == 3) {
    unit.master = Tensor::empty_in({unit.shard}, MemoryCategory::parameters);
    unit.master.copy_from(unit.flat.slice(0, unit.dp_rank * unit.shard, (unit.dp_rank + 1) * unit.shard));
    unit.flat.storage()->release();
  }
  units.push_back(std::move(unit));
}

void ParallelTrainer::State::build_units() {
  const std::vector<nn::ParameterSpec> specs = nn::parameter_specs(model);
  const int layers = static_cast<int>(model.layers);
  auto make = [&](UnitKind kind, int layer, const std::string& name, GridLayout grid, int sharding) {
    Unit u;
    u.kind = kind;
    u.layer = layer;
    u.name = name;
    u.grid = grid;
    u.sharding = sharding;
    u.tp = &mesh->tp_group(grid);
    u.dp = &mesh->dp_group(grid);
    u.tp_rank = u.tp->rank();
    u.tp_size = u.tp->size();
    u.dp_rank = u.dp->rank();
    u.dp_size = u.dp->size();
    return u;
  };
  auto specs_where = [&](const std::function<bool(const nn::ParameterSpec&)>& keep) {
    std::vector<nn::ParameterSpec> out;
    for (const auto& s : specs)
      if (keep(s)) out.push_back(s);
    return out;
  };
  const GridLayout embed_grid{plan.embedding.tp, plan.embedding.tp_consecutive};
  const GridLayout head_grid{plan.head.tp, plan.head.tp_consecutive};
  if (first) {
    if (model.family == nn::ModelFamily::gpt) {
      embedding_unit = int(units.size());
      add_unit(make(UnitKind::embedding, -1, "embedding", embed_grid, plan.embedding.sharding),
               specs_where([](const auto& s) { return s.name == "embed.position"; }));
    }
    table_unit = int(units.size());
    add_unit(make(UnitKind::table, -1, "token table", embed_grid, plan.embedding.sharding),
             specs_where([](const auto& s) { return s.name == "embed.token"; }));
  }
  const StagePlan& my = plan.stages.at(size_t(stage));
  for (int l = my.first_layer; l < my.last_layer; ++l) {
    const LayerStrategy& strategy = plan.layers.at(size_t(l));
    Unit u = make(UnitKind::layer, l, "layer " + std::to_string(l), GridLayout{strategy.tp, strategy.tp_consecutive},
                  strategy.sharding);
    u.recompute = strategy.recompute;
    u.sequence_parallel = strategy.sequence_parallel;
    add_unit(std::move(u), specs_where([l](const auto& s) { return s.layer == l && s.member != nullptr; }));
  }
  if (last) {
    head_unit = int(units.size());
    add_unit(make(UnitKind::head, layers, "head", head_grid, plan.head.sharding),
             specs_where([layers](const auto& s) { return s.layer == layers; }));
    if (model.tie_embeddings && !first) {
      head_table_unit = int(units.size());
      // The copy is laid out and sharded as the first stage's table (the validator makes the
      // grids equal), so the two gradients can be summed element by element.
      Unit copy = make(UnitKind::table, -1, "token table (head copy)", head_grid, plan.embedding.sharding);
      copy.counts_in_norm = false;
      add_unit(std::move(copy), specs_where([](const auto& s) { return s.name == "embed.token"; }));
    }
  }
  // Backward passes that add into each unit per micro-batch: the tied table on a single stage
  // receives the head's and the embedding's.
  if (table_unit >= 0 && last && model.tie_embeddings) units[size_t(table_unit)].touches_per_micro_batch = 2;

  ActivationLayout current = first ? ActivationLayout{} : boundary_layout(stage - 1);
  for (int i = 0; i < int(units.size()); ++i) {
    Unit& u = units[size_t(i)];
    if (u.kind == UnitKind::embedding || (u.kind == UnitKind::table && i == head_table_unit)) continue;
    compute_units.push_back(i);
    u.input_layout = current;
    u.touched = {i};
    if (u.kind == UnitKind::table) {
      if (embedding_unit >= 0) u.touched.push_back(embedding_unit);
      current = ActivationLayout{u.grid, false};
    } else if (u.kind == UnitKind::layer) {
      current = unit_layout(u);
    } else if (model.tie_embeddings) {
      u.touched.push_back(head_table_unit >= 0 ? head_table_unit : table_unit);
    }
  }
}

// Buckets in the order gradients complete during backward: head side first, embedding last.
// Consecutive units with sharding 0/1 on the same DP group share a bucket up to bucket_bytes.
void ParallelTrainer::State::build_buckets() {
  std::vector<int> order;
  if (head_table_unit >= 0) order.push_back(head_table_unit);
  if (head_unit >= 0) order.push_back(head_unit);
  for (int i = int(units.size()) - 1; i >= 0; --i)
    if (units[size_t(i)].kind == UnitKind::layer) order.push_back(i);
  if (embedding_unit >= 0) order.push_back(embedding_unit);
  if (table_unit >= 0) order.push_back(table_unit);
  std::vector<std::vector<int>> groups;
  std::vector<comm::Communicator*> group_dp;
  int64_t bytes = 0;
  for (int index : order) {
    Unit& u = units[size_t(index)];
    if (u.sharding >= 2) continue;
    const int64_t unit_bytes = u.padded * int64_t(sizeof(float));
    if (groups.empty() || group_dp.back() != u.dp || bytes >= plan.bucket_bytes) {
      groups.emplace_back();
      group_dp.push_back(u.dp);
      bytes = 0;
    }
    groups.back().push_back(index);
    bytes += unit_bytes;
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    Bucket bucket;
    bucket.dp = group_dp[g];
    bucket.units = groups[g];
    int64_t total = 0;
    for (int index : groups[g]) total += units[size_t(index)].padded;
    bucket.buffer = Tensor::empty_in({total}, MemoryCategory::gradients);
    int64_t offset = 0;
    for (int index : groups[g]) {
      Unit& u = units[size_t(index)];
      u.bucket = int(buckets.size());
      u.grads = bucket.buffer.slice(0, offset, offset + u.padded);
      for (ParamEntry& p : u.params)
        p.var.slot()->grad = u.grads.slice(0, p.offset, p.offset + p.numel).reshape(p.local_shape);
      offset += u.padded;
    }
    buckets.push_back(std::move(bucket));
  }
}

void ParallelTrainer::State::build_pipeline_groups() {
  const int stages = int(plan.stages.size());
  const int local = mesh->local_index();
  for (int boundary = 0; boundary + 1 < stages; ++boundary) {
    const bool member = stage == boundary || stage == boundary + 1;
    for (int direction = 0; direction < 2; ++direction) {
      auto group = world->split(member ? local : -1, stage,
                                "pipeline " + std::to_string(boundary) + (direction == 0 ? " forward" : " backward"));
      if (!member) continue;
      if (stage == boundary)
        (direction == 0 ? forward_next : backward_next) = group;
      else
        (direction == 0 ? forward_prev : backward_prev) = group;
    }
  }
  if (stages > 1 && model.tie_embeddings) {
    const bool member = first || last;
    tied_pair = world->split(member ? local : -1, stage, "tied embedding");
  }
}

ParallelTrainer::ParallelTrainer(std::shared_ptr<comm::Communicator> world, const ParallelPlan& plan,
                                 const nn::ModelConfig& model, const ParallelOptions& options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.world = std::move(world);
  s.plan = plan;
  s.model = model;
  s.options = options;
  LOOM_CHECK(s.world->size() == plan.world_size, "plan for {} ranks on a world of {}", plan.world_size,
             s.world->size());
  s.mesh = std::make_unique<DeviceMesh>(s.world, plan);
  s.stage = s.mesh->stage();
  s.first = s.stage == 0;
  s.last = s.stage + 1 == int(plan.stages.size());
  s.program = build_pipeline_program(plan.schedule, int(plan.stages.size()), plan.micro_batches);
  s.build_pipeline_groups();
  s.build_units();
  s.build_buckets();
  MemoryTracker::instance().reset_peaks();
}

ParallelTrainer::~ParallelTrainer() {
  State& s = *state_;
  // Progress threads must stop before their communicators go (and before MPI is finalized).
  for (Unit& u : s.units) {
    comm::shutdown_async(*u.dp);
  }
}

const ParallelPlan& ParallelTrainer::plan() const {
  return state_->plan;
}
const PipelineProgram& ParallelTrainer::program() const {
  return state_->program;
}
DeviceMesh& ParallelTrainer::mesh() {
  return *state_->mesh;
}

// ---------------------------------------------------------------------------------------------
// Sharding stage 3: parameters gathered before use, freed after.

void ParallelTrainer::State::prefetch(int index) {
  if (index < 0 || index >= int(units.size())) return;
  Unit& u = units[size_t(index)];
  if (u.sharding != 3 || u.resident() || u.gather) return;
  u.flat.storage()->reacquire();
  u.gather = comm::all_gather_async(*u.dp, u.master.f32(), u.flat.f32(), size_t(u.shard), DType::f32);
}

void ParallelTrainer::State::acquire(int index, bool wait) {
  Unit& u = units[size_t(index)];
  if (u.sharding != 3) return;
  if (!u.resident() || !u.gather) prefetch(index);
  if (wait && u.gather) {
    const auto start = Clock::now();
    u.gather->wait();
    u.gather.reset();
    exposed_ms += ms_since(start);
  }
}

void ParallelTrainer::State::release(int index) {
  Unit& u = units[size_t(index)];
  if (u.sharding == 3 && !u.gather) u.flat.storage()->release();
}

// ---------------------------------------------------------------------------------------------
// Forward and backward of one unit for one micro-batch.

Var ParallelTrainer::State::unit_forward(int index, const Var& input, int mb) {
  Unit& u = units[size_t(index)];
  switch (u.kind) {
    case UnitKind::table: {  // the first stage's embedding: the token lookup (+ positions)
      const auto [begin, end] = rows(u, mb);
      Tensor local_ids = ids.slice(0, begin, end).contiguous();
      const Var table = u.param("embed.token");
      Var x = u.tp_size == 1 ? af::embedding(Var(local_ids), table)
                             : vocab_parallel_embedding(local_ids, table, int64_t(u.tp_rank) * table.shape()[0], *u.tp);
      if (embedding_unit >= 0) {
        const Var position = units[size_t(embedding_unit)].param("embed.position");
        x = af::add(x, af::embedding(Var(nn::position_ids(end - begin, seq)), position));
      }
      return x;
    }
    case UnitKind::layer: {
      const Var x = reshard(input, u.input_layout, unit_layout(u), *mesh, micro_rows, seq);
      if (u.tp_size == 1) return nn::block_forward(model, u.block, x);
      return nn::block_forward(model, u.block, x, TensorParallelComm(*u.tp, u.sequence_parallel));
    }
    case UnitKind::head: {
      const Var x = reshard(input, u.input_layout, ActivationLayout{u.grid, false}, *mesh, micro_rows, seq);
      const bool gpt = model.family == nn::ModelFamily::gpt;
      Var h = gpt ? af::layer_norm(x, u.param("final_norm.gamma"), u.param("final_norm.beta"), model.norm_eps)
                  : af::rms_norm(x, u.param("final_norm.gamma"), model.norm_eps);
      const Var table = model.tie_embeddings
                            ? units[size_t(head_table_unit >= 0 ? head_table_unit : table_unit)].param("embed.token")
                            : u.param("head.weight");
      const auto [begin, end] = rows(u, mb);
      const int64_t count = (end - begin) * seq;
      Tensor local_targets = targets.slice(0, begin, end).contiguous().reshape({count});
      if (u.tp_size > 1) h = copy_to_group(h, *u.tp);
      Var logits = af::reshape(af::matmul(h, table, false, true), {count, table.shape()[0]});
      if (u.tp_size == 1) return af::cross_entropy(logits, Var(local_targets));
      return vocab_parallel_cross_entropy(logits, local_targets, int64_t(u.tp_rank) * table.shape()[0],
                                          model.vocab_size, *u.tp);
    }
    case UnitKind::embedding:
      break;
  }
  LOOM_CHECK(false, "unit {} has no forward of its own", u.name);
  return Var();
}

void ParallelTrainer::State::begin_backward(int index) {
  for (int t : units[size_t(index)].touched) {
    Unit& u = units[size_t(t)];
    acquire(t);
    if (u.sharding >= 2 && u.touches_this_micro_batch == 0) {
      u.grads = Tensor::empty_in({u.padded}, MemoryCategory::gradients);
      u.grads.fill(0.0f);
      for (ParamEntry& p : u.params)
        p.var.slot()->grad = u.grads.slice(0, p.offset, p.offset + p.numel).reshape(p.local_shape);
    }
  }
}

namespace {
// Sums the gradients that are partial over TP (sequence-parallel norms) across the TP group.
void reduce_partial_gradients(Unit& u) {
  for (ParamEntry& p : u.params) {
    if (!p.grad_partial) continue;
    comm::all_reduce(*u.tp, u.grads.f32() + p.offset, size_t(p.numel), DType::f32);
  }
}
}  // namespace

void ParallelTrainer::State::end_backward(int index) {
  for (int t : units[size_t(index)].touched) {
    Unit& u = units[size_t(t)];
    ++u.touches;
    if (++u.touches_this_micro_batch < u.touches_per_micro_batch) {
      release(t);
      continue;
    }
    u.touches_this_micro_batch = 0;
    if (u.sharding >= 2) {
      // This micro-batch's gradient, reduce-scattered into the accumulated shard on the DP
      // group's progress thread while the backward goes on.
      reduce_partial_gradients(u);
      for (ParamEntry& p : u.params) p.var.slot()->grad = Tensor();
      Tensor full = std::move(u.grads);
      u.grads = Tensor();
      Tensor shard = u.grad_shard;
      comm::Communicator* dp = u.dp;
      const int64_t count = u.shard;
      u.reduce_work = comm::enqueue_collective(*dp, "reduce-scatter gradients of " + u.name, [dp, full, shard, count] {
        Tensor piece = Tensor::empty_in({count}, MemoryCategory::communication);
        comm::reduce_scatter(*dp, full.f32(), piece.f32(), size_t(count), DType::f32);
        float* into = shard.f32();
        const float* from = piece.f32();
        for (int64_t i = 0; i < count; ++i) into[i] += from[i];
      });
    } else if (u.touches == u.touches_per_micro_batch * plan.micro_batches) {
      reduce_partial_gradients(u);
      Bucket& bucket = buckets[size_t(u.bucket)];
      if (++bucket.complete == int(bucket.units.size())) {
        bucket.work =
            comm::all_reduce_async(*bucket.dp, bucket.buffer.f32(), size_t(bucket.buffer.numel()), DType::f32);
      }
    }
    release(t);
  }
}

void ParallelTrainer::State::forward(int mb) {
  Var x;
  if (!first) x = Var(received_input[size_t(mb)]);
  received_input[size_t(mb)] = Tensor();
  for (size_t k = 0; k < compute_units.size(); ++k) {
    const int index = compute_units[k];
    Unit& u = units[size_t(index)];
    for (int t : u.touched) acquire(t);
    if (k + 1 < compute_units.size())
      for (int t : units[size_t(compute_units[k + 1])].touched) prefetch(t);
    UnitRun& run = runs[size_t(mb)][size_t(index)];
    run.input = u.kind == UnitKind::table ? Var() : Var(x.value(), true);
    if (u.recompute) {
      autograd::NoGradScope no_grad;
      run.output = Var(unit_forward(index, run.input, mb).value());
    } else {
      autograd::TapeScope scope(run.tape);
      run.output = unit_forward(index, run.input, mb);
    }
    for (int t : u.touched) release(t);
    x = run.output;
  }
  if (last) {
    loss_sum += double(x.value().item());
  } else {
    output_to_send[size_t(mb)] = x.value().contiguous();
  }
}

void ParallelTrainer::State::backward(int mb) {
  Tensor grad;
  if (last) {
    const Unit& head = units[size_t(head_unit)];
    grad = Tensor::full(runs[size_t(mb)][size_t(head_unit)].output.shape(),
                        1.0f / float(plan.micro_batches * head.dp_size));
  } else {
    grad = std::move(received_grad[size_t(mb)]);
  }
  for (size_t k = compute_units.size(); k-- > 0;) {
    const int index = compute_units[k];
    Unit& u = units[size_t(index)];
    UnitRun& run = runs[size_t(mb)][size_t(index)];
    begin_backward(index);
    if (k > 0)
      for (int t : units[size_t(compute_units[k - 1])].touched) prefetch(t);
    if (u.recompute) {
      autograd::TapeScope scope(run.tape);
      run.output = unit_forward(index, run.input, mb);
    }
    run.tape.backward({run.output}, {grad});
    end_backward(index);
    grad = run.input.defined() ? run.input.grad() : Tensor();
    run.input = Var();
    run.output = Var();
    run.tape.clear();
  }
  if (!first) grad_to_send[size_t(mb)] = grad.contiguous();
}

// ---------------------------------------------------------------------------------------------
// The step.

namespace {
// Sends and receives on two-rank groups at once (either may be absent).
void transfer(comm::Communicator* send_group, const Tensor& send, comm::Communicator* recv_group, Tensor& recv) {
  std::vector<comm::Pending> sends, recvs;
  if (send_group != nullptr) {
    send_group->begin_operation("pipeline send");
    sends.push_back(send_group->isend(1 - send_group->rank(), send.raw_data(), send.nbytes()));
  }
  if (recv_group != nullptr) {
    recv_group->begin_operation("pipeline receive");
    recvs.push_back(recv_group->irecv(1 - recv_group->rank(), recv.raw_data(), recv.nbytes()));
  }
  if (recv_group != nullptr) recv_group->wait_all(recvs);
  if (send_group != nullptr) send_group->wait_all(sends);
}
}  // namespace

void ParallelTrainer::State::finish_gradients() {
  const auto start = Clock::now();
  for (Bucket& bucket : buckets) {
    LOOM_CHECK(bucket.work != nullptr, "gradient bucket never completed");
    bucket.work->wait();
    bucket.work.reset();
    bucket.complete = 0;
  }
  for (Unit& u : units) {
    if (u.reduce_work) u.reduce_work->wait();
    u.reduce_work.reset();
    if (u.gather) u.gather->wait();
    u.gather.reset();
    release(int(&u - units.data()));
  }
  // The tied table: the first stage's and the last stage's copies summed.
  if (tied_pair) {
    Unit& u = units[size_t(first ? table_unit : head_table_unit)];
    Tensor& g = u.sharding >= 2 ? u.grad_shard : u.grads;
    comm::all_reduce(*tied_pair, g.f32(), size_t(g.numel()), DType::f32);
  }
  exposed_ms += ms_since(start);
}

namespace {
// Calls fn(param, lo, hi) for each parameter's part of the flat index range [begin, end).
template <typename Fn>
void for_each_param_range(const Unit& u, int64_t begin, int64_t end, Fn&& fn) {
  for (const ParamEntry& p : u.params) {
    const int64_t lo = std::max(begin, p.offset);
    const int64_t hi = std::min(end, p.offset + p.numel);
    if (lo < hi) fn(p, lo, hi);
  }
}
// The flat index range of this rank's shard (all of it for sharding 0).
std::pair<int64_t, int64_t> owned_range(const Unit& u) {
  if (u.sharding == 0) return {0, u.numel};
  return {int64_t(u.dp_rank) * u.shard, std::min(u.numel, int64_t(u.dp_rank + 1) * u.shard)};
}
}  // namespace

double ParallelTrainer::State::clip_gradients() {
  double sum = 0.0;
  for (Unit& u : units) {
    if (!u.counts_in_norm) continue;
    const bool sharded = u.sharding >= 2;
    if (!sharded && u.dp_rank != 0) continue;  // every DP rank holds the same reduced gradient
    const auto [begin, end] = sharded ? owned_range(u) : std::pair<int64_t, int64_t>{0, u.numel};
    const float* g = sharded ? u.grad_shard.f32() - begin : u.grads.f32();
    for_each_param_range(u, begin, end, [&](const ParamEntry& p, int64_t lo, int64_t hi) {
      if (p.placement.kind != Placement::Kind::shard && u.tp_rank != 0) return;  // TP replicas
      sum += nn::sum_of_squares(g + lo, hi - lo);
    });
  }
  comm::all_reduce(*world, &sum, 1, DType::f64);
  const double norm = std::sqrt(sum);
  const float scale = nn::clip_scale(norm, options.grad_clip);
  if (scale != 1.0f) {
    for (Unit& u : units) {
      Tensor& g = u.sharding >= 2 ? u.grad_shard : u.grads;
      nn::scale_in_place(g.f32(), g.numel(), scale);
    }
  }
  return norm;
}

void ParallelTrainer::State::update(float lr) {
  ++steps;
  std::vector<std::shared_ptr<comm::Work>> gathers;
  for (Unit& u : units) {
    const auto [begin, end] = owned_range(u);
    const int64_t shard_base = u.sharding == 0 ? 0 : int64_t(u.dp_rank) * u.shard;
    float* w = u.sharding == 3 ? u.master.f32() - shard_base : u.flat.f32();
    const float* g = u.sharding >= 2 ? u.grad_shard.f32() - shard_base : u.grads.f32();
    float* m = u.m.f32() - shard_base;
    float* v = u.v.f32() - shard_base;
    for_each_param_range(u, begin, end, [&](const ParamEntry& p, int64_t lo, int64_t hi) {
      nn::adamw_update(w + lo, g + lo, m + lo, v + lo, hi - lo, lr, steps, p.decay, options.adamw);
    });
    if (u.sharding == 1 || u.sharding == 2) {
      float* flat = u.flat.f32();
      gathers.push_back(comm::all_gather_async(*u.dp, flat + shard_base, flat, size_t(u.shard), DType::f32));
    }
  }
  const auto start = Clock::now();
  for (auto& work : gathers) work->wait();
  exposed_ms += ms_since(start);
}

void ParallelTrainer::State::begin_batch(const Tensor& batch_ids, const Tensor& batch_targets) {
  LOOM_CHECK(batch_ids.ndim() == 2 && batch_ids.dim(0) == plan.global_batch && batch_ids.dim(1) <= model.seq_len &&
                 batch_targets.shape() == batch_ids.shape(),
             "parallel runtime: ids {} and targets {} for a global batch of {} x (at most) {}", batch_ids.describe(),
             batch_targets.describe(), plan.global_batch, model.seq_len);
  seq = batch_ids.dim(1);
  micro_rows = plan.global_batch / plan.micro_batches;
  ids = batch_ids;
  targets = batch_targets;
}

// The mean loss over the global batch from the last stage's per-micro-batch sum, on every rank.
float ParallelTrainer::State::global_loss(double stage_loss_sum) {
  double loss = 0.0;
  if (last && units[size_t(head_unit)].tp_rank == 0)
    loss = stage_loss_sum / double(plan.micro_batches * units[size_t(head_unit)].dp_size);
  comm::all_reduce(*world, &loss, 1, DType::f64);
  return float(loss);
}

ParallelStepResult ParallelTrainer::State::run_step(const Tensor& step_ids, const Tensor& step_targets, float lr) {
  const auto start = Clock::now();
  begin_batch(step_ids, step_targets);
  const int m = plan.micro_batches;
  runs.clear();
  runs.resize(size_t(m));
  for (auto& row : runs) row = std::vector<UnitRun>(units.size());
  received_input.assign(size_t(m), Tensor());
  received_grad.assign(size_t(m), Tensor());
  output_to_send.assign(size_t(m), Tensor());
  grad_to_send.assign(size_t(m), Tensor());
  loss_sum = 0.0;
  exposed_ms = 0.0;
  pipeline_ms = 0.0;
  for (Bucket& bucket : buckets) bucket.buffer.fill(0.0f);
  for (Unit& u : units) {
    if (u.sharding >= 2) u.grad_shard.fill(0.0f);
    u.touches = 0;
    u.touches_this_micro_batch = 0;
  }

  const int stage_size = mesh->stage_size();
  auto input_buffer = [&](int mb) -> Tensor& {
    Tensor& t = received_input[size_t(mb)];
    t = Tensor::empty_in(activation_shape(boundary_layout(stage - 1), stage_size), MemoryCategory::activations);
    return t;
  };
  auto grad_buffer = [&](int mb) -> Tensor& {
    Tensor& t = received_grad[size_t(mb)];
    t = Tensor::empty_in(activation_shape(boundary_layout(stage), stage_size), MemoryCategory::activations);
    return t;
  };
  Tensor none;
  for (const Action& action : program.actions.at(size_t(stage))) {
    const int mb = action.micro_batch;
    const auto transfer_start = Clock::now();
    switch (action.kind) {
      case ActionKind::forward:
        forward(mb);
        continue;
      case ActionKind::backward:
        backward(mb);
        continue;
      case ActionKind::recv_forward:
        transfer(nullptr, none, forward_prev.get(), input_buffer(mb));
        break;
      case ActionKind::send_forward:
        transfer(forward_next.get(), output_to_send[size_t(mb)], nullptr, none);
        output_to_send[size_t(mb)] = Tensor();
        break;
      case ActionKind::recv_backward:
        transfer(nullptr, none, backward_next.get(), grad_buffer(mb));
        break;
      case ActionKind::send_backward:
        transfer(backward_prev.get(), grad_to_send[size_t(mb)], nullptr, none);
        grad_to_send[size_t(mb)] = Tensor();
        break;
      case ActionKind::send_forward_recv_backward:
        transfer(forward_next.get(), output_to_send[size_t(mb)], backward_next.get(),
                 grad_buffer(action.recv_micro_batch));
        output_to_send[size_t(mb)] = Tensor();
        break;
      case ActionKind::send_backward_recv_forward:
        transfer(backward_prev.get(), grad_to_send[size_t(mb)], forward_prev.get(),
                 input_buffer(action.recv_micro_batch));
        grad_to_send[size_t(mb)] = Tensor();
        break;
    }
    pipeline_ms += ms_since(transfer_start);
  }
  finish_gradients();

  ParallelStepResult result;
  result.loss = global_loss(loss_sum);
  result.grad_norm = clip_gradients();
  update(lr);
  runs.clear();
  result.step_ms = ms_since(start);
  result.exposed_comm_ms = exposed_ms;
  result.pipeline_wait_ms = pipeline_ms;
  result.compute_ms = result.step_ms - exposed_ms - pipeline_ms;
  return result;
}

ParallelStepResult ParallelTrainer::step(const Tensor& ids, const Tensor& targets, float lr) {
  return state_->run_step(ids, targets, lr);
}

float ParallelTrainer::evaluate(const Tensor& ids, const Tensor& targets) {
  State& s = *state_;
  s.begin_batch(ids, targets);
  autograd::NoGradScope no_grad;
  const int stage_size = s.mesh->stage_size();
  Tensor none;
  double loss_sum = 0.0;
  // Micro-batch by micro-batch down the pipeline: each stage receives, computes and passes on
  // (a chain of blocking transfers, so no stage waits on one that waits on it).
  for (int mb = 0; mb < s.plan.micro_batches; ++mb) {
    Var x;
    if (!s.first) {
      Tensor input =
          Tensor::empty_in(s.activation_shape(s.boundary_layout(s.stage - 1), stage_size), MemoryCategory::activations);
      transfer(nullptr, none, s.forward_prev.get(), input);
      x = Var(input);
    }
    for (const int index : s.compute_units) {
      for (int t : s.units[size_t(index)].touched) s.acquire(t);
      x = s.unit_forward(index, x, mb);
      for (int t : s.units[size_t(index)].touched) s.release(t);
    }
    if (s.last) {
      loss_sum += double(x.value().item());
    } else {
      Tensor output = x.value().contiguous();
      transfer(s.forward_next.get(), output, nullptr, none);
    }
  }
  return s.global_loss(loss_sum);
}

namespace {
enum class StatePart { parameters, first_moments, second_moments };
const char* part_prefix(StatePart part) {
  return part == StatePart::parameters ? "" : part == StatePart::first_moments ? "adam.m." : "adam.v.";
}
}  // namespace

// A flat buffer laid out like u.flat (this TP rank's shards, whole over DP) holding one part of the
// unit's state, gathered over the DP group where this rank holds only its shard.
Tensor ParallelTrainer::State::whole_flat(int index, int part_index) {
  Unit& u = units[size_t(index)];
  const auto part = StatePart(part_index);
  if (part == StatePart::parameters) {
    acquire(index);
    Tensor copy = u.flat.clone();
    release(index);
    return copy;
  }
  const Tensor& moments = part == StatePart::first_moments ? u.m : u.v;
  if (u.sharding == 0) return moments;
  Tensor whole = Tensor::empty_in({u.padded}, MemoryCategory::workspace);
  comm::all_gather_async(*u.dp, moments.f32(), whole.f32(), size_t(u.shard), DType::f32)->wait();
  return whole;
}

// The whole tensor of one parameter entry from a flat buffer of its unit (gathered over TP).
Tensor ParallelTrainer::State::whole_tensor(Unit& u, const ParamEntry& entry, const Tensor& flat, const Shape& shape) {
  Tensor local = flat.slice(0, entry.offset, entry.offset + entry.numel).reshape(entry.local_shape).contiguous();
  Tensor assembled = local;
  if (entry.placement.kind == Placement::Kind::shard && u.tp_size > 1) {
    Tensor all = Tensor::empty_in({int64_t(u.tp_size) * entry.numel}, MemoryCategory::workspace);
    comm::all_gather(*u.tp, local.f32(), all.f32(), size_t(entry.numel), DType::f32);
    std::vector<Tensor> shards;
    for (int r = 0; r < u.tp_size; ++r)
      shards.push_back(all.slice(0, r * entry.numel, (r + 1) * entry.numel).reshape(entry.local_shape));
    assembled = unshard_tensor(shards, entry.placement);
  }
  Tensor whole = Tensor::empty(shape);
  whole.copy_from(assembled.slice(0, 0, shape[0]));
  return whole;
}

std::vector<std::pair<std::string, Tensor>> ParallelTrainer::State::gather_state(bool with_moments) {
  const std::vector<nn::ParameterSpec> specs = nn::parameter_specs(model);
  std::vector<std::pair<std::string, Tensor>> result;
  const int stage_count = int(plan.stages.size());
  for (int part = 0; part < (with_moments ? 3 : 1); ++part) {
    // Per unit of this rank, its flat buffer of this part, made once (collective over DP).
    std::vector<Tensor> flats(units.size());
    for (const nn::ParameterSpec& spec : specs) {
      int owner = spec.layer < 0                    ? 0
                  : spec.layer >= int(model.layers) ? stage_count - 1
                                                    : plan.stage_of_layer(spec.layer);
      Tensor whole = Tensor::empty(spec.shape);
      if (stage == owner) {
        int index = -1;
        const ParamEntry* entry = nullptr;
        for (int i = 0; i < int(units.size()) && entry == nullptr; ++i) {
          if (i == head_table_unit) continue;
          for (const ParamEntry& p : units[size_t(i)].params)
            if (p.spec.name == spec.name) {
              index = i;
              entry = &p;
            }
        }
        LOOM_CHECK(entry != nullptr, "parameter {} not found on stage {}", spec.name, stage);
        if (!flats[size_t(index)].defined()) flats[size_t(index)] = whole_flat(index, part);
        whole = whole_tensor(units[size_t(index)], *entry, flats[size_t(index)], spec.shape);
      }
      comm::broadcast(*world, whole.f32(), size_t(whole.numel()), DType::f32, plan.stages[size_t(owner)].ranks[0]);
      result.emplace_back(part_prefix(StatePart(part)) + spec.name, whole);
    }
  }
  return result;
}

void ParallelTrainer::State::load_state(const std::vector<std::pair<std::string, Tensor>>& state,
                                        int64_t optimizer_steps) {
  std::map<std::string, Tensor> by_name(state.begin(), state.end());
  for (int part = 0; part < 3; ++part) {
    for (Unit& u : units) {
      Tensor flat = Tensor::zeros({u.padded});
      for (const ParamEntry& p : u.params) {
        const std::string name = part_prefix(StatePart(part)) + p.spec.name;
        const auto found = by_name.find(name);
        if (found == by_name.end()) throw_user_error("checkpoint: no tensor '{}' in the state", name);
        const Tensor& given = found->second;
        const int64_t rows = p.spec.shape[0];
        if (given.ndim() != int(p.spec.shape.size()) || given.dim(0) > rows)
          throw_user_error("checkpoint: tensor '{}' is {}, the model needs {}", name, given.describe(),
                           shape_str(p.spec.shape));
        Tensor whole = given;
        if (given.dim(0) < rows) {  // the vocabulary padded to the vocab-TP degree
          whole = Tensor::zeros(p.spec.shape);
          whole.slice(0, 0, given.dim(0)).copy_from(given);
        }
        Tensor local = p.placement.kind == Placement::Kind::shard
                           ? shard_tensor(whole, p.placement, u.tp_rank, u.tp_size, MemoryCategory::workspace)
                           : whole;
        flat.slice(0, p.offset, p.offset + p.numel).reshape(p.local_shape).copy_from(local);
      }
      const int64_t base = int64_t(u.dp_rank) * u.shard;
      const Tensor mine = flat.slice(0, base, base + u.shard);
      if (part == int(StatePart::parameters)) {
        if (u.sharding == 3) {
          u.master.copy_from(mine);
        } else {
          u.flat.copy_from(flat);
        }
      } else {
        Tensor& moments = part == int(StatePart::first_moments) ? u.m : u.v;
        moments.copy_from(u.sharding == 0 ? flat : mine);
      }
    }
  }
  steps = optimizer_steps;
}

std::vector<std::pair<std::string, Tensor>> ParallelTrainer::full_parameters() {
  return state_->gather_state(false);
}
std::vector<std::pair<std::string, Tensor>> ParallelTrainer::full_state() {
  return state_->gather_state(true);
}
void ParallelTrainer::load_full_state(const std::vector<std::pair<std::string, Tensor>>& state,
                                      int64_t optimizer_steps) {
  state_->load_state(state, optimizer_steps);
}
int64_t ParallelTrainer::optimizer_steps() const {
  return state_->steps;
}

}  // namespace loom::parallel
