#include "planner/cost_model.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "comm/allreduce_shared_memory.h"
#include "core/error.h"
#include "parallel/mesh.h"
#include "parallel/schedule.h"

namespace loom::planner {

using parallel::GridLayout;
using parallel::LayerStrategy;
using parallel::ParallelPlan;
using parallel::StagePlan;
using parallel::VocabStrategy;

comm::CommProfile links_of_cluster(const ClusterSpec& cluster) {
  const double memory_bw = cluster.memory_bandwidth_bytes_per_s;
  comm::GroupParameters intra;
  intra.ranks = std::max(2, cluster.devices_per_node);
  intra.link.alpha_s = cluster.intra_node.latency_s;
  intra.link.beta_s_per_byte = 1.0 / cluster.intra_node.bandwidth_bytes_per_s;
  // A reduction reads two inputs and writes one; a copy reads one and writes one.
  intra.link.gamma_s_per_byte = memory_bw > 0.0 ? 3.0 / memory_bw : 0.0;
  intra.copy_s_per_byte = memory_bw > 0.0 ? 2.0 / memory_bw : 0.0;
  comm::GroupParameters inter = intra;
  inter.ranks = std::max(2, cluster.nodes);
  inter.link.alpha_s = cluster.inter_node.latency_s;
  inter.link.beta_s_per_byte = double(cluster.devices_per_node) / cluster.inter_node.bandwidth_bytes_per_s;
  comm::CommProfile profile;
  profile.source = "links of cluster " + cluster.name;
  profile.intra_node.push_back(intra);
  if (cluster.nodes > 1) profile.inter_node.push_back(inter);
  return profile;
}

comm::GroupShape group_shape(const std::vector<int>& world_ranks, int devices_per_node) {
  std::map<int, int> per_node;
  for (int rank : world_ranks) ++per_node[rank / std::max(1, devices_per_node)];
  comm::GroupShape shape;
  shape.ranks = int(world_ranks.size());
  shape.nodes = std::max<int>(1, int(per_node.size()));
  shape.ranks_per_node = 1;
  for (const auto& [node, count] : per_node) shape.ranks_per_node = std::max(shape.ranks_per_node, count);
  return shape;
}

namespace {

// The world ranks of the TP group and of the DP group that stage-local index 0 belongs to (the
// groups of a layout all have the same shape on the clusters Loom models).
struct Groups {
  comm::GroupShape tp;
  comm::GroupShape dp;
};

Groups layout_groups(const CostInputs& inputs, const std::vector<int>& ranks, int tp, bool consecutive) {
  const int n = int(ranks.size());
  const GridLayout layout{tp, consecutive};
  auto to_world = [&](const std::vector<int>& locals) {
    std::vector<int> world;
    for (int local : locals) world.push_back(ranks[size_t(local)]);
    return world;
  };
  return {group_shape(to_world(parallel::tp_group_members(0, n, layout)), inputs.cluster.devices_per_node),
          group_shape(to_world(parallel::dp_group_members(0, n, layout)), inputs.cluster.devices_per_node)};
}

double all_reduce_s(const CostInputs& inputs, const comm::GroupShape& shape, double bytes) {
  if (shape.ranks <= 1 || bytes <= 0.0) return 0.0;
  const auto n = size_t(bytes);
  const comm::AllReduceAlgorithm algorithm = comm::cheapest_all_reduce(shape, inputs.transport, n, inputs.links);
  return comm::all_reduce_time_s(algorithm, shape, n, inputs.links);
}

double reduce_scatter_s(const CostInputs& inputs, const comm::GroupShape& shape, double bytes) {
  if (shape.ranks <= 1 || bytes <= 0.0) return 0.0;
  return comm::reduce_scatter_time_s(shape, size_t(bytes), inputs.links);
}

double all_gather_s(const CostInputs& inputs, const comm::GroupShape& shape, double bytes) {
  if (shape.ranks <= 1 || bytes <= 0.0) return 0.0;
  return comm::all_gather_time_s(shape, size_t(bytes), inputs.links);
}

// Model state of `parameters` elements held by one TP rank, sharded over a DP group of d.
void add_state(const CostInputs& inputs, double parameters, int sharding, int d, LayerCost& cost) {
  const TrainingSpec& t = inputs.training;
  const double shard = parameters / double(d);
  cost.parameter_bytes = int64_t((sharding >= 3 ? shard : parameters) * t.parameter_bytes());
  cost.gradient_bytes = int64_t((sharding >= 2 ? shard : parameters) * t.gradient_bytes());
  cost.optimizer_bytes = int64_t((sharding >= 1 ? shard : parameters) * t.optimizer_state_bytes());
}

// Gradient reduction, ZeRO-3 gathers and the update of a unit holding `parameters` (per TP rank)
// whose compute per micro-batch is `forward_s` / `backward_s`.
void add_data_parallel(const CostInputs& inputs, const StageContext& stage, const comm::GroupShape& dp,
                       double parameters, int sharding, double forward_s, double backward_s, LayerCost& cost) {
  const int d = dp.ranks;
  const double param_bytes = parameters * inputs.training.parameter_bytes();
  const double grad_bytes = parameters * inputs.training.gradient_bytes();
  const double m = double(stage.micro_batches);
  if (sharding >= 3 && d > 1) {
    // Gathered before each use (the forward, and the backward with its replayed forward), while
    // the previous piece computes (the runtime prefetches one unit ahead).
    const double gather = all_gather_s(inputs, dp, param_bytes);
    const double exposed = std::max(0.0, gather - forward_s) + std::max(0.0, gather - backward_s);
    cost.forward_s += std::max(0.0, gather - forward_s);
    cost.backward_s += std::max(0.0, gather - backward_s);
    cost.gather_exposed_s += exposed;
  }
  if (sharding >= 2) {
    // One reduce-scatter per micro-batch, on the progress thread while later backwards run.
    const double one = reduce_scatter_s(inputs, dp, grad_bytes);
    cost.grad_comm_s = m * one;
    cost.grad_exposed_s = m * std::max(0.0, one - backward_s);
  } else {
    // One all-reduce per step, launched when the last micro-batch's backward of the unit ends and
    // hidden behind the backward of the units before it.
    cost.grad_comm_s = all_reduce_s(inputs, dp, grad_bytes);
    cost.grad_exposed_s = std::max(0.0, cost.grad_comm_s - backward_s);
  }
  cost.update_s = inputs.compute->optimizer_s(sharding >= 1 ? parameters / double(d) : parameters);
  if (sharding == 1 || sharding == 2) cost.update_s += all_gather_s(inputs, dp, param_bytes);
  add_state(inputs, parameters, sharding, std::max(1, d), cost);
  // ZeRO-3: the gathered parameters of the unit in use and of the next, prefetched. ZeRO-2/3:
  // full gradients waiting for their reduce-scatter on the progress thread (this unit's and the
  // one before it) and the reduced piece.
  if (sharding >= 3) cost.transient_bytes += int64_t(2.0 * param_bytes);
  if (sharding >= 2 && d > 1) cost.transient_bytes += int64_t(2.0 * grad_bytes + grad_bytes / double(d));
}

double activation_bytes(const CostInputs& inputs, double samples) {
  return samples * double(inputs.training.seq) * double(inputs.model.hidden) * element_bytes(inputs.training.precision);
}

}  // namespace

LayerCost layer_cost(const CostInputs& inputs, const StageContext& stage, const LayerStrategy& strategy) {
  const int n = int(stage.ranks.size());
  const int t = strategy.tp;
  const Groups groups = layout_groups(inputs, stage.ranks, t, strategy.tp_consecutive);
  const double samples = stage.micro_batch_samples * double(t) / double(n);  // one replica's share
  const PieceCost piece = inputs.compute->block(samples, t, strategy.sequence_parallel);
  LayerCost cost;
  const double forward = piece.forward_s;
  const double backward = (piece.backward_s + (strategy.recompute ? piece.forward_s : 0.0));
  double tp_forward = 0.0;
  if (t > 1 && !inputs.compute->block_includes_tp_collectives(t)) {
    const double bytes = activation_bytes(inputs, samples);
    const double overhead = inputs.compute->collective_overhead_s();
    tp_forward = strategy.sequence_parallel ? 2.0 * (all_gather_s(inputs, groups.tp, bytes) +
                                                     reduce_scatter_s(inputs, groups.tp, bytes) + 2.0 * overhead)
                                            : 2.0 * (all_reduce_s(inputs, groups.tp, bytes) + overhead);
  }
  // The backward mirrors the forward's collectives; a replayed forward runs them again.
  const double tp_backward = tp_forward * (strategy.recompute ? 2.0 : 1.0);
  cost.forward_s = forward + tp_forward;
  cost.backward_s = backward + tp_backward;
  cost.tp_comm_s = tp_forward + tp_backward;
  cost.kept_bytes = strategy.recompute ? piece.recompute_kept_bytes : piece.kept_bytes;
  cost.transient_bytes = strategy.recompute ? piece.recompute_transient_bytes : piece.transient_bytes;
  const double parameters = double(layer_parameter_count(inputs.model)) / double(t);
  add_data_parallel(inputs, stage, groups.dp, parameters, strategy.sharding, forward, backward, cost);
  return cost;
}

namespace {
int64_t padded(int64_t vocab, int tp) {
  return (vocab + tp - 1) / tp * tp;
}

double norm_parameters(const ModelSpec& model) {
  return double(model.norm == NormType::layernorm ? 2 * model.hidden : model.hidden);
}
}  // namespace

LayerCost embedding_cost(const CostInputs& inputs, const StageContext& stage, const VocabStrategy& strategy) {
  const int n = int(stage.ranks.size());
  const int v = strategy.tp;
  const Groups groups = layout_groups(inputs, stage.ranks, v, strategy.tp_consecutive);
  const double samples = stage.micro_batch_samples * double(v) / double(n);
  const PieceCost piece = inputs.compute->embedding(samples, v);
  LayerCost cost;
  // Vocabulary-parallel lookup: each rank's rows, summed over the group.
  const double tp = v > 1 ? all_reduce_s(inputs, groups.tp, activation_bytes(inputs, samples)) +
                                inputs.compute->collective_overhead_s()
                          : 0.0;
  cost.forward_s = piece.forward_s + tp;
  cost.backward_s = piece.backward_s;
  cost.tp_comm_s = tp;
  cost.kept_bytes = piece.kept_bytes;
  cost.transient_bytes = piece.transient_bytes;
  const ModelSpec& model = inputs.model;
  double parameters = double(padded(model.vocab_size, v) / v) * double(model.hidden);
  if (model.learned_positions) parameters += double(model.max_positions * model.hidden);
  add_data_parallel(inputs, stage, groups.dp, parameters, strategy.sharding, piece.forward_s, piece.backward_s, cost);
  return cost;
}

LayerCost head_cost(const CostInputs& inputs, const StageContext& stage, const VocabStrategy& strategy,
                    bool holds_table) {
  const int n = int(stage.ranks.size());
  const int v = strategy.tp;
  const Groups groups = layout_groups(inputs, stage.ranks, v, strategy.tp_consecutive);
  const double samples = stage.micro_batch_samples * double(v) / double(n);
  const PieceCost piece = inputs.compute->head(samples, v);
  LayerCost cost;
  double tp_forward = 0.0, tp_backward = 0.0;
  if (v > 1) {
    // Vocabulary-parallel cross-entropy: the max, the sum of exponentials and the target logit
    // (one float per token each); the backward sums the input gradient over the group.
    const double token_floats = samples * double(inputs.training.seq) * 4.0;
    const double overhead = inputs.compute->collective_overhead_s();
    tp_forward = 3.0 * (all_reduce_s(inputs, groups.tp, token_floats) + overhead);
    tp_backward = all_reduce_s(inputs, groups.tp, activation_bytes(inputs, samples)) + overhead;
  }
  cost.forward_s = piece.forward_s + tp_forward;
  cost.backward_s = piece.backward_s + tp_backward;
  cost.tp_comm_s = tp_forward + tp_backward;
  cost.kept_bytes = piece.kept_bytes;
  cost.transient_bytes = piece.transient_bytes;
  const ModelSpec& model = inputs.model;
  double parameters = norm_parameters(model);
  if (holds_table) parameters += double(padded(model.vocab_size, v) / v) * double(model.hidden);
  add_data_parallel(inputs, stage, groups.dp, parameters, strategy.sharding, piece.forward_s, piece.backward_s, cost);
  return cost;
}

namespace {
bool same_layout(const LayerStrategy& a, const LayerStrategy& b) {
  return a.tp == b.tp && a.tp_consecutive == b.tp_consecutive && a.sequence_parallel == b.sequence_parallel;
}
}  // namespace

double reshard_kept_bytes(const CostInputs& inputs, const StageContext& stage, const LayerStrategy& from,
                          const LayerStrategy& to) {
  if (same_layout(from, to) || stage.ranks.size() <= 1) return 0.0;
  return activation_bytes(inputs, stage.micro_batch_samples * double(to.tp) / double(stage.ranks.size()));
}

double reshard_s(const CostInputs& inputs, const StageContext& stage, const LayerStrategy& from,
                 const LayerStrategy& to) {
  if (from.tp == to.tp && from.tp_consecutive == to.tp_consecutive && from.sequence_parallel == to.sequence_parallel)
    return 0.0;
  const int n = int(stage.ranks.size());
  if (n <= 1) return 0.0;
  // Each rank receives the rows its new replica needs: an all-to-all over the stage, forward and
  // (for the gradient) backward.
  const comm::GroupShape shape = group_shape(stage.ranks, inputs.cluster.devices_per_node);
  const double bytes = activation_bytes(inputs, stage.micro_batch_samples * double(to.tp) / double(n));
  return 2.0 * (comm::all_to_all_time_s(shape, size_t(bytes), inputs.links) + inputs.compute->collective_overhead_s());
}

double pipeline_transfer_s(const CostInputs& inputs, const StagePlan& from, const StagePlan& to,
                           double micro_batch_samples) {
  // Rank i of one stage sends its rows to rank i of the next; the replicas of the last layer hold
  // their share each (the whole micro-batch when the stage has one replica).
  const double bytes = activation_bytes(inputs, micro_batch_samples / double(from.ranks.size()));
  const int dpn = std::max(1, inputs.cluster.devices_per_node);
  const bool same_node = from.ranks.front() / dpn == to.ranks.front() / dpn;
  const comm::LinkParameters& link =
      same_node || inputs.links.inter_node.empty() ? inputs.links.intra(2).link : inputs.links.inter(2).link;
  return link.alpha_s + bytes * link.beta_s_per_byte;
}

double step_model_flops(const ModelSpec& model, int64_t batch, int64_t seq, double recomputed_layers) {
  const double head = 2.0 * double(model.hidden) * double(model.vocab_size);
  const double block = (forward_flops_per_token(model, seq) - head) / double(std::max<int64_t>(1, model.layers));
  const double per_token = 3.0 * (double(model.layers) * block + head) + recomputed_layers * block;
  return per_token * double(batch) * double(seq);
}

double device_peak_flops(const ClusterSpec& cluster, Precision precision) {
  return precision == Precision::fp32 ? cluster.peak_flops.fp32_flops_per_s : cluster.peak_flops.bf16_flops_per_s;
}

Prediction evaluate_plan(const CostInputs& inputs, const ParallelPlan& plan) {
  LOOM_CHECK(inputs.compute != nullptr, "evaluate_plan needs a compute profile");
  LOOM_CHECK(int(plan.layers.size()) == inputs.model.layers, "plan has {} layers, the model {}", plan.layers.size(),
             inputs.model.layers);
  const int stages = int(plan.stages.size());
  const int m = plan.micro_batches;
  const double micro_batch_samples = double(plan.global_batch) / double(m);
  Prediction prediction;
  prediction.budget_bytes = inputs.budget_bytes();
  std::vector<double> forward(static_cast<size_t>(stages)), backward(static_cast<size_t>(stages)),
      post(static_cast<size_t>(stages));
  double transfer = 0.0;
  double recomputed = 0.0;
  for (int s = 0; s < stages; ++s) {
    const StagePlan& stage_plan = plan.stages[size_t(s)];
    StageContext stage{stage_plan.ranks, micro_batch_samples, m};
    StageBreakdown b;
    b.first_layer = stage_plan.first_layer;
    b.last_layer = stage_plan.last_layer;
    b.ranks = int(stage_plan.ranks.size());
    b.in_flight = plan.schedule == parallel::PipelineSchedule::gpipe ? m : std::min(m, stages - s);
    std::vector<LayerCost> pieces;
    double reshard_kept = 0.0;
    if (s == 0) pieces.push_back(embedding_cost(inputs, stage, plan.embedding));
    for (int l = stage_plan.first_layer; l < stage_plan.last_layer; ++l) {
      const LayerStrategy& strategy = plan.layers[size_t(l)];
      pieces.push_back(layer_cost(inputs, stage, strategy));
      if (strategy.recompute) recomputed += 1.0;
      if (l > stage_plan.first_layer) {
        b.reshard_ms += 1e3 * reshard_s(inputs, stage, plan.layers[size_t(l - 1)], strategy);
        reshard_kept += reshard_kept_bytes(inputs, stage, plan.layers[size_t(l - 1)], strategy);
      }
    }
    if (s == stages - 1) {
      // A tied model's head on its own stage holds a copy of the table; on one stage it uses the
      // embedding's.
      pieces.push_back(head_cost(inputs, stage, plan.head, !inputs.model.tie_embeddings || stages > 1));
    }
    double f = 0.0, bw = 0.0, grad_exposed = 0.0, update = 0.0;
    for (const LayerCost& c : pieces) {
      f += c.forward_s;
      bw += c.backward_s;
      b.tp_comm_ms += 1e3 * c.tp_comm_s;
      b.gather_exposed_ms += 1e3 * c.gather_exposed_s;
      b.grad_comm_ms += 1e3 * c.grad_comm_s;
      grad_exposed += c.grad_exposed_s;
      update += c.update_s;
      b.parameter_bytes += c.parameter_bytes;
      b.gradient_bytes += c.gradient_bytes;
      b.optimizer_bytes += c.optimizer_bytes;
      b.activation_bytes += c.kept_bytes;
      b.transient_bytes = std::max(b.transient_bytes, c.transient_bytes);
    }
    // The first piece's reduction is launched last and hides behind nothing.
    if (!pieces.empty()) grad_exposed += pieces.front().grad_comm_s - pieces.front().grad_exposed_s;
    // A tied table split over the first and the last stage: its two gradients are summed.
    if (inputs.model.tie_embeddings && stages > 1 && (s == 0 || s == stages - 1)) {
      const double table_bytes = double(padded(inputs.model.vocab_size, plan.embedding.tp) / plan.embedding.tp) *
                                 double(inputs.model.hidden) * inputs.training.gradient_bytes();
      const int sharded = s == 0 ? plan.embedding.sharding : plan.head.sharding;
      const int d = b.ranks / (s == 0 ? plan.embedding.tp : plan.head.tp);
      const std::vector<int> pair{plan.stages.front().ranks.front(), plan.stages.back().ranks.front()};
      grad_exposed += all_reduce_s(inputs, group_shape(pair, inputs.cluster.devices_per_node),
                                   sharded >= 2 ? table_bytes / double(d) : table_bytes);
    }
    // Activations received from the previous stage and sent to the next, per micro-batch in flight.
    const double boundary = activation_bytes(inputs, micro_batch_samples / double(b.ranks));
    const int64_t buffers = int64_t(boundary) * ((s > 0 ? 1 : 0) + (s + 1 < stages ? 1 : 0));
    b.activation_bytes = (b.activation_bytes + buffers + int64_t(reshard_kept)) * b.in_flight;
    b.forward_ms = 1e3 * (f + 0.5 * b.reshard_ms / 1e3);
    b.backward_ms = 1e3 * (bw + 0.5 * b.reshard_ms / 1e3);
    b.grad_exposed_ms = 1e3 * grad_exposed;
    b.update_ms = 1e3 * update;
    if (inputs.transport.shared_segments) {
      // Every group a rank all-reduces on through shared memory keeps a staging slice: the world
      // (loss, gradient norm), the TP group of each layout with tp > 1, the DP group of each
      // layout whose gradients are all-reduced (sharding 0, 1), the tied table's pair.
      std::set<std::tuple<int, bool, char>> groups;
      auto add = [&](int tp, bool consecutive, int sharding) {
        if (tp > 1) groups.insert({tp, consecutive || tp == b.ranks, 't'});
        if (b.ranks / tp > 1 && sharding <= 1) groups.insert({tp, consecutive || tp == 1, 'd'});
      };
      for (int l = stage_plan.first_layer; l < stage_plan.last_layer; ++l)
        add(plan.layers[size_t(l)].tp, plan.layers[size_t(l)].tp_consecutive, plan.layers[size_t(l)].sharding);
      if (s == 0) add(plan.embedding.tp, plan.embedding.tp_consecutive, plan.embedding.sharding);
      if (s == stages - 1) add(plan.head.tp, plan.head.tp_consecutive, plan.head.sharding);
      const bool tied_pair = inputs.model.tie_embeddings && stages > 1 && (s == 0 || s == stages - 1);
      b.communication_bytes =
          int64_t(groups.size() + 1 + (tied_pair ? 1 : 0)) * int64_t(comm::shared_memory_staging_bytes());
    }
    b.peak_bytes = b.parameter_bytes + b.gradient_bytes + b.optimizer_bytes + b.activation_bytes + b.transient_bytes +
                   b.communication_bytes;
    forward[size_t(s)] = b.forward_ms / 1e3;
    backward[size_t(s)] = b.backward_ms / 1e3;
    post[size_t(s)] = grad_exposed + update;
    if (s + 1 < stages)
      transfer =
          std::max(transfer, pipeline_transfer_s(inputs, stage_plan, plan.stages[size_t(s + 1)], micro_batch_samples));
    prediction.stages.push_back(b);
  }
  const parallel::PipelineProgram program = parallel::build_pipeline_program(plan.schedule, stages, m);
  const parallel::PipelineTimeline timeline = parallel::simulate_pipeline_program(program, forward, backward, transfer);
  prediction.pipeline_ms = 1e3 * timeline.makespan;
  double step_s = 0.0;
  for (int s = 0; s < stages; ++s) {
    StageBreakdown& b = prediction.stages[size_t(s)];
    const auto& busy = timeline.busy[size_t(s)];
    const double last_compute = busy.empty() ? 0.0 : busy.back().second;
    b.end_ms = 1e3 * (last_compute + post[size_t(s)]);
    b.bubble_ms = 1e3 * timeline.bubble_fraction[size_t(s)] * timeline.makespan;
    step_s = std::max(step_s, b.end_ms / 1e3);
    prediction.bubble_fraction = std::max(prediction.bubble_fraction, timeline.bubble_fraction[size_t(s)]);
    prediction.peak_mem_bytes = std::max(prediction.peak_mem_bytes, b.peak_bytes);
  }
  if (inputs.cores > 0) {
    // Ranks beyond the cores share them all the time (a rank waiting for a message polls for it),
    // so every rank runs at cores / ranks of a core: the whole step stretches by ranks / cores.
    std::map<int, int> ranks_on_node;
    const int dpn = std::max(1, inputs.cluster.devices_per_node);
    for (const StagePlan& stage : plan.stages)
      for (int rank : stage.ranks) ++ranks_on_node[rank / dpn];
    int most = 0;
    for (const auto& [node, count] : ranks_on_node) most = std::max(most, count);
    const double share = std::max(1.0, double(most) / double(inputs.cores));
    prediction.cpu_bound_ms = 1e3 * step_s * share;
    step_s *= share;
  }
  prediction.step_ms = 1e3 * step_s;
  const double batch = double(plan.global_batch);
  prediction.samples_per_s = step_s > 0.0 ? batch / step_s : 0.0;
  prediction.tokens_per_s = prediction.samples_per_s * double(inputs.training.seq);
  const double flops = step_model_flops(inputs.model, plan.global_batch, inputs.training.seq, recomputed);
  prediction.tflops_per_device = step_s > 0.0 ? flops / step_s / double(plan.world_size) / 1e12 : 0.0;
  const double peak = device_peak_flops(inputs.cluster, inputs.training.precision);
  prediction.mfu = peak > 0.0 ? prediction.tflops_per_device * 1e12 / peak : 0.0;
  prediction.fits = prediction.peak_mem_bytes <= prediction.budget_bytes;
  // What bounds the step, judged on the stage that ends last.
  const StageBreakdown* critical = &prediction.stages.front();
  for (const StageBreakdown& b : prediction.stages)
    if (b.end_ms > critical->end_ms) critical = &b;
  const double comm_ms = double(m) * (critical->tp_comm_ms + critical->gather_exposed_ms + critical->reshard_ms) +
                         critical->grad_exposed_ms;
  if (!prediction.fits) {
    prediction.limit = "memory";
  } else if (prediction.cpu_bound_ms >= prediction.step_ms) {
    prediction.limit = "cores (more ranks than cores)";
  } else if (prediction.bubble_fraction > 0.25 && critical->bubble_ms >= comm_ms) {
    prediction.limit = "pipeline bubble";
  } else if (comm_ms > 0.3 * prediction.step_ms) {
    prediction.limit = "communication";
  } else {
    prediction.limit = "compute";
  }
  return prediction;
}

}  // namespace loom::planner
