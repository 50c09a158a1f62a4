// The planner's cost model: how long one training step of a plan takes and how much memory each
// rank holds, from a compute profile (measured here or analytic), the communication cost model
// of comm/cost_model.h and the plan's structure. The one implementation behind `loom plan` (the
// search ranks with its per-layer terms and reports evaluate_plan of the winner), `loom simulate`,
// and the `predicted_step_ms` a plan carries into `loom train`.
//
// A step, as the runtime (parallel/runtime.h) runs it:
//   - per stage and micro-batch a forward and a backward time: each piece's compute from the
//     profile, TP collectives (Megatron: 2 all-reduces forward, 2 backward, 2 more when the
//     forward is replayed; sequence parallel: all-gathers and reduce-scatters instead), ZeRO-3
//     gathers that the prefetch does not hide, activation resharding between layers whose
//     layouts differ;
//   - the pipeline: the schedule's own program simulated with those per-stage times and the
//     send/receive time between neighbouring stages (parallel/schedule.h);
//   - after the last backward: gradient reduction the backward could not hide (DP all-reduce
//     per layer overlapped with the backward of the layers before it; ZeRO-2/3 reduce-scatters
//     per micro-batch overlapped likewise), the tied embedding's sum, the optimizer on each
//     rank's shard, and the parameter all-gather of sharding 1 and 2.
// Memory per rank (MemoryTracker's categories): parameters, gradients and optimizer state by
// sharding stage, activations kept per micro-batch times the micro-batches in flight (GPipe: all
// of them; 1F1B: S - stage), and the largest transient of any piece (its temporaries, a gathered
// ZeRO-3 layer and the next one prefetched, a full gradient before its reduce-scatter).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/comm_profile.h"
#include "comm/cost_model.h"
#include "parallel/plan.h"
#include "planner/cluster.h"
#include "planner/compute_profile.h"
#include "planner/model_spec.h"
#include "planner/training_spec.h"

namespace loom::planner {

// Everything a plan is costed against.
struct CostInputs {
  ModelSpec model;
  ClusterSpec cluster;
  TrainingSpec training;
  comm::CommProfile links;             // collectives' alpha/beta/gamma: measured (local) or from the cluster's links
  comm::TransportAbilities transport;  // what `auto` may pick besides point-to-point algorithms
  std::shared_ptr<const ComputeProfile> compute;
  int64_t memory_budget_bytes = 0;  // per device; 0: the cluster's device memory
  // More ranks than cores on a node (this machine under mpirun --oversubscribe): the node cannot
  // compute more than `cores` ranks' work at once, so a step takes at least the ranks' compute
  // summed over the node / cores. 0: every device computes on its own. The compute profile must
  // then be measured with at most `cores` ranks at once (each on a core of its own).
  int cores = 0;

  int64_t budget_bytes() const { return memory_budget_bytes > 0 ? memory_budget_bytes : cluster.device_memory_bytes; }
};

// Alpha/beta per group size from a modelled cluster's links: alpha = latency; beta = 1 / bandwidth
// for NVLink-style links inside a node; between nodes each of a node's devices gets its share of
// the node's bandwidth (devices communicate at once in DP and TP collectives). gamma from the
// device memory bandwidth (a reduction reads two inputs and writes one), 0 when unknown.
comm::CommProfile links_of_cluster(const ClusterSpec& cluster);

// The rank shape of a group: how many of its ranks share a node, on how many nodes.
comm::GroupShape group_shape(const std::vector<int>& world_ranks, int devices_per_node);

// One layer's cost under one strategy on one stage: the terms the search adds up and
// evaluate_plan reports.
struct LayerCost {
  // Per micro-batch, on the stage's critical path.
  double forward_s = 0.0;         // compute + TP collectives + exposed ZeRO-3 gather
  double backward_s = 0.0;        // compute (+ replayed forward) + TP collectives + exposed gather
  double tp_comm_s = 0.0;         // of forward_s + backward_s: TP collectives
  double gather_exposed_s = 0.0;  // of forward_s + backward_s: ZeRO-3 gathers the prefetch did not hide
  // Per step.
  double grad_comm_s = 0.0;     // gradient reduction (all-reduce, or one reduce-scatter per micro-batch)
  double grad_exposed_s = 0.0;  // the part the backward does not hide
  double update_s = 0.0;        // optimizer on this rank's shard, + parameter all-gather (sharding 1, 2)
  // Memory per rank.
  int64_t parameter_bytes = 0;
  int64_t gradient_bytes = 0;
  int64_t optimizer_bytes = 0;
  int64_t kept_bytes = 0;       // per micro-batch in flight
  int64_t transient_bytes = 0;  // while the layer runs (incl. gathered ZeRO-3 parameters, full gradients)

