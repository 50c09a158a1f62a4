// Building the executor from a plan: this rank's units with their shards, the gradient buckets
// and the pipeline neighbour groups (see runtime_state.h).
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "autograd/functions.h"
#include "comm/collectives.h"
#include "core/error.h"
#include "parallel/runtime_state.h"
#include "parallel/tensor_parallel.h"

namespace loom::parallel {

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

}  // namespace loom::parallel