  int64_t state_bytes() const { return parameter_bytes + gradient_bytes + optimizer_bytes; }
};

// The ranks of a stage and the micro-batch every replica of it computes a share of.
struct StageContext {
  std::vector<int> ranks;            // world ranks, in the stage's order
  double micro_batch_samples = 1.0;  // samples of one micro-batch over the whole stage (B / m)
  int micro_batches = 1;
};

LayerCost layer_cost(const CostInputs& inputs, const StageContext& stage, const parallel::LayerStrategy& strategy);
// The embedding (first stage) and the head (last stage) with their vocabulary strategy.
LayerCost embedding_cost(const CostInputs& inputs, const StageContext& stage, const parallel::VocabStrategy& strategy);
// `holds_table`: the head has an output matrix of its own (untied, or a tied table's copy on
// the last stage of a pipeline); otherwise it uses the embedding's table.
LayerCost head_cost(const CostInputs& inputs, const StageContext& stage, const parallel::VocabStrategy& strategy,
                    bool holds_table);
// Moving the activations of a micro-batch between two layer layouts of a stage (0 when equal),
// forward plus backward.
double reshard_s(const CostInputs& inputs, const StageContext& stage, const parallel::LayerStrategy& from,
                 const parallel::LayerStrategy& to);
// The activations a reshard into `to` keeps for the backward, per micro-batch in flight (0 when
// the layouts are equal): the next layer's input in its own layout.
double reshard_kept_bytes(const CostInputs& inputs, const StageContext& stage, const parallel::LayerStrategy& from,
                          const parallel::LayerStrategy& to);
// Sending one micro-batch's activations from a stage to the next (and its gradient back: each way).
double pipeline_transfer_s(const CostInputs& inputs, const parallel::StagePlan& from, const parallel::StagePlan& to,
                           double micro_batch_samples);

struct StageBreakdown {
  int first_layer = 0;
  int last_layer = 0;
  int ranks = 0;
  int in_flight = 0;               // micro-batches whose activations are held at once
  double forward_ms = 0.0;         // per micro-batch
  double backward_ms = 0.0;        // per micro-batch
  double tp_comm_ms = 0.0;         // per micro-batch
  double gather_exposed_ms = 0.0;  // per micro-batch
  double reshard_ms = 0.0;         // per micro-batch
  double bubble_ms = 0.0;          // idle time in the pipeline
  double grad_comm_ms = 0.0;       // per step
  double grad_exposed_ms = 0.0;    // per step
  double update_ms = 0.0;          // per step
  double end_ms = 0.0;             // when this stage's step ends
  int64_t parameter_bytes = 0;
  int64_t gradient_bytes = 0;
  int64_t optimizer_bytes = 0;
  int64_t activation_bytes = 0;     // kept activations of the micro-batches in flight + pipeline buffers
  int64_t transient_bytes = 0;      // the largest piece's transient
  int64_t communication_bytes = 0;  // shared-memory staging of the groups this stage all-reduces on
  int64_t peak_bytes = 0;
};

struct Prediction {
  double step_ms = 0.0;
  double samples_per_s = 0.0;
  double tokens_per_s = 0.0;
  double tflops_per_device = 0.0;  // model FLOPs (forward, backward, replayed forwards) per device per second
  double mfu = 0.0;                // of the device peak in the training precision
  double pipeline_ms = 0.0;        // the pipeline's makespan
  double bubble_fraction = 0.0;    // of the pipeline's makespan, the worst stage
  std::vector<StageBreakdown> stages;
  int64_t peak_mem_bytes = 0;  // the largest stage's
  int64_t budget_bytes = 0;
  bool fits = true;
  double cpu_bound_ms = 0.0;  // with `cores`: the ranks' compute over the node's cores (0 otherwise)
  std::string limit;          // what bounds the step: "compute", "pipeline bubble", "communication", "memory", "cores"
};

// Evaluates a plan that validate_plan accepted for this model. The model's runtime config is
// only needed for validation: any ModelSpec can be costed.
Prediction evaluate_plan(const CostInputs& inputs, const parallel::ParallelPlan& plan);

// Model FLOPs of one step (Megatron-LM's count: 3x the forward, plus the forward again for
// recomputed layers).
double step_model_flops(const ModelSpec& model, int64_t batch, int64_t seq, double recomputed_layers);

// Peak FLOP/s of the cluster's device in the training precision.
double device_peak_flops(const ClusterSpec& cluster, Precision precision);

}  // namespace loom::planner
